"""Bad input on the command line, in files and around the output: one line on stderr, exit code 2, no traceback.

Each case runs the real command (``listener.cli.main``, or a subprocess where
the streams themselves are the input). Paths this account may not use:
``test_cli_permissions.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from listener import cli
from listener.analytics.plot_checks import PLOT_FORMATS
from listener.config import load_config
from tests import synth
from tests.calibrate_cases import angle_error
from tests.cli_run import CONFIG, ENV, SAMPLE, as_installer, listener_cli, one_line, onto_a_full_disk

UNDECODABLE = os.fsdecode(b"\xff\xfe name")  # a file name that is not UTF-8, as Python holds it
LONG = "a" * 300  # beyond the 255 bytes a file name may hold


# --- file names too long ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", f"{LONG}.wav"],
        ["run", "--fast", "--input", f"{LONG}.wav"],
        ["calibrate", "--input", f"{LONG}.wav"],
        ["analyze", str(SAMPLE), "--plot", f"{LONG}.png"],
    ],
)
def test_a_file_name_too_long_is_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert "(File name too long): shorten the name" in captured.err


# --- file names that are not UTF-8 ---------------------------------------------------------------


@pytest.fixture
def undecodable_wav(tmp_path: Path) -> Path:
    path = tmp_path / f"{UNDECODABLE}.wav"
    shutil.copyfile(SAMPLE, path)
    return path


@pytest.mark.parametrize(
    ("args", "printed"),
    [
        (["analyze", "{wav}", "--json"], '"schema": "listener.analysis/1"'),
        (["calibrate", "--input", "{wav}"], "confidence"),
        (["run", "--fast", "--input", "{wav}"], ""),
    ],
)
def test_an_audio_file_whose_name_is_not_utf8_is_read(
    undecodable_wav: Path, args: list[str], printed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([a.format(wav=undecodable_wav) for a in args]) == 0
    assert printed in capsys.readouterr().out


def test_a_name_that_is_not_utf8_is_shown_escaped_in_messages_and_plots(
    undecodable_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["analyze", str(tmp_path / f"{UNDECODABLE}-missing.wav")]) == 2
    assert (
        capsys.readouterr().err
        == f"listener: audio file {tmp_path}/\\xff\\xfe name-missing.wav does not exist: check the path\n"
    )
    pytest.importorskip("matplotlib")
    plot = tmp_path / f"{UNDECODABLE}.png"  # titled with the audio file's name
    assert cli.main(["analyze", str(undecodable_wav), "--plot", str(plot)]) == 0
    assert plot.stat().st_size > 0


def test_a_wav_that_cannot_be_decoded_is_named_as_typed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.wav"  # a RIFF/WAVE file whose format chunk is garbage but for its sample rate
    garbage = b"\xff" * 4 + (16000).to_bytes(4, "little") + b"\xff" * 8
    chunks = b"WAVE" + b"fmt " + (16).to_bytes(4, "little") + garbage + b"data" + (4).to_bytes(4, "little") + b"\0" * 4
    path.write_bytes(b"RIFF" + len(chunks).to_bytes(4, "little") + chunks)
    assert cli.main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"listener: {path} has a damaged header: it gives 65535 channels") and "b'" not in err, err


def test_a_config_whose_name_is_not_utf8_is_checked(tmp_path: Path) -> None:
    path = tmp_path / f"{UNDECODABLE}.toml"
    path.write_text(CONFIG)
    result = listener_cli("check-config", str(path), env={**ENV, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith(f"{tmp_path}/\\xff\\xfe name.toml: ok (respeaker-4mic")


# --- calibrate --write onto a file it must not or cannot write --------------------------------------

TRUTH = json.loads((SAMPLE.parent / "truth.json").read_text(encoding="utf-8"))
PRINTED_DEG = re.compile(r"^(rep|customer) +(\d+\.\d) deg", re.MULTILINE)
NEAR_TRUTH_DEG = 10.0  # the estimator's error on the sample may move as it is tuned, not by this much


def measured_azimuths(stdout: str) -> tuple[float, float]:
    """(rep, customer) as calibrate printed them, each checked against where the sample's talkers stood."""
    printed = {party: float(deg) for party, deg in PRINTED_DEG.findall(stdout)}
    assert set(printed) == {"rep", "customer"}, stdout
    for party, deg in printed.items():
        assert angle_error(deg, TRUTH[party]["azimuth_deg"]) <= NEAR_TRUTH_DEG, (party, deg, stdout)
    return printed["rep"], printed["customer"]


