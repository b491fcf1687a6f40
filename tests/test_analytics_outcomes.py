"""Hand-written timelines, continued (shared/metrics.md, Overlap events): when an interruption's outcome is
decided, backchannel edges, and each overlap threshold as its own setting."""

from __future__ import annotations

import pytest

from listener.events import Backchannel, Interruption, PrematureStart
from tests.analytics_timelines import CUST, REP, of, raw_events, run, with_analytics


def outcomes(segments: list[tuple[str, float, float]], seconds: float) -> list[tuple[float, bool | None]]:
    """(decided_s, successful) of every Interruption the analytics emit, the decision and the outcome."""
    found = [e for e in raw_events(segments, seconds) if isinstance(e, Interruption)]
    return [(round(e.decided_s, 6), e.successful) for e in found]


def test_an_outcome_still_open_when_the_stream_ends_is_unsuccessful() -> None:
    """The rep's interruption is decided at 4.0 s; the stream ends at 4.6 s, before the 2.0 s yield limit:
    the outcome resolves as unsuccessful then. An overlap still short of 1.0 s at the end is no interruption."""
    assert outcomes([("customer", 0.0, 8.0), ("rep", 3.0, 4.5)], 4.6) == [(4.0, None), (4.6, False)]
    assert outcomes([("customer", 0.0, 8.0), ("rep", 3.0, 8.0)], 3.5) == []


def test_a_failed_outcome_is_decided_as_soon_as_it_is_known() -> None:
    """Unsuccessful is known one frame past the yield limit (5.0 s) when the holder is still talking there,
    though the interrupter talks on; and when both fell silent by the limit without the interrupter taking
    the floor."""
    assert outcomes([("customer", 0.0, 5.5), ("rep", 3.0, 8.0)], 12.0) == [(4.0, None), (pytest.approx(5.01), False)]
    assert outcomes([("customer", 0.0, 4.0), ("rep", 3.0, 4.0)], 12.0) == [(4.0, None), (pytest.approx(5.01), False)]


def test_an_interruption_needs_interruption_min_s_its_own_setting() -> None:
    """With interruption_min_s 1.5 (floor_take_s and backchannel_max_s still 1.0) the rep's 1.2 s over the
    customer is no interruption, and 1.5 s is one, decided 1.5 s after its onset."""
    config = with_analytics(interruption_min_s=1.5)
    assert of(run([("customer", 0.0, 8.0), ("rep", 3.0, 4.2)], 12.0, config), Interruption) == []
    found = of(run([("customer", 0.0, 8.0), ("rep", 3.0, 4.5)], 12.0, config), Interruption)
    assert [(i.onset_s, i.decided_s, i.successful) for i in found] == [(3.0, pytest.approx(4.5), False)]


def test_a_backchannel_is_bounded_by_its_own_settings() -> None:
    """backchannel_max_s and backchannel_proximity_s equal floor_take_s (1.0 s) by default; set to 0.5 s, a
    0.7 s sound during the holder's speech, or a 0.3 s one 0.8 s after it, is no backchannel."""
    during = [("customer", 0.0, 20.0), ("rep", 4.0, 4.7)]
    after = [("customer", 0.0, 4.0), ("rep", 4.8, 5.1), ("customer", 8.0, 12.0)]
    assert [b.onset_s for b in of(run(during, 24.0), Backchannel)] == [4.0]
    assert of(run(during, 24.0, with_analytics(backchannel_max_s=0.5)), Backchannel) == []
    assert [b.onset_s for b in of(run(after, 16.0), Backchannel)] == [4.8]
    assert of(run(after, 16.0, with_analytics(backchannel_proximity_s=0.5)), Backchannel) == []


@pytest.mark.parametrize(("resume_s", "backchannel"), [(6.8, True), (6.81, False)])
def test_a_backchannel_within_one_second_before_the_holder_resumes(resume_s: float, backchannel: bool) -> None:
    """ "Within 1.0 s of the floor holder's speech" counts on both sides, inclusive: the rep's "mm" in the
    customer's pause, 1.5 s after the customer's last word, ends exactly 1.0 s before the customer resumes."""
    c = run([("customer", 0.0, 4.0), ("rep", 5.5, 5.8), ("customer", resume_s, 12.0)], 16.0)
    assert [b.onset_s for b in of(c, Backchannel)] == ([5.5] if backchannel else [])


def test_an_mm_ending_with_the_holders_last_word_waits_for_the_holder_to_go_on() -> None:
    """The rep's "mm" ends in the very frame the customer's last word does: the holder has not gone on yet,
    and when the rep then takes the floor, it never does: no backchannel."""
    c = run([("customer", 0.0, 4.0), ("rep", 3.7, 4.0), ("rep", 6.0, 12.0)], 16.0)
    assert of(c, Backchannel) == []
    went_on = run([("customer", 0.0, 4.0), ("rep", 3.7, 4.0), ("customer", 6.0, 12.0)], 16.0)
    assert [(b.by, b.onset_s) for b in of(went_on, Backchannel)] == [(REP, 3.7)]


def test_a_premature_start_is_bounded_by_its_own_settings() -> None:
    """premature_resume_s and backchannel_max_s equal other thresholds (1.0 s) by default. With
    premature_resume_s 0.5 a customer resuming 0.8 s after the rep's onset makes no premature start; with
    backchannel_max_s 0.5 the rep's 0.7 s in the customer's pause is longer than a backchannel, and is one."""
    resumes = [("customer", 0.0, 5.0), ("rep", 5.5, 7.5), ("customer", 6.3, 9.0)]
    assert [p.onset_s for p in of(run(resumes, 12.0), PrematureStart)] == [5.5]
    assert of(run(resumes, 12.0, with_analytics(premature_resume_s=0.5)), PrematureStart) == []
    short = [("customer", 0.0, 5.0), ("rep", 5.5, 6.2), ("customer", 6.4, 9.0)]
    assert of(run(short, 12.0), PrematureStart) == []
    assert [p.onset_s for p in of(run(short, 12.0, with_analytics(backchannel_max_s=0.5)), PrematureStart)] == [5.5]


def test_a_sessions_backchannels_are_counted_by_party() -> None:
    """One "mm" by the customer in the rep's floor and one by the rep in the customer's: one each."""
    segments = [("customer", 0.0, 8.0), ("rep", 8.5, 19.5), ("customer", 12.0, 12.3), ("customer", 20.0, 32.0)]
    c = run([*segments, ("rep", 20.5, 20.75)], 36.0)
    assert [(b.by, b.onset_s) for b in of(c, Backchannel)] == [(CUST, 12.0), (REP, 20.5)]
    (summary,) = c.sessions
    assert (summary.backchannels_by_rep, summary.backchannels_by_customer) == (1, 1)
