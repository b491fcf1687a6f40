"""A hand-edited file's TOML mistakes are answered with the line and the fix, not the parser's words alone."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from listener.config import load_config
from listener.config.file_kinds import binary_kind
from listener.errors import ConfigError, ConfigSyntaxError


def syntax_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "listener.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigSyntaxError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"config file {path} is not valid TOML: ")
    return message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "[mqtt]\nhost = 192.168.1.10\n",
            'line 2, host = 192.168.1.10: put text in double quotes: host = "192.168.1.10"',
        ),
        ("[array]\ndevice = hw:1,0  # the card\n", 'put text in double quotes: device = "hw:1,0"'),
        ("[array]\ndevice = x\n", 'line 2, device = x: put text in double quotes: device = "x"'),
        # a long line is cut to 60 characters, the line quoted and the fix both
        (
            "[mqtt]\nhost = " + "b" * 70 + ".example.com\n",
            "line 2, host = " + "b" * 52 + '…: put text in double quotes: host = "' + "b" * 51 + "… (",
        ),
        # quoting the rest made the extra '=' part of the text: host = "= \"x\""
        ('[mqtt]\nhost = = "x"\n', 'line 2, host = = "x": delete the second \'=\': host = "x"'),
        ("[mqtt]\nport == 1883\n", "delete the second '=': port = 1883"),
        ("[mqtt]\nenabled = True\n", "line 2, enabled = True: write true or false in lower case: enabled = true"),
        ("[leds]\nenabled = no\n", "write true or false in lower case: enabled = false"),
        # quoting the typographic quotes again made them part of the text: preset = "“generic”"
        (
            "[array]\npreset = “generic”\n",
            'preset = “generic”: replace the typographic quotes “ ” ‘ ’ with straight ones: preset = "generic"',
        ),
        ("[mqtt]\nhost = ‘broker.local’\n", 'straight ones: host = "broker.local"'),
        (
            "[array]\nsample_rate = 16k\n",
            "sample_rate = 16k: write a plain number: digits, a '.' for decimals, no unit",
        ),
        # the key's type says what to write: quotes would only trade the syntax error for a type error
        ("[array]\nsample_rate = 16,000\n", "sample_rate = 16,000: write a plain number: digits"),
        ("[parties]\nrep_azimuth_deg = 90°\n", "write a plain number"),
        ("[array]\nmics = (0, 0, 0)\n", "mics = (0, 0, 0): write a list in square brackets"),
        ("[leds]\nenabled = tru\n", "enabled = tru: write true or false in lower case ("),
        # a misspelt key has no type: its value says what was meant ("put text in quotes" misled here)
        ("[leds]\nenabeld = True\n", "enabeld = True: write true or false in lower case: enabeld = true"),
        ('[mqtt]\ndescription = """\n[array]\n"""\nport = 1,883\n', "port = 1,883: write a plain number"),
        # a multi-line array's rows start with '[' too, and are no headers: the key below is still [array]'s
        (
            "[array]\nmics = [\n  [0.0, 0.03, 0.0],  # left\n  [0.0, -0.03, 0.0],\n]\nblock_ms = 1.0.0\n",
            "line 6, block_ms = 1.0.0: write a plain number",
        ),
        (
            "[array]\nsample_rate = 16000\nsample_rate = 48000\n",
            "line 3, sample_rate = 48000: sample_rate is set twice",
        ),
        ('[array]\npreset = "generic"\n[array]\n', "table [array] appears twice: merge its keys under one [array]"),
    ],
)
def test_a_typical_mistake_names_its_line_and_the_fix(tmp_path: Path, text: str, said: str) -> None:
    message = syntax_error(tmp_path, text)
    assert said in message
    assert "(at line" in message  # the parser's own words stay, for what the hint does not cover


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # above the first table: the key belongs to none, so its value says what was meant
        (
            'preset = generic\n[array]\ndevice = "hw:1"\n',
            'line 1, preset = generic: put text in double quotes: preset = "generic"',
        ),
        # under a misspelt table, which the schema does not know
        ("[mqt]\nenabled = True\n", "line 2, enabled = True: write true or false in lower case: enabled = true"),
        ("[partys]\nrep_azimuth_deg = 10 deg\n", "rep_azimuth_deg = 10 deg: write a plain number"),
    ],
)
def test_a_mistake_outside_any_known_table_still_gets_its_line_and_fix(tmp_path: Path, text: str, said: str) -> None:
    """A line no [table] of the schema holds (before the first header, or under a misspelt one) has no type to go
    by: it is answered from its value, like a misspelt key, not with a crash or the parser's words alone."""
    assert said in syntax_error(tmp_path, text)