def test_calibrate_refuses_to_replace_a_read_only_config(tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG)
    path.chmod(0o444)
    result = listener_cli("calibrate", "--input", str(SAMPLE), "--config", str(path), "--write")
    line = one_line(result, "listener.toml is read-only (mode 0444)", "chmod u+w", "by hand")
    rep_deg, customer_deg = measured_azimuths(result.stdout)  # printed: the installer can copy them
    assert f"rep_azimuth_deg = {rep_deg:.1f} and customer_azimuth_deg = {customer_deg:.1f}" in line
    assert path.read_text() == CONFIG and path.stat().st_mode & 0o777 == 0o444


def test_calibrate_write_into_a_device_is_refused_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--config /dev/null --write`: the device reads as an empty config, and its edited copy was renamed over it
    (as root, /dev/null became a file for every program). A null device of the test's own stands in for it."""
    device = tmp_path / "null.toml"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    assert cli.main(["calibrate", "--input", str(SAMPLE), "--config", str(device), "--write"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "", captured.out  # refused before the recording was heard
    assert captured.err == (
        f"listener: --write stores the directions in --config, but {device} is a device, not a file: pass the"
        " listener's TOML file (or leave out --write to only print them)\n"
    )
    assert stat.S_ISCHR(device.stat().st_mode)


def test_calibrate_write_into_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "listener.toml"
    path.write_text(CONFIG)
    folder.chmod(0o555)  # the file may be written, but no copy may be made next to it
    try:
        result = as_installer("calibrate", "--input", str(SAMPLE), "--config", str(path), "--write")
    finally:
        folder.chmod(0o755)
    line = one_line(
        result, "listener.toml cannot be written: its folder", "takes no new file (Permission denied)", "sudo"
    )
    rep_deg, customer_deg = measured_azimuths(result.stdout)
    assert f"rep_azimuth_deg = {rep_deg:.1f} and customer_azimuth_deg = {customer_deg:.1f}" in line
    assert path.read_text() == CONFIG


# --- the output ----------------------------------------------------------------------------------


def test_a_view_onto_a_full_disk_is_one_error_not_a_cascade_of_tracebacks() -> None:
    result = onto_a_full_disk("run", "--input", str(SAMPLE), "--fast", "--view")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("listener: cannot write the output (No space left on device)"), result.stderr


def test_a_view_whose_only_output_is_its_last_frame_still_says_the_disk_is_full(tmp_path: Path) -> None:
    """A quiet recording has no event lines: the view's last frame is the first write, which the view lets pass
    so as not to raise a second error while the run winds down. The command still says it and exits 2."""
    hiss = np.random.default_rng(0).normal(0.0, 0.01, (16000, 4)).astype(np.float32)
    wav = synth.write_wav(tmp_path / "quiet.wav", hiss)
    result = onto_a_full_disk("run", "--input", str(wav), "--fast", "--view")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("listener: cannot write the output (No space left on device)"), result.stderr


def test_a_full_disk_behind_the_output_is_said_with_what_to_do(tmp_path: Path) -> None:
    """`listener check-config x > report.txt` on a full SD card: the one line names the cause and the fix."""
    cfg = tmp_path / "listener.toml"
    cfg.write_text(CONFIG)
    result = onto_a_full_disk("check-config", str(cfg))
    assert one_line(result) == (
        "listener: cannot write the output (No space left on device): free space where it goes, or send it elsewhere\n"
    )


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_an_output_past_the_shells_file_size_limit_is_not_called_a_full_disk(tmp_path: Path, unbuffered: str) -> None:
    """`ulimit -f 1; listener analyze x.wav --json > report.json`: the write fails with "File too large" on a disk
    with room, and "free space where it goes" was the fix given; the limit is the cause. Unbuffered (the unit's
    PYTHONUNBUFFERED), the report written in one piece came out cut at the limit, with exit 0."""
    report = tmp_path / "report.json"
    with report.open("w") as out:
        limit = (1024, resource.RLIM_INFINITY)
        result = listener_cli(
            "analyze",
            str(SAMPLE),
            "--json",
            stdout=out.fileno(),
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit),
            env={**ENV, "PYTHONUNBUFFERED": unbuffered},
        )
    assert one_line(result) == (
        "listener: cannot write the output (File too large): lift the shell's file size limit (ulimit -f), or send"
        " it elsewhere\n"
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("asked", [["--help"], ["--version"], ["analyze", "--help"]])
@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_help_or_version_onto_a_full_disk_is_one_line(asked: list[str], unbuffered: str) -> None:
    """argparse writes --help and --version before the command runs, and exits: the full disk was a traceback
    (written through) or Python's exit code 120 (buffered, failing at exit)."""
    env = {**ENV, "PYTHONUNBUFFERED": unbuffered}
    with Path("/dev/full").open("w") as full:
        result = listener_cli(*asked, stdout=full.fileno(), env=env)
    one_line(result, "cannot write the output (No space left on device)")


@pytest.mark.parametrize("asked", [["--help"], ["--version"]])
def test_help_or_version_to_a_reader_gone_ends_quietly(asked: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `listener --version | true`
    try:
        result = listener_cli(*asked, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["check-config", "{missing}"], 2),  # the error line is what fails
        (["analyze", "--no-such-option"], 2),  # argparse's
        (["run", "--input", str(SAMPLE), "--fast"], 0),  # a run that went well, its log lines failing
    ],
)
@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_a_stderr_on_a_full_disk_keeps_the_exit_code(
    args: list[str], code: int, unbuffered: str, tmp_path: Path
) -> None:
    """`listener ... 2>>listener.log` on a full card: the lines are lost, not the verdict. The error line's
    OSError was a traceback's 1, and a buffered stderr failed again at Python's exit: 120, even for a good run."""
    words = [a.format(missing=tmp_path / "missing.toml") for a in args]
    with Path("/dev/full").open("w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "listener", *words],
            stdout=subprocess.DEVNULL,
            stderr=full.fileno(),
            env={**ENV, "PYTHONUNBUFFERED": unbuffered},
            timeout=300,
            check=False,
        )
    assert done.returncode == code


def test_a_view_whose_reader_went_away_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -1` does once it has its line
    try:
        result = listener_cli("run", "--input", str(SAMPLE), "--fast", "--view", stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr  # rich's own answer was exit 1
    # the run stops there, its stages flushed, rather than running on with nobody watching (a live array's
    # run would never end): the view's console hands the broken pipe on instead of swallowing it
    assert "output closed at" in result.stderr and "flushing the stages before stopping" in result.stderr, result.stderr


def test_a_reader_gone_ends_the_printing_not_the_work_after_it(tmp_path: Path) -> None:
    """`| head -1` leaves before the command's last lines: the figure and the calibration still get written."""
    cfg = tmp_path / "listener.toml"
    cfg.write_text(CONFIG.replace("0.0\n", "30.0\n", 1))
    figure = tmp_path / "conversation.png"
    commands = [
        ["analyze", str(SAMPLE), "--json", "--plot", str(figure)],
        ["calibrate", "--input", str(SAMPLE), "--write", "--config", str(cfg)],
    ]
    for args in commands:
        read_end, write_end = os.pipe()
        os.close(read_end)  # gone before the first line
        try:
            result = listener_cli(*args, stdout=write_end)
        finally:
            os.close(write_end)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert figure.stat().st_size > 0
    assert "rep_azimuth_deg = 30.0" not in cfg.read_text()  # stored: the sample's rep is near 0 deg


@pytest.mark.parametrize("output", ["a full disk", "closed"])
def test_calibrate_write_stores_what_was_measured_when_the_output_fails(tmp_path: Path, output: str) -> None:
    """`calibrate --write > out.txt` on a full card, or with stdout closed (`>&-`): the printing failed before
    the write and the directions measured were lost with it. They are stored; the output's failure is said."""
    cfg = tmp_path / "listener.toml"
    cfg.write_text(CONFIG.replace("0.0\n", "30.0\n", 1))
    args = ("calibrate", "--input", str(SAMPLE), "--write", "--config", str(cfg))
    if output == "closed":
        result = listener_cli(*args, preexec_fn=lambda: os.close(1))
        one_line(result, "cannot write the output (standard output is closed)")
    else:
        one_line(onto_a_full_disk(*args), "cannot write the output (No space left on device)")
    rep_deg = load_config(cfg).parties.rep_azimuth_deg
    assert angle_error(rep_deg, TRUTH["rep"]["azimuth_deg"]) <= NEAR_TRUTH_DEG, cfg.read_text()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_report_onto_a_full_disk_still_draws_the_figure(tmp_path: Path) -> None:
    """`analyze x.wav --json --plot fig.png > report.json` with the report's disk full: the figure, on another
    disk, was never drawn, the measurements lost with the report. It is drawn; the report's failure is said."""
    figure = tmp_path / "conversation.png"
    with Path("/dev/full").open("w") as full:
        result = listener_cli("analyze", str(SAMPLE), "--json", "--plot", str(figure), stdout=full.fileno())
    one_line(result, "cannot write the output (No space left on device)")
    assert figure.stat().st_size > 0


def _stdout_closed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "listener", *args],
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        env=ENV,
    )


