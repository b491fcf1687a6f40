"""Files an installer types by hand, checked through the CLI: each slip is one line naming the key, the value,
the rule and the fix, exit 2. Before, these named the rule alone: the fix was left to guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener import cli


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> str:
    path = tmp_path / "listener.toml"
    path.write_text(text, encoding="utf-8")
    assert cli.main(["check-config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # tables nested as YAML nests them: "unknown key; allowed here: block_ms, ..." listed [array]'s keys alone
        ("[array.parties]\nrep_channel = 1\n", "array.parties = {rep_channel = 1}: unknown key; [parties] is a"),
        ("[array]\nparties.rep_azimuth_deg = 10\n", "[parties] is a table of its own, not part of [array]"),
        ("[mqtt]\n[mqtt.service]\nlog_level = 1\n", "[service] is a table of its own, not part of [mqtt]: write its"),
    ],
)
def test_a_table_nested_in_another_is_told_it_stands_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    message = refused(tmp_path, capsys, text)
    assert said in message and "allowed here" not in message, message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # a setting written as a table, [mqtt.tls] for the keys TLS needs: "must be true or false" alone
        (
            '[mqtt.tls]\nca_file = "/etc/ssl/ca.pem"\n',
            'mqtt.tls = {ca_file = "/etc/ssl/ca.pem"}: must be true or false; tls is a setting of [mqtt], not a '
            "table: write tls = ... on a line under [mqtt]",
        ),
        ("[array.block_ms]\nvalue = 50\n", "must be a whole number between 20 and 1000; block_ms is a setting of"),
        ("[array.mics]\nx = 0.0\n", "must be an array; mics is a setting of [array], not a table"),  # said once
    ],
)
def test_a_setting_written_as_a_table_is_told_to_be_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    message = refused(tmp_path, capsys, text)
    assert said in message and message.count("is a setting of") == 1, message


@pytest.mark.parametrize(
    ("text", "near"),
    [
        # the README writes "ReSpeaker 4-Mic": the name's case, spaces and '_' are slips, told "must be one of" alone
        ('[array]\npreset = "ReSpeaker-4mic"\n', 'preset = "respeaker-4mic"'),
        ('[array]\npreset = "respeaker 4mic"\n', 'preset = "respeaker-4mic"'),
        ('[array]\npreset = "respeaker-4mic "\n', 'preset = "respeaker-4mic"'),
        ('[array]\npreset = "respeaker_usb_v2"\n', 'preset = "respeaker-usb-v2"'),
        ('[leds]\npreset = "traffic light"\n', 'preset = "traffic-light"'),
        ('[parties]\nmode = "Channels"\n', 'mode = "channels"'),
        ('[service]\nlog_level = "warn"\n', 'log_level = "warning"'),
    ],
)
def test_a_name_written_nearly_right_is_answered_with_the_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, near: str
) -> None:
    message = refused(tmp_path, capsys, text)
    assert "must be one of " in message and f"; did you mean {near}? Write the name as listed" in message, message


def test_a_name_near_none_is_told_the_names_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = refused(tmp_path, capsys, '[array]\npreset = "matrix-voice"\n')
    assert message.endswith("'respeaker-usb-v2', 'generic'\n"), message


@pytest.mark.parametrize(
    "text",
    [
        # the coordinates in one flat list, or each mic as a table: "array.mics[0] = 0.0: must be an array" alone
        '[array]\npreset = "generic"\nmics = [0.03, 0.0, 0.0, -0.03, 0.0, 0.0]\n',
        '[array]\npreset = "generic"\n[[array.mics]]\nx = 0.03\n',
    ],
)
def test_mics_not_written_as_arrays_in_an_array_are_shown_how(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    message = refused(tmp_path, capsys, text)
    assert "array.mics[0] = " in message, message
    assert ": must be an array of 3 numbers: mics is an array of arrays, written mics = [[...], [...]] (" in message


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        # an 'é' typed in a Windows editor (Windows-1252): "byte 21 (0xe9)" alone left the installer counting bytes
        (b'[array]\ndevice = "caf\xe9"\n', 'cannot be read: line 2, device = "caf?": byte 21 (0xe9) is not UTF-8'),
        (b"# K\xfcche\n[array]\n", "cannot be read: line 1, # K?che: byte 3 (0xfc) is not UTF-8 text: save it as"),
        (b'[mqtt]\npassword = "s\xe9cret"\n', "cannot be read: line 2: byte 20 (0xe9) is not UTF-8 text"),  # unshown
        # Notepad's "Unicode": its line, every other byte a NUL, would show as '?'s
        ('[array]\npreset = "generic"\n'.encode("utf-16"), 'the file is UTF-16 (Notepad\'s "Unicode") and is not'),
    ],
)
def test_a_byte_that_is_not_utf8_is_shown_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: bytes, said: str
) -> None:
    path = tmp_path / "listener.toml"
    path.write_bytes(raw)
    assert cli.main(["check-config", str(path)]) == 2
    message = capsys.readouterr().err
    assert said in message and message.endswith("save it as UTF-8\n"), message
    assert "cret" not in message.split("cannot be read")[1], message


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        # a number written with its unit, in quotes: "must be a number between 0.5 and 60.0" alone
        ('[array]\nbuffer_s = "5 s"\n', "must be a number, without quotes or unit: buffer_s = 5"),
        ('[array]\nblock_ms = "50ms"\n', "must be a whole number, without quotes or unit: block_ms = 50"),
        ('[parties]\nrep_azimuth_deg = "-10°"\n', "without quotes or unit: rep_azimuth_deg = -10"),
        # another unit of the same measure is converted to the key's, and said so
        ('[array]\nbuffer_s = "500 ms"\n', "without quotes or unit, in seconds (the key's unit): buffer_s = 0.5"),
        ('[array]\nsample_rate = "16 kHz"\n', "without quotes or unit, in Hz (the key's unit): sample_rate = 16000"),
        ('[analytics]\nrolling_window_s = "2 min"\n', "in seconds (the key's unit): rolling_window_s = 120"),
        # a unit that is no unit of the key's: the number kept, the key's unit named
        ('[array]\nbuffer_s = "5 parsecs"\n', "without quotes or unit, in seconds (the key's unit): buffer_s = 5"),
        # converted, it is outside the range: the range is said, in the key's unit
        ('[array]\nblock_ms = "5 s"\n', "in milliseconds (the key's unit), between 20 and 1000"),
        # drain_rate_per_s is messages per second, no time: the number as written
        ('[mqtt]\ndrain_rate_per_s = "5 s"\n', "must be a number, without quotes or unit: drain_rate_per_s = 5"),
        ('[array]\nmic_channels = ["0 ch"]\n', 'without quotes or unit: 0 in mic_channels = [...], not "0 ch"'),
    ],
)
def test_a_number_in_quotes_with_its_unit_is_told_the_number_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fix: str
) -> None:
    message = refused(tmp_path, capsys, text)
    assert message.endswith(f"{fix}\n") and message.count("without quotes") == 1, message


@pytest.mark.parametrize(
    "text",
    [
        # a decimal comma, hex, a whole-number key given a fraction once converted: no number is guessed
        '[array]\nbuffer_s = "5,5"\n',
        '[mqtt]\nport = "0x10"\n',
        '[array]\nblock_ms = "2.5 ms"\n',
    ],
)
def test_text_that_is_no_plain_number_is_told_the_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    message = refused(tmp_path, capsys, text)
    assert "without quotes" not in message and " between " in message, message


@pytest.mark.parametrize("language", ["EN", " en", "eng"])
def test_a_language_written_nearly_right_is_answered_with_the_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], language: str
) -> None:
    message = refused(tmp_path, capsys, f'[asr]\nlanguage = "{language}"\n')
    assert message.endswith(
        'no lexicon for it; available: en; did you mean language = "en"? Write the name as listed\n'
    )


def test_a_language_near_none_is_told_the_lexicons_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(tmp_path, capsys, '[asr]\nlanguage = "de"\n').endswith("no lexicon for it; available: en\n")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # a letter outside ASCII in a bare key: the parser's "Expected '=' after a key ... (at line 2, column 9)" alone
        ("[array]\nsample_räte = 16000\n", 'line 2, array."sample_räte": unknown key; did you mean sample_rate?'),
        ("[array]\npreset = 'generic'\nblöck_ms = [\n50]\n", 'line 3, array."blöck_ms": unknown key; did you mean'),
        ("[array]\näsample_rate = 1\n", 'line 2, array."äsample_rate": unknown key; did you mean sample_rate?'),
        ("größe = 1\n", 'line 1, "größe": unknown key; allowed here: activity, analytics, array'),
    ],
)
def test_a_key_with_a_letter_outside_ascii_is_told_the_key_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    message = refused(tmp_path, capsys, text)
    assert "is not valid TOML: " + said in message and message.endswith(")\n"), message


def test_a_key_below_a_list_left_open_is_not_blamed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the parser reads 'ä = 2' as the open list's next item: the key is not what stopped it
    message = refused(tmp_path, capsys, '[mqtt]\nhost = "a"\nx = [1,\nä = 2\n')
    assert "unknown key" not in message and "Invalid value (at line 4, column 1)" in message, message


def test_a_mic_written_in_the_plane_is_told_to_add_its_height(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mics copied from a datasheet's 2-D drawing: "must have exactly 3 elements" alone left z to guess."""
    message = refused(tmp_path, capsys, "[array]\nmics = [[0.05, 0.0], [-0.05, 0.0]]\n")
    assert message.rstrip().endswith(
        "array.mics[0] = [0.05, 0.0]: must have exactly 3 elements: x, y and z, in metres; for mics all at one "
        "height add z = 0.0: [0.05, 0.0, 0.0]"
    ), message
