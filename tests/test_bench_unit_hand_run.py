"""bench/unit_hand_run.py's parts that need no booted root: the run by hand outlasts two RestartSec, its file is one
the service's user may read, and the gaps between restarts are read in order."""

from __future__ import annotations

import stat
import wave
from pathlib import Path

from bench.unit_hand_run import HAND_SAMPLE, SAMPLE, gaps, stage_sample
from bench.unit_rehearsal import RESTART_S


def test_the_run_by_hand_is_the_sample_over_and_over_past_two_restarts(tmp_path: Path) -> None:
    (tmp_path / "var" / "tmp").mkdir(parents=True)
    seconds = stage_sample(tmp_path)
    staged = tmp_path / HAND_SAMPLE.lstrip("/")
    assert seconds > 2 * RESTART_S  # the service is refused at least twice before it ends
    assert stat.S_IMODE(staged.stat().st_mode) & 0o004  # runuser -u listener reads it
    with wave.open(str(SAMPLE), "rb") as one, wave.open(str(staged), "rb") as hand:
        assert hand.getnchannels() == one.getnchannels() and hand.getframerate() == one.getframerate()
        assert hand.getnframes() == 2 * one.getnframes()
        assert seconds == hand.getnframes() / hand.getframerate()
        frames = one.readframes(one.getnframes())
        assert hand.readframes(hand.getnframes()) == frames + frames


def test_restart_gaps_are_between_successive_jobs() -> None:
    assert gaps([21.7, 42.9, 64.6]) == [21.2, 21.7]
    assert gaps([21.7]) == []
