"""Hand-written timelines at a session's edges (what ends or begins exactly there, or just outside it), and
the session summary's sums over its parts.

Times sit on the 10 ms frame grid, so "exactly at the edge" is exact.
"""

from __future__ import annotations

import pytest

from listener.analytics.report import AudioInfo
from listener.analytics.summary import EPS_S, Window, all_sessions, no_session, summarize
from listener.events import (
    AudioDropped,
    Backchannel,
    DominanceChanged,
    FloorHeld,
    Interruption,
    LongSilence,
    PrematureStart,
    Question,
    ResponseGap,
    SessionEnded,
    SessionSummary,
)
from tests.analytics_timelines import CONFIG, CUST, REP, of, raw_events, run, with_analytics


@pytest.mark.parametrize(("onset_s", "end_s", "counted"), [(4.8, 5.3, 0), (5.49, 6.0, 0), (5.5, 6.0, 1)])
def test_a_rep_question_just_before_the_customers_first_word_is_not_the_sessions(
    onset_s: float, end_s: float, counted: int
) -> None:
    """The customer's first word opens the session at 5.5 s. Events count in a session when their onset lies in
    it: a question the rep began before then, even one frame before, is no question of it (decided at 8.0 s,
    while the session is open), in its summary or in the recording's totals; one begun at 5.5 s is."""
    asked = Question(by=REP, onset_s=onset_s, end_s=end_s, decided_s=8.0, open_ended=False, followup=False)
    segments = [("rep", 0.0, end_s), ("customer", 5.5, 20.0), ("rep", 20.5, 30.0)]
    c = run(segments, 65.0, extra=[asked], bounds=[1000])  # the question is fed at 10 s, inside the session
    (s,) = c.sessions
    assert (s.onset_s, s.questions) == (5.5, counted)
    assert (s.question_wait_median_s is None) == (not counted)
    together = all_sessions(c.segments, c.events, 65.0, CONFIG.analytics)
    assert together.questions == counted


def test_a_question_decided_as_a_block_of_audio_begins_is_fed_then_not_after_the_block() -> None:
    """replay feeds ``extra`` events as they are decided: one decided at 25.0 s, where the second block of frames
    begins, comes before that block, while its session is open, not after the block, once the session is over."""
    asked = Question(by=REP, onset_s=21.0, end_s=22.0, decided_s=25.0, open_ended=False, followup=False)
    segments = [("customer", 5.5, 20.0), ("rep", 20.5, 30.0)]
    c = run(segments, 65.0, extra=[asked], bounds=[2500])
    (s,) = c.sessions
    assert s.end_s < 65.0 and s.questions == 1


def test_a_rep_floor_ending_where_the_session_begins_is_no_monologue_in_it() -> None:
    """The rep holds the floor until 5.0 s, the instant the customer's first word opens the session: none of
    that floor lies in the session, so it is no monologue there, not even one 0 s long."""
    c = run([("rep", 0.0, 5.0), ("customer", 5.0, 20.0), ("rep", 20.5, 30.0)], 65.0)
    assert [(f.by, f.onset_s, f.end_s) for f in of(c, FloorHeld)] == [
        (REP, 0.0, 5.0),
        (CUST, 5.0, 20.0),
        (REP, 20.5, 30.0),
    ]
    (s,) = c.sessions
    assert (s.onset_s, s.monologues, s.stories) == (5.0, 1, 1)
    together = all_sessions(c.segments, c.events, 65.0, CONFIG.analytics)
    assert (together.monologues, together.stories) == (1, 1)


def test_an_event_at_the_instant_one_session_ends_and_the_next_begins_counts_in_the_next_alone() -> None:
    """The customer's 30 s silence runs out at 33.0 s while the rep talks on: the first session ends there, and the
    customer's "mm" at 33.0 s opens the next. The "mm" is a backchannel of the second session only: each session
    summarised from the recording's events counts what its own summary counts, and together the recording's
    totals (found at 1,500 hypothesis examples: it was counted in both)."""
    c = run([("customer", 0.0, 3.0), ("rep", 3.5, 60.0), ("customer", 33.0, 33.5)], 95.0)
    assert [(e.onset_s, e.end_s) for e in of(c, SessionEnded)] == [(0.0, 33.0), (33.0, 60.0)]
    assert [(b.by, b.onset_s) for b in of(c, Backchannel)] == [(CUST, 33.0)]
    assert [s.backchannels_by_customer for s in c.sessions] == [0, 1]
    each = [
        summarize("", Window(e.onset_s, e.end_s), e.end_s, c.segments, c.events, CONFIG.analytics)
        for e in of(c, SessionEnded)
    ]
    assert [s.backchannels_by_customer for s in each] == [0, 1]
    assert all_sessions(c.segments, c.events, 95.0, CONFIG.analytics).backchannels_by_customer == 1


