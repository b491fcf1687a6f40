"""TOML mistakes that span lines, found by fuzzing check-config: each said the parser's words alone, or blamed a
correct line below the mistake. A one-line string left open to the end of the file, a list without its ']', a
carriage return that ends no line (an old Mac's file, a paste), a bad escape in a string in triple double quotes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener import cli
from listener.config.toml_hints import syntax_hint
from tests.test_config_syntax import syntax_error

PROPERTY = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
MICS = "mics = [[0.0457, 0.0, 0.0], [0.0, 0.0457, 0.0]"


def hint(text: str) -> str:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return syntax_hint(text, str(exc))
    raise AssertionError(f"{text!r} parses")


# --- 1. a one-line string left open to the end of the file ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "[mqtt]\nhost = 'broker",
            "line 2, host = 'broker: close the quotes at the end of the text: host = 'broker' (",
        ),
        (
            "[mqtt]\nhost = 'broker\n",
            "line 2, host = 'broker: close the quotes at the end of the text: host = 'broker'",
        ),
        # the correct line below was blamed, told to quote its number: port = "1883"
        ("[mqtt]\nhost = 'broker\nport = 1883", "line 2, host = 'broker: close the quotes at the end of the text"),
        ("[mqtt]\nhost = 'broker\nport = 1883\n", "line 2, host = 'broker: close the quotes at the end of the text"),
        (
            '[mqtt]\nhost = "broker',
            'line 2, host = "broker: close the quotes at the end of the text: host = "broker" (',
        ),
        (
            "[array]\ndevice = 'USB #2\n",
            "device = 'USB #2', or before the '#' if a comment starts there: device = 'USB' #2 (",
        ),
        ("[mqtt]\r\nhost = 'broker\r\nport = 1883\r\n", "line 2, host = 'broker: close the quotes at the end of"),
    ],
)
def test_a_string_left_open_to_the_end_of_the_file_names_the_line_it_opened_on(
    tmp_path: Path, text: str, said: str
) -> None:
    message = syntax_error(tmp_path, text)
    assert said in message and "(at end of document)" in message, message
    assert "port = " not in message, message


@pytest.mark.parametrize(
    "text",
    [
        "[mqtt]\n'host = 1\n",  # a quoted key left open: 'close the quotes' on its value would be wrong
        "[mqtt]\nhost = 'bro\x00ker",  # a NUL in it as well: closing it would not be all
        "[array]\nmics = [\n  'a,\n",  # a string in a list: the list's line is not the string's
    ],
)
def test_a_string_left_open_elsewhere_keeps_the_parsers_words(tmp_path: Path, text: str) -> None:
    assert syntax_error(tmp_path, text).endswith('TOML: Expected "\'" (at end of document)')


def test_a_secret_left_open_is_not_echoed(tmp_path: Path) -> None:
    message = syntax_error(tmp_path, "[mqtt]\npassword = 'hunter2\n")
    assert "hunter2" not in message and "line 2, password = …: close the quotes at the end of the text (" in message


@PROPERTY
@given(
    text=st.text(
        st.characters(categories=("L", "N", "P", "S"), include_characters=" #", exclude_characters="'")
    ).filter(lambda text: text.strip() and text.isprintable()),
    below=st.lists(st.sampled_from(["port = 1883", "# the broker", "", "[leds]", "enabled = true"]), unique=True),
    newline=st.booleans(),
)
def test_closing_a_string_left_open_as_told_gives_its_text(text: str, below: list[str], newline: bool) -> None:
    """The hint is right: the line it gives, put in place of the line it names, parses and holds the text."""
    lines = ["[mqtt]", f"host = '{text}", *below]
    said = hint("\n".join(lines) + ("\n" if newline else ""))
    assert said.startswith("line 2, host = '"), said
    fixed = re.search(r"close the quotes at the end of the text: (.*?)(?:, or before the '#'| \(Expected)", said)
    assert fixed is not None, said
    if "…" in fixed.group(1):  # shortened to 60 characters
        assert len(fixed.group(1)) == 60, said
        return
    lines[1] = fixed.group(1)
    assert tomllib.loads("\n".join(lines))["mqtt"]["host"] == text.rstrip()


# --- 2. a list without its closing ']' --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            f"[array]\n{MICS}\n[mqtt]\n",
            f"line 2, {MICS}: the list has no closing ']': {MICS}] (Unclosed array (at line 3",
        ),
        (f"[array]\n{MICS}", f"line 2, {MICS}: the list has no closing ']': {MICS}] (Unclosed array (at end of"),
        (f"[array]\n{MICS}\n", f"line 2, {MICS}: the list has no closing ']': {MICS}] (Unclosed array (at end of"),
        (f"[array]\n{MICS}\n\n# the rest\n\n[leds]\n", f"line 2, {MICS}: the list has no closing ']': {MICS}]"),
        (f"[array]\n{MICS}\n[[x]]\n", f"line 2, {MICS}: the list has no closing ']': {MICS}]"),
        (f"[array]\n{MICS}  # two mics\n[mqtt]\n", f"no closing ']': {MICS}]  # two mics ("),
        ("[array]\nmics = [[0.0457, 0.0, 0.0], [0.0, 0.0457, 0.0\n[mqtt]\n", "no closing ']': mics = [[0.0457, 0.0,"),
        # a list written a row a line: its ']' goes on a line of its own, after the last row
        (
            "[array]\nmics = [\n  [0.0457, 0.0, 0.0],\n  [0.0, 0.0457, 0.0],\n\n[mqtt]\n",
            "line 2, mics = [: the list has no closing ']': write ']' on a line of its own after line 4 (Invalid value",
        ),
        (
            "[array]\nmics = [\n  [0.0457, 0.0, 0.0],\n  [0.0, 0.0457, 0.0]\n# the end\n",
            "line 2, mics = [: the list has no closing ']': write ']' on a line of its own after line 4 (Unclosed",
        ),
        # its ',' says more items were meant: where they end is not the line's to say
        (
            "[array]\nmics = [[0.0457, 0.0, 0.0],\n[mqtt]\n",
            "line 2, mics = [[0.0457, 0.0, 0.0],: the list has no closing ']': each '[' needs its ']': close every"
            " row, and the list after its last item (Invalid value",
        ),
        # a ']' that parses but leaves a row holding a row closed the wrong list
        (
            "[array]\nmics = [[0.0457, 0.0, 0.0, [0.0, 0.0457, 0.0]]\n[mqtt]\n",
            "the list has no closing ']': each '[' needs its ']': close every row, and the list after its last item (",
        ),
        ("[array]\nmics = [[0.0, 0.0, 0.0],\n", "line 2, mics = [[0.0, 0.0, 0.0],: the list has no closing ']'"),
        # a long line: where its ']' goes, not its start (the corrected line, cut to 60 characters, hid it)
        (
            f"[array]\n{MICS}, [-0.0457, 0.0, 0.0], [0.0, -0.0457, 0.0]  # metres\n[mqtt]\n",
            "the list has no closing ']': add ']' after …0, 0.0], [0.0, -0.0457, 0.0] (Unclosed array",
        ),
        # a '#' typed into it: a ']' before it would drop the rows after it
        (
            "[array]\nmics = [[0.0457, 0.0, 0.0]#, [0.0, 0.0457, 0.0]]  # metres\n[mqtt]\n",
            "no closing ']': the '#' at column 27 makes the rest a comment: delete it, or close the list (Unclosed",
        ),
        ("[array]\nmics = [[0.045#7, 0.0, 0.0]]\n[mqtt]\n", "the '#' at column 15 makes the rest a comment: delete it"),
        ('array.preset = "generic"\narray.mics = [[0.0, 0.0, 0.0],\n', "line 2, array.mics = [[0.0, 0.0, 0.0],: the"),
        ("[array]\r\nmics = [[0.0457, 0.0, 0.0], [0.0, 0.0457, 0.0]\r\n[mqtt]\r\n", f"no closing ']': {MICS}] ("),
    ],
)
def test_a_list_left_open_is_named_on_the_line_it_opened_on(tmp_path: Path, text: str, said: str) -> None:
    assert said in syntax_error(tmp_path, text)


def test_the_key_below_a_list_left_open_is_not_told_to_change_its_value(tmp_path: Path) -> None:
    # it was: "line 3, block_ms = 10: write a plain number: digits, ..." for a plain number
    message = syntax_error(tmp_path, f"[array]\n{MICS}\nblock_ms = 10\n")
    assert f"line 2, {MICS}: the list has no closing ']'" in message and "plain number" not in message, message


@pytest.mark.parametrize(
    "text",
    [
        # a ',' is as likely missing as a ']': rows a table header could be read as
        "[array]\nmics = [\n  [0]\n  [1]\n]\n",
        "[array]\nrows = [\n  [true]\n  [false]\n]\n",
        "[array]\nrows = [[true]\n[false]]\n",  # read as a header, 'false' is a table's name
        '[array]\nrows = [\n  ["a"]\n  ["b"]\n]\n',
        # a ']' below may close it: a key or a header put inside the list
        "[array]\nrows = [\n  1,\n  port = 2\n]\n",
        "[array]\nrows = [\n  1\n  port = 2\n]\n",
        f'[array]\n{MICS}\n[mqtt]\nhost = "x"\n]\n',
    ],
)
def test_a_list_that_may_close_below_gets_no_fix(tmp_path: Path, text: str) -> None:
    message = syntax_error(tmp_path, text)
    assert re.search(r"TOML: (Unclosed array|Invalid value) \(at line \d+, column \d+\)$", message), message


@pytest.mark.parametrize("text", ['[array]\npreset = ["generic"\n[mqtt]\n', "[mqtt]\nport = [1883\n[leds]\n"])
def test_a_key_that_takes_no_list_is_not_told_to_close_one(tmp_path: Path, text: str) -> None:
    # its '[' is the likelier mistake: 'preset = ["generic"]' would trade this error for a type error
    assert syntax_error(tmp_path, text).endswith("TOML: Unclosed array (at line 3, column 1)")


def test_a_secret_list_left_open_is_not_echoed(tmp_path: Path) -> None:
    message = syntax_error(tmp_path, '[mqtt]\npasswords = ["hunter2", "x"\n[leds]\n')
    assert "hunter2" not in message and "line 2, passwords = …: the list has no closing ']': each '[' needs" in message


@PROPERTY
@given(
    rows=st.lists(st.lists(st.integers(-500, 500).map(lambda mm: mm / 1000), min_size=3, max_size=3), min_size=1),
    row_a_line=st.booleans(),
    missing=st.integers(1, 2),  # the outer ']', or the last row's too
    after=st.sampled_from(["[mqtt]", "block_ms = 10", "# the rest", "", "[[x]]"]),
)
def test_closing_a_list_as_told_gives_its_rows(
    rows: list[list[float]], row_a_line: bool, missing: int, after: str
) -> None:
    """The hint is right: the line it gives in place of the one it names, or the ']' on a line of its own after
    the line it names, parses and holds every row."""
    written = [f"[{', '.join(repr(x) for x in row)}]" for row in rows]
    body = ["mics = [", *(f"  {row}," for row in written)] if row_a_line else [f"mics = [{', '.join(written)}]"]
    body[-1] = body[-1].rstrip(",")[:-1] if missing == 2 else body[-1].rstrip(",")
    lines = ["[array]", *(body if row_a_line else [body[0][:-1]]), after]
    said = hint("\n".join(lines) + "\n")
    assert said.startswith(f"line 2, {lines[1][:40]}"[:50]), said
    own_line = re.search(r"write '(\]+)' on a line of its own after line (\d+) \(", said)
    if own_line is not None:
        lines.insert(int(own_line.group(2)), own_line.group(1))
    else:  # the line as it should read, or where a long one's ']' goes
        fixed = re.search(r"the list has no closing '\]': (mics = .*) \((?:Unclosed|Invalid)", said)
        after_text = re.search(r"the list has no closing '\]': add '(\]+)' after …(.*) \((?:Unclosed|Invalid)", said)
        if after_text is not None:
            end = lines[1].rindex(after_text[2]) + len(after_text[2])
            lines[1] = lines[1][:end] + after_text[1] + lines[1][end:]
        else:
            assert fixed is not None, said
            lines[1] = fixed[1]
    assert tomllib.loads("\n".join(lines))["array"]["mics"] == rows


# --- 3. a carriage return that ends no line ---------------------------------------------------------------

CR_SAID = (
    "holds a carriage return (\\r) with no newline after it, a line end TOML does not read (an old Mac's, or a"
    " paste's): save the file with Unix (LF) line ends, or delete it if the line goes on ("
)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # an old Mac's file: all one line to TOML ("the header ends at [mqtt]: put what follows on a line of its own")
        ('[mqtt]\rhost = "x"\rport = 1883\r', 'line 1, [mqtt]?host = "x"?port = 1883?: column 7 '),
        # pasted into a file of LF or CR LF lines ("delete what follows the closing quote", "write a plain number")
        ('[mqtt]\nhost = "x"\rport = 1883\n', 'line 2, host = "x"?port = 1883: column 11 '),
        ("[mqtt]\nport = 1883\r", "line 2, port = 1883?: column 12 "),
        ("[mqtt]\r\nport = 1883\r\r\n", "line 2, port = 1883?: column 12 "),
        ("[mqtt]\n\rport = 1883\n", "line 2, ?port = 1883: column 1 "),
        ("[mqtt]\n# the broker\rport = 1883\n", "line 2, # the broker?port = 1883: column 13 "),
        # inside a string: it was told to close the quotes at the end of the text, after the one it has
        ('[mqtt]\nhost = "bro\rker"\n', 'line 2, host = "bro?ker": column 12 '),
        ("[mqtt]\nhost = 'bro\rker'\n", "line 2, host = 'bro?ker': column 12 "),
        (
            "[array]\nmics = [[0.0, 0.0, 0.0],\r[0.1, 0.0, 0.0]]\n",
            "line 2, mics = [[0.0, 0.0, 0.0],?[0.1, 0.0, 0.0]]: column 25 ",
        ),
        ('[mqtt]\npassword = "a\rb"\n', "line 2: column 14 "),  # not echoed
    ],
)
def test_a_carriage_return_that_ends_no_line_is_named(tmp_path: Path, text: str, said: str) -> None:
    message = syntax_error(tmp_path, text)
    assert said + CR_SAID in message, message
    assert "close the quotes" not in message and "plain number" not in message and "header ends" not in message


def test_a_key_set_twice_before_a_carriage_return_is_still_named(tmp_path: Path) -> None:
    # tomllib stops at the '\r' after the second value: the key set twice is what it says, and still the fix
    assert "port is set twice in its table: keep one" in syntax_error(tmp_path, "[mqtt]\nport = 1\nport = 2\r")


@pytest.mark.parametrize("text", ['[mqtt]\r\nhost = "x"\r\nport = 1883\r\n', '[mqtt]\r\nhost = "x" \r\n\r\n# end'])
def test_a_crlf_file_still_loads(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "listener.toml"
    path.write_bytes(text.encode())
    assert cli.main(["check-config", str(path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    "text",
    [
        # the hints of the LF cases (test_config_syntax.py), whose lines they read before the one named
        "[array]\nmics = [[0.0457, 0.0, 0.0]]\n  [0.0, 0.0457, 0.0], [0.0, 0.0, 0.0]]\n",
        '[array]\npreset = "generic"\n[0.0, 0.0457, 0.0]\n',
        "[array]\nsample_rate = 16k\n",
        '[mqtt]\nhost = "192.0.2.10\nport = 1883\n',
        "[array]\nmics = [\n  [0.0, 0.03, 0.0],  # left\n  [0.0, -0.03, 0.0],\n]\nblock_ms = 1.0.0\n",
        f"[array]\n{MICS}\n[mqtt]\n",
        '[service]\nnote = """\nC:\\qfoo\n"""\n',
    ],
)
def test_a_crlf_file_gets_the_hint_an_lf_file_gets(tmp_path: Path, text: str) -> None:
    """A CR LF file's lines end with '\\r' as the hints read them: the lines above the one named failed to parse
    there, and a list closed early, or a row of one, lost its fix."""
    said = syntax_error(tmp_path, text).split("TOML: ", 1)[1]
    assert syntax_error(tmp_path, text.replace("\n", "\r\n")).split("TOML: ", 1)[1] == said


# --- 4. a bad escape in a string in triple double quotes --------------------------------------------------

ESCAPE_SAID = "a backslash starts an escape (\\n, \\t): write each backslash that is text as \\\\"
LITERAL_SAID = ", or put the string in triple single quotes ('''), which keep every backslash as it is ("


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '[service]\nnote = """\nC:\\qfoo\n"""\n',
            f"line 3, C:\\qfoo: in a string in triple double quotes (opened on line 2) {ESCAPE_SAID}{LITERAL_SAID}",
        ),
        (
            '[mqtt]\nhost = """bro\\qker"""\n',
            f'line 2, host = """bro\\qker""": in a string in triple double quotes {ESCAPE_SAID}{LITERAL_SAID}',
        ),
        # a line of the string that looks like YAML or a header: it was told "this looks like YAML, not TOML"
        ('[service]\nnote = """\nhost: C:\\q\n"""\n', "line 3, host: C:\\q: in a string in triple double quotes"),
        ('[service]\nnote = """\n[array] C:\\q\n"""\n', "line 3, [array] C:\\q: in a string in triple double quo"),
        ('[service]\nnote = """\\u12"""\n', f"{ESCAPE_SAID}{LITERAL_SAID}Invalid hex value"),
        # other escapes in it would no longer be escapes in single quotes ('''), nor would a ''' in it end it
        ('[service]\nnote = """\n\\n and \\q\n"""\n', f"{ESCAPE_SAID} (Unescaped"),
        ('[service]\nnote = """\nline \\\n C:\\q\n"""\n', f"{ESCAPE_SAID} (Unescaped"),
        ('[service]\nnote = """a\\q\\"""b"""\n', f"{ESCAPE_SAID} (Unescaped"),
        ("[service]\nnote = \"\"\"it's '''x''' \\q\"\"\"\n", f"{ESCAPE_SAID} (Unescaped"),
        ('[service]\nnote = """a\\qb""""\n', f"{ESCAPE_SAID} (Unescaped"),  # its text ends with a '"'
        ('[service]\nnote = """a\\qb\n', f"{ESCAPE_SAID} (Unescaped"),  # and its end is missing
        ('[mqtt]\npassword = """\nhunter2\\q\n"""\n', "line 3: in a string in triple double quotes (opened on"),
    ],
)
def test_a_bad_escape_in_a_multiline_string_names_the_fix(tmp_path: Path, text: str, said: str) -> None:
    message = syntax_error(tmp_path, text)
    assert said in message, message
    assert "hunter2" not in message and "YAML" not in message and "header" not in message


def test_a_bad_escape_in_a_one_line_string_keeps_its_own_fix(tmp_path: Path) -> None:
    said = syntax_error(tmp_path, '[asr]\nmodel_path = "C:\\models\\vosk"\n')
    assert "or use single quotes: model_path = 'C:\\models\\vosk'" in said and "triple" not in said
