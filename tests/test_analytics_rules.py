"""Hand-written timelines for each definition of shared/metrics.md, edges included: overlaps,
backchannels and companions (premature starts, pauses and silences in test_analytics_pauses.py;
sessions, dominance and questions in test_analytics_sessions.py).

Times sit on the 10 ms frame grid, so "exactly at the threshold" is exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from listener.config import parse_config
from listener.errors import ConfigError
from listener.events import (
    Backchannel,
    FloorChange,
    FloorHeld,
    Interruption,
    PrematureStart,
    ResponseGap,
)
from tests.analytics_timelines import CUST, REP, of, raw_events, run, with_analytics

# --- interruptions -----------------------------------------------------------


def test_successful_interruption_decided_one_second_after_onset() -> None:
    c = run([("customer", 0.0, 5.5), ("rep", 3.0, 8.0)], 12.0)
    (i,) = of(c, Interruption)
    assert (i.by, i.onset_s, i.successful) == (REP, 3.0, False)  # the customer did not yield within 2.0 s
    c = run([("customer", 0.0, 3.5), ("rep", 3.0, 8.0)], 12.0)
    (i,) = of(c, Interruption)
    assert (i.by, i.onset_s, i.successful) == (REP, 3.0, True)
    assert i.decided_s == pytest.approx(4.0)  # customer closed at 3.7, rep took the floor at 4.0
    assert any(f.by is REP and f.onset_s == 3.0 for f in of(c, FloorChange))


def test_the_floor_is_held_from_the_moment_its_taker_has_spoken_one_second() -> None:
    """A party takes the floor once it has spoken 1.0 s (">= 1.0 s"): a start at exactly 1.0 s into the
    customer's speech is over the floor holder, an interruption; 0.01 s earlier nobody held the floor yet."""
    at = run([("customer", 0.0, 6.0), ("rep", 1.0, 3.0)], 10.0)
    assert [(i.by, i.onset_s, i.successful) for i in of(at, Interruption)] == [(REP, 1.0, False)]
    early = run([("customer", 0.0, 6.0), ("rep", 0.99, 3.0)], 10.0)
    assert not of(early, Interruption)
    # the customer took the floor over the rep's start all the same (the floor had no holder to yield)
    assert [(f.by, f.onset_s) for f in of(early, FloorChange)] == [(CUST, 0.0)]


def test_an_mm_begun_in_the_very_frame_the_rep_answers_makes_the_answer_an_interruption() -> None:
    """ "Speaking" is judged at the rep's onset frame, as metrics.md reads (docs/metrics.md says so): the customer
    holds the floor and is active there. 10 ms later the customer was silent at the onset: a plain answer."""
    same = run([("customer", 0.0, 12.0), ("rep", 13.0, 25.0), ("customer", 13.0, 13.25)], 30.0)
    assert [(i.by, i.onset_s, i.successful) for i in of(same, Interruption)] == [(REP, 13.0, True)]
    later = run([("customer", 0.0, 12.0), ("rep", 13.0, 25.0), ("customer", 13.01, 13.26)], 30.0)
    assert not of(later, Interruption)


def test_a_holder_who_breathes_and_talks_on_has_not_yielded() -> None:
    # the customer stops at 4.0, within 2.0 s of the rep's onset, but talks on from 4.3 to 9.0 over the rep
    c = run([("customer", 0.0, 4.0), ("customer", 4.3, 9.0), ("rep", 3.5, 12.0)], 15.0)
    assert [i.successful for i in of(c, Interruption)] == [False]
    c = run([("customer", 0.0, 4.0), ("rep", 3.5, 12.0), ("customer", 6.0, 6.3)], 15.0)  # an "mm" once yielded
    assert [i.successful for i in of(c, Interruption)] == [True]


@pytest.mark.parametrize("resume_s", [5.10, 5.15, 5.19])
def test_a_holder_who_talks_on_moments_before_the_taker_has_a_second_has_not_yielded(resume_s: float) -> None:
    # the rep (from 4.2 s) would take the floor at 5.2 s; the customer, silent since 4.5 s, talks on from
    # resume_s: within 0.1 s of that, the stretch is not yet known as speech, but it is, and the floor stays
    c = run([("customer", 0.0, 4.5), ("customer", resume_s, 10.0), ("rep", 4.2, 12.0)], 16.0)
    assert [i.successful for i in of(c, Interruption) if i.by is REP] == [False]
    assert [(f.by, f.decided_s) for f in of(c, FloorChange)][1:] == [(REP, pytest.approx(10.2))]


