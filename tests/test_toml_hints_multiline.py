"""Two string mistakes inside statements that span lines, which check-config answered with the parser's words
alone: a bad escape in a string in a list ("Unescaped '\\' in a string (at line 4, column 8)", where a key's own
string is told to double its backslashes or use single quotes), and a string in triple quotes left open to the end
of the file ("Unterminated string (at end of document)", no line, where a one-line string is named on its line)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.test_config_syntax import syntax_error
from tests.test_toml_hints_open import hint

ESCAPE = "in double quotes a backslash starts an escape (\\n, \\t): write each as \\\\, or use single quotes"

# --- a bad escape in a string in a list ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '[service]\nshares = [\n  "rep",\n  "C:\\path",\n]\n',
            f'line 4, "C:\\path",: {ESCAPE.replace("quotes a", "quotes (a string of the list opened on line 2) a")}:'
            " 'C:\\path', (",
        ),
        # on the list's own line: the parser's words alone, as for a row below it
        (
            '[service]\nshares = ["rep", "C:\\path"]\n',
            f'line 2, shares = ["rep", "C:\\path"]: {ESCAPE}: shares = ["rep", \'C:\\path\'] (',
        ),
        # every string on the line that needs it; a '"' in a comment after them is no string
        (
            '[service]\nshares = [\n  "a\\q", "b", "c\\q",  # "d\\q"\n]\n',
            "or use single quotes: 'a\\q', \"b\", 'c\\q',  # \"d\\q\" (",
        ),
        ('[service]\nshares = [\n  "\\u12",\n]\n', "or use single quotes: '\\u12', (Invalid hex value"),
        # single quotes would take the valid \\ or \" beside the bad escape as two characters: no line given
        ('[service]\nshares = [\n  "C:\\\\dir\\q",\n]\n', "write each as \\\\, or use single quotes (Unescaped"),
        ('[service]\nshares = [\n  "it\'s C:\\q",\n]\n', "write each as \\\\, or use single quotes (Unescaped"),
        ('[service]\r\nshares = [\r\n  "C:\\path",\r\n]\r\n', 'line 3, "C:\\path",: in double quotes (a string of'),
    ],
)
def test_a_bad_escape_in_a_list_names_its_line_and_the_fix(tmp_path: Path, text: str, said: str) -> None:
    message = syntax_error(tmp_path, text)
    assert said in message, message


def test_a_bad_escape_in_a_list_of_secrets_is_not_echoed(tmp_path: Path) -> None:
    for text in ('[mqtt]\npasswords = [\n  "hunter2\\q",\n]\n', '[mqtt]\nx = [\n  "token hunter2\\q",\n]\n'):
        message = syntax_error(tmp_path, text)
        assert "hunter2" not in message and "line 3: in double quotes (a string of the list" in message, message


def test_a_bad_escape_in_triple_quotes_in_a_list_keeps_the_parsers_words(tmp_path: Path) -> None:
    # its lines are the string's, not strings of their own: a fix for one would be for the wrong string
    message = syntax_error(tmp_path, '[service]\nshares = [\n  """C:\\q""",\n]\n')
    assert message.endswith("TOML: Unescaped '\\' in a string (at line 3, column 10)"), message


def test_a_bad_escape_in_a_keys_own_string_keeps_its_fix(tmp_path: Path) -> None:
    said = syntax_error(tmp_path, '[asr]\nmodel_path = "C:\\models\\vosk"\n')
    assert f"line 2, model_path = \"C:\\models\\vosk\": {ESCAPE}: model_path = 'C:\\models\\vosk' (" in said


@pytest.mark.parametrize(
    "text",
    [
        '[service]\nshares = [\n  "rep",\n  "C:\\path", "D:\\x",  # the shares\n]\n[mqtt]\nport = 1883\n',
        '[service]\nshares = ["C:\\path", \'y\', "ok"]  # one line\n',
        '[service]\nshares = [\n  ["C:\\path"],\n  ["b"],\n]\n',
    ],
)
def test_the_line_the_escape_fix_gives_parses(text: str) -> None:
    said = hint(text)
    named = int(re.match(r"line (\d+)", said).group(1))  # type: ignore[union-attr]
    shown = re.search(r"or use single quotes: (.*) \(Unescaped", said)
    assert shown is not None, said
    lines = text.split("\n")
    tomllib.loads("\n".join([*lines[: named - 1], shown.group(1), *lines[named:]]))


# --- a string in triple quotes left open to the end of the file -------------------------------------------------

CLOSE = "close the triple quotes at the end of the text"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '[service]\nnote = """\nShop 12, back room\n[mqtt]\nhost = "broker"\n',
            f'line 2, note = """: {CLOSE}: write """ at the end of line 3 (the lines below it then read as TOML) (',
        ),
        (
            "[service]\nnote = '''\nShop 12\nback room\n\n# the broker\n[mqtt]\nport = 1883\n",
            f"line 2, note = ''': {CLOSE}: write ''' at the end of line 4 (the lines below it then read as TOML) (",
        ),
        (
            "[service]\nnote = '''\nShop 12\n",
            f"line 2, note = ''': {CLOSE}: write ''' at the end of line 3, the file's",
        ),
        ("[service]\nnote = '''Shop 12", f"line 2, note = '''Shop 12: {CLOSE}: note = '''Shop 12''' ("),
        ('[service]\nnote = """Shop 12\n\n', f'line 2, note = """Shop 12: {CLOSE}: note = """Shop 12""" ('),
        (
            '[service]\r\nnote = """\r\nShop 12\r\n[leds]\r\n',
            f'line 2, note = """: {CLOSE}: write """ at the end of line 3',
        ),
        # closed with one quote, as a one-line string: '''broker' would keep its quote as text
        (
            "[array]\npreset = 'generic'\n[mqtt]\nhost = '''broker.local'\nport = 1883\n",
            "line 4, host = '''broker.local': the string opens with three quotes and closes with one:"
            " host = 'broker.local' (",
        ),
    ],
)
def test_a_string_in_triple_quotes_left_open_names_the_line_it_opened_on(tmp_path: Path, text: str, said: str) -> None:
    message = syntax_error(tmp_path, text)
    assert said in message and "(at end of document)" in message, message


