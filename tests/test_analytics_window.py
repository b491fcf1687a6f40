"""Hand-written timelines for the rolling window of shared/metrics.md: talk share over the last 120 s.

Times sit on the 10 ms frame grid, so "exactly at the threshold" is exact.
"""

from __future__ import annotations

import pytest

from listener.events import RollingShare
from tests.analytics_timelines import raw_events


def test_the_rolling_window_counts_only_the_last_120_s_of_each_partys_speech() -> None:
    """At 155 s the window is 35-155 s: the customer's first 30 s lie wholly before it and count nothing (not
    less than nothing), though a later stretch of theirs is inside; the rep's stretch of 30.5-40 s counts its
    last 5 s, one second less each second after."""
    segments = [("customer", 0.0, 30.0), ("rep", 30.5, 40.0), ("customer", 40.5, 130.0), ("rep", 130.5, 140.0)]
    shares = {e.t_s: e for e in raw_events(segments, 158.0) if isinstance(e, RollingShare)}
    got = [(t, shares[t].window_s, shares[t].rep_talk_s, shares[t].customer_talk_s) for t in (150.0, 155.0, 156.0)]
    assert got == [(150.0, 120.0, 19.0, 89.5), (155.0, 120.0, 14.5, 89.5), (156.0, 120.0, 13.5, 89.5)]
    assert shares[155.0].rep_share == pytest.approx(14.5 / (14.5 + 89.5))
    # the session's own totals keep everything since its start
    assert (shares[155.0].session_rep_talk_s, shares[155.0].session_customer_talk_s) == (19.0, 119.5)