def test_interruption_that_fails_is_decided_first_then_resolved() -> None:
    """The rep talks over the customer for 1.5 s; the customer never yields."""
    c = run([("customer", 0.0, 8.0), ("rep", 3.0, 4.5)], 12.0)
    (final,) = of(c, Interruption)  # the report keeps one record: decided at 4.0, with the outcome
    assert (final.by, final.onset_s, final.decided_s, final.successful) == (REP, 3.0, pytest.approx(4.0), False)
    raw = raw_events([("customer", 0.0, 8.0), ("rep", 3.0, 4.5)], 12.0)
    decisions = [e for e in raw if isinstance(e, Interruption)]
    # the outcome: the rep stopped at 4.5 and began nothing by the 2.0 s mark (5.0) that could take the floor
    assert [(e.decided_s, e.successful) for e in decisions] == [
        (pytest.approx(4.0), None),
        (pytest.approx(5.01), False),
    ]  # type: ignore[comparison-overlap]
    assert not of(c, Backchannel)
    assert all(f.by is CUST for f in of(c, FloorChange))  # the customer kept the floor


@pytest.mark.parametrize(("resumes_s", "successful"), [(4.6, True), (5.0, True), (5.01, False)])
def test_an_interrupter_who_breathes_and_takes_the_floor_by_the_limit_succeeded(
    resumes_s: float, successful: bool
) -> None:
    """The customer yields at 4.5, 1.5 s after the rep's onset; the rep pauses 0.3 s or more (longer than
    a bridged gap) and takes the floor with the next stretch: it began by the 2.0 s mark, or it did not."""
    c = run([("customer", 0.0, 4.5), ("rep", 3.0, 4.3), ("rep", resumes_s, 15.0), ("customer", 16.0, 30.0)], 40.0)
    assert [(i.by, i.onset_s, i.successful) for i in of(c, Interruption)] == [(REP, 3.0, successful)]
    assert [(f.by, f.onset_s) for f in of(c, FloorChange)] == [(CUST, 0.0), (REP, resumes_s), (CUST, 16.0)]


def test_yield_exactly_at_the_limit_succeeds_and_one_frame_later_fails() -> None:
    ok = run([("customer", 0.0, 5.0), ("rep", 3.0, 9.0)], 12.0)
    late = run([("customer", 0.0, 5.01), ("rep", 3.0, 9.0)], 12.0)
    assert [i.successful for i in of(ok, Interruption)] == [True]
    assert [i.successful for i in of(late, Interruption)] == [False]


def test_one_second_over_the_holder_is_an_interruption_just_under_is_a_backchannel() -> None:
    exact = run([("customer", 0.0, 8.0), ("rep", 3.0, 4.0)], 12.0)
    under = run([("customer", 0.0, 8.0), ("rep", 3.0, 3.99)], 12.0)
    assert [(i.by, i.onset_s) for i in of(exact, Interruption)] == [(REP, 3.0)]
    assert not of(exact, Backchannel)
    assert not of(under, Interruption)
    (b,) = of(under, Backchannel)
    assert (b.by, b.onset_s, b.duration_s) == (REP, 3.0, pytest.approx(0.99))


@pytest.mark.parametrize(("talker", "holder"), [("rep", "customer"), ("customer", "rep")])
def test_by_the_exact_rule_a_gap_at_the_one_second_mark_is_bridged(talker: str, holder: str) -> None:
    # the talker pauses 0.1 s exactly where 1.0 s of its speech is reached, then talks on: on reference
    # timelines (the benchmark's truth) the decision waits for the gap
    c = run([(holder, 0.0, 8.0), (talker, 3.0, 3.95), (talker, 4.05, 6.0)], 12.0, exact=True)
    (i,) = [e for e in of(c, Interruption) if e.successful is not None]
    assert (i.by.value, i.onset_s, i.successful) == (talker, 3.0, False)
    assert 4.0 < i.decided_s <= 3.0 + 1.0 + 0.2
    assert not of(c, Backchannel)
    # a real pause, then a turn
    c = run([(holder, 0.0, 8.0), (talker, 3.0, 3.95), (talker, 4.3, 6.0)], 12.0, exact=True)
    assert not [e for e in of(c, Interruption) if e.onset_s == 3.0]
    # a device decides at the mark: without a model, a gap there is the talker having stopped
    assert not of(run([(holder, 0.0, 8.0), (talker, 3.0, 3.95), (talker, 4.05, 6.0)], 12.0), Interruption)


