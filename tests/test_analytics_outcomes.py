"""Hand-written timelines, continued (shared/metrics.md, Overlap events): when an interruption's outcome is
decided, backchannel edges, and each overlap threshold as its own setting."""

from __future__ import annotations

import numpy as np
import pytest

from listener.analytics.replay import activity, frame_blocks
from listener.analytics.stage import ConversationAnalytics
from listener.events import Backchannel, FloorChange, Interruption, PrematureStart, SessionEnded, TurnPredictions
from tests.analytics_timelines import CONFIG, CUST, REP, of, raw_events, run, with_analytics


def outcomes(segments: list[tuple[str, float, float]], seconds: float) -> list[tuple[float, bool | None]]:
    """(decided_s, successful) of every Interruption the analytics emit, the decision and the outcome."""
    found = [e for e in raw_events(segments, seconds) if isinstance(e, Interruption)]
    return [(round(e.decided_s, 6), e.successful) for e in found]


def test_an_outcome_still_open_when_the_stream_ends_is_unsuccessful() -> None:
    """The rep's interruption is decided at 4.0 s; the stream ends at 4.6 s, before the 2.0 s yield limit:
    the outcome resolves as unsuccessful then. An overlap still short of 1.0 s at the end is no interruption."""
    assert outcomes([("customer", 0.0, 8.0), ("rep", 3.0, 4.5)], 4.6) == [(4.0, None), (4.6, False)]
    assert outcomes([("customer", 0.0, 8.0), ("rep", 3.0, 8.0)], 3.5) == []


def test_an_outcome_known_when_the_interruption_is_decided_comes_in_that_one_event() -> None:
    """docs/metrics.md: when the outcome is known at the decision (the customer stopped at 3.5 s, 0.5 s into the
    rep's talk, and the rep's 1.0 s at 4.0 s takes the floor too), "a single Interruption carries it": one
    event, not the decision followed by a repeat of its outcome."""
    assert outcomes([("customer", 0.0, 3.5), ("rep", 3.0, 8.0)], 12.0) == [(4.0, True)]


def test_a_failed_outcome_is_decided_as_soon_as_it_is_known() -> None:
    """Unsuccessful is known one frame past the yield limit (5.0 s) when the holder is still talking there,
    though the interrupter talks on; and when both fell silent by the limit without the interrupter taking
    the floor."""
    assert outcomes([("customer", 0.0, 5.5), ("rep", 3.0, 8.0)], 12.0) == [(4.0, None), (pytest.approx(5.01), False)]
    assert outcomes([("customer", 0.0, 4.0), ("rep", 3.0, 4.0)], 12.0) == [(4.0, None), (pytest.approx(5.01), False)]


def test_the_holders_mm_in_the_stretch_that_takes_the_floor_is_listening_not_going_on() -> None:
    """The customer falls silent at 5.0 s, 1.0 s into the rep's cut-in; the rep breathes and takes the floor with
    a stretch from 5.4 s, in which the customer's "mm" (5.8-6.1 s) runs past the 2.0 s mark: the customer is
    listening to the rep (it is the customer's backchannel), so the interruption succeeded, as without the "mm".
    A customer sound there longer than a backchannel (1.0 s) is the customer going on."""
    cut_in = [("customer", 0.5, 5.0), ("rep", 4.0, 5.0), ("rep", 5.4, 9.0)]
    assert outcomes([*cut_in, ("customer", 5.8, 6.1)], 20.0) == [(5.0, None), (6.4, True)]
    assert outcomes(cut_in, 20.0) == [(5.0, None), (6.4, True)]
    assert outcomes([*cut_in, ("customer", 5.8, 6.8)], 20.0) == [(5.0, None), (7.0, True)]
    assert outcomes([*cut_in, ("customer", 5.8, 6.81)], 20.0) == [(5.0, None), (6.81, False)]


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
    # the customer's "mm" 0.5 s into the rep's answer listens to the answer (its backchannel): the speech that
    # ended with the rep's "mm" is no going on either, though it is the customer's, and older than the answer
    listened = run([("customer", 0.0, 4.0), ("rep", 3.7, 4.0), ("rep", 6.0, 12.0), ("customer", 6.5, 6.8)], 16.0)
    assert [(b.by, b.onset_s) for b in of(listened, Backchannel)] == [(CUST, 6.5)]


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


def test_an_mm_is_no_backchannel_once_the_floor_changed_hands_though_the_holder_comes_back() -> None:
    """docs/metrics.md: "If the other party takes the floor instead, or the session ends first, it was no
    backchannel". The rep's "mm" in the customer's pause waits for the customer to go on; the rep takes the
    floor at 7.0 s instead, and the customer's taking it back at 14.0 s does not make the "mm" one. Nor does a
    customer who speaks again only in the next visit, after the first ended at 34.0 s."""
    mm = [("customer", 0.0, 4.0), ("rep", 4.5, 4.8)]
    took = run([*mm, ("rep", 6.0, 12.0), ("customer", 13.0, 20.0)], 25.0)
    assert of(took, Backchannel) == []
    assert [(f.by, f.onset_s) for f in of(took, FloorChange)] == [(CUST, 0.0), (REP, 6.0), (CUST, 13.0)]
    next_visit = run([*mm, ("customer", 40.0, 50.0)], 80.0)
    assert of(next_visit, Backchannel) == []
    assert [(e.onset_s, e.end_s) for e in of(next_visit, SessionEnded)] == [(0.0, 4.8), (40.0, 50.0)]
    # the customer going on in the same floor: the "mm" is the rep's backchannel
    went_on = run([*mm, ("customer", 6.0, 12.0)], 25.0)
    assert [(b.by, b.onset_s, b.duration_s) for b in of(went_on, Backchannel)] == [(REP, 4.5, pytest.approx(0.3))]