@pytest.mark.parametrize("line", ["password = hunter2secret", "creds = { password = hunter2secret }"])
def test_a_password_typed_into_the_file_is_not_echoed(tmp_path: Path, line: str) -> None:
    message = syntax_error(tmp_path, f"[mqtt]\n{line}\n")
    assert "hunter2secret" not in message and "line 2, " in message and " = …" in message


def test_a_line_of_control_characters_stays_one_line(tmp_path: Path) -> None:
    message = syntax_error(tmp_path, "[mqtt]\nhost = ab\x1b[31mred\n")
    assert "\x1b" not in message and 'host = "ab\\u001b[31mred"' in message  # the fix too: escaped, not echoed


def test_the_line_named_is_the_parsers_line_whatever_other_breaks_the_file_holds(tmp_path: Path) -> None:
    # splitlines() also breaks at U+2028: the hint quoted the line after the one tomllib meant
    message = syntax_error(tmp_path, "# by the door\u2028 (counter 3)\n[mqtt]\nhost = x y\nport = 1883\n")
    assert "line 3, host = x y: put text in double quotes" in message


def test_an_error_the_hints_do_not_know_keeps_the_parsers_words(tmp_path: Path) -> None:
    assert syntax_error(tmp_path, "[mqtt]\nx = {a = 1, a = 2}\n").endswith(
        "x = {a = 1, a = 2} (Duplicate inline table key 'a' (at line 2, column 18))"
    )


# Found by fuzzing check-config with mutations of the documented configs: each of these said the parser's words
# alone ("Illegal character '\\n'", "Unescaped '\\' in a string", "Expected newline or end of document after a
# statement", "Expected ']' at the end of a table declaration", "Expected '=' after a key"), with no fix
@pytest.mark.parametrize(
    ("text", "said"),
    [
        # a closing quote left out: the line break is the 'illegal character'
        ('[mqtt]\nhost = "192.0.2.10\nport = 1883\n', 'line 2, host = "192.0.2.10: close the quotes at the end of'),
        (
            '[mqtt]\nhost = "192.0.2.10  # the broker\n',
            "or before the '#' if a comment starts there: host = \"192.0.2.10\"  # the broker (",
        ),
        ("[mqtt]\nhost = 'x\nport = 'y'\n", "line 2, host = 'x: close the quotes at the end of the text: host = 'x'"),
        # a Windows path or a DOMAIN\\user login: the backslash starts an escape in double quotes
        ('[asr]\nmodel_path = "C:\\models\\vosk"\n', "or use single quotes: model_path = 'C:\\models\\vosk'"),
        ('[mqtt]\nusername = "CORP\\user"\n', "write each as \\\\, or use single quotes: username = 'CORP\\user'"),
        ('[mqtt]\nusername = "it\'s\\me"\n', "write each as \\\\, or use single quotes ("),  # no single-quoted example
        # more after the closing quote
        ('[array]\ndevice = "USB Audio" true\n', "delete what follows the closing quote (a comment starts with #): de"),
        ('[mqtt]\nhost = "192.0.2.10":1883\n', "delete what follows the closing quote (a comment starts with #): host"),
        # table headers
        ('[array\npreset = "generic"\n', "line 1, [array: write the table header as [array] ("),
        ("[[array]\n", "line 1, [[array]: write the table header as [array] ("),
        ("[array]]\n", "line 1, [array]]: the header ends at [array]: put what follows on a line of its own, or del"),
        ('[array] preset = "generic"\n', "the header ends at [array]: put what follows on a line of its own"),
        ("[ar ray]\n", "write the table's name between single brackets, without spaces, e.g. [array]"),
        ("[2024 q3]\n", "write the table's name between single brackets, without spaces"),  # a number, no list row
        ("array]\n", "line 1: a table header starts with '[' too: [array] ("),
        # keys
        (
            "[parties]\nrep azimuth deg = 5\n",
            "line 2: a key holds no spaces: join its words with '_': rep_azimuth_deg = 5",
        ),
        ("[parties]\nrep_azimuth_deg\n", "line 2: a setting is key = value on one line: give the key its value, or"),
    ],
)
def test_a_mistake_inside_a_string_a_header_or_a_key_names_the_fix(tmp_path: Path, text: str, said: str) -> None:
    message = syntax_error(tmp_path, text)
    assert said in message, message
    assert "(at line" in message  # the parser's own words stay