def test_no_setting_lets_a_device_wait_past_the_one_second_mark() -> None:
    # the exact rule's wait (up to bridge_gap_s late) is for reference timelines only, not a user setting
    with pytest.raises(ConfigError, match=r"analytics\.interruption_exact"):
        parse_config({"analytics": {"interruption_exact": True}})


@pytest.mark.parametrize(("p_backchannel", "interrupts"), [(0.2, True), (0.4, True), (0.5, False), (0.8, False)])
def test_with_the_turn_model_a_gap_at_the_one_second_mark_is_decided_then(
    p_backchannel: float, interrupts: bool
) -> None:
    # a device decides by 1.0 s after the onset: with the model, its guess settles the gap at the mark
    frames = 1200
    model = (np.full(frames, 0.5, np.float32), np.full(frames, p_backchannel, np.float32))
    c = run([("customer", 0.0, 8.0), ("rep", 3.0, 3.95), ("rep", 4.05, 6.0)], 12.0, model=model)
    found = of(c, Interruption)
    assert [(i.by, i.onset_s) for i in found] == ([(REP, 3.0)] * len(found) if interrupts else [])
    assert all(i.decided_s <= 3.0 + 1.0 + 1e-9 for i in found[:1])  # the decision, not later
    assert bool(found) is interrupts


@pytest.mark.parametrize(
    ("step_frame", "before", "after", "interrupts"),
    [(399, 0.8, 0.2, True), (399, 0.2, 0.8, False), (400, 0.8, 0.2, False)],
    ids=["goes-on-at-the-mark", "stops-at-the-mark", "goes-on-only-after-the-mark"],
)
def test_with_the_turn_model_the_guess_at_the_one_second_mark_decides_the_gap(
    step_frame: int, before: float, after: float, interrupts: bool
) -> None:
    # onset at frame 300 (3.0 s); the mark is 4.0 s, the end of frame 399: the guess for that frame settles
    # the gap, not the guess at the onset nor one the device cannot have yet (4.00-4.01 s). Neither level
    # reaches model_interruption_prob (0.9) early.
    frames = 1200
    p_backchannel = np.where(np.arange(frames) < step_frame, before, after).astype(np.float32)
    model = (np.full(frames, 0.5, np.float32), p_backchannel)
    c = run([("customer", 0.0, 8.0), ("rep", 3.0, 3.95), ("rep", 4.05, 6.0)], 12.0, model=model)
    found = of(c, Interruption)
    if interrupts:
        (i,) = found
        assert (i.by, i.onset_s, i.decided_s) == (REP, 3.0, pytest.approx(4.0))
    else:
        assert found == []


def test_a_session_counts_the_floor_change_that_opens_it() -> None:
    # the rep holds the floor before any customer speaks; the session starts with the customer taking it
    c = run([("rep", 0.0, 5.0), ("customer", 6.0, 20.0), ("rep", 20.5, 30.0)], 40.0)
    (s,) = c.sessions
    assert s.onset_s == pytest.approx(6.0)
    assert s.floor_changes == 2 and s.switches_per_min == pytest.approx(2 / ((s.end_s - s.onset_s) / 60.0))


def test_starting_in_the_holders_pause_is_not_an_interruption() -> None:
    c = run([("customer", 0.0, 3.0), ("rep", 3.3, 8.0)], 12.0)
    assert not of(c, Interruption)
    (gap,) = of(c, ResponseGap)
    assert gap.gap_s == pytest.approx(0.3) and not gap.patient


def test_pause_shorter_than_the_bridge_is_still_speaking() -> None:
    """The customer pauses 0.15 s (bridged): a rep start inside it is over active speech."""
    c = run([("customer", 0.0, 3.0), ("customer", 3.15, 4.0), ("rep", 3.05, 6.0)], 10.0)
    assert [(i.by, i.onset_s, i.successful) for i in of(c, Interruption)] == [(REP, 3.05, True)]


def test_customer_interrupts_the_rep() -> None:
    c = run([("customer", 0.0, 1.5), ("rep", 2.0, 10.0), ("customer", 6.0, 7.5)], 14.0)
    assert [(i.by, i.onset_s, i.successful) for i in of(c, Interruption)] == [(CUST, 6.0, False)]