def test_dominance_begun_as_the_reps_speech_ends_on_a_check_is_in_the_session_it_lit() -> None:
    """The rep stops exactly on a 0.1 s check at which the share crosses 0.65: the episode begins at the check, which
    is also the session's end, outside the session since an end is the next session's (or nobody's). Amber lit and
    MQTT told it in that session, and no summary counted it (a diff review); the session's end closes it, so it is
    that session's episode, of 0 s."""
    c = run([("customer", 0.0, 10.0), ("rep", 10.5, 30.5)], 60.0)
    (on, off) = of(c, DominanceChanged)
    (ended,) = of(c, SessionEnded)
    assert on.dominating and on.reason == "share" and on.decided_s == 30.5
    assert on.onset_s == ended.end_s == off.onset_s == 30.5 and off.reason == "session_end"
    assert [(s.dominance_episodes, s.dominance_s) for s in c.sessions] == [(1, 0.0)]
    assert all_sessions(c.segments, c.events, 60.0, CONFIG.analytics).dominance_episodes == 1


def test_the_recordings_summary_runs_from_its_first_sessions_start_to_its_last_sessions_end() -> None:
    c = run([("customer", 0.0, 3.0), ("rep", 3.5, 60.0), ("customer", 33.0, 33.5)], 95.0)
    assert [(e.onset_s, e.end_s) for e in of(c, SessionEnded)] == [(0.0, 33.0), (33.0, 60.0)]
    whole = all_sessions(c.segments, c.events, 95.0, CONFIG.analytics)
    assert (whole.onset_s, whole.end_s, whole.duration_s) == (0.0, 60.0, 60.0)


def test_dominance_begun_on_the_share_where_a_session_ends_is_the_next_sessions() -> None:
    """Only the session's own end closes an episode begun at that instant into it: one begun there on the share (a
    cut's next session showing it on) is the next session's, and the instant is held by exactly one of the two."""
    on = DominanceChanged(dominating=True, onset_s=30.0, decided_s=30.0, rep_share=0.7, reason="share")
    off = DominanceChanged(dominating=False, onset_s=40.0, decided_s=40.0, rep_share=0.5, reason="share")
    windows = (Window(0.0, 30.0), Window(30.0, 60.0))
    first, second = (summarize("", w, w.end_s, [], [on, off], CONFIG.analytics) for w in windows)
    assert (first.dominance_episodes, second.dominance_episodes) == (0, 1)
    just_before = 30.0 - EPS_S / 2
    assert not Window(0.0, 30.0).holds(just_before) and Window(30.0, 60.0).holds(just_before)


def test_dominance_still_on_where_a_summary_ends_counts_to_its_end() -> None:
    """A session summarised while still open (``session_span``: it runs to the end given) with the rep still
    dominating: no change has closed the episode yet, and its time so far counts."""
    on = DominanceChanged(dominating=True, onset_s=42.0, decided_s=42.0, rep_share=0.7, reason="share")
    s = summarize("", Window(0.0, 60.0), 60.0, [], [on], CONFIG.analytics)
    assert s.dominance_episodes == 1 and s.dominance_s == pytest.approx(18.0)


def test_the_longest_silence_is_the_longest_of_the_sessions_long_silences() -> None:
    c = run([("customer", 0.0, 10.0), ("rep", 14.0, 20.0), ("customer", 28.0, 35.0), ("rep", 35.5, 40.0)], 45.0)
    assert [(x.onset_s, x.duration_s) for x in of(c, LongSilence)] == [(10.0, 4.0), (20.0, 8.0)]
    (s,) = c.sessions
    assert (s.long_silences, s.longest_silence_s) == (2, 8.0)


