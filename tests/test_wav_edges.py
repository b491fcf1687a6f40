"""WavSource at a recording's odd edges: a copy cut off in its RF64 sizes, a file removed while it is read, a
recording too short to hold a turn (said in whole milliseconds), a check that fails other than as a bad format."""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.audio import wav
from listener.audio.wav import WavSource
from listener.config import geometry, parse_config
from listener.errors import AudioFormatError
from listener.events import AudioBlock
from tests.synth import tone

GEO = geometry(parse_config({}))  # respeaker-4mic: 4 channels


def test_an_rf64_copy_cut_off_inside_its_ds64_chunk_is_called_truncated(tmp_path: Path) -> None:
    """RF64 keeps its sizes in the ds64 chunk at the file's start: a copy that stopped in the middle of it is
    a truncated file (one line, copy it again), not a crash on the half-read sizes."""
    whole = tmp_path / "whole.wav"
    sf.write(whole, tone(16000, 1.0), 16000, subtype="PCM_16", format="RF64")
    raw = whole.read_bytes()
    assert raw[12:16] == b"ds64" and struct.unpack("<I", raw[16:20])[0] >= 16
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[:30])  # RIFF header, the ds64 chunk's header, 10 of its sizes' 16 bytes
    with pytest.raises(AudioFormatError) as err:
        WavSource(cut, GEO).open()
    assert str(err.value) == f"{cut} is truncated: its WAV header has no data chunk; record or copy it again"


def test_a_recording_deleted_while_read_is_analysed_whole_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A recording removed (or moved away) while it is read: the open file is read to its end, and nothing is
    said of it being replaced, grown or cut short, since there is no file left to compare with."""
    path = tmp_path / "gone.wav"
    sf.write(path, tone(16000, 2.0), 16000, subtype="PCM_16")
    with WavSource(path, GEO) as source:
        path.unlink()
        assert sum(e.samples.shape[0] for e in source.events() if isinstance(e, AudioBlock)) == 32000
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("frames", "said"),
    [(1, "under 1 ms"), (15998, "999 ms")],  # 0.0625 ms; 999.875 ms, which rounding would call 1000 ms
)
def test_a_recording_under_a_second_is_said_to_be_short_in_whole_milliseconds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, frames: int, said: str
) -> None:
    """The warning gives the length in whole milliseconds, rounded down: never "0 ms" for a recording that holds
    a sample, never a second's worth for one just short of it."""
    path = tmp_path / "clip.wav"
    sf.write(path, tone(16000, 1.0)[:frames], 16000, subtype="PCM_16")
    with WavSource(path, GEO) as source:
        source.warn_if_short()
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith(f"{path} is only {said} long, too short to hold a turn of speech")


def test_a_file_whose_checks_fail_other_than_on_its_format_is_closed_as_the_error_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a float WAV reads it up to its first number, a block at a time: a file of 128 channels needs 32 MiB
    for a block, which a loaded Pi may not have (a MemoryError; a failing card's read error is soundfile's own).
    The file was closed only on an AudioFormatError: on any other it stayed open for as long as the error and its
    traceback lived, for good in a caller that keeps the error. (The scan is made to fail here: a limit on the
    address space failed it in a fresh process only, not in a test worker whose heap had room left.)"""
    path = tmp_path / "wide.wav"
    sf.write(path, np.zeros((1600, 2), dtype=np.float32), 16000, subtype="FLOAT")

    def no_memory_for_the_block(*_args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(wav, "check_holds_numbers", no_memory_for_the_block)
    wide = os.path.realpath(path)
    try:
        WavSource(path, GEO).open()
    except MemoryError:
        still_open = sum(os.path.realpath(fd) == wide for fd in Path("/proc/self/fd").iterdir())
    else:
        pytest.fail("opened")
    assert still_open == 0


@pytest.mark.parametrize("rate_hz", [16001, 44100, 48000])
def test_a_full_scale_recording_resampled_stays_within_full_scale(tmp_path: Path, rate_hz: int) -> None:
    """AudioBlock's samples lie in [-1, 1]; a loud recording at another rate overshot that once resampled (the
    fuzz test found 1.42 from full-scale 16-bit noise at 16001 Hz), as any band-limited copy of a waveform at
    full scale does. Clipped where the resampler hands it on, as a converter at full scale would."""
    noise = np.random.default_rng(3).choice(np.array([-1.0, 1.0 - 2**-15]), size=(rate_hz, 4))
    path = tmp_path / f"loud-{rate_hz}.wav"
    sf.write(path, noise, rate_hz, subtype="PCM_16")
    with WavSource(path, GEO) as source:
        blocks = [e.samples for e in source.events() if isinstance(e, AudioBlock)]
    peak = max(float(np.abs(b).max()) for b in blocks)
    assert 0.9 < peak <= 1.0
