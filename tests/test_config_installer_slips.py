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