# a '#' inside a string is text: cut there as a comment, the fix showed the text shortened ('C:\models')
@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[asr]\nmodel_path = "C:\\models#2\\vosk"\n', "or use single quotes: model_path = 'C:\\models#2\\vosk' ("),
        ('[mqtt]\nusername = "CORP\\me#1"  # the shop\n', "or use single quotes: username = 'CORP\\me#1' ("),
        ('[array]\ndevice = "USB Audio #2" true\n', "delete what follows the closing quote (a comment starts with #"),
        ('[array]\ndevice = "USB#2\n', 'close the quotes at the end of the text: device = "USB#2" ('),
        # a ' #' in a string left open is a comment or text: the line cannot tell, so both readings are said,
        # neither dropping text (the fix was device = "USB", '#2' silently gone)
        (
            '[array]\ndevice = "USB #2\n',
            "close the quotes at the end of the text: device = \"USB #2\", or before the '#' if a comment starts"
            ' there: device = "USB" #2 (',
        ),
    ],
)
def test_a_hash_inside_a_string_is_kept_in_the_fix(tmp_path: Path, text: str, said: str) -> None:
    message = syntax_error(tmp_path, text)
    assert said in message, message
    if "delete what follows" in said:
        assert message.split(" (Expected")[0].endswith(': device = "USB Audio #2"'), message


# a row of a list written a line each (the mics' positions) starts with '[' too: told to write a table header
@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '[array]\npreset = "generic"\nmics = [\n  [0.0457, 0.0, 0.0],\n  [0.0, 0.0457 0.0],\n]\n',
            "Unclosed array (at line 5, column 16)",
        ),
        (
            '[array]\npreset = "generic"\nmics = [\n  [0.0457, 0.0, 0.0]\n  [0.0, 0.0457, 0.0],\n]\n',
            "Unclosed array (at line 5, column 3)",
        ),
        ('[array]\npreset = "generic"\nmics = [\n  [0.0457, 0.0, x],\n]\n', "Invalid value (at line 4, column 17)"),
    ],
)
def test_a_row_of_a_list_on_its_own_line_is_not_taken_for_a_table_header(tmp_path: Path, text: str, said: str) -> None:
    assert syntax_error(tmp_path, text).endswith(f"TOML: {said}")


# a list closed on its own line (']]' for ']'): the rows below it are no part of it. The next row was read as a
# table header ("write the table's name between single brackets"), or with a ',' after the ']]', the list was
# told to be written in square brackets
@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "[array]\nmics = [[0.0457, 0.0, 0.0]]\n  [0.0, 0.0457, 0.0], [0.0, 0.0, 0.0]]\n",
            "line 3, [0.0, 0.0457, 0.0], [0.0, 0.0, 0.0]]: this is a row of a list, not a table header: the list"
            " mics above ends before it (a ']' too many, or its items not inside one pair of brackets): keep every"
            " item inside the list's outer [ ] (Expected ']' at the end",
        ),
        ("[array]\nmics = [[0.0457, 0.0, 0.0]]\n\n# more\n[-0.5, 0.0, 0.0]]\n", "line 5, [-0.5, 0.0, 0.0]]: this"),
        ("[array]\nmics = [[0.0457, 0.0, 0.0]]\n[.5, 0.0, 0.0]]\n", "not a table header: the list mics above"),
        ("[array]\nmics = [[0.0457, 0.0, 0.0]]\n[[0.0, 0.0457, 0.0]]]\n", "not a table header: the list mics above"),
        ('[array]\npreset = "generic"\n[0.0, 0.0457, 0.0]\n', "a row of a list, not a table header: write it inside"),
        ("[array]\nmics = [[0.0457, 0.0, 0.0]]\n[1e-3, 0.0, 0.0]\n", "not a table header: the list mics above"),
        (
            "[array]\nmics = [[0.0457, 0.0, 0.0]],\n  [0.0, 0.0457, 0.0], [0.0, 0.0, 0.0]]\n",
            "line 2, mics = [[0.0457, 0.0, 0.0]],: the list ends before the ',' after it (a ']' too many, or its items",
        ),
    ],
)
def test_a_list_closed_early_is_named_not_the_row_after_it(tmp_path: Path, text: str, said: str) -> None:
    message = syntax_error(tmp_path, text)
    assert said in message, message
    assert "table's name" not in message and "write a list in square brackets" not in message


