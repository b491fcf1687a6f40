"""The turn model's echo guard (listener/turns/echo.py), on hand-made levels where its rules decide."""

from __future__ import annotations

import pytest

from listener.analytics.tracks import Track
from listener.config.schema import CHANNEL_MAP_RATIO_DB
from listener.events import Party
from listener.spatial.frontend import SILENT_SNR_DB
from listener.turns.echo import EchoGuard
from tests.level_frames import levels

STEP_S = 0.02  # a model step: two 10 ms frames
BRIDGE_S = 0.2  # activity.bridge_gap_s's default


def test_each_steps_levels_are_the_smoothed_levels_of_its_own_frames() -> None:
    """The pending levels line up with the frames awaiting a decision: a step's mean is of its own two frames."""
    guard = EchoGuard(CHANNEL_MAP_RATIO_DB, 2, BRIDGE_S)
    guard.take(levels([30.0] * 10, [SILENT_SNR_DB] * 10))
    steps = guard.step_levels_db()
    assert len(steps) == 5
    # the 5-frame average starts from silence: frames 0 and 1 hold one and two fifths of the rep's 30 dB
    assert steps[0] == pytest.approx(((30.0 + 4 * SILENT_SNR_DB + 60.0 + 3 * SILENT_SNR_DB) / 10, SILENT_SNR_DB))
    guard.done(4)
    assert guard.step_levels_db() == [pytest.approx((30.0, SILENT_SNR_DB))] * 3  # frames 4-9: full windows


def test_a_party_exactly_the_ratio_below_the_other_may_start() -> None:
    """As the heuristic decider's floor: only a party *more* than the ratio below the other is its echo."""
    for customer_db, started in [(20.0 - CHANNEL_MAP_RATIO_DB, True), (19.9 - CHANNEL_MAP_RATIO_DB, False)]:
        guard = EchoGuard(CHANNEL_MAP_RATIO_DB, 2, BRIDGE_S)
        assert guard.hold_back((True, False), (True, True), (20.0, customer_db), STEP_S) == (True, started)


def test_a_party_may_start_under_a_louder_level_the_model_does_not_hear_as_the_others_speech() -> None:
    """The guard holds back a start only *while the other party speaks*: a louder level alone (a door, music on
    the other mic) is no voice of theirs to leak, and keeps nobody from starting."""
    for was in [(False, False), (True, False)]:
        guard = EchoGuard(CHANNEL_MAP_RATIO_DB, 2, BRIDGE_S)
        assert guard.hold_back(was, (False, True), (20.0, 10.0), STEP_S) == (False, True)
        guard = EchoGuard(CHANNEL_MAP_RATIO_DB, 2, BRIDGE_S)
        assert guard.hold_back(was[::-1], (True, False), (10.0, 20.0), STEP_S) == (True, False)


def closes(gap_steps: int) -> bool:
    """Whether the timeline (10 ms frames, the default bridge) ends the customer's speech across this gap."""
    track = Track(Party.CUSTOMER, round(BRIDGE_S / (STEP_S / 2)), 1, keep_frames=0)
    activity = [True] * 20 + [False] * (2 * gap_steps) + [True]
    return any(track.step(f, on).closed is not None for f, on in enumerate(activity))


@pytest.mark.parametrize("gap_steps", [5, 9, 10, 11])
def test_a_party_back_after_a_gap_is_guarded_exactly_when_the_timeline_does_not_bridge_it(gap_steps: int) -> None:
    """Coming back within the bridge is left to the model (the timeline joins it to the speech before);
    past it, a return under the other's loud voice is a start like any other, and its echo is held back."""
    guard = EchoGuard(CHANNEL_MAP_RATIO_DB, 2, BRIDGE_S)
    loud, echo = 20.0, 20.0 - CHANNEL_MAP_RATIO_DB - 6.0
    active = (True, True)
    for now in [(True, True)] * 10 + [(True, False)] * gap_steps:
        active = guard.hold_back(active, now, (loud, loud if now[1] else echo), STEP_S)
    back = guard.hold_back(active, (True, True), (loud, echo), STEP_S)
    assert back == (True, not closes(gap_steps))
