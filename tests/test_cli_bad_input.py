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
import shlex
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener import cli
from listener.analytics.plot import PLOT_FORMATS
from tests.calibrate_cases import angle_error
from tests.cli_run import CONFIG, ENV, SAMPLE, as_installer, listener_cli, one_line

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
    path = tmp_path / "bad.wav"  # a RIFF/WAVE file whose format chunk is garbage
    chunks = (
        b"WAVE" + b"fmt " + (16).to_bytes(4, "little") + b"\xff" * 16 + b"data" + (4).to_bytes(4, "little") + b"\0" * 4
    )
    path.write_bytes(b"RIFF" + len(chunks).to_bytes(4, "little") + chunks)
    assert cli.main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"listener: {path} cannot be decoded as WAV (") and "b'" not in err, err


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


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_view_onto_a_full_disk_is_one_error_not_a_cascade_of_tracebacks() -> None:
    with Path("/dev/full").open("w") as full:
        result = listener_cli("run", "--input", str(SAMPLE), "--fast", "--view", stdout=full.fileno())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("listener: cannot write the output (No space left on device)"), result.stderr


def test_a_view_whose_reader_went_away_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -1` does once it has its line
    try:
        result = listener_cli("run", "--input", str(SAMPLE), "--fast", "--view", stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr  # rich's own answer was exit 1


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
        # before the command, an option of the command was blamed on the command, whose --help lists it
        (["--json", "analyze", "x.wav"], "listener: --json goes after the command: listener analyze --json ..."),
        (["--config", "x.toml", "doctor"], "listener: --config goes after the command: listener doctor --config ..."),
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


# --- WAV files that are not what their name or header says ----------------------------------------


def wav_header(data_bytes: int, channels: int = 4, rate_hz: int = 16000) -> bytes:
    """A 16-bit PCM WAV header whose data chunk claims ``data_bytes``, with nothing after it."""
    block = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate_hz, rate_hz * block, block, 16)
    chunks = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes)
    return b"RIFF" + struct.pack("<I", len(chunks) - 4 + data_bytes) + chunks


def test_a_header_with_no_audio_after_it_says_record_again_not_repair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recorder stopped before its first sample leaves the header alone, promising the whole take: the repair
    "truncated" used to suggest (`sox --ignore-length`) gives a file that then holds no audio."""
    path = tmp_path / "recording.wav"
    path.write_bytes(wav_header(1_000_000))
    assert cli.main(["analyze", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"listener: {path} holds no audio (its header promises 1000000 bytes, none were written): record it again\n"
    )


def test_a_header_with_no_sample_rate_is_said_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # libsndfile calls it "Internal error : SF_INFO struct incomplete."
    path = tmp_path / "recording.wav"
    path.write_bytes(wav_header(3200, rate_hz=0) + bytes(3200))
    assert cli.main(["analyze", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"listener: {path} cannot be decoded as WAV (its header is incomplete: a sample rate of 0, or a second data "
        "chunk after the audio): re-export it as PCM or float WAV\n"
    )


def test_a_second_data_chunk_is_not_blamed_on_the_sample_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # libsndfile says "SF_INFO struct incomplete" here too, though the header's rate is 16 kHz
    path = tmp_path / "recording.wav"
    chunk = b"data" + struct.pack("<I", 3200) + bytes(3200)
    path.write_bytes(wav_header(3200) + bytes(3200) + chunk)
    assert cli.main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "a second data chunk after the audio" in err and "gives no sample rate" not in err, err


def test_a_recording_too_short_for_a_turn_is_said_to_be_short(tmp_path: Path) -> None:
    # 10 ms gave a full report of nobody speaking, with no word that there was nothing to hear
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_header(160 * 8) + bytes(160 * 8))
    result = listener_cli("analyze", str(path), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["audio"]["seconds"] == pytest.approx(0.01)
    assert result.stderr.count("\n") == 1 and f"{path} is only 10 ms long, too short to hold a turn" in result.stderr
    result = listener_cli("run", "--input", str(path), "--fast")
    assert result.returncode == 0 and "is only 10 ms long" in result.stderr, result.stderr
    # said once the outputs have opened: a fatal error there (an empty password file) stays a run's only line
    secret = tmp_path / "pw"
    secret.write_text("")
    cfg = tmp_path / "listener.toml"
    mqtt = f'enabled = true\nhost = "127.0.0.1"\nusername = "u"\npassword_file = "{secret}"'
    cfg.write_text(f'[service]\nstate_dir = "{tmp_path / "state"}"\n[mqtt]\n{mqtt}\n')
    env = {k: v for k, v in ENV.items() if k != "LISTENER_MQTT_PASSWORD"}
    one_line(listener_cli("run", "--input", str(path), "--fast", "--config", str(cfg), env=env), "is empty")
    path.write_bytes(wav_header(16000 * 8) + bytes(16000 * 8))  # a second is not short (its silence is said)
    result = listener_cli("analyze", str(path), "--json")
    assert result.returncode == 0 and "only" not in result.stderr and "digital silence" in result.stderr


W64_GUIDS = (
    bytes.fromhex("726966662e91cf11a5d628db04c10000") + bytes(8) + bytes.fromhex("77617665f3acd3118cd100c04f8edb8a")
)


@pytest.mark.parametrize(
    ("head", "name", "fix"),
    [
        (b"fLaC\0\0\0\x22", "a FLAC", "sox -t flac {path} out.wav"),
        (b"FORM\0\1\xf4\x2eAIFFCOMM", "an AIFF", "sox -t aiff {path} out.wav"),
        (W64_GUIDS, "a Wave64 (W64)", "sox -t w64 {path} out.wav"),
        (b"FORM\0\0\xfa\x40AIFCFVER", "an AIFF-C", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (b"OggS\0\2" + bytes(20), "an Ogg", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (b"ID3\4\0\0\0\0\0\x23TSSE", "an MP3", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (bytes.fromhex("fffb9064") + bytes(40), "an MP3", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),  # no tag
        (bytes.fromhex("fff16100b7bffcde"), "an AAC", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (b"\0\0\0\x1cftypM4A \0\0\2\0", "an MP4/M4A", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (b"caff\0\1\0\0desc", "a CAF", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
    ],
    ids=["flac", "aiff", "w64", "aifc", "ogg", "mp3-id3", "mp3-frame", "aac", "m4a", "caf"],
)
def test_audio_of_another_format_renamed_wav_is_named_with_its_conversion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: bytes, name: str, fix: str
) -> None:
    """A phone's or an editor's recording renamed .wav used to get "convert it to WAV", with no word of how."""
    path = tmp_path / "call 3 (front).wav"  # the command's path must survive a shell: quoted
    path.write_bytes(head + bytes(200))
    assert cli.main(["analyze", str(path)]) == 2
    command = fix.format(path=shlex.quote(str(path)))
    assert capsys.readouterr().err == f"listener: {path} is {name} file, not a WAV: convert it with `{command}`\n"


@pytest.mark.parametrize(
    "head",
    [
        b"\xff\xfe meeting notes, not a recording",  # a UTF-16 text: 0xFF, but no MPEG sync
        bytes.fromhex("fffbf000") + bytes(40),  # an MPEG sync with the reserved bit-rate index 15: no frame
    ],
    ids=["utf16", "reserved-bitrate"],
)
def test_a_file_of_no_known_format_is_still_just_not_a_wav(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: bytes
) -> None:
    path = tmp_path / "notes.wav"
    path.write_bytes(head)
    assert cli.main(["analyze", str(path)]) == 2
    assert capsys.readouterr().err == f"listener: {path} is not a WAV file (no RIFF/WAVE header): convert it to WAV\n"


@pytest.mark.parametrize("command", [["analyze"], ["run", "--fast", "--input"], ["calibrate", "--input"]])
def test_a_config_given_as_the_recording_is_said_to_be_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # the config and the recording swapped on the line: "convert it to WAV" sent the installer the wrong way
    path = tmp_path / "listener.toml"
    path.write_text("[parties]\nrep_azimuth_deg = 0\n")
    assert cli.main([*command, str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"listener: {path} is not a WAV file but a config file, by its name: pass it as --config {path}\n"


@pytest.mark.parametrize("command", [["analyze"], ["run", "--fast", "--input"], ["calibrate", "--input"]])
def test_a_float_wav_of_nothing_but_nan_is_refused_as_holding_no_numbers_not_called_muted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # each sample mended into silence, it was analysed as a recording from a muted input (exit 0, and
    # the advice to switch the mixer's capture on)
    path = tmp_path / "export.wav"
    sf.write(path, np.full((3 * 16000, 4), np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    assert cli.main([*command, str(path)]) == 2
    assert capsys.readouterr().err == (
        f"listener: {path} holds no numbers: every sample is NaN (not a number) or infinite, so it holds no audio:"
        " re-export the recording from the program that made it\n"
    )


def test_a_float_wav_whose_numbers_begin_after_seconds_of_nan_is_analysed(tmp_path: Path) -> None:
    # the check reads on past its first block (4 s) to the first number: such a file is mended, not refused
    samples, rate_hz = sf.read(SAMPLE, dtype="float32", frames=12 * 16000, always_2d=True)
    samples[: 5 * rate_hz] = np.nan
    wav = tmp_path / "late.wav"
    sf.write(wav, samples, rate_hz, subtype="FLOAT")
    result = listener_cli("analyze", str(wav), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1 and "not numbers" in result.stderr and "near 0.0 s" in result.stderr


# --- float samples beyond full scale, and a plot backend that is missing -----------------------------


@pytest.mark.parametrize(("gain", "subtype"), [(1e10, "FLOAT"), (1e18, "FLOAT"), (1e300, "DOUBLE")])
def test_float_samples_far_beyond_full_scale_are_clipped_with_one_warning(
    tmp_path: Path, gain: float, subtype: str
) -> None:
    # doubles are clipped before they are narrowed: 1e300 as float32 would be an infinity, "not a number"
    samples, rate_hz = sf.read(SAMPLE, dtype="float64", frames=12 * 16000)
    wav = tmp_path / "loud.wav"
    sf.write(wav, samples * gain, rate_hz, subtype=subtype)
    result = listener_cli("analyze", str(wav), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1 and "RuntimeWarning" not in result.stderr, result.stderr
    assert "beyond full scale" in result.stderr and "clipped to full scale" in result.stderr
    assert "not numbers" not in result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    assert 2.0 < metrics["rep_talk_s"] + metrics["customer_talk_s"] <= 12.0, metrics


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
