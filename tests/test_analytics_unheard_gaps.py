"""Response gaps and switches per minute across time the device did not hear (the privacy pause, a fault): what
went on then is unknown, so no gap is measured across it and it is no minute of conversation (docs/metrics.md)."""

from __future__ import annotations

import pytest

from listener.events import AudioDropped, DropReason, ResponseGap, SessionSummary
from tests.analytics_timelines import raw_events

Segments = list[tuple[str, float, float]]

# the customer's 10 s, then the rep's 12.5 s answer 15.5 s later; the customer closes the visit
VISIT: Segments = [("customer", 0.0, 10.0), ("rep", 25.5, 38.0), ("customer", 38.5, 44.0)]


def replay(segments: Segments, seconds: float, unheard: tuple[float, float] | None, reason: DropReason) -> list[object]:
    """The analytics on ``segments``, ``unheard`` not heard: its frames come as silence, in a block of their own,
    announced after them, as the source delivers a drop."""
    drops = [] if unheard is None else [AudioDropped(unheard[0], unheard[1] - unheard[0], reason)]
    bounds = [] if unheard is None else [round(unheard[0] * 100), round(unheard[1] * 100)]
    return raw_events(segments, seconds, bounds=bounds, drops=drops)


def gaps(out: list[object]) -> list[float]:
    return [round(e.gap_s, 6) for e in out if isinstance(e, ResponseGap)]


def summary(out: list[object]) -> SessionSummary:
    (s,) = [e for e in out if isinstance(e, SessionSummary)]
    return s


@pytest.mark.parametrize("reason", ["paused", "device_lost", "overflow"])
def test_no_response_gap_is_measured_across_time_the_device_did_not_hear(reason: DropReason) -> None:
    """The device hears nothing from 10.5 s to 25 s: whether the customer spoke on, or the rep answered at once,
    is unknown, so the rep's answer at 25.5 s is no 15.5 s "patient" gap (it was one, and the summary's p90)."""
    assert gaps(replay(VISIT, 80.0, None, reason)) == [15.5]
    out = replay(VISIT, 80.0, (10.5, 25.0), reason)
    assert gaps(out) == []
    s = summary(out)
    assert (s.response_gaps, s.patient_gaps, s.response_gap_p90_s, s.patient_gap_fraction) == (0, 0, None, None)


def test_a_gap_heard_whole_beside_an_outage_is_still_measured() -> None:
    """Unheard time before the customer's last words, or after the rep's onset, leaves the gap between heard."""
    segments: Segments = [("customer", 0.0, 10.0), ("customer", 20.0, 22.0), ("rep", 22.8, 40.0)]
    assert gaps(replay(segments, 80.0, (10.5, 19.5), "device_lost")) == [0.8]
    assert gaps(replay(segments, 80.0, (23.0, 30.0), "device_lost")) == [0.8]


def test_switches_per_minute_count_the_minutes_heard() -> None:
    """Two floor changes in a 44 s session, 14.5 s of it unheard: 2 per 29.5 s heard (4.07 a minute), not per
    44 s (2.73): the minutes nobody heard held no switch the device could count."""
    heard = summary(replay(VISIT, 80.0, None, "paused"))
    assert heard.floor_changes == 2 and heard.switches_per_min == pytest.approx(2 * 60.0 / 44.0)
    s = summary(replay(VISIT, 80.0, (10.5, 25.0), "paused"))
    assert (s.duration_s, s.floor_changes) == (44.0, 2) and s.unheard_s == pytest.approx(14.5)
    assert s.switches_per_min == pytest.approx(2 * 60.0 / (44.0 - 14.5))
