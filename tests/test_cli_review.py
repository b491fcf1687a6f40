"""Command line and configuration edge cases: each gives one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from listener import cli
from listener.analytics.report import AudioInfo, ReportCollector
from listener.config import load_config, parse_config
from listener.console import Stdout
from listener.errors import ConfigError, ConfigSyntaxError
from tests import synth
from tests.cli_run import FULL_DISK, onto_a_full_disk


def _cli(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "listener", *args], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120
    )


def _no_nan(token: str) -> object:
    raise AssertionError(f"{token} is not JSON")


def test_an_integer_too_large_for_a_float_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"parties": {"rep_azimuth_deg": 10**400}})
    assert info.value.path == "parties.rep_azimuth_deg" and "between -360.0 and 360.0" in info.value.rule
    with pytest.raises(ConfigError, match=r"between 1\.0 and 3600\.0"):
        parse_config({"mqtt": {"metrics_interval_s": 10**400}})
    with pytest.raises(ConfigError, match="finite"):
        parse_config({"mqtt": {"metrics_interval_s": float("inf")}})  # TOML's inf, whatever the range
    with pytest.raises(ConfigError) as info:
        parse_config({"array": {"mics": [[10**400, 0.0, 0.0], [0.03, 0.0, 0.0]]}})
    assert info.value.path == "array.mics[0][0]"


def test_a_number_too_long_for_python_is_a_config_file_error(tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text("[array]\nblock_ms = 1" + "0" * 5000 + "\n")
    with pytest.raises(ConfigSyntaxError, match="not valid TOML"):
        load_config(path)
    result = _cli("check-config", str(path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_whole_number_written_as_a_float_says_how_to_write_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"array": {"sample_rate": 16000.0}})
    assert info.value.path == "array.sample_rate"
    assert str(info.value) == (
        "config error at array.sample_rate = 16000.0: must be a whole number, written without a decimal point: 16000"
    )
    with pytest.raises(ConfigError, match=r"must be a whole number between 16000 and 48000$"):
        parse_config({"array": {"sample_rate": 16000.5}})


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        # no hint the range then refuses: "written without a decimal point: 5", then "must be between 20 and 1000"
        ("[array]\nblock_ms = 5.0", "array.block_ms = 5.0: must be a whole number between 20 and 1000"),
        ("[mqtt]\nkeepalive_s = 1e10", "mqtt.keepalive_s = 10000000000.0: must be a whole number between 5 and 3600"),
        # not whole: the range is said too, not only "a whole number"
        ("[array]\nblock_ms = 50.5", "array.block_ms = 50.5: must be a whole number between 20 and 1000"),
        ("[mqtt]\nport = 1883.5", "mqtt.port = 1883.5: must be a whole number between 1 and 65535"),
        (
            "[array]\nblock_ms = 50.0",
            "array.block_ms = 50.0: must be a whole number, written without a decimal point: 50",
        ),
    ],
)
def test_a_float_where_a_whole_number_goes_is_told_a_number_the_range_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, rule: str
) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(line + "\n")
    assert cli.main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == f"listener: config error at {rule}\n"


@pytest.mark.parametrize(
    ("table", "value", "rule"),
    [
        ({"leds": {"green_pin": 22}}, 22, 'must be text in quotes, e.g. green_pin = "22"'),
        ({"mqtt": {"device_id": 3}}, 3, 'must be text in quotes, e.g. device_id = "3"'),
        # the number in quotes only where the key's rule takes it: "22.0" is no pin, "1883" no host
        ({"leds": {"green_pin": 22.0}}, 22.0, 'must be text in quotes, e.g. green_pin = "GPIO22"'),
        ({"leds": {"red_pin": 99}}, 99, 'must be text in quotes, e.g. red_pin = "GPIO24"'),
        # the button's rule also takes "" (no button), which a number never is
        ({"leds": {"button_pin": 17}}, 17, 'must be text in quotes, e.g. button_pin = "17"'),
        ({"leds": {"button_pin": 99}}, 99, 'must be text in quotes, e.g. button_pin = "GPIO17"'),
        ({"mqtt": {"host": 1883}}, 1883, 'must be text in quotes, e.g. host = "127.0.0.1"'),
        ({"mqtt": {"device_id": 3.5}}, 3.5, 'must be text in quotes, e.g. device_id = "counter-3"'),
        ({"array": {"device": True}}, True, "must be text in quotes"),
        ({"mqtt": {"protocol": 5}}, 5, "must be one of '3.1.1', '5', in quotes: protocol = \"5\""),
        ({"mqtt": {"protocol": 4}}, 4, "must be one of '3.1.1', '5'"),
        # "5" is no lexicon: the hint is one the loader then takes
        ({"asr": {"language": 5}}, 5, 'must be text in quotes, e.g. language = "en"'),
    ],
)
def test_a_number_where_text_belongs_says_to_quote_it(table: dict[str, object], value: object, rule: str) -> None:
    """README gives pins as GPIO22 / header pins: a bare 22 is the natural first guess, and "must be a string" or
    "must be one of '3.1.1', '5'" for protocol = 5 read as if the value typed were wrong."""
    with pytest.raises(ConfigError) as info:
        parse_config(table)
    assert str(info.value).endswith(f" = {'true' if value is True else value}: {rule}")


@pytest.mark.parametrize(
    ("table", "rule"),
    [
        ({"array": {"sample_rate": "16000"}}, "must be a whole number, without quotes: sample_rate = 16000"),
        ({"parties": {"rep_azimuth_deg": " 10.5"}}, "must be a number, without quotes: rep_azimuth_deg = 10.5"),
        ({"parties": {"rep_azimuth_deg": "left"}}, "must be a number between -360.0 and 360.0"),
        ({"parties": {"rep_azimuth_deg": "nan"}}, "must be a number between -360.0 and 360.0"),
        # a whole number written with a decimal point: TOML's 16000, as for sample_rate = 16000.0 unquoted
        ({"array": {"sample_rate": "16000.0"}}, "must be a whole number, without quotes: sample_rate = 16000"),
        # in a list the fix names the list, not "mic_channels[0] = 0", which no TOML file can hold
        (
            {"array": {"mic_channels": ["0", "1", "2", "3"]}},
            'must be a whole number, without quotes: 0 in mic_channels = [...], not "0"',
        ),
        (
            {"array": {"mics": [["0.04", 0.0, 0.0], [0.0, 0.04, 0.0], [-0.04, 0.0, 0.0], [0.0, -0.04, 0.0]]}},
            'must be a number, without quotes: 0.04 in mics = [...], not "0.04"',
        ),
        # a number the range refuses is not suggested: the range is said instead
        ({"array": {"block_ms": "5"}}, "must be a whole number, without quotes, between 20 and 1000"),
        ({"activity": {"min_speech_s": "100"}}, "must be a number, without quotes, between 0.0 and 1.0"),
    ],
)
def test_a_number_in_quotes_says_to_drop_them(table: dict[str, object], rule: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(table)
    assert str(info.value).endswith(f": {rule}")


def test_a_recording_given_as_the_config_says_the_two_were_swapped() -> None:
    from listener.service.runner import sample_conversation

    with pytest.raises(ConfigSyntaxError, match="is a WAV recording, not TOML: pass the recording as the file"):
        load_config(sample_conversation())


def test_toml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text("[array]\nsample_rate = \n")
    result = _cli("check-config", str(path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "not valid TOML" in result.stderr and "line 2, column 15" in result.stderr


def test_an_empty_config_file_means_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text("")
    result = _cli("check-config", str(path))
    assert result.returncode == 0 and "respeaker-4mic, 4 mics" in result.stdout


@pytest.mark.parametrize("args", [["check-config", "{cfg}"], ["analyze", "{wav}", "--json"], ["analyze", "{wav}"]])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path: Path, args: list[str]) -> None:
    cfg = tmp_path / "listener.toml"
    cfg.write_text("")
    hiss = np.random.default_rng(0).normal(0.0, 0.01, (16000, 4)).astype(np.float32)  # 1 s: not too short to say
    wav = synth.write_wav(tmp_path / "quiet.wav", hiss)
    result = onto_a_full_disk(*(a.format(cfg=cfg, wav=wav) for a in args))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "cannot write the output (No space left on device)" in result.stderr


def test_a_report_without_speech_has_float_talk_times_and_no_nan() -> None:
    report = ReportCollector().report(AudioInfo(duration_s=0.0, channels=4, sample_rate_hz=16000))
    metrics = report["metrics"]
    assert isinstance(metrics, dict)
    for key in ("rep_talk_s", "customer_talk_s"):
        assert type(metrics[key]) is float and metrics[key] == 0.0, key
    assert metrics["rep_share"] is None  # undefined, not NaN: JSON has no NaN
    assert '"rep_talk_s": 0.0' in json.dumps(report) and '"rep_share": null' in json.dumps(report)


def test_a_file_shorter_than_one_block_gives_a_valid_report(tmp_path: Path) -> None:
    wav = synth.write_wav(tmp_path / "blip.wav", np.zeros((100, 4), dtype=np.float32))
    result = _cli("analyze", str(wav), "--json")
    assert result.returncode == 0 and result.stderr.count("\n") == 1 and "is only 6 ms long" in result.stderr
    report = json.loads(result.stdout, parse_constant=_no_nan)
    assert report["schema"] == "listener.analysis/1" and report["segments"] == []
    assert report["audio"] == {"seconds": 0.006, "channels": 4, "sample_rate": 16000}
    assert report["metrics"]["rep_share"] is None and report["metrics"]["rep_talk_s"] == 0.0


def test_an_os_error_that_is_not_the_output_failing_is_not_blamed_on_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # only a failed write to stdout is "cannot write the output"; a file the command could not open is a bug
    # (or a real permission problem) and must keep its traceback
    def denied(args: argparse.Namespace) -> int:
        print("checking")  # stdout itself works
        raise PermissionError("x")

    monkeypatch.setattr(cli, "cmd_check_config", denied)
    path = tmp_path / "listener.toml"
    path.write_text("")
    with pytest.raises(PermissionError, match=r"^x$"):
        cli.main(["check-config", str(path)])
    captured = capsys.readouterr()
    assert "cannot write the output" not in captured.err and "cannot write the output" not in captured.out
    assert captured.out == "checking\n"


def test_main_gives_the_callers_stdout_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """main() watches stdout for a failed write while a command runs; a caller in the same process (a script,
    a test) gets its own stdout back afterwards, not the watcher, which would swallow its output after an error."""
    path = tmp_path / "listener.toml"
    path.write_text("")
    before = sys.stdout
    assert cli.main(["check-config", str(path)]) == 0
    assert sys.stdout is before
    assert ": ok (" in capsys.readouterr().out


@pytest.mark.skipif(not FULL_DISK.exists(), reason="needs /dev/full")
def test_after_a_failed_write_the_output_goes_nowhere_and_the_first_error_is_kept() -> None:
    """listener.console.Stdout: what still writes while a run winds down (a view's last frame) after the output
    failed must not raise a second error over the first, which main() reports."""
    full = FULL_DISK.open("w", buffering=1)  # line-buffered: a line meets the full disk
    try:
        stdout = Stdout(full)
        with pytest.raises(OSError) as first:
            stdout.write("the report\n")
        assert stdout.write("the last frame\n") == len("the last frame\n")
        stdout.flush()
        assert stdout.error is first.value
    finally:
        with contextlib.suppress(OSError):  # what is still buffered cannot be written either
            full.close()