def test_model_may_decide_an_interruption_early() -> None:
    segments = [("customer", 0.0, 8.0), ("rep", 3.0, 4.5)]
    n = 1200
    hold, backchannel = np.full(n, 0.5, np.float32), np.full(n, 0.5, np.float32)
    backchannel[330:] = 0.05  # confident: not a backchannel, 0.3 s into the overlap
    raw = raw_events(segments, 12.0, model=(hold, backchannel))
    first = next(e for e in raw if isinstance(e, Interruption))
    assert first.onset_s == 3.0 and first.decided_s == pytest.approx(3.31)


@pytest.mark.parametrize(("p_backchannel", "early"), [(0.1, True), (0.11, False)])
def test_the_early_decision_at_exactly_its_threshold(p_backchannel: float, early: bool) -> None:
    """1 - p_backchannel reaching model_interruption_prob (0.9) decides early: the model's float32 0.1 makes
    1 - p 0.8999999985, which read as short of it."""
    hold, backchannel = np.full(1200, 0.5, np.float32), np.full(1200, 0.5, np.float32)
    backchannel[330:] = p_backchannel
    raw = raw_events([("customer", 0.0, 8.0), ("rep", 3.0, 4.5)], 12.0, model=(hold, backchannel))
    first = next(e for e in raw if isinstance(e, Interruption))
    assert first.decided_s == (pytest.approx(3.31) if early else pytest.approx(4.0))


@pytest.mark.parametrize(("p_hold", "premature"), [(0.7, True), (0.69, False)])
def test_a_premature_start_at_exactly_the_hold_threshold(p_hold: float, premature: bool) -> None:
    """premature_hold_prob is "at least": the model's float32 0.7 is 0.69999999, which read as under it."""
    hold, backchannel = np.full(1200, 0.3, np.float32), np.full(1200, 0.5, np.float32)
    hold[550] = p_hold  # the rep's onset frame
    config = with_analytics(premature_hold_prob=0.7)
    c = run([("customer", 0.0, 5.0), ("rep", 5.5, 7.5)], 12.0, config=config, model=(hold, backchannel))
    assert [e.onset_s for e in of(c, PrematureStart)] == ([5.5] if premature else [])


# --- backchannels --------------------------------------------------------------


def test_backchannel_during_a_pause_is_not_a_premature_start() -> None:
    c = run([("customer", 0.0, 4.0), ("rep", 4.5, 4.8), ("customer", 5.3, 9.0)], 12.0)
    (b,) = of(c, Backchannel)
    assert (b.by, b.onset_s, b.duration_s) == (REP, 4.5, pytest.approx(0.3))
    assert not of(c, PrematureStart) and not of(c, Interruption)
    assert [f.by for f in of(c, FloorChange)] == [CUST]  # a backchannel never takes the floor


def test_backchannel_is_near_the_holders_speech_and_the_holder_goes_on() -> None:
    def backchannels(*segments: tuple[str, float, float]) -> list[float]:
        return [b.onset_s for b in of(run([("customer", 0.0, 4.0), *segments], 16.0), Backchannel)]

    assert backchannels(("rep", 5.0, 5.3), ("customer", 8.0, 12.0)) == [5.0]  # 1.0 s after; the holder goes on later
    assert backchannels(("rep", 5.01, 5.3), ("customer", 8.0, 12.0)) == []  # further than 1.0 s from it
    assert backchannels(("rep", 3.8, 4.3), ("customer", 6.0, 12.0)) == [3.8]  # during the holder's last words
    assert backchannels(("rep", 4.5, 4.8), ("rep", 6.0, 12.0)) == []  # the holder did not go on: the rep took over
    assert backchannels(("rep", 4.5, 4.8)) == []  # nor here: nobody spoke again


@pytest.mark.parametrize("seconds", [20.0, 20.1, 20.3])
def test_an_mm_just_before_the_recording_ends_is_a_backchannel_when_the_holder_went_on(seconds: float) -> None:
    """The rep's "mm" ends 0.15 s before the recording does, the customer talking on: its stretch was still
    open (a gap under 0.2 s may be bridged) when the stream ended, and was closed without being judged."""
    c = run([("customer", 0.0, 25.0), ("rep", 19.5, 19.85)], seconds)
    assert [(b.by, b.onset_s) for b in of(c, Backchannel)] == [(REP, 19.5)]
    assert [s.backchannels_by_rep for s in c.sessions] == [1]


