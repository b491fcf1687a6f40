"""WavSource's replays for the service: paced as the array would deliver them (`run --input` without --fast),
and played several times over on one clock (the demo's sample, when no array is plugged in)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.audio.wav import WavSource
from listener.config import geometry, parse_config
from listener.events import AudioBlock

GEO = geometry(parse_config({}))  # respeaker-4mic: 4 channels


def test_a_paced_replay_hands_each_block_on_when_its_audio_has_played(tmp_path: Path) -> None:
    path = tmp_path / "half.wav"
    sf.write(path, np.zeros((8000, 4), dtype=np.float32), 16000)  # 0.5 s
    arrivals: list[tuple[float, float]] = []  # (the block's end in the audio, seconds since the replay began)

    def replay() -> None:
        with WavSource(path, GEO, block_ms=100, realtime=True) as source:
            started_s = time.monotonic()
            for event in source.events():
                if isinstance(event, AudioBlock):
                    arrivals.append((event.end_s, time.monotonic() - started_s))

    reader = threading.Thread(target=replay, daemon=True)  # a pace gone wrong sleeps for ever: not the test's
    reader.start()
    reader.join(timeout=10.0)
    assert not reader.is_alive(), f"a 0.5 s replay still running after 10 s; blocks so far: {arrivals}"
    assert [end_s for end_s, _ in arrivals] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    for end_s, at_s in arrivals:
        assert end_s - 0.01 <= at_s <= end_s + 2.0, arrivals  # not before its audio played, nor long after


def test_a_repeated_replay_plays_the_whole_file_each_time_on_one_clock(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    one_play = np.random.default_rng(3).uniform(-0.5, 0.5, (4000, 4)).astype(np.float32)  # 0.25 s: 2.5 blocks
    sf.write(path, one_play, 16000, subtype="FLOAT")
    with WavSource(path, GEO, block_ms=100, repeat=3) as source:
        blocks = [e for e in itertools.islice(source.events(), 100) if isinstance(e, AudioBlock)]  # ends, or fails
    for before, after in itertools.pairwise(blocks):
        assert after.start_s == pytest.approx(before.end_s)  # one clock: no gap, no overlap at a new play
    np.testing.assert_array_equal(np.concatenate([b.samples for b in blocks]), np.tile(one_play, (3, 1)))
