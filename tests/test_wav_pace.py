"""`run --input` without --fast: WavSource paced as the array would deliver it, each block no sooner than
its audio could have been heard (README: the service pipeline fed from a file)."""

from __future__ import annotations

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