@pytest.mark.parametrize(
    "text",
    [
        '[mqtt]\npassword_file = "C:\\pw"\n',
        '[mqtt]\npass word = "hunter2"\n',
        '[mqtt]\ntoken = "hunter2\n',
        "hunter2\n",
    ],
)
def test_those_fixes_do_not_echo_a_secret(tmp_path: Path, text: str) -> None:
    message = syntax_error(tmp_path, text)
    assert "hunter2" not in message.split("(")[0] and "C:" not in message, message
    assert ": " in message.split("(at line")[0].split("TOML: ", 1)[1], message  # a fix is still said


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '{"array": {"preset": "generic"}}\n',
            "line 1: this looks like JSON, not TOML: write each setting as key = value",
        ),
        (
            "array:\n  preset: generic\n",
            "line 1: this looks like YAML, not TOML: write the table as [array], not array:",
        ),
        ("[mqtt]\nhost: broker.local\n", "line 2: this looks like YAML, not TOML: write host = value, not host: value"),
        (
            "; the counter\n[array]\n",
            "line 1: ';' starts a comment in INI files, not in TOML: start the comment with '#'",
        ),
    ],
)
def test_a_file_in_another_format_is_named_as_such(tmp_path: Path, text: str, said: str) -> None:
    # the parser's "Invalid statement" / "Expected '=' after a key" said nothing of the format mix-up
    assert said in syntax_error(tmp_path, text)


def test_a_yaml_value_is_not_echoed_it_may_be_a_password(tmp_path: Path) -> None:
    assert "hunter2secret" not in syntax_error(tmp_path, "[mqtt]\npassword: hunter2secret\n")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (gzip.compress(b'[array]\npreset = "generic"\n', mtime=0), "is a gzip-compressed file (unpack it: gunzip)"),
        (b"\x7fELF\x02\x01\x01" + bytes(200), "is a program (an ELF binary)"),
        (bytes(range(256)) * 4, "is a binary file"),
    ],
    ids=["gzip", "elf", "bytes"],
)
def test_a_binary_file_is_not_told_to_be_saved_as_utf8(tmp_path: Path, raw: bytes, kind: str) -> None:
    path = tmp_path / "listener.toml.gz"
    path.write_bytes(raw)
    with pytest.raises(ConfigSyntaxError) as info:
        load_config(path)
    assert f"{kind}, not the TOML config: pass the listener's TOML text file" in str(info.value)
    assert "UTF-8" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "binary"),
    [
        (b"", False),  # an empty file is the parser's to judge
        (b"a" * 900 + bytes(100), False),  # a tenth of control bytes: text with stray ones (a paste gone wrong)
        (b"a" * 899 + bytes(101), True),  # more than a tenth
        (b"a" * 922 + bytes(200), False),  # only the first KiB is looked at: 102 of 1024
        (b"a" * 921 + bytes(200), True),  # 103 of 1024
        (b"\t\n\r\x0c " * 300, False),  # tabs, line ends, page breaks and spaces are text
        (b"\x01\x1f" * 300, True),  # every other control byte is not
        (b"\xfe\xff" + b"\x00a" * 300, False),  # UTF-16 with its byte-order mark, either order
        (b"\xff\xfe" + b"a\x00" * 300, False),
    ],
)
def test_a_file_is_binary_when_over_a_tenth_of_its_first_kib_is_control_bytes(raw: bytes, binary: bool) -> None:
    assert (binary_kind(raw) == "a binary file") is binary
    assert binary_kind(raw) in ("a binary file", None)  # no magic number among these


