"""How `listener doctor` reports: the configuration it picks, --json, its exit code behind `| head`, and
nothing on the terminal but its own lines. Real parts: the ALSA test array, a real mosquitto, a real pipe,
the real vosk loader, the installed CLI in a process of its own."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import listener.config
from listener.build import version_text
from listener.cli import main
from listener.errors import DENIED_FIX
from listener.outputs.mqtt.identity import default_device_id
from listener.service.doctor import report as doctor_report
from tests import alsa_device
from tests.alsa_device import TestDevice
from tests.doctor_config import config
from tests.forked import said_as
from tests.mqtt_broker import BASE, Mosquitto, Recorder

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array

NAMES = ["audio", "directions", "turn model", "memory", "asr model", "gpio", "mqtt", "disk", "clock"]


def write_config(path: Path, state: Path, *lines: str) -> Path:
    path.write_text("\n".join(['[array]\ndevice = "gone"', f'[service]\nstate_dir = "{state}"', *lines]) + "\n")
    return path


def test_without_config_the_installed_one_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a fleet script's `listener doctor` on a provisioned device reported the built-in defaults as ok
    installed = write_config(tmp_path / "listener.toml", tmp_path / "state", "[asr]\nenabled = true")
    monkeypatch.setattr(listener.config, "INSTALLED_CONFIG", installed)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ok    config     {installed}"
    asr = next(line for line in out if line.startswith("FAIL  asr model"))
    # its state_dir, and a fetch that reads the same file, so the model lands where the check looks
    assert f"no vosk model in {tmp_path / 'state' / 'models'}" in asr
    assert f"`listener models fetch en-small --config {installed}`" in asr, asr


def test_without_an_installed_config_the_first_line_says_built_in_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "etc" / "listener.toml"
    monkeypatch.setattr(listener.config, "INSTALLED_CONFIG", missing)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert listener.config.config_file(None) is None
    doctor_report.report(config(tmp_path), None, as_json=False)
    assert capsys.readouterr().out.splitlines()[0] == f"ok    config     built-in defaults (no {missing})"


NOBODY = 65534  # an account with no say over the test's folders, as an installer's own is over /etc/listener


def test_an_installed_config_this_account_may_not_reach_is_named_not_swapped_for_the_defaults(
    locked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`listener doctor` by an account that may not enter the installed config's folder: that file is said to be
    unreadable, with the fix, and the exit code is 2; doctor does not fall back on the built-in defaults, whose
    checks would pass or fail on settings the device does not run with."""
    installed = locked / "listener.toml"
    installed.write_text('[array]\ndevice = "gone"\n')  # root may: the folder's mode 000 stops others
    monkeypatch.setattr(listener.config, "INSTALLED_CONFIG", installed)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")

    def doctor() -> str:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["doctor"])
        return f"{code} {err.getvalue()}"

    # root enters any folder: as an account that may not, with the words of the service's other files
    said = said_as(NOBODY, doctor)
    assert said == f"2 listener: config file {installed} cannot be read (Permission denied): {DENIED_FIX}\n"