def test_audio_lost_while_both_parties_talk_is_talk_not_unheard_time() -> None:
    """10 ms of audio lost 6.0 s in, while the customer and the rep talk over each other, and again at 10 s, the
    customer talking on after the rep stopped: each gap is bridged, so it is talk, once, and the session's
    unheard time is 0 s, neither less nor more."""
    talk = [("customer", 0.0, 6.0), ("customer", 6.05, 10.0), ("customer", 10.05, 12.0)]
    talk += [("rep", 4.0, 6.0), ("rep", 6.05, 8.0), ("rep", 12.5, 25.0)]
    lost = [AudioDropped(start_s=t, duration_s=0.05, reason="overflow") for t in (6.0, 10.0)]
    out = raw_events(talk, 30.0, bounds=[600, 1000, 1100], drops=lost)
    (s,) = [e for e in out if isinstance(e, SessionSummary)]
    assert (s.unheard_s, s.overlap_s, s.duration_s, s.silence_s) == (0.0, 4.0, 25.0, 0.5)


def test_response_gap_percentiles_are_the_10th_50th_and_90th() -> None:
    gaps_s = [0.1, 0.2, 0.4, 0.8, 1.6]
    segments, t = [], 0.0
    for gap_s in gaps_s:  # the customer's 2.5 s, then the rep's answer, 1.5 s
        segments += [("customer", t, t + 2.5), ("rep", round(t + 2.5 + gap_s, 2), round(t + 4.0 + gap_s, 2))]
        t = round(t + 4.5 + gap_s, 2)
    c = run(segments, t + 4.0)
    assert [round(g.gap_s, 9) for g in of(c, ResponseGap)] == gaps_s
    (s,) = c.sessions
    figures = (s.response_gap_median_s, s.response_gap_p10_s, s.response_gap_p90_s)
    assert figures == pytest.approx((0.4, 0.1 + 0.4 * 0.1, 0.8 + 0.6 * 0.8))  # numpy's linear interpolation


def test_a_recording_where_nobody_spoke_says_so_not_that_only_the_rep_did() -> None:
    """docs/metrics.md: a recording that holds no session says why, nobody having spoken or only the rep."""
    assert no_session(run([], 5.0).segments) == "no conversation: nobody spoke"
    rep_only = run([("rep", 1.0, 3.0)], 5.0).segments
    assert no_session(rep_only) == "no session: only the rep spoke (a session starts with customer speech)"


def test_a_recording_without_a_session_has_no_floor_changes_per_minute() -> None:
    """The rep alone: no minute of session, so none of its figures; 0 switches a minute, not 1."""
    c = run([("rep", 1.0, 3.0)], 5.0)
    metrics = c.report(AudioInfo(5.0, 4, 16000), all_sessions(c.segments, c.events, 5.0, CONFIG.analytics))["metrics"]
    assert isinstance(metrics, dict)
    assert (metrics["sessions"], metrics["floor_changes"], metrics["switches_per_min"]) == (0, 0, 0.0)


def test_a_floor_its_session_ended_is_not_taken_by_the_next_visits_first_word() -> None:
    """The first visit ends on the rep's floor; the next customer's first word, 40 s later, takes no floor from
    the rep: that floor ended with its session. One floor change in each visit, two in the recording."""
    segments = [("customer", 0.0, 15.0), ("rep", 15.5, 30.0), ("customer", 70.0, 85.0), ("rep", 85.5, 100.0)]
    c = run(segments, 150.0)
    assert [(f.by, f.taken) for f in of(c, FloorHeld)] == [(CUST, True), (REP, False), (CUST, True), (REP, False)]
    assert [s.floor_changes for s in c.sessions] == [1, 1]
    assert all_sessions(c.segments, c.events, 150.0, CONFIG.analytics).floor_changes == 2


@pytest.mark.parametrize(("rep_end_s", "changes"), [(2.0, 0), (9.99, 0), (10.0, 1), (39.0, 1)])
def test_a_session_counts_the_change_from_a_floor_held_before_it_only_within_the_session_gap(
    rep_end_s: float, changes: int
) -> None:
    """The rep holds the floor before the customer's first word at 40.0 s. A floor whose holder spoke within
    session_gap_s (30 s) before the session began was handed over in it (a greeting: 1 change); longer ago it had
    lapsed, and the customer's floor is the session's first taking (0 changes, 0 switches a minute)."""
    c = run([("rep", 0.0, rep_end_s), ("customer", 40.0, 50.0)], 60.0, with_analytics(session_min_speech_s=0.0))
    assert [(f.by, f.taken) for f in of(c, FloorHeld)] == [(REP, True), (CUST, False)]
    assert [(s.onset_s, s.floor_changes, s.switches_per_min) for s in c.sessions] == [(40.0, changes, changes * 6.0)]


