"""WavSource's formats, resampling and failures (choosing the device: test_audio_device_choice.py)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.audio.wav import WavSource, open_wav
from listener.config import PROCESSING_RATE_HZ, geometry, parse_config
from listener.errors import AudioFormatError
from listener.events import AudioBlock
from tests.synth import tone

GEO = geometry(parse_config({}))  # respeaker-4mic: 4 channels


def replay(path: Path, block_ms: int = 100) -> list[AudioBlock]:
    with WavSource(path, GEO, block_ms=block_ms) as source:
        return [e for e in source.events() if isinstance(e, AudioBlock)]


# --- formats -------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["WAV", "WAVEX", "RF64"])
@pytest.mark.parametrize(
    ("subtype", "tolerance"),
    [("PCM_U8", 1e-2), ("PCM_16", 1e-4), ("PCM_24", 1e-6), ("PCM_32", 1e-8), ("FLOAT", 0.0), ("DOUBLE", 0.0)],
)
def test_every_common_sample_format_replays_the_same_audio(
    tmp_path: Path, container: str, subtype: str, tolerance: float
) -> None:
    expected = tone(16000, 1.0)
    path = tmp_path / f"{container}-{subtype}.wav"
    sf.write(path, expected, 16000, subtype=subtype, format=container)
    got = np.concatenate([b.samples for b in replay(path)])
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - expected).max() <= tolerance


def test_extra_chunks_with_odd_sizes_around_the_data_are_skipped(tmp_path: Path) -> None:
    expected = tone(16000, 0.5)
    plain = tmp_path / "plain.wav"
    sf.write(plain, expected, 16000, subtype="FLOAT")
    raw = plain.read_bytes()
    at = raw.index(b"data")
    odd = b"LIST" + struct.pack("<I", 5) + b"abcde\0"  # odd size, padded to even as RIFF requires
    body = raw[:at] + odd + raw[at:] + b"junk" + struct.pack("<I", 3) + b"xyz\0"
    path = tmp_path / "chunks.wav"
    path.write_bytes(body[:4] + struct.pack("<I", len(body) - 8) + body[8:])
    np.testing.assert_array_equal(np.concatenate([b.samples for b in replay(path)]), expected)


# --- resampling ------------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [22050, 32000, 44100, 48000])
@pytest.mark.parametrize("block_ms", [50, 1000])
def test_resampled_files_keep_length_and_timing(tmp_path: Path, rate_hz: int, block_ms: int) -> None:
    """A click every second lands on the same 16 kHz sample, first to last; blocks are contiguous."""
    seconds = 20
    clicks = np.zeros((rate_hz * seconds, 4), dtype=np.float32)
    clicks[[round((k + 0.25) * rate_hz) for k in range(seconds)], :] = 0.9
    path = tmp_path / f"clicks-{rate_hz}.wav"
    sf.write(path, clicks, rate_hz, subtype="PCM_16")
    blocks = replay(path, block_ms)
    clock = 0.0
    for block in blocks:
        assert block.start_s == pytest.approx(clock, abs=1e-9) and block.sample_rate_hz == PROCESSING_RATE_HZ
        clock = block.end_s
    got = np.concatenate([b.samples for b in blocks])[:, 0]
    assert got.shape[0] == seconds * PROCESSING_RATE_HZ
    peaks = [k * 16000 + int(np.argmax(np.abs(got[k * 16000 : (k + 1) * 16000]))) for k in range(seconds)]
    assert peaks == [k * 16000 + 4000 for k in range(seconds)]


# --- channels ----------------------------------------------------------------------------


@pytest.mark.parametrize(("file_channels", "expected"), [(6, [1, 2, 3, 4]), (4, [0, 1, 2, 3])])
def test_a_file_of_every_captured_channel_or_of_the_mics_alone_gives_the_mics_in_order(
    tmp_path: Path, file_channels: int, expected: list[int]
) -> None:
    """The USB array records 6 channels, its mics on 1-4: a recording of all six and one of the four
    mics must both reach the direction finder as mics 1-4 in geometry order (mixed-up mics point the
    parties' directions elsewhere)."""
    geo = geometry(parse_config({"array": {"preset": "respeaker-usb-v2"}}))
    marks = np.repeat((0.1 * np.arange(1, file_channels + 1, dtype=np.float32))[None, :], 1600, axis=0)
    path = tmp_path / f"usb-{file_channels}.wav"
    sf.write(path, marks, 16000, subtype="FLOAT")
    with WavSource(path, geo) as source:
        blocks = [e for e in source.events() if isinstance(e, AudioBlock)]
    got = np.concatenate([b.samples for b in blocks])
    np.testing.assert_array_equal(got[0], 0.1 * (np.array(expected, dtype=np.float32) + 1))


# --- failures ----------------------------------------------------------------------------


def test_a_file_with_the_wrong_channel_count_is_closed_and_stays_rejected(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    sf.write(path, np.zeros((16000, 1), dtype=np.float32), 16000)
    source = WavSource(path, GEO)
    for _ in range(2):  # asking again must not skip the check (it used to, then fail with an IndexError)
        with pytest.raises(AudioFormatError, match=r"has 1 channel: "):
            source.open()
        assert source._file is None  # not left open
    with pytest.raises(AudioFormatError, match=r"has 1 channel: "):
        list(source.events())


def test_a_one_channel_file_on_an_array_gets_a_fix_that_works(tmp_path: Path) -> None:
    """A mono file (a single room mic, AMI's mix) was told to "pick the matching [array] preset or mics", which
    no preset nor mics list can be: one channel cannot tell the parties apart. The fix named instead (the
    array's channels, or one mic per party with [parties] rep_channel and customer_channel) is one that loads."""
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros((16000, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioFormatError) as caught:
        WavSource(mono, GEO).open()
    said = str(caught.value)
    assert "one mic cannot tell the rep from the customer" in said and "preset or mics" not in said, said
    assert f"arecord -c {GEO.capture_channels}" in said, said
    keys = dict(re.findall(r"(rep_channel|customer_channel) = (\d)", said))
    assert keys == {"rep_channel": "0", "customer_channel": "1"}, said
    two = tmp_path / "two.wav"
    sf.write(two, np.zeros((16000, 2), dtype=np.float32), 16000)
    geo = geometry(parse_config({"parties": {k: int(v) for k, v in keys.items()}}))
    with WavSource(two, geo) as source:
        assert any(isinstance(e, AudioBlock) for e in source.events())


@pytest.mark.parametrize(("channels", "names_channel_map"), [(2, True), (3, False)])
def test_a_file_short_of_the_arrays_channels_names_one_mic_per_party_only_when_it_has_two(
    tmp_path: Path, channels: int, names_channel_map: bool
) -> None:
    """Two lapel mics recorded into a stereo file were told only to "pick the matching [array] preset or mics";
    a 2-channel file is as likely a mic per party as the 2-mic HAT, so the other fix is named too."""
    path = tmp_path / f"{channels}ch.wav"
    sf.write(path, np.zeros((16000, channels), dtype=np.float32), 16000)
    with pytest.raises(AudioFormatError) as caught:
        WavSource(path, GEO).open()
    said = str(caught.value)
    assert "pick the matching [array] preset or mics" in said, said
    assert ("[parties] rep_channel and customer_channel (0 and 1" in said) == names_channel_map, said


def test_a_one_channel_file_in_channel_map_mode_is_rejected_naming_both_channels(tmp_path: Path) -> None:
    """Channel-map mode reads the rep's and the customer's own mics (channels 0 and 1): a mono file
    must get the one-line fix, not an IndexError at the first block."""
    geo = geometry(parse_config({"parties": {"rep_channel": 0, "customer_channel": 1}}))
    path = tmp_path / "mono.wav"
    sf.write(path, np.zeros((16000, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioFormatError, match=r"has 1 channel\(s\) but \[parties\] rep_channel = 0 and customer_ch"):
        WavSource(path, geo).open()


def test_a_file_of_the_two_mics_read_with_the_cards_channel_numbers_says_which_numbers_read_it(tmp_path: Path) -> None:
    """rep_channel = 1 and customer_channel = 3 (the card's inputs) and a file of those two mics alone: "record one
    channel per party" was said of a file that has one channel per party."""
    geo = geometry(parse_config({"parties": {"rep_channel": 1, "customer_channel": 3}}))
    path = tmp_path / "two.wav"
    sf.write(path, np.zeros((16000, 2), dtype=np.float32), 16000)
    with pytest.raises(AudioFormatError) as err:
        WavSource(path, geo).open()
    assert "need 4: set [parties] rep_channel and customer_channel to the file's channels (0 and 1" in str(err.value)


@pytest.mark.parametrize("container", ["WAV", "WAVEX", "RF64"])
def test_a_truncated_copy_is_rejected_in_every_container(tmp_path: Path, container: str) -> None:
    """RF64 keeps its data size in the ds64 chunk; a cut copy used to replay its first half silently."""
    whole = tmp_path / "whole.wav"
    sf.write(whole, tone(16000, 1.0), 16000, subtype="PCM_16", format=container)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(AudioFormatError, match="is truncated: the header promises"):
        WavSource(cut, GEO).open()


def with_data_size(path: Path, expected: np.ndarray, data_size: int) -> int:
    """Writes ``expected`` as a 16 kHz PCM WAV whose data chunk claims ``data_size`` bytes; returns where the
    data starts."""
    sf.write(path, expected, 16000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    data_at = raw.index(b"data") + 8
    raw[data_at - 4 : data_at] = struct.pack("<I", data_size)
    raw[4:8] = struct.pack("<I", min(data_size + data_at - 8, 0xFFFFFFFF))
    path.write_bytes(bytes(raw))
    return data_at


@pytest.mark.parametrize(
    "placeholder",
    [0x80000000, 0x7FFFFF00, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FFF0000],
    ids=["arecord", "old-arecord", "int-max", "unsigned-max", "lowest"],
)
def test_a_recording_whose_length_was_never_filled_in_replays_to_its_end(tmp_path: Path, placeholder: int) -> None:
    """`arecord ... | cat > x.wav`, or an arecord killed before it closed the file, leaves a 2 GiB placeholder
    for the data size: that is an unknown length, not a truncated copy to be refused."""
    expected = tone(16000, 1.0)
    streamed = tmp_path / "streamed.wav"
    with_data_size(streamed, expected, placeholder)
    got = np.concatenate([b.samples for b in replay(streamed)])
    assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4


def test_a_size_under_the_placeholders_that_overruns_is_a_truncated_copy(tmp_path: Path) -> None:
    cut = tmp_path / "cut.wav"
    with_data_size(cut, tone(16000, 1.0), 0x7FFEFFFF)
    with pytest.raises(AudioFormatError, match="is truncated: the header promises"):
        WavSource(cut, GEO).open()


def test_audio_past_the_headers_size_is_refused_not_cut(tmp_path: Path) -> None:
    """A copy taken while recording: the header's size covers the first bytes, the rest follows unsaid."""
    early = tmp_path / "early.wav"
    with_data_size(early, tone(16000, 1.0), 100)
    with pytest.raises(AudioFormatError, match=r"ends the audio at byte .*, but 12[0-9]{4} more bytes follow"):
        WavSource(early, GEO).open()
    unsized = tmp_path / "unsized.wav"  # the size never filled in: 0
    with_data_size(unsized, tone(16000, 1.0), 0)
    with pytest.raises(AudioFormatError, match="sox --ignore-length"):
        WavSource(unsized, GEO).open()


def test_a_stream_longer_than_a_wav_can_say_is_told_to_become_rf64(tmp_path: Path) -> None:
    """ffmpeg or gstreamer writing to a pipe leave 0xFFFFFFFF for the size: past 4 GiB that size no longer runs
    past the file's end, and "sox --ignore-length", which the refusal advised, wraps the length and is refused
    again. The file is sparse: 4.5 GB of nothing on disk."""
    big = tmp_path / "big.wav"
    with_data_size(big, tone(16000, 1.0), 0xFFFFFFFF)
    with big.open("r+b") as fh:
        fh.truncate(4_500_000_044)
    with pytest.raises(AudioFormatError) as err:
        WavSource(big, GEO).open()
    assert "more than a WAV file can (4 GiB" in str(err.value) and "-rf64 auto" in str(err.value)
    assert "sox --ignore-length" not in str(err.value)


def test_a_recording_still_being_made_is_said_to_have_grown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """arecord without -d: the file is read as long as it was when opened; the run ended "stopped after 5.3 s"
    of a recording that went on, without a word."""
    growing = tmp_path / "growing.wav"
    with_data_size(growing, tone(16000, 1.0), 0x80000000)  # arecord's placeholder: the length unknown
    with WavSource(growing, GEO) as source:
        with growing.open("ab") as fh:
            fh.write(bytes(16000 * 4 * 2))  # a second more, written after the open
        blocks = [e for e in source.events() if isinstance(e, AudioBlock)]
    assert sum(b.samples.shape[0] for b in blocks) == 16000
    assert "grew while it was read (still being recorded?): only its first 1.0 s were analysed" in caplog.text
    caplog.clear()
    replay(growing)  # the same file, no longer growing: nothing to say
    assert "grew" not in caplog.text


def test_a_file_replaced_or_cut_short_while_read_is_said_as_such(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """rsync or mv put a new file in its place (its data was all read: not "grew, only its first 2.0 s"), or a
    copy cut the file short (it stopped early without a word)."""
    replaced = tmp_path / "replaced.wav"
    sf.write(replaced, tone(16000, 2.0), 16000, subtype="PCM_16")
    longer = tmp_path / "longer.wav"
    sf.write(longer, tone(16000, 5.0), 16000, subtype="PCM_16")
    with WavSource(replaced, GEO) as source:
        longer.replace(replaced)
        assert sum(e.samples.shape[0] for e in source.events() if isinstance(e, AudioBlock)) == 32000
    assert "was replaced while it was read: the file it was when opened was analysed (2.0 s)" in caplog.text
    assert "grew" not in caplog.text
    caplog.clear()
    cut = tmp_path / "cut.wav"
    with_data_size(cut, tone(16000, 3.0), 0x80000000)  # arecord's placeholder: read to the end found at open
    with WavSource(cut, GEO) as source:
        with cut.open("r+b") as fh:
            fh.truncate(44 + 16000 * 4 * 2)  # a second left
        assert sum(e.samples.shape[0] for e in source.events() if isinstance(e, AudioBlock)) < 3 * 16000
    assert "was cut short while it was read: only its first 1.0 s were analysed" in caplog.text


def test_chunks_after_the_audio_and_a_stray_tail_are_no_audio_left_out(tmp_path: Path) -> None:
    expected = tone(16000, 1.0)
    tagged = tmp_path / "tagged.wav"
    sf.write(tagged, expected, 16000, subtype="PCM_16")
    raw = tagged.read_bytes()
    odd = b"junk" + struct.pack("<I", 3) + b"xyz\0"  # odd size, padded: the LIST begins after the pad byte
    info = odd + b"LIST" + struct.pack("<I", 4000) + b"INFO" + bytes(3996)  # metadata after the data chunk
    tagged.write_bytes(raw[:4] + struct.pack("<I", len(raw) - 8 + len(info)) + raw[8:] + info)
    tail = tmp_path / "tail.wav"
    tail.write_bytes(raw + bytes(1000))  # less than a footer's worth of padding
    for path in (tagged, tail):
        got = np.concatenate([b.samples for b in replay(path)])
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4


def test_metadata_after_audio_of_an_odd_length_is_found_past_its_pad_byte(tmp_path: Path) -> None:
    """24-bit audio on an odd number of channels, an odd number of frames long, ends on an odd byte, and RIFF pads
    it: the LIST chunk after it begins a byte later, and reading from the wrong byte took it for unheaded audio."""
    geo = geometry(parse_config({"parties": {"rep_channel": 0, "customer_channel": 2}}))
    expected = tone(16000, 16001 / 16000)[:, :3]
    raw_path = tmp_path / "odd.wav"
    sf.write(raw_path, expected, 16000, subtype="PCM_24")
    raw = raw_path.read_bytes()
    assert len(raw) % 2 == 0 and struct.unpack("<I", raw[40:44])[0] % 2 == 1  # odd audio, then its pad byte
    info = b"LIST" + struct.pack("<I", 4000) + b"INFO" + bytes(3996)
    raw_path.write_bytes(raw[:4] + struct.pack("<I", len(raw) - 8 + len(info)) + raw[8:] + info)
    with WavSource(raw_path, geo) as source:
        got = np.concatenate([b.samples for b in source.events() if isinstance(b, AudioBlock)])
    assert got.shape == (16001, 2) and np.abs(got - expected[:, [0, 2]]).max() <= 1e-6


def test_metadata_cut_short_after_whole_audio_is_read_not_refused(tmp_path: Path) -> None:
    """A LIST chunk after the audio, its end cut off: the whole audio is there, yet it was refused with advice
    (`sox --ignore-length`) that would have read the metadata's bytes as audio."""
    expected = tone(16000, 1.0)
    tagged = tmp_path / "tagged.wav"
    sf.write(tagged, expected, 16000, subtype="PCM_16")
    raw = tagged.read_bytes()
    info = b"LIST" + struct.pack("<I", 4000) + b"INFO" + bytes(1996)  # promises 4000 bytes, holds 2000
    tagged.write_bytes(raw[:4] + struct.pack("<I", len(raw) - 8 + len(info)) + raw[8:] + info)
    got = np.concatenate([b.samples for b in replay(tagged)])
    assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4


def test_a_real_2_gib_data_chunk_that_fits_the_file_keeps_its_size(tmp_path: Path) -> None:
    """Only a placeholder that runs past the file means "unknown length": a chunk that fits ends where it says."""
    from listener.audio.riff import check_riff

    big = tmp_path / "big.wav"
    data_at = with_data_size(big, tone(16000, 0.1), 0x80000000)
    os.truncate(big, data_at + 0x80000000)  # sparse: no disk used
    assert check_riff(big, "big.wav")[0] == data_at + 0x80000000


def test_a_rate_above_48k_says_to_resample_down(tmp_path: Path) -> None:
    path = tmp_path / "hi.wav"
    sf.write(path, np.zeros((9600, 4), dtype=np.float32), 96000)
    with pytest.raises(AudioFormatError) as err:
        WavSource(path, GEO).open()
    message = str(err.value)
    assert "96000 Hz" in message and "at most 48000 Hz" in message and "sox in.wav -r 48000" in message
    assert "16 kHz or more" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("container", "subtype", "named"),
    [
        ("FLAC", "PCM_24", "a FLAC"),
        ("AIFF", "PCM_16", "an AIFF"),
        ("W64", "FLOAT", "a Wave64 (W64)"),
        ("OGG", "VORBIS", "an Ogg"),
        ("OGG", "OPUS", "an Ogg"),
        ("MP3", "MPEG_LAYER_III", "an MP3"),
        ("CAF", "ALAC_16", "a CAF"),
    ],
)
def test_another_format_renamed_wav_is_named_and_its_conversion_reads_with_every_channel(
    tmp_path: Path, container: str, subtype: str, named: str
) -> None:
    """The first bytes real encoders write are recognised; the advice is a command, so it is run (where its
    tool is installed) and what it makes must read, with the recording's channels."""
    if subtype not in sf.available_subtypes(container):
        pytest.skip(f"this libsndfile cannot write {container} {subtype}")
    channels = 2 if container == "MP3" else 4  # MP3 holds at most two
    path = tmp_path / "recording.wav"
    sf.write(path, tone(16000, 1.0)[:, :channels], 16000, format=container, subtype=subtype)
    with pytest.raises(AudioFormatError, match=f"is {re.escape(named)} file, not a WAV: convert it with `") as err:
        WavSource(path, GEO).open()
    command = shlex.split(str(err.value).split("`")[1])
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed: scripts/setup --dev installs it (DEV_APT)")
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    with open_wav(tmp_path / "out.wav") as converted:
        assert converted.channels == channels and converted.frames >= 16000
