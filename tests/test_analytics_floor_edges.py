"""Hand-written timelines for the floor (shared/metrics.md, "Floor"): who takes a floor nobody holds, and that
nobody holds one once its session has ended. Each pins a rule a mutation of listener/analytics/floors.py
changed without any other test noticing.

Times sit on the 10 ms frame grid, so "exactly at the threshold" is exact.
"""

from __future__ import annotations

import pytest

from listener.events import FloorChange, FloorHeld, Interruption, PrematureStart, SessionEnded
from tests.analytics_timelines import CUST, REP, of, run


def test_a_floor_nobody_holds_goes_to_the_earlier_start_when_both_reach_one_second_in_one_frame() -> None:
    """docs/metrics.md: "When nobody holds it, the party whose stretch began first takes it". The rep begins at
    0.0 s and pauses 0.05 s (bridged) just before its 1.0 s, the customer begins at 0.01 s: both stretches are
    known to have lasted 1.0 s in the same frame, at 1.01 s, and the rep's began first."""
    c = run([("rep", 0.0, 0.95), ("rep", 1.0, 5.0), ("customer", 0.01, 5.0)], 10.0)
    assert [(f.by, f.onset_s, f.decided_s) for f in of(c, FloorChange)] == [(REP, 0.0, pytest.approx(1.01))]
    assert [(f.by, f.onset_s, f.end_s, f.taken) for f in of(c, FloorHeld)] == [(REP, 0.0, 5.0, False)]


def test_talk_over_the_next_customers_first_second_after_a_session_is_no_interruption() -> None:
    """The first visit ends at 40 s on the customer's floor (30 s without customer speech), and the floor goes
    with it. A new customer speaks from 60 s; the rep talks over them from 60.5 s, before their stretch has
    lasted 1.0 s: nobody held the floor then, so it is no interruption (as within a session's first second)."""
    c = run([("customer", 0.0, 10.0), ("customer", 60.0, 70.0), ("rep", 60.5, 63.0)], 100.0)
    assert [(e.onset_s, e.end_s) for e in of(c, SessionEnded)] == [(0.0, 10.0), (60.0, 70.0)]
    assert of(c, Interruption) == []
    assert [(f.by, f.onset_s) for f in of(c, FloorChange)] == [(CUST, 0.0), (CUST, 60.0)]
    # the same talk inside one visit, the customer's floor taken at 61.0 s: that one is an interruption
    inside = run([("customer", 0.0, 10.0), ("customer", 30.0, 40.0), ("rep", 31.5, 34.0)], 60.0)
    assert [(i.by, i.onset_s, i.successful) for i in of(inside, Interruption)] == [(REP, 31.5, False)]


def test_a_rep_start_in_the_silence_after_a_session_is_no_premature_start() -> None:
    """The first customer's floor ended with their visit at 40 s; the rep starts at 45 s and a new customer
    speaks 0.8 s later. metrics.md's premature start needs "the customer still holds the floor": nobody did,
    so there is none, and the rep's 1.0 s takes the floor that nobody held."""
    c = run([("customer", 0.0, 10.0), ("rep", 45.0, 48.0), ("customer", 45.8, 60.0)], 100.0)
    assert of(c, PrematureStart) == []
    assert [(f.by, f.onset_s, f.decided_s) for f in of(c, FloorChange)] == [
        (CUST, 0.0, 1.0),
        (REP, 45.0, pytest.approx(46.0)),
        (CUST, 45.8, pytest.approx(48.2)),
    ]
    # within the visit, the same start 5 s after the customer's last word is a premature one
    inside = run([("customer", 0.0, 10.0), ("rep", 15.0, 18.0), ("customer", 15.8, 30.0)], 60.0)
    assert [(p.by, p.onset_s, p.p_hold) for p in of(inside, PrematureStart)] == [(REP, 15.0, 1.0)]