def test_a_rep_remark_between_visits_long_before_the_next_adds_no_floor_change_to_it() -> None:
    """A rep remark to a colleague between two visits takes the floor nobody held; the next customer speaks
    68 s later, when it had lapsed: still one change in each visit, two in the recording."""
    visits = [("customer", 0.0, 15.0), ("rep", 15.5, 30.0), ("customer", 170.0, 185.0), ("rep", 185.5, 200.0)]
    c = run([*visits, ("rep", 100.0, 102.0)], 220.0)
    assert [s.floor_changes for s in c.sessions] == [1, 1]
    assert all_sessions(c.segments, c.events, 220.0, CONFIG.analytics).floor_changes == 2


def test_a_sessions_premature_starts_are_counted_once_each() -> None:
    """The rep starts in the customer's pause, the customer goes on 0.8 s later: one premature start, in the
    session's summary and in the recording's totals."""
    c = run([("customer", 0.0, 15.0), ("rep", 15.5, 17.5), ("customer", 16.3, 30.0), ("rep", 30.5, 35.0)], 70.0)
    assert [p.onset_s for p in of(c, PrematureStart)] == [15.5]
    (s,) = c.sessions
    assert s.premature_starts == 1
    assert all_sessions(c.segments, c.events, 70.0, CONFIG.analytics).premature_starts == 1


def test_a_customer_heard_for_half_a_second_has_a_backchannel_rate() -> None:
    """docs/integrations/mqtt.md: the rep's backchannels a minute are null only without customer speech; half a
    second of it (the rep then talks on) gives 0 a minute."""
    c = run([("customer", 0.0, 0.5), ("rep", 1.0, 25.0)], 60.0)
    (s,) = c.sessions
    assert (s.customer_talk_s, s.rep_backchannels_per_min) == (0.5, 0.0)


def test_audio_lost_under_talk_within_the_others_talk_is_talk_after_an_earlier_stretch() -> None:
    """The customer's first stretch, then 10-20 s of theirs with the rep's 12-15 s inside it, 50 ms lost at 13 s
    (under both) and at 17 s (under the customer's alone): the talk of both is one stretch, 10-20 s, so each
    loss is talk, once, and the session's unheard time is 0 s, neither less nor more."""
    talk = [("customer", 0.0, 5.0), ("customer", 10.0, 13.0), ("customer", 13.05, 17.0), ("customer", 17.05, 20.0)]
    talk += [("rep", 12.0, 13.0), ("rep", 13.05, 15.0), ("rep", 25.0, 40.0)]
    lost = [AudioDropped(start_s=t, duration_s=0.05, reason="overflow") for t in (13.0, 17.0)]
    out = raw_events(talk, 80.0, bounds=[1300, 1700, 2000], drops=lost)
    (s,) = [e for e in out if isinstance(e, SessionSummary)]
    assert (s.unheard_s, s.overlap_s, s.duration_s, s.silence_s) == pytest.approx((0.0, 3.0, 40.0, 10.0))


def test_a_sessions_interruptions_are_counted_by_party_and_outcome() -> None:
    """The customer breaks in on the rep and stops (unsuccessful); later the rep breaks in and keeps talking
    after the customer stops (successful)."""
    segments = [("customer", 0.0, 10.0), ("rep", 10.5, 25.0), ("customer", 15.0, 16.5)]
    segments += [("customer", 26.0, 35.0), ("rep", 34.5, 45.0)]
    c = run(segments, 90.0)
    assert [(i.by, i.onset_s, i.successful) for i in of(c, Interruption)] == [(CUST, 15.0, False), (REP, 34.5, True)]
    (s,) = c.sessions
    assert (s.interruptions_by_rep, s.successful_interruptions_by_rep) == (1, 1)
    assert (s.interruptions_by_customer, s.successful_interruptions_by_customer) == (1, 0)


def test_each_stretch_of_talk_over_talk_counts_in_the_overlap() -> None:
    """Two "mm"s of the customer's, and a longer word, over one stretch of the rep's: 0.3 + 0.3 + 0.8 s of overlap."""
    segments = [("customer", 0.0, 10.0), ("rep", 10.5, 30.0)]
    segments += [("customer", 15.0, 15.3), ("customer", 20.0, 20.3), ("customer", 25.0, 25.8)]
    (s,) = run(segments, 70.0).sessions
    assert s.overlap_s == pytest.approx(1.4)
