"""Bad input in WAV files: recordings that are not what their name or header says; one line on stderr, exit code 2.

Each case runs the real command (``listener.cli.main``, or a subprocess). Split from ``test_cli_bad_input.py``.
"""

from __future__ import annotations

import json
import shlex
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener import cli
from tests.cli_run import ENV, SAMPLE, listener_cli, one_line

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
        "chunk after the audio); its header says 16-bit integer PCM, which the listener reads, so the file is damaged: "
        "copy it again, or export it again from the program that made it\n"
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
        (b"RIFX\0\3\xe8\x48WAVEfmt ", "a big-endian RIFX", "sox -t wav {path} out.wav"),
        (b"FORM\0\0\xfa\x40AIFCFVER", "an AIFF-C", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (b"OggS\0\2" + bytes(20), "an Ogg", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (b"ID3\4\0\0\0\0\0\x23TSSE", "an MP3", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (bytes.fromhex("fffb9064") + bytes(40), "an MP3", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),  # no tag
        (bytes.fromhex("fff16100b7bffcde"), "an AAC", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (b"\0\0\0\x1cftypM4A \0\0\2\0", "an MP4/M4A", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
        (b"caff\0\1\0\0desc", "a CAF", "ffmpeg -i {path} -c:a pcm_s16le out.wav"),
    ],
    ids=["flac", "aiff", "w64", "rifx", "aifc", "ogg", "mp3-id3", "mp3-frame", "aac", "m4a", "caf"],
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
        bytes.fromhex("fffb9c00") + bytes(40),  # ... with the reserved sample-rate index 3: no frame either
        b"\xff\xfe",  # an empty UTF-16 text: its byte-order mark alone, too short for a frame header
    ],
    ids=["utf16", "reserved-bitrate", "reserved-rate", "utf16-empty"],
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


def _sample_with_nan_for(tmp_path: Path, until_s: float, fill: float = np.nan, dead: int | None = None) -> Path:
    """The bundled conversation as a float WAV whose samples up to ``until_s`` are ``fill`` (and channel ``dead``
    silent after them)."""
    samples, rate_hz = sf.read(SAMPLE, dtype="float32", always_2d=True)
    samples[: int(until_s * rate_hz)] = fill
    if dead is not None:
        samples[int(until_s * rate_hz) :, dead] = 0.0
    wav = tmp_path / f"lead-in-{fill}-{dead}.wav"
    sf.write(wav, samples, rate_hz, subtype="FLOAT")
    return wav


def test_a_stretch_of_nan_longer_than_the_channel_watch_looks_is_one_warning_saying_how_much(tmp_path: Path) -> None:
    """12 s of NaN (of 27.6 s) at the start: the NaN warning said it was played as silence, and then the channel
    watch, judging the first 10 s, said the file "carries no sound on any channel ... recorded from a muted input".
    One warning now, naming how much; the rest analysed as the same file with that stretch silent is."""
    result = listener_cli("analyze", str(_sample_with_nan_for(tmp_path, 12.0)), "--json")
    silent = listener_cli("analyze", str(_sample_with_nan_for(tmp_path, 12.0, fill=0.0)), "--json")
    assert result.returncode == 0 and silent.returncode == 0, result.stderr + silent.stderr
    assert result.stderr.count("\n") == 1 and "carries no sound" not in result.stderr, result.stderr
    assert "not numbers (NaN or infinite) in 12.0 s of its 27.6 s (43 %), first near 0.0 s" in result.stderr
    assert "played as silence, and the rest is analysed as it is" in result.stderr, result.stderr
    assert json.loads(result.stdout)["segments"] == json.loads(silent.stdout)["segments"]
    assert json.loads(result.stdout)["segments"], result.stdout


def test_the_audio_after_a_stretch_of_nan_is_judged_by_the_channel_watch(tmp_path: Path) -> None:
    # not every check of the file skipped for its NaN: a dead channel after it is said as in any recording
    result = listener_cli("analyze", str(_sample_with_nan_for(tmp_path, 12.0, dead=2)), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 2 and "in 12.0 s of its 27.6 s" in result.stderr, result.stderr
    assert "channel(s) [2] of " in result.stderr and "carry no sound" in result.stderr, result.stderr


def test_a_channel_of_nan_throughout_is_judged_as_a_dead_one_and_the_others_still_are(tmp_path: Path) -> None:
    """Channel 3 NaN from start to end, channels 0 and 1 copies: directions in the analysis are wrong, as the channel
    watch says. Every frame holding a NaN on some channel, it skipped every block as mostly NaN and said neither."""
    samples, rate_hz = sf.read(SAMPLE, dtype="float32", always_2d=True)
    samples[:, 1], samples[:, 3] = samples[:, 0], np.nan
    wav = tmp_path / "one-channel-nan.wav"
    sf.write(wav, samples, rate_hz, subtype="FLOAT")
    result = listener_cli("analyze", str(wav), "--json")
    assert result.returncode == 0, result.stderr
    assert "not numbers (NaN or infinite) in 27.6 s of its 27.6 s (100 %)" in result.stderr, result.stderr
    assert "channel(s) [3] of " in result.stderr and "carry no sound" in result.stderr, result.stderr
    assert "channels 0 and 1 of " in result.stderr and "carry the same signal" in result.stderr, result.stderr


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


def test_a_double_wav_loud_everywhere_is_clipped_not_called_no_numbers(tmp_path: Path) -> None:
    # every sample past float32's range (1e300): read as float32 for the check they were all infinite, and a
    # file of real, if never normalised, samples would be refused as holding no numbers
    wav = tmp_path / "loud.wav"
    noise = np.random.default_rng(4).normal(0.0, 0.1, (2 * 16000, 4))
    sf.write(wav, (noise + np.sign(noise) * 0.01) * 1e300, 16000, subtype="DOUBLE")
    result = listener_cli("analyze", str(wav), "--json")
    assert result.returncode == 0, result.stderr
    assert "beyond full scale" in result.stderr and "holds no numbers" not in result.stderr, result.stderr


# --- WAV headers whose fmt chunk libsndfile misreports (found by fuzzing `listener analyze`) -------------------


def wav_with_fmt(fmt: bytes, data: bytes) -> bytes:
    chunks = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(chunks)) + chunks


# MPEGLAYER3WAVEFORMAT, as ffmpeg -c:a libmp3lame writes it into a .wav: 2 channels at 16 kHz, 32 kbit/s
MP3_FMT = struct.pack("<HHIIHHH", 0x55, 2, 16000, 4000, 1, 0, 12) + struct.pack("<HIHHH", 1, 2, 104, 1, 1393)


def test_mp3_inside_a_wav_header_is_one_line_with_its_conversion(tmp_path: Path) -> None:
    """libsndfile hands it to mpg123, which wrote three "Note: Illegal Audio-MPEG-Header ..." lines to stderr
    before ours, and ours said the file "does not exist or is not a regular file (possibly a pipe?)"; a damaged
    one that does decode stopped at the damage, called "cut short while it was read"."""
    path = tmp_path / "call.wav"
    path.write_bytes(wav_with_fmt(MP3_FMT, bytes(8000)))
    said = one_line(listener_cli("analyze", str(path)), "holds MP3 audio inside its WAV header: convert it with")
    assert f"`ffmpeg -i {path} -c:a pcm_s16le out.wav`" in said and "does not exist" not in said


def test_a_sample_rate_beyond_what_libsndfile_holds_is_named_not_called_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """libsndfile reads a rate of 2^31 Hz or more as none: "a sample rate of 0" was said for 4000000000."""
    path = tmp_path / "recording.wav"
    path.write_bytes(wav_with_fmt(struct.pack("<HHIIHH", 1, 4, 4_000_000_000, 0, 8, 16), bytes(3200)))
    assert cli.main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a sample rate of 0" not in err, err
    assert err.startswith(f"listener: {path} has a damaged header: it gives a sample rate of 4000000000 Hz"), err
