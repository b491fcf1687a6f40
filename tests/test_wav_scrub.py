"""Float WAV samples beyond full scale (an export that never normalised): clipped to it and said once; a file
that reaches full scale and no further is left as it is and says nothing; how much of a file is not numbers, as
its warning says it (listener.audio.scrub)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.audio.scrub import NUMBER_SCAN_FRAMES, NotNumbers
from listener.audio.wav import WavSource
from listener.config import geometry, parse_config
from listener.events import AudioBlock

GEO = geometry(parse_config({}))  # respeaker-4mic: 4 channels


def replayed(path: Path) -> np.ndarray:
    with WavSource(path, GEO) as source:
        return np.concatenate([e.samples for e in source.events() if isinstance(e, AudioBlock)])


def test_a_float_wav_at_full_scale_is_played_as_it_is_without_a_word(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    samples = np.tile(np.array([1.0, -1.0, 0.5, -0.25], dtype=np.float32), (4000, 1))  # 0 dBFS peaks
    path = tmp_path / "normalised.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    with caplog.at_level(logging.WARNING):
        np.testing.assert_array_equal(replayed(path), samples)
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_float_samples_a_little_past_full_scale_are_clipped_both_ways_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    samples = np.tile(np.array([1.5, -1.5, 0.5, -0.25], dtype=np.float32), (4000, 1))  # +3.5 dB
    path = tmp_path / "hot.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    with caplog.at_level(logging.WARNING):
        got = replayed(path)
    np.testing.assert_array_equal(got, np.clip(samples, -1.0, 1.0))
    (said,) = [r.getMessage() for r in caplog.records]
    assert "holds samples beyond full scale, first near 0.0 s (at least 1.5 times it, +3.5 dB)" in said, said


@pytest.mark.parametrize(
    ("frames", "said"),
    [
        (1, "1 sample of its 27.6 s"),
        (3, "3 samples of its 27.6 s"),
        (192000, "12.0 s of its 27.6 s (43 %)"),
        (1600, "0.1 s of its 27.6 s (under 1 %)"),  # not "0 %", which reads as none
        (441500, "27.6 s of its 27.6 s (over 99 %)"),  # not "100 %", which reads as all
        (441600, "27.6 s of its 27.6 s (100 %)"),  # NaN on one channel throughout: every frame holds one
    ],
)
def test_how_much_of_a_file_is_not_numbers_is_said_in_seconds_and_share(frames: int, said: str) -> None:
    assert NotNumbers(frames, 0, 441600, 16000).said() == said


def test_a_block_counts_as_not_numbers_only_where_every_channel_handed_on_is(tmp_path: Path) -> None:
    """Channel-map mode, the parties' mics on channels 0 and 1 of three: a third channel NaN throughout is handed on
    nowhere, and counts for no block; the parties' two NaN for their first 2 s make those blocks wholly not numbers
    (the channel watch skips them), one of them NaN for 1 s more none (it is judged, as a dead channel)."""
    geo = geometry(parse_config({"parties": {"rep_channel": 0, "customer_channel": 1}}))
    samples = np.full((5 * 16000, 3), 0.1, dtype=np.float32)
    samples[:, 2] = np.nan
    samples[: 2 * 16000, :2] = np.nan
    samples[2 * 16000 : 3 * 16000, 1] = np.nan
    path = tmp_path / "parties.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    with WavSource(path, geo, block_ms=500) as source:
        blocks = [e for e in source.events() if isinstance(e, AudioBlock)]
    assert [b.not_numbers_s for b in blocks] == [0.5] * 4 + [0.0] * 6


@pytest.mark.parametrize("rate_hz", [44100, 48000])
def test_not_numbers_resampled_are_counted_whole_in_the_blocks_that_hold_them(tmp_path: Path, rate_hz: int) -> None:
    """3 s of NaN on every channel, then 2 s of sound: soxr hands on blocks of uneven lengths (34 and 68 ms from
    50 ms read at 44.1 kHz); the seconds a block could not hold were dropped, so 3 s added up to 2.55 s (2.48 s at
    48 kHz), and a block wholly in the stretch said 50 of its 68 ms."""
    samples = np.full((5 * rate_hz, 4), 0.1, dtype=np.float32)
    samples[: 3 * rate_hz] = np.nan
    path = tmp_path / "lead-in.wav"
    sf.write(path, samples, rate_hz, subtype="FLOAT")
    with WavSource(path, GEO, block_ms=50) as source:
        blocks = [e for e in source.events() if isinstance(e, AudioBlock)]
    assert sum(b.not_numbers_s for b in blocks) == pytest.approx(3.0, abs=1e-4)
    inside = [b for b in blocks if b.end_s <= 3.0]
    assert len(inside) > 40 and all(b.not_numbers_s == pytest.approx(b.duration_s, abs=1e-4) for b in inside)
    assert all(b.not_numbers_s == 0.0 for b in blocks if b.start_s >= 3.0)


def test_a_float_wav_is_read_through_for_its_nan_only_once_one_is_met(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Opening a float WAV read it through to count its NaN, before the first block: 0.7 s of CPU here for a 60-min
    4-channel float32 recording (922 MB), and on a Pi's SD card the time to read it all, twice over for a file with
    none. A file without NaN is read up to its first number at the open (all NaN is refused); one with NaN is
    counted through when the first is met, and the warning still says how much, from where."""
    frames_read: list[int] = []
    read = sf.SoundFile.read

    def counted(f: sf.SoundFile, frames: int = -1, *args: object, **kwargs: object) -> np.ndarray:
        block: np.ndarray = read(f, frames, *args, **kwargs)
        frames_read.append(len(block))
        return block

    monkeypatch.setattr(sf.SoundFile, "read", counted)
    samples = np.full((60 * 16000, 4), 0.1, dtype=np.float32)
    clean, late = tmp_path / "clean.wav", tmp_path / "late.wav"
    sf.write(clean, samples, 16000, subtype="FLOAT")
    with WavSource(clean, GEO, block_ms=1000) as source:
        next(e for e in source.events() if isinstance(e, AudioBlock))
    assert sum(frames_read) <= NUMBER_SCAN_FRAMES + 16000, sum(frames_read)
    samples[20 * 16000 : 22 * 16000, 1] = np.nan
    samples[40 * 16000 : 43 * 16000] = np.inf
    sf.write(late, samples, 16000, subtype="FLOAT")
    with caplog.at_level(logging.WARNING):
        got = replayed(late)
    (said,) = [r.getMessage() for r in caplog.records]
    assert "not numbers (NaN or infinite) in 5.0 s of its 60.0 s (8 %), first near 20.0 s" in said, said
    np.testing.assert_array_equal(got, np.where(np.isfinite(samples), samples, 0.0))