def test_a_sound_of_exactly_one_second_in_the_holders_pause_is_still_a_backchannel() -> None:
    # "short vocalisation (<= 1.0 s)": the bound belongs to the backchannel, when the holder resumes during it
    c = run([("customer", 0.0, 4.0), ("rep", 4.5, 5.5), ("customer", 5.0, 9.0)], 12.0)
    assert [(b.by, b.onset_s, b.duration_s) for b in of(c, Backchannel)] == [(REP, 4.5, pytest.approx(1.0))]
    # with the holder still silent when it ends, it has spoken 1.0 s alone and taken the floor ("≥ 1.0 s")
    took = run([("customer", 0.0, 4.0), ("rep", 4.5, 5.5), ("customer", 6.0, 9.0)], 12.0)
    assert not of(took, Backchannel)
    assert [(f.by, f.onset_s) for f in of(took, FloorChange)][:2] == [(CUST, 0.0), (REP, 4.5)]


@pytest.mark.parametrize("shift_s", [0.0, 0.05, 0.1])
def test_an_mm_in_the_first_second_of_a_new_floor_listens_to_it(shift_s: float) -> None:
    """The new holder's floor counts from its onset, though it is decided 1.0 s later: a sound in that
    first second is a backchannel to it, whether it ends before or after the floor is decided."""
    mm = ("rep", 20.5 + shift_s, 20.75 + shift_s)
    c = run([("customer", 0.0, 8.0), ("rep", 8.5, 19.5), ("customer", 20.0, 32.0), mm], 36.0)
    assert [(b.by, b.onset_s) for b in of(c, Backchannel)] == [(REP, pytest.approx(mm[1]))]
    assert [(f.by, f.onset_s) for f in of(c, FloorChange)] == [(CUST, 0.0), (REP, 8.5), (CUST, 20.0)]
    (summary,) = c.sessions
    assert summary.backchannels_by_rep == 1
    # the customer's "mm" at the start of the rep's answer, and the rep's at the first floor's start
    answer = run([("customer", 0.0, 12.0), ("rep", 13.0, 25.0), ("customer", 13.5 + shift_s, 13.75 + shift_s)], 30.0)
    assert [b.by for b in of(answer, Backchannel)] == [CUST]
    first = run([("customer", 0.0, 22.0), ("rep", 0.3, 0.75 + shift_s)], 26.0)
    assert [b.by for b in of(first, Backchannel)] == [REP]


def test_an_mm_that_starts_with_the_holders_first_word_is_a_backchannel() -> None:
    """A floor counts from the onset of the stretch that took it, that frame included: a short sound
    starting on the holder's first word is during the holder's speech, and the holder goes on."""
    c = run([("customer", 0.0, 22.0), ("rep", 0.0, 0.45)], 26.0)
    assert [(b.by, b.onset_s, b.duration_s) for b in of(c, Backchannel)] == [(REP, 0.0, pytest.approx(0.45))]
    assert [(f.by, f.onset_s) for f in of(c, FloorChange)] == [(CUST, 0.0)]


def test_backchannels_do_not_break_a_story() -> None:
    segments = [("customer", 0.0, 20.0), ("rep", 4.0, 4.3), ("rep", 9.0, 9.4), ("rep", 14.0, 14.5), ("rep", 21.0, 30.0)]
    c = run(segments, 34.0)
    assert [b.onset_s for b in of(c, Backchannel)] == [4.0, 9.0, 14.0]
    story = next(f for f in of(c, FloorHeld) if f.by is CUST)
    assert (story.onset_s, story.end_s, story.taken) == (0.0, 20.0, True)
    (summary,) = c.sessions
    assert summary.backchannels_by_rep == 3
    assert summary.rep_backchannels_per_min == pytest.approx(3 / (20.0 / 60.0))
    assert summary.longest_story_s == pytest.approx(20.0)