def test_json_is_one_document_with_every_check_and_the_same_exit_code(
    test_array: TestDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # test_array: an input other than the one configured, on every machine, so the fix names the key
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    path = write_config(tmp_path / "listener.toml", tmp_path / "state")
    assert main(["doctor", "--config", str(path), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)  # the whole of stdout: one document
    assert (document["schema"], document["config"]) == ("listener.doctor/1", str(path))
    # which device and build, named as MQTT info names them: no [mqtt] device_id here, so the default id
    assert document["device_id"] == default_device_id(), document["device_id"]
    assert re.fullmatch(r"listener-[0-9a-f]{12}", document["device_id"]), document["device_id"]
    assert f"{document['software']} (build {document['build']})" == version_text()  # `listener --version`'s
    checks = document["checks"]
    assert [c["name"] for c in checks] == ["config", *NAMES]
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in checks), checks
    assert {c["status"] for c in checks} <= {"ok", "warn", "fail"}
    # a file with no warning is a check of its own, as the lines' first: a fleet script sees it was read
    assert checks[0] == {"name": "config", "status": "ok", "detail": str(path), "fix": ""}
    audio = checks[1]
    assert audio["status"] == "fail" and "'gone'" in audio["detail"] and "[array] device" in audio["fix"]
    assert checks[2] == {"name": "directions", "status": "ok", "detail": "rep at 0 deg, customer at 180 deg", "fix": ""}

    path.write_text("[array]\nchannels = 0\n")
    assert main(["doctor", "--config", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "array.channels" in captured.err


def test_a_reader_that_goes_away_does_not_hide_a_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`set -o pipefail; listener doctor | head -2` exited 0 over a FAIL: the checks after the broken
    pipe still run (the broker sees the probe) and the exit code is theirs."""
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    broken = io.TextIOWrapper(io.FileIO(write_end, "w"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", broken)
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as seen:
        table = [f"{k} = {json.dumps(v)}" for k, v in broker.mqtt_config(protocol="5").items()]
        path = write_config(tmp_path / "listener.toml", tmp_path / "state", "[mqtt]", *table)
        code = main(["doctor", "--config", str(path)])
        probes = seen.wait_for(lambda messages: bool(messages), timeout_s=5.0)
    monkeypatch.undo()
    broken.close()
    assert code == 1  # the audio FAIL
    assert probes[0].topic == f"{BASE}/doctor"  # the mqtt check ran after stdout broke


def test_nothing_but_the_report_reaches_the_terminal(tmp_path: Path, test_array: TestDevice) -> None:
    """LiveSource's 'capturing 4 channels' INFO line and Kaldi's `ERROR (VoskAPI:Model()...)` for a
    damaged model appeared between doctor's lines: the report's own lines say both."""
    model = tmp_path / "state" / "models" / "vosk-model-small-en-us-0.15"
    (model / "am").mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"\x00truncated by a power cut")
    path = tmp_path / "listener.toml"
    path.write_text(
        f'[array]\ndevice = "listener_test_array"\n[service]\nstate_dir = "{tmp_path / "state"}"\n'
        "[asr]\nenabled = true\n"
    )
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}  # ALSA_CONFIG_PATH: the test array
    done = subprocess.run(
        [sys.executable, "-m", "listener", "doctor", "--config", str(path)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert all(re.match(r"(ok|warn|FAIL) +\S", line) for line in lines), lines
    assert "FAIL  asr model  vosk could not load the model" in done.stdout
    assert "ok    levels" in done.stdout  # the array was read


def test_what_check_config_warns_of_is_a_warn_config_line_with_its_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # doctor said `ok config` of a file whose long silences can never be counted
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    analytics = "[analytics]\nsession_gap_s = 20\nlong_silence_s = 25"
    path = write_config(tmp_path / "listener.toml", tmp_path / "state", analytics, "[mqtt]\ntls_insecure = true")
    assert main(["doctor", "--config", str(path), "--json"]) == 1  # the audio FAIL ('gone')
    checks = json.loads(capsys.readouterr().out)["checks"]
    said = [(c["status"], c["detail"].split(" = ")[0], c["fix"]) for c in checks if c["name"] == "config"]
    assert said == [
        ("warn", f"{path}: mqtt.enabled", "set [mqtt] enabled = true, or delete it"),
        ("warn", f"{path}: analytics.long_silence_s", "set it below 20 s, or raise session_gap_s"),
    ]  # not service.state_dir outside /var/lib/listener: the disk check's, where the unit is installed
    assert [c["name"] for c in checks[2:]] == NAMES
    main(["doctor", "--config", str(path)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"warn  config     {path}: analytics.long_silence_s = 25.0: not below")
    assert lines[1].endswith("; fix: set it below 20 s, or raise session_gap_s")
