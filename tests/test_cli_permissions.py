"""Paths this account may not use, pipes given as recordings, a closed stderr: one line naming the file and the fix.

The service's state folder is the listener user's (mode 0750), so an installer's own account meets
these; the cases run as that account would (``tests/cli_run.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from listener import cli
from listener.errors import AS_SERVICE_USER, DENIED_FIX
from tests.cli_run import CONFIG, ENV, SAMPLE, as_installer, one_line

# --- paths that cannot be checked ----------------------------------------------------------------


def test_an_audio_file_in_a_folder_that_may_not_be_entered_is_one_line(locked: Path) -> None:
    result = as_installer("analyze", str(locked / "x.wav"))
    one_line(result, "noaccess/x.wav cannot be opened (Permission denied)", "permissions")
    result = as_installer("run", "--fast", "--input", str(locked / "x.wav"))
    one_line(result, "(Permission denied)")


def test_a_recording_this_account_may_not_read_is_one_line(tmp_path: Path) -> None:
    """The file is there (a copy made by root, mode 0600 or less) but may not be opened: said as unreadable,
    with the permissions to check, not as a missing file or a traceback."""
    wav = tmp_path / "recording.wav"
    shutil.copyfile(SAMPLE, wav)
    wav.chmod(0)
    result = as_installer("analyze", str(wav))
    one_line(result, f"{wav} cannot be read (Permission denied): check the permissions of the file")


def test_a_plot_in_a_folder_that_may_not_be_entered_is_refused_before_the_analysis(locked: Path) -> None:
    result = as_installer("analyze", str(SAMPLE), "--plot", str(locked / "x.png"))
    one_line(result, "--plot", "noaccess/x.png cannot be used (Permission denied)")
    assert result.stdout == ""


def test_a_plot_in_a_folder_that_may_not_be_written_is_refused_before_the_analysis(tmp_path: Path) -> None:
    # it was found out after the whole analysis, whose figures were printed, then "cannot write the plot"
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = as_installer("analyze", str(SAMPLE), "--plot", str(folder / "x.png"))
    finally:
        folder.chmod(0o755)
    one_line(result, "--plot", "readonly/x.png: no permission to write there")
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["analyze"], ["calibrate", "--input"], ["run", "--fast", "--input"]])
def test_a_pipe_given_as_the_recording_is_one_line_not_a_wait(command: list[str], tmp_path: Path) -> None:
    fifo = tmp_path / "recording.wav"
    os.mkfifo(fifo)  # nobody writes to it: opening it would wait for ever
    result = subprocess.run(
        [sys.executable, "-m", "listener", *command, str(fifo)], capture_output=True, text=True, timeout=60, env=ENV
    )
    one_line(result, "recording.wav is a pipe, not a file: save the recording to a .wav file")


@pytest.mark.parametrize("command", [["analyze"], ["calibrate", "--input"], ["run", "--fast", "--input"]])
def test_standard_input_given_as_the_recording_is_said_not_called_a_missing_file(
    command: list[str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "listener", *command, "-"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        cwd=tmp_path,
        input="",
    )
    one_line(result, "- (standard input) is not read: save the recording to a .wav file and pass that")


@pytest.mark.parametrize("command", [["check-config"], ["leds-off", "--config"]])
def test_a_named_pipe_given_as_the_config_is_one_line_not_a_wait(command: list[str], tmp_path: Path) -> None:
    # leds-off is the unit's ExecStopPost: a stop waited on it until systemd's timeout
    fifo = tmp_path / "listener.toml"
    os.mkfifo(fifo)  # nobody writes to it: opening it waited for ever
    result = subprocess.run(
        [sys.executable, "-m", "listener", *command, str(fifo)], capture_output=True, text=True, timeout=60, env=ENV
    )
    one_line(result, "listener.toml is a pipe nothing was written to within 5 s: pass the TOML file itself")


def test_a_config_given_through_process_substitution_is_read() -> None:
    # the pipe bash makes of <(...) has its writer: read as it comes
    shell = f'exec {shlex.quote(sys.executable)} -m listener check-config <(printf "%s" "{CONFIG}")'
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60, env=ENV, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("/dev/fd/") and ": ok (" in result.stdout


SERVICE_FILES = {  # configured files behind a folder this account may not enter (the service's: mode 0750)
    "asr": ("[asr]\nenabled = true\n[service]\nstate_dir = '{locked}/state'\n", "the vosk model file"),
    "turn model": ("[turn_model]\npath = '{locked}/turn.onnx'\n", "turn model"),
    "tls": (
        "[mqtt]\nenabled = true\ntls = true\ncert_file = '{locked}/c.pem'\nkey_file = '{locked}/k.pem'\n",
        "mqtt.cert_file",
    ),
}


@pytest.mark.parametrize("case", SERVICE_FILES)
def test_a_configured_file_behind_a_folder_that_may_not_be_entered_is_one_line(
    case: str, locked: Path, tmp_path: Path
) -> None:
    text, named = SERVICE_FILES[case]
    config = tmp_path / "listener.toml"
    config.write_text(text.format(locked=locked) + f"[service]\nstate_dir = '{tmp_path}/state'\n" * (case != "asr"))
    result = as_installer("run", "--fast", "--input", str(SAMPLE), "--config", str(config))
    line = one_line(result, named, "cannot be looked at (Permission denied)", f"`{AS_SERVICE_USER} listener ...`")
    assert str(locked) in line
    report = as_installer("doctor", "--config", str(config)).stdout
    failed = [row for row in report.splitlines() if row.startswith("FAIL") and named in row]
    assert len(failed) == 1 and "cannot be looked at (Permission denied); fix: check the permissions" in failed[0]


def test_a_turn_model_this_account_may_not_read_is_one_line_not_a_corrupt_model(tmp_path: Path) -> None:
    from listener.turns.spec import shipped_model_path, sidecar_path

    model = tmp_path / "turn.onnx"
    shutil.copyfile(shipped_model_path(), model)
    shutil.copyfile(sidecar_path(shipped_model_path()), sidecar_path(model))
    model.chmod(0)
    config = tmp_path / "listener.toml"
    config.write_text(f"[turn_model]\npath = '{model}'\n")
    result = as_installer("analyze", str(SAMPLE), "--config", str(config))
    one_line(result, "turn.onnx cannot be read (Permission denied): check the permissions of the file")
    assert "corrupt" not in result.stderr


def test_a_trained_turn_model_this_account_may_not_read_is_one_line_before_its_digest_check(tmp_path: Path) -> None:
    """A model whose sidecar records its SHA-256 (as models.train writes) is read for that check first: a file this
    account may not read is still one line naming it and the permissions, not a traceback."""
    from listener.turns.spec import shipped_model_path, sidecar_path

    model = tmp_path / "turn.onnx"
    shutil.copyfile(shipped_model_path(), model)
    doc = json.loads(sidecar_path(shipped_model_path()).read_text())
    sidecar_path(model).write_text(json.dumps({**doc, "sha256": hashlib.sha256(model.read_bytes()).hexdigest()}))
    model.chmod(0)
    config = tmp_path / "listener.toml"
    config.write_text(f"[turn_model]\npath = '{model}'\n")
    result = as_installer("analyze", str(SAMPLE), "--config", str(config))
    # the same words as the model's own read (test_a_turn_model_this_account_may_not_read...), its service hint too
    one_line(result, f"listener: turn model {model} cannot be read (Permission denied): {DENIED_FIX}")
    assert "damaged" not in result.stderr


def test_models_fetch_into_a_folder_this_account_may_not_write_says_to_run_as_one_who_may(tmp_path: Path) -> None:
    """`models fetch --dir` a folder of another user's (mode 0555 here): refused before any download, with the
    folder named and the fix for a permission (run as a user who may write there), not the advice for a full disk."""
    folder = tmp_path / "models"
    folder.mkdir()
    folder.chmod(0o555)
    result = as_installer("models", "fetch", "en-small", "--dir", str(folder))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"listener: cannot write the model into {folder} (Permission denied): run as a user who may write there (e.g."
        " with sudo), or pass --dir with a writable folder and point [asr] model_path at it"
    )
    assert list(folder.iterdir()) == []


def test_a_state_dir_that_may_not_be_entered_is_named_by_doctor(locked: Path, tmp_path: Path) -> None:
    config = tmp_path / "listener.toml"
    config.write_text(f"[service]\nstate_dir = '{locked}/state'\n")
    report = as_installer("doctor", "--config", str(config)).stdout
    (disk,) = [row for row in report.splitlines() if row.split()[1:2] == ["disk"]]
    assert disk.startswith("FAIL") and f"{locked}/state cannot be looked at (Permission denied)" in disk
    # from the service's own folder: `sudo -u listener` keeps the caller's, where lgpio may not make its FIFOs
    assert f"`{AS_SERVICE_USER} listener doctor ...`" in disk and "sudo -u" not in disk
    assert "-p WorkingDirectory=/var/lib/listener" in AS_SERVICE_USER


def test_a_permission_no_check_foresaw_is_stillone_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def denied(args: object) -> int:
        raise PermissionError(13, "Permission denied", "/var/lib/listener/somewhere")

    monkeypatch.setattr(cli, "cmd_analyze", denied)
    assert cli.main(["analyze", str(SAMPLE)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("listener: /var/lib/listener/somewhere (Permission denied): "), err
    assert f"`{AS_SERVICE_USER} listener ...`" in err


def test_a_spool_behind_a_folder_that_may_not_be_entered_is_one_line(locked: Path, tmp_path: Path) -> None:
    # looking for a file in the state folder's way raised its own PermissionError, naming neither
    config = tmp_path / "listener.toml"
    config.write_text(f"[mqtt]\nenabled = true\nport = 1\n[service]\nstate_dir = '{locked}/state'\n")
    result = as_installer("run", "--fast", "--input", str(SAMPLE), "--config", str(config))
    line = one_line(result, "state")
    assert "MQTT spool" in line or "service.state_dir" in line, line


@pytest.mark.parametrize("closed", ["2>&-", "<&- 2>&-"], ids=["stderr", "stdin-and-stderr"])
def test_with_stderr_closed_the_error_stays_out_of_the_report(closed: str, tmp_path: Path) -> None:
    """`analyze x.wav --json 2>&- > report.json`: the one-line error went into the report (print to a missing
    stderr writes to stdout), and a file opened next would have taken descriptor 2. With stdin closed as well
    (a bare cron or daemon), /dev/null lands on descriptor 0 first: it still has to fill 2."""
    wav = tmp_path / "stereo.wav"
    samples, rate_hz = sf.read(SAMPLE, dtype="int16")
    sf.write(wav, samples[:, :2], rate_hz, subtype="PCM_16")
    report = tmp_path / "report.json"
    shell = f"exec {shlex.quote(sys.executable)} -m listener analyze {shlex.quote(str(wav))} --json {closed} >{report}"
    done = subprocess.run(["bash", "-c", shell], env=ENV, timeout=120, check=False)
    assert done.returncode == 2  # the verdict, as with stderr open
    assert report.read_text() == ""