def test_the_old_holders_mm_to_the_new_one_does_not_lengthen_its_floor() -> None:
    """The customer's "mm" in the rep's first second is a backchannel to the rep (above), so the story
    it follows ended with the customer's last words, as its response gap says; the same for the rep."""
    c = run([("customer", 0.0, 10.0), ("rep", 10.5, 20.0), ("customer", 10.8, 11.0), ("customer", 21.0, 30.0)], 60.0)
    assert [(b.by, b.onset_s) for b in of(c, Backchannel)] == [(CUST, 10.8)]
    story = next(f for f in of(c, FloorHeld) if f.by is CUST)
    assert (story.onset_s, story.end_s, story.duration_s) == (0.0, 10.0, 10.0)
    assert [g.gap_s for g in of(c, ResponseGap)] == [pytest.approx(0.5)]
    assert c.sessions[0].longest_story_s == pytest.approx(10.0)
    rep = run([("rep", 0.0, 10.0), ("customer", 0.2, 0.4), ("customer", 10.5, 30.0), ("rep", 10.8, 11.0)], 80.0)
    monologue = next(f for f in of(rep, FloorHeld) if f.by is REP)
    assert (monologue.onset_s, monologue.end_s) == (0.0, 10.0)
    # a holder who was still talking when the other began: its speech over the start is its own turn
    over = run([("customer", 0.0, 10.0), ("rep", 9.5, 20.0), ("customer", 10.2, 10.4), ("customer", 21.0, 30.0)], 60.0)
    assert next(f for f in of(over, FloorHeld) if f.by is CUST).end_s == pytest.approx(10.4)


# --- companions ------------------------------------------------------------------


def party_segments(turns: list[tuple[str, float, float]], rep: str) -> list[tuple[str, float, float]]:
    """Speaker turns to party segments: everybody but ``rep`` is customer side."""
    return [("rep" if spk == rep else "customer", a, b) for spk, a, b in turns]


def test_customer_companion_is_customer_side() -> None:
    turns = [("clerk", 0.0, 3.0), ("alice", 3.5, 8.0), ("bob", 6.0, 10.0), ("clerk", 11.0, 15.0), ("bob", 13.0, 14.5)]
    c = run(party_segments(turns, "clerk"), 18.0)
    # alice and bob talking over each other is one party talking: no interruption between them
    assert [(i.by, i.onset_s) for i in of(c, Interruption)] == [(CUST, 13.0)]
    story = next(f for f in of(c, FloorHeld) if f.by is CUST)
    assert (story.onset_s, story.end_s) == (3.5, 10.0)


def test_a_floors_duration_runs_from_its_onset_to_its_last_speech() -> None:
    """floor_held's duration_s is end_s - onset_s, for floors that do not start at the stream's first frame."""
    c = run([("customer", 2.0, 10.0), ("rep", 10.5, 20.0), ("customer", 21.0, 30.0)], 40.0)
    held = [(f.by, f.onset_s, f.end_s, f.duration_s, f.taken) for f in of(c, FloorHeld)]
    assert held == [
        (CUST, 2.0, 10.0, pytest.approx(8.0), True),
        (REP, 10.5, 20.0, pytest.approx(9.5), True),
        (CUST, 21.0, 30.0, pytest.approx(9.0), False),
    ]


def test_the_floor_takes_floor_take_s_not_the_interruption_limit() -> None:
    """metrics.md: every threshold is a setting. With floor_take_s 1.5 (interruption_min_s still 1.0) the
    customer's 1.2 s opening takes no floor, and the rep's answer takes it 1.5 s in."""
    c = run(
        [("customer", 0.0, 1.2), ("rep", 2.0, 10.0), ("customer", 10.5, 30.0)], 40.0, with_analytics(floor_take_s=1.5)
    )
    assert [(f.by, f.onset_s, f.decided_s) for f in of(c, FloorChange)] == [
        (REP, 2.0, pytest.approx(3.5)),
        (CUST, 10.5, pytest.approx(12.0)),
    ]


def test_a_turn_ends_before_a_sound_of_up_to_backchannel_max_s_not_floor_take_s() -> None:
    """With backchannel_max_s 0.5, the customer's 0.7 s sound over the rep's start (begun in the customer's
    silence) is no backchannel but the customer's last speech: the response gap runs to its end."""
    segments = [("customer", 0.0, 5.0), ("rep", 6.0, 12.0), ("customer", 6.5, 7.2)]
    c = run(segments, 15.0, with_analytics(backchannel_max_s=0.5))
    assert [g.gap_s for g in of(c, ResponseGap)] == [pytest.approx(-1.2)]
    assert of(c, Backchannel) == []
    assert [g.gap_s for g in of(run(segments, 15.0), ResponseGap)] == [pytest.approx(1.0)]  # 0.7 s: listening
