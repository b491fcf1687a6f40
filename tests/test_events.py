"""The event vocabulary's derived times: where a run of frames ends, and where a party was last heard in it.

Stages read these rather than count frames themselves (the LEDs count the rep's talk only as far as the
frames show the rep heard, listener/outputs/led_status.py), so a frame's error here moves a light.
"""

from __future__ import annotations

import numpy as np
import pytest

from listener.events import ActivityFrames, Party, TurnPredictions

HOP_S = 0.02


def test_a_partys_last_active_frame_ends_a_hop_after_it_starts() -> None:
    rep = np.array([False, True, True, False, True, False])  # the last active frame is not the last frame
    silent = np.zeros(rep.size, dtype=bool)
    probs = np.where(rep, 0.9, 0.1).astype(np.float32)
    frames = ActivityFrames(2.0, HOP_S, rep, silent, probs, 1 - probs, np.full(rep.size, np.nan, np.float32))
    assert frames.active_until_s(Party.REP) == pytest.approx(2.0 + 5 * HOP_S)  # frame 4 ends at 2.10 s
    assert frames.active_until_s(Party.CUSTOMER) is None  # not active in any frame
    assert frames.end_s == pytest.approx(2.0 + 6 * HOP_S)


def test_the_turn_models_outlook_ends_with_its_last_frame() -> None:
    p_hold = np.full(6, 0.5, np.float32)
    assert TurnPredictions(2.0, HOP_S, p_hold, p_hold).end_s == pytest.approx(2.0 + 6 * HOP_S)