def test_closing_the_triple_quotes_as_told_makes_the_file_parse() -> None:
    text = '[service]\nnote = """\nShop 12\nback room\n[mqtt]\nport = 1883\n'
    said = hint(text)
    where = re.search(r'write """ at the end of line (\d+)', said)
    assert where is not None, said
    lines = text.split("\n")
    lines[int(where.group(1)) - 1] += '"""'
    assert tomllib.loads("\n".join(lines)) == {"service": {"note": "Shop 12\nback room"}, "mqtt": {"port": 1883}}


def test_a_secret_left_open_in_triple_quotes_is_not_echoed(tmp_path: Path) -> None:
    for text, said in [
        ("[mqtt]\npassword = '''hunter2\n", f"line 2, password = …: {CLOSE} ("),
        ("[mqtt]\npassword = '''\nhunter2", f"line 2, password = …: {CLOSE}: write ''' at the end of line 3,"),
        ("[mqtt]\npassword = '''hunter2'\n", "line 2, password = …: the string opens with three quotes and closes"),
    ]:
        message = syntax_error(tmp_path, text)
        assert said in message and "hunter2" not in message, message


def test_triple_quotes_left_open_in_a_list_keep_the_parsers_words(tmp_path: Path) -> None:
    # the list's line is not the string's: closing the list would not be all
    message = syntax_error(tmp_path, '[service]\nnotes = [\n  """Shop 12\n')
    assert message.endswith("TOML: Unterminated string (at end of document)"), message