def test_the_holders_mm_in_the_listeners_answer_is_not_the_holder_going_on() -> None:
    """metrics.md: a backchannel is a sound "after which the floor holder continues". The rep's "yeah" after the
    customer's turn, then the rep's answer from 8.0 s: the customer's "mm" 0.5 s into it is the customer
    listening (counted as the customer's backchannel), not going on, and the answer takes the floor: the "yeah"
    was none. The customer talking on over the answer did go on."""
    yeah = [("customer", 0.5, 5.5), ("rep", 6.1, 6.4), ("rep", 8.0, 14.0)]
    mm = run([*yeah, ("customer", 8.5, 8.8)], 20.0, with_analytics(session_min_speech_s=0.0))
    assert [(b.by, b.onset_s) for b in of(mm, Backchannel)] == [(CUST, 8.5)]
    assert [s.backchannels_by_rep for s in mm.sessions] == [0]
    early = run([*yeah, ("customer", 8.1, 8.3)], 20.0)  # over (8.5 s) before the answer takes the floor (9.0 s)
    assert [(b.by, b.onset_s) for b in of(early, Backchannel)] == [(CUST, 8.1)]
    tight = run([("customer", 0.5, 4.0), ("rep", 4.3, 4.8), ("rep", 5.1, 9.0), ("customer", 6.0, 6.3)], 12.0)
    assert [(b.by, b.onset_s) for b in of(tight, Backchannel)] == [(CUST, 6.0)]
    talks_on = run([*yeah, ("customer", 8.5, 10.0)], 20.0)  # 1.5 s, longer than a backchannel: known at 9.51 s
    assert [(b.by, b.onset_s, b.decided_s) for b in of(talks_on, Backchannel)] == [(REP, 6.1, pytest.approx(9.51))]


def test_a_backchannel_is_decided_when_its_sound_has_ended_and_the_holder_is_heard_after_it() -> None:
    """docs/metrics.md: decided "when the vocalisation has ended and the holder has been heard after it, often
    at once (the holder was still talking), else when the holder resumes". An "mm" at 4.0-4.3 s in the
    customer's 20 s story is known to have ended at 4.5 s (0.2 s later, no bridging): decided then, not when
    the story ends; one in the customer's pause, at 4.5-4.8 s, when the customer's 6.0 s resumption is known
    as speech, at 6.1 s."""
    during = run([("customer", 0.0, 20.0), ("rep", 4.0, 4.3)], 25.0)
    assert [(b.by, b.onset_s, b.decided_s) for b in of(during, Backchannel)] == [(REP, 4.0, pytest.approx(4.5))]
    pause = run([("customer", 0.0, 4.0), ("rep", 4.5, 4.8), ("customer", 6.0, 12.0)], 25.0)
    assert [(b.by, b.onset_s, b.decided_s) for b in of(pause, Backchannel)] == [(REP, 4.5, pytest.approx(6.1))]


def still_pending(
    segments: list[tuple[str, float, float]], seconds: float, p_hold: float | None = None
) -> list[object]:
    """The candidates the overlap rules still hold after ``segments``, the stream going on (no EndOfStream)."""
    stage = ConversationAnalytics(CONFIG)
    frames = round(seconds / 0.01)
    if p_hold is not None:
        stage.process(TurnPredictions(0.0, 0.01, np.full(frames, p_hold, np.float32), np.full(frames, 0.5, np.float32)))
    for block in frame_blocks(activity(segments, seconds), bounds=[frames - 100]):
        stage.process(block)  # with the model, a block is processed when the next arrives: all but the last second
    conversation = stage.conversation
    assert conversation is not None
    rules = (conversation.interruptions.bids, conversation.premature.pending, conversation.backchannels.pending)
    return [candidate for rule in rules for candidate in rule]


def test_the_overlap_rules_let_go_of_what_they_have_decided() -> None:
    """Every rep onset over a customer floor, every short sound, is a candidate the rules look at on every 10 ms
    frame until it is decided; one kept after its "no" (an answer in the holder's pause is no interruption,
    a "mm" no premature start, a sound with nobody holding the floor no backchannel) costs a device that runs
    for days a little more on every frame, each visit. Once all is decided, nothing is left pending."""
    segments = [("rep", 0.0, 0.3), ("customer", 0.5, 4.0), ("rep", 4.3, 4.6), ("customer", 5.0, 9.0)]
    segments += [("rep", 6.0, 6.4), ("rep", 9.5, 12.0)]  # an "mm" over the customer, then the answer
    assert still_pending(segments, 20.0) == []
    # a rep sound of exactly backchannel_max_s (1.0 s) in the pause, the customer resuming during it: no start
    assert still_pending([("customer", 0.0, 4.0), ("rep", 4.5, 5.5), ("customer", 5.0, 9.0)], 20.0) == []
    # the model's hold probability under premature_hold_prob: the rep's answer is no premature start
    assert still_pending([("customer", 0.0, 4.0), ("rep", 4.5, 8.0)], 20.0, p_hold=0.3) == []