@pytest.mark.parametrize("args", [["analyze", str(SAMPLE), "--json"], ["check-config", "{cfg}"]])
def test_output_to_a_closed_stdout_is_one_line(tmp_path: Path, args: list[str]) -> None:
    cfg = tmp_path / "listener.toml"
    cfg.write_text(CONFIG)
    result = _stdout_closed(*(a.format(cfg=cfg) for a in args))
    one_line(result, "cannot write the output (standard output is closed)", "> /dev/null")


def test_a_run_that_prints_nothing_needs_no_stdout() -> None:
    result = _stdout_closed("run", "--fast", "--input", str(SAMPLE))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("args", [["run", "--input", str(SAMPLE), "--fast", "--view"], ["check-config", "{cfg}"]])
def test_an_ascii_only_stdout_gets_escapes_not_a_traceback(tmp_path: Path, args: list[str]) -> None:
    cfg = tmp_path / "cönfig.toml"
    cfg.write_text(CONFIG)
    result = listener_cli(*(a.format(cfg=cfg) for a in args), env={**ENV, "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "rep share" in result.stdout or "c\\xf6nfig.toml: ok" in result.stdout, result.stdout


@pytest.mark.parametrize("args", [["check-config", "../listener.toml"], ["doctor", "--config", "../listener.toml"]])
def test_a_relative_config_from_a_deleted_folder_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """`cd release && listener check-config ../listener.toml` in a folder a new copy replaced meanwhile: the
    relative path is read, but making it absolute asks for the working folder, and that raised a traceback."""
    (tmp_path / "listener.toml").write_text(CONFIG)
    gone = tmp_path / "release"
    gone.mkdir()
    root = Path(__file__).resolve().parents[1]  # python -m finds no listener in a folder that is gone
    result = subprocess.run(
        [sys.executable, "-m", "listener", *args],
        cwd=gone,
        preexec_fn=gone.rmdir,  # in the child, once it stands in the folder
        capture_output=True,
        text=True,
        env={**ENV, "PYTHONPATH": str(root)},
        timeout=300,
        check=False,
    )
    one_line(result, "the current folder no longer exists (deleted or replaced): cd into one that does")


# --- the command line itself ---------------------------------------------------------------------


@pytest.mark.parametrize("asked", ["-h", "--help", "--he"])
def test_help_asked_before_the_command_is_the_help_not_an_option_out_of_place(
    asked: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([asked, "analyze"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: listener")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["models", "fetch", "en-large"], "listener models fetch: argument model: invalid choice: 'en-large'"),
        ([], "listener: the following arguments are required: COMMAND"),
        (["models"], "listener models: the following arguments are required: SUBCOMMAND"),  # not models_command
        (["analyse"], "listener: argument COMMAND: invalid choice: 'analyse'"),
        (["calibrate", "--seconds", "abc"], "listener calibrate: argument --seconds: invalid float value: 'abc'"),
        # options that would be ignored together
        (["calibrate", "--input", "x.wav", "--seconds", "5"], "listener calibrate: argument --seconds: not allowed"),
        (["run", "--wait-for-array", "--demo-fallback"], "listener run: argument --demo-fallback: not allowed"),
        (["run", "--input", "x.wav", "--wait-for-array"], "listener run: argument --wait-for-array: not allowed"),
        (["models", "fetch", "en-small", "--config", "a", "--dir", "b"], "listener models fetch: argument --dir"),
        # a word the command does not take is blamed on that command, whose --help lists what it takes
        (["devices", "--json"], "listener devices: unrecognized arguments: --json; see listener devices --help"),
        (["models", "fetch", "en-small", "--force"], "listener models fetch: unrecognized arguments: --force; see"),
        (["--version", "extra"], "listener: --version takes nothing after it, not 'extra'"),  # it printed, exit 0
        (["--vers", "extra"], "listener: --version takes nothing after it"),  # argparse takes the abbreviation
        (["--v", "extra"], "listener: --version takes nothing after it"),  # the shortest one it takes
        # before the command, an option of the command was blamed on the command, whose --help lists it
        (["--json", "analyze", "x.wav"], "listener: --json goes after the command: listener analyze --json ..."),
        (["--config", "x.toml", "doctor"], "listener: --config goes after the command: listener doctor --config ..."),
        # a file named with a leading '-' was "not given" ("arguments are required: file") or "expected one argument"
        (
            ["analyze", "-take 1.WAV"],
            "listener: -take 1.WAV begins with '-', which marks an option: write it as ./-take",
        ),
        (["run", "--input", "-x.wav", "--fast"], "listener: -x.wav begins with '-', which marks an option"),
        (["check-config", "-listener.toml"], "listener: -listener.toml begins with '-', which marks an option"),
    ],
)
def test_a_command_line_mistake_is_one_line_pointing_to_help(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(expected) and captured.err.endswith(" --help\n"), captured.err


def test_a_matplotlib_without_its_agg_backend_is_one_line_before_the_analysis(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    code = (
        "import sys; sys.modules['matplotlib.backends.backend_agg'] = None\n"  # as a split distro package leaves it
        "from listener.cli import main\n"
        f"sys.exit(main(['analyze', {str(SAMPLE)!r}, '--plot', 'x.png']))\n"
    )
    run = [sys.executable, "-c", code]
    result = subprocess.run(run, capture_output=True, text=True, timeout=300, env=ENV, cwd=tmp_path)
    one_line(result, "--plot needs matplotlib's Agg backend, which cannot be loaded", "reinstall matplotlib")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # said by the command, whose --help lists the option it needs
        (["run", "--fast"], "listener run: --fast needs --input FILE.wav (or --demo-fallback): a live array runs in"),
        (["calibrate", "--force"], "listener calibrate: --force only applies with --write: add --write"),
    ],
)
def test_an_option_that_needs_another_is_refused_not_ignored(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # both were ignored: a live run "as fast as possible", a calibration "forced" that wrote nothing
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith(said) and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("command", "option", "says"),
    [
        # the help said "with --input" while --demo-fallback takes --fast too (the refusal above says so)
        ("run", "--fast", "--demo-fallback"),
        # the help said only "when the confidence is low", while --force also stores what calibrate doubts
        ("calibrate", "--force", "said less than the other"),
        ("calibrate", "--force", "never held the floor on its own"),
    ],
)
def test_the_help_of_an_option_says_every_case_it_applies_to(command: str, option: str, says: str) -> None:
    assert says in _help_of(command, option)


def test_the_plots_help_names_every_format_it_writes() -> None:
    # it said "this PNG" while .svg and .pdf are written too
    said = _help_of("analyze", "--plot")
    assert all(suffix in said for suffix in PLOT_FORMATS), said


def _help_of(command: str, option: str) -> str:
    subcommands = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in subcommands.choices[command]._actions if option in a.option_strings)
    assert action.help is not None, (command, option)
    return action.help


@pytest.mark.parametrize("args", [["analyze", ""], ["analyze", str(SAMPLE), "--config", ""], ["check-config", ""]])
def test_an_empty_path_is_called_empty_not_a_folder(args: list[str]) -> None:
    # Path("") is ".": "listener analyze $WAV" with WAV unset said ". is a folder"
    one_line(listener_cli(*args), "an empty path (an unset shell variable?): give a file name")