def test_a_utf16_file_is_still_told_to_be_saved_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text('[array]\npreset = "generic"\n', encoding="utf-16")
    with pytest.raises(ConfigSyntaxError, match="save it as UTF-8"):
        load_config(path)


def test_a_key_set_twice_on_a_last_line_without_its_newline_is_named_too(tmp_path: Path) -> None:
    """tomllib says "(at end of document)" there, not "(at line N)": the line and the fix were left out."""
    message = syntax_error(tmp_path, "[mqtt]\nport = 1883\nport = 8883")
    assert "line 3, port = 8883: port is set twice in its table: keep one" in message, message
    assert "(at end of document)" in message


@pytest.mark.parametrize(
    ("text", "opened"),
    [
        ("[array]\npreset = 'respeaker-4mic'\n[mqtt]\nhost = '''broker.local'\nport = 1883\n", 4),
        ('[mqtt]\nhost = """broker.local"\nport = 1883', 2),
        ("[service]\nnote = '''x\n[mqtt]\nport = 1883", 2),
        # a list left open is named on the line it opened on, and so is a string in triple quotes: more of both in
        # test_toml_hints_open.py
    ],
)
def test_something_left_open_earlier_is_not_blamed_on_the_last_line(tmp_path: Path, text: str, opened: int) -> None:
    """A string, array or table left open "ends at the end of the document" too, but opened on an earlier line:
    the last line named, with advice for its correct value, sent the installer to the wrong place."""
    message = syntax_error(tmp_path, text)
    assert "(at end of document)" in message and f": line {opened}, " in message, message
    assert re.findall(r"\bline (\d+)", message.split(" (")[0]) == [str(opened)], message


@pytest.mark.parametrize("text", ["[[mqtt]]\nport = 1\n", "[[mqtt]]\nport = 1\n[[mqtt]]\nport = 2\n"])
def test_a_table_written_with_double_brackets_is_told_to_use_single_ones(tmp_path: Path, text: str) -> None:
    # valid TOML, an array of tables: the error echoed it as mqtt = [{port = 1}], which the file does not say,
    # with 'must be a table' alone
    path = tmp_path / "listener.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == "mqtt"
    assert info.value.rule == "must be a table: write [mqtt] with single brackets; [[mqtt]] makes an array of tables"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # a no-break space copied from a web page: the line looks right, and was told to write a plain number
        (
            "[mqtt]\nport\u00a0= 1883\n",
            "line 2, port?= 1883: column 5 holds an invisible character, U+00A0 (no-break space): type a plain space",
        ),
        ("[mqtt]\nport =\u00a01883\n", "column 7 holds an invisible character, U+00A0 (no-break space)"),
        # these said 'Invalid statement' alone: a zero-width space, a second file's byte-order mark, a NUL
        ("[mqtt]\n\u200bport = 1883\n", "line 2, ?port = 1883: column 1 holds an invisible character, U+200B"),
        ("[mqtt]\nport = 1883\n\ufeff[array]\n", "line 3, ?[array]: column 1 holds an invisible character, U+FEFF"),
        ("[mqtt]\nport = 1883\n\x00\n", "line 3, ?: column 1 holds an invisible character, U+0000"),
        ('[mqtt]\nhost = "a\x00b"\n', 'line 2, host = "a?b": column 10 holds an invisible character, U+0000'),
    ],
)
def test_an_invisible_character_where_the_parser_stopped_is_named(tmp_path: Path, text: str, said: str) -> None:
    assert said in syntax_error(tmp_path, text)


def test_an_invisible_character_in_a_secret_line_does_not_echo_the_line(tmp_path: Path) -> None:
    said = syntax_error(tmp_path, '[mqtt]\npassword_file = "s3cret\x00"\n')
    assert "s3cret" not in said and "line 2: column 24 holds an invisible character, U+0000" in said
