"""Hand-written timelines, continued: sessions, dominance, pauses, floors, and sums exactly at a threshold.

Times sit on the 10 ms frame grid, so "exactly at the threshold" is exact.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from listener.events import (
    AudioDropped,
    Backchannel,
    DominanceChanged,
    FloorChange,
    LongSilence,
    Pause,
    PrematureStart,
    ResponseGap,
    RollingShare,
    SessionEnded,
    SessionStarted,
    SessionSummary,
)
from tests.analytics_timelines import CUST, REP, of, raw_events, run, with_analytics

# --- sessions ------------------------------------------------------------------------


def test_sessions_split_on_thirty_seconds_of_customer_silence() -> None:
    segments = [("rep", 0.0, 2.0), ("customer", 3.0, 20.0), ("rep", 20.5, 30.0), ("customer", 65.0, 90.0)]
    c = run(segments, 130.0)
    starts, ends = of(c, SessionStarted), of(c, SessionEnded)
    assert [s.onset_s for s in starts] == [3.0, 65.0]
    assert [(e.onset_s, e.end_s, e.decided_s) for e in ends] == [(3.0, 30.0, 50.0), (65.0, 90.0, 120.0)]
    assert len({s.session_id for s in starts}) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", s.session_id) for s in starts)
    first = c.sessions[0]
    assert (first.rep_talk_s, first.customer_talk_s) == (pytest.approx(9.5), pytest.approx(17.0))  # type: ignore[comparison-overlap]


def test_short_session_publishes_no_summary() -> None:
    c = run([("customer", 1.0, 6.0), ("rep", 6.5, 12.0)], 50.0)  # 10.5 s of speech < 20 s
    assert len(of(c, SessionStarted)) == len(of(c, SessionEnded)) == 1
    assert c.sessions == []


def test_end_of_stream_ends_the_session() -> None:
    c = run([("customer", 1.0, 16.0), ("rep", 16.5, 28.0)], 29.0)
    (end,) = of(c, SessionEnded)
    assert (end.end_s, end.decided_s) == (28.0, 29.0)
    assert len(c.sessions) == 1


# --- dominance -----------------------------------------------------------------------


def test_the_reps_words_just_before_the_customer_arrives_are_not_the_sessions_talk() -> None:
    """The session starts with the customer's speech at 5.9 s; the rep's stretch ended at 5.85 s, but is still
    open (under the 0.2 s bridge) when the session starts and closes inside it: none of it is the session's."""
    raw = raw_events([("rep", 0.0, 5.85), ("customer", 5.9, 30.0)], 40.0)
    shares = [(r.t_s, r.rep_talk_s, r.session_rep_talk_s, r.rep_share) for r in raw if isinstance(r, RollingShare)]
    assert shares[:3] == [(6.0, 0.0, 0.0, 0.0), (7.0, 0.0, 0.0, 0.0), (8.0, 0.0, 0.0, 0.0)]


def test_dominance_by_share_with_hysteresis() -> None:
    config = with_analytics(session_gap_s=100.0)  # the customer's 50 s silence must not end the session
    c = run([("customer", 0.0, 10.0), ("rep", 10.0, 60.0), ("customer", 60.0, 100.0)], 104.0, config)
    on, off = of(c, DominanceChanged)[:2]
    assert on.dominating and on.reason == "share" and on.onset_s == pytest.approx(30.0)
    assert on.decided_s - 30.0 <= 1.0 and on.rep_share >= 0.65
    assert not off.dominating and 83.33 <= off.onset_s <= 83.33 + 1.0
    assert off.rep_share < 0.60


def test_dominance_by_share_starts_at_exactly_the_on_share_not_the_off_share() -> None:
    """With 30 s of speech long reached, dominance starts when the share reaches 0.65 ("rep share >= 0.65"):
    14 s of customer then the rep's talk make exactly 0.65 at 40.0 s (0.60 at 35.0 s, 0.649 at 39.9 s)."""
    config = with_analytics(session_gap_s=100.0)
    c = run([("customer", 0.0, 14.0), ("rep", 14.0, 60.0), ("customer", 60.5, 80.0)], 84.0, config)
    on = of(c, DominanceChanged)[0]
    assert (on.dominating, on.reason, on.onset_s, on.rep_share) == (True, "share", pytest.approx(40.0), 0.65)


def test_dominance_by_share_goes_on_at_exactly_the_off_share() -> None:
    """metrics.md: dominance "ends when rep share drops below 0.60". At 50 s the window holds 30 s of rep and
    20 s of customer speech, a share of exactly 0.60, and keeps it through 10 s of silence: still dominating,
    until the customer's words from 60 s take it below."""
    config = with_analytics(session_gap_s=100.0)
    segments = [("customer", 0.0, 10.0), ("rep", 10.0, 40.0), ("customer", 40.0, 50.0), ("customer", 60.0, 70.0)]
    on, off = of(run(segments, 74.0, config), DominanceChanged)
    assert (on.dominating, on.reason, on.onset_s) == (True, "share", pytest.approx(30.0))
    assert (off.dominating, off.reason, off.onset_s) == (False, "share", pytest.approx(60.1))
    assert off.rep_share < 0.60


def test_dominance_that_outlives_its_session_ends_with_it_and_says_so() -> None:
    # the rep still dominates when the session ends (the customer left): the end is not a change
    # of share, and is reported as such (the LEDs calm down, dashboards can tell it apart)
    config = with_analytics(session_gap_s=30.0)  # dominance from 30 s, the session over at 35 s, decided at 40 s
    c = run([("customer", 0.0, 10.0), ("rep", 10.0, 35.0)], 90.0, config)
    on, off = of(c, DominanceChanged)
    (end,) = of(c, SessionEnded)
    assert on.dominating and on.reason == "share"
    assert not off.dominating and off.reason == "session_end" and off.rep_share >= 0.65
    # dated when the session ended, as the summary counts it, though decided with the session's end
    assert (off.onset_s, off.decided_s) == (end.end_s, end.decided_s)
    assert c.sessions[0].dominance_s == pytest.approx(off.onset_s - on.onset_s)


def test_dominance_by_share_goes_on_only_as_the_rep_talks_never_in_a_sessions_closing_tail() -> None:
    """The customer's first 40 s slide out of the window during the 30 s of silence that end the session
    (last speech 118.0 s): the share passed 0.65 at 122.8 s with nobody talking, an episode after the session's
    end that its summary never counted. It now waits for the rep's talk: with the rep at 125 s it starts then."""
    segments = [("customer", 0.5, 40.5), ("customer", 65.0, 65.3), ("customer", 90.0, 90.3), ("rep", 41.0, 100.0)]
    segments += [("customer", 100.5, 102.0), ("rep", 102.5, 118.0), ("customer", 110.0, 110.3)]
    silent = run(segments, 150.0)
    assert of(silent, DominanceChanged) == [] and silent.sessions[0].dominance_s == 0.0
    talking = run([*segments, ("rep", 125.0, 130.0)], 150.0)
    on, off = of(talking, DominanceChanged)
    assert (on.dominating, on.reason, on.onset_s, off.onset_s) == (True, "share", pytest.approx(125.1), 130.0)
    summary = talking.sessions[0]
    assert summary.dominance_s == pytest.approx(4.9) and summary.dominance_episodes == 1


def test_the_reps_talk_that_lets_the_share_start_dominance_is_talk_since_the_last_check() -> None:
    """docs/metrics.md: dominance by share starts only if "the rep has spoken since the last evaluation". With a
    20 s window, the share crosses 0.65 between the checks at 20.0 s (0.648) and 20.1 s (0.652), as the customer's
    first words leave it. A rep who stopped exactly at 20.0 s was last heard by the 20.0 s check: nothing starts,
    then or later in the silence. A rep heard 0.01 s past it has spoken since: dominating from 20.1 s."""
    config = with_analytics(rolling_window_s=20.0, dominance_min_speech_s=15.0)
    stopped = run([("customer", 0.0, 7.0), ("rep", 7.1, 20.0)], 45.0, config)
    assert of(stopped, DominanceChanged) == []
    spoke = run([("customer", 0.0, 7.0), ("rep", 7.1, 20.01)], 45.0, config)
    on = of(spoke, DominanceChanged)[0]
    assert (on.dominating, on.reason, on.onset_s, on.decided_s) == (True, "share", 20.1, pytest.approx(20.1))


def test_dominance_by_monologue() -> None:
    config = with_analytics(dominance_min_speech_s=600.0, session_gap_s=100.0)
    c = run([("customer", 0.0, 2.0), ("rep", 2.5, 70.0), ("customer", 70.5, 80.0)], 84.0, config)
    on, off = of(c, DominanceChanged)
    assert (on.dominating, on.reason, on.onset_s) == (True, "monologue", pytest.approx(62.5))
    assert on.decided_s - on.onset_s <= 1.0
    assert (off.dominating, off.reason) == (False, "monologue") and off.onset_s == pytest.approx(71.5)
    assert c.sessions[0].dominance_s == pytest.approx(71.5 - 62.5)


def test_a_monologue_is_speech_longer_than_the_limit_not_as_long() -> None:
    # metrics.md: a rep floor whose speech has run *longer* than monologue_dominating_s (60 s)
    config = with_analytics(dominance_min_speech_s=600.0, session_gap_s=100.0)
    exactly = run([("customer", 0.0, 2.0), ("rep", 2.5, 62.5), ("customer", 63.0, 70.0)], 75.0, config)
    assert of(exactly, DominanceChanged) == []
    longer = run([("customer", 0.0, 2.0), ("rep", 2.5, 62.6), ("customer", 63.0, 70.0)], 75.0, config)
    assert [(e.dominating, e.reason) for e in of(longer, DominanceChanged)][:1] == [(True, "monologue")]


def test_a_monologue_from_the_streams_first_frame_dominates_sixty_seconds_in() -> None:
    """A session and a rep floor both starting at frame 0 (the customer's "mm" opens the session): the
    monologue dominates from exactly 60.0 s, as any other does from its onset + 60 s."""
    config = with_analytics(dominance_min_speech_s=600.0, session_gap_s=100.0)
    c = run([("customer", 0.0, 0.3), ("rep", 0.0, 70.0), ("customer", 70.5, 80.0)], 84.0, config)
    on = of(c, DominanceChanged)[0]
    assert (on.dominating, on.reason, on.onset_s) == (True, "monologue", 60.0)


def test_a_rep_talking_on_at_a_customer_silent_for_the_session_gap_is_outside_any_session() -> None:
    # a rep alone (the customer gone, or a phone call) must not light amber: after 30 s without
    # customer speech the session ends, the rep's talk after it is nobody's monologue, and the
    # customer's return opens a new session (docs/metrics.md, Dominance)
    c = run([("customer", 0.0, 20.0), ("rep", 20.5, 110.0), ("customer", 110.5, 125.0)], 130.0)
    ends = [(e.onset_s, e.end_s, e.decided_s) for e in of(c, SessionEnded)]
    assert ends == [(0.0, 50.0, 50.0), (110.5, 125.0, 130.0)]
    assert [s.onset_s for s in of(c, SessionStarted)] == [0.0, 110.5]
    assert of(c, DominanceChanged) == []  # 90 s of rep speech, but 29.5 s of it inside the session
    assert c.sessions[0].longest_monologue_s == pytest.approx(29.5)
    # a customer who listens says "mm" now and then, which keeps the consultation one session
    mm = [("customer", t, t + 0.3) for t in (35.0, 55.0, 75.0, 95.0)]
    c = run([("customer", 0.0, 20.0), ("rep", 20.5, 110.0), *mm, ("customer", 110.5, 125.0)], 130.0)
    assert len(of(c, SessionStarted)) == 1 and of(c, DominanceChanged)[0].dominating


def test_the_silence_that_ends_a_session_is_not_one_of_its_pauses() -> None:
    # one mutual silence inside (16.0-16.5), then the 42 s after the rep's last word that ends the session
    c = run([("customer", 1.0, 16.0), ("rep", 16.5, 28.0)], 70.0)
    (s,) = c.sessions
    assert (s.end_s, s.pauses) == (28.0, 1) and s.silence_s == pytest.approx(0.5)
    assert [p.onset_s for p in of(c, Pause)] == [16.0, 28.0]  # the event is still told: it is decided in time


def test_a_burst_of_exactly_min_speech_s_is_speech() -> None:
    # 0.3 - 0.2 in floats falls a hair short of 0.1: the threshold must still be reached
    c = run([("customer", 0.2, 0.3)], 2.0)
    assert [(s.party, s.start_s, s.end_s) for s in c.segments] == [(CUST, 0.2, pytest.approx(0.3))]  # type: ignore[comparison-overlap]


def test_a_session_with_exactly_session_min_speech_s_gets_its_summary() -> None:
    # six stretches adding up to 20.0 s of talk, which frame sums make 19.999999999999996
    c = run(
        [("customer", 1.79, 5.3), ("rep", 5.8, 6.0), ("customer", 6.5, 7.96), ("rep", 8.46, 13.18),
         ("customer", 13.68, 21.23), ("rep", 21.73, 24.29)],
        60.0,
    )  # fmt: skip
    (summary,) = c.sessions
    assert summary.rep_talk_s + summary.customer_talk_s == pytest.approx(20.0)


def test_running_talk_counts_the_turn_still_going_on() -> None:
    """Once a second the session's talk so far, for dashboards: a long turn grows, it does not jump at its end."""
    events = raw_events([("customer", 1.0, 3.0), ("rep", 3.5, 4.5), ("customer", 5.0, 40.0)], 45.0)
    at = {e.t_s: e for e in events if isinstance(e, RollingShare)}
    times = list(at)
    assert len(times) > 30 and all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(times))
    assert (at[10.0].session_rep_talk_s, at[10.0].session_customer_talk_s) == (1.0, 7.0)
    assert (at[30.0].session_rep_talk_s, at[30.0].session_customer_talk_s) == (1.0, 27.0)
    assert at[30.0].customer_talk_s == 27.0 and at[30.0].window_s == 29.0  # the window holds the session so far


def test_a_rep_floor_begun_before_the_session_counts_from_the_sessions_start() -> None:
    # the rep talks from 0 s; the customer's first words open the session at 20 s: 70 s of rep floor in it
    timeline = [("rep", 0.0, 90.0), *(("customer", t, t + 0.4) for t in (20.0, 40.0, 60.0, 80.0))]
    c = run([*timeline, ("customer", 92.0, 100.0), ("rep", 101.0, 105.0)], 110.0)
    (s,) = c.sessions
    assert (s.onset_s, s.monologues) == (20.0, 2) and s.longest_monologue_s == pytest.approx(70.0)
    # and the monologue clock starts with the session: no amber at the customer's first word
    c = run([("rep", 0.0, 100.0), ("customer", 70.0, 70.5), ("customer", 99.0, 110.0)], 120.0)
    assert not [d for d in of(c, DominanceChanged) if d.reason == "monologue"]


def test_audio_the_device_did_not_hear_is_neither_silence_nor_a_long_silence() -> None:
    """The microphone lost for 20 s mid-visit: its frames come as silence, but nobody knows it was quiet."""
    talk = [("customer", 1.0, 10.0), ("rep", 10.5, 14.0), ("customer", 36.0, 45.0), ("rep", 45.5, 50.0)]
    # (unheard from, for s) -> (unheard_s, long silences): lost for 20 s, 1 + 1 s heard; an overflow's blip
    for lost, expected in (((15.0, 20.0), (20.0, [])), (None, (0.0, [22.0])), ((20.0, 0.05), (0.05, [21.95]))):
        drops = [] if lost is None else [AudioDropped(start_s=lost[0], duration_s=lost[1], reason="device_lost")]
        out = raw_events(talk, 55.0, bounds=[1500, 3500], drops=drops)
        (summary,) = [e for e in out if isinstance(e, SessionSummary)]
        silences = [e.duration_s for e in out if isinstance(e, LongSilence)]
        assert summary.unheard_s == pytest.approx(expected[0]) and silences == pytest.approx(expected[1])
        assert summary.silence_s == pytest.approx(49.0 - 26.0 - summary.unheard_s)  # 1-50 s, 26 s of talk


def test_a_pause_needs_its_silence_heard() -> None:
    """The privacy button pressed as the customer stops, released as they go on: nobody heard a pause there.
    An overflow's blip in a pause only moves its decision by the blip."""
    segments = [("customer", 0.0, 3.0), ("customer", 5.1, 8.0)]
    model = (np.full(1000, 0.9, np.float32), np.zeros(1000, np.float32))  # as the service runs: with the turn model

    def pauses(*drops: AudioDropped) -> list[tuple[float, float]]:
        out = raw_events(segments, 10.0, bounds=[300, 500], drops=drops, model=model)
        return [(round(e.onset_s, 6), round(e.decided_s, 6)) for e in out if isinstance(e, Pause)]

    assert pauses() == [(3.0, 3.25), (8.0, 8.25)]
    assert pauses(AudioDropped(start_s=3.0, duration_s=2.0, reason="paused")) == [(8.0, 8.25)]  # 0.1 s heard
    assert pauses(AudioDropped(start_s=3.05, duration_s=0.01, reason="overflow")) == [(3.0, 3.26), (8.0, 8.25)]


def test_unheard_time_is_every_gap_of_the_session_less_the_talk_bridged_over_it() -> None:
    # 800 s of visit with 400 overflow blips of 10 ms in its silences, and one inside the rep's bridged pause
    talk = [("customer", 0.0, 5.0), *(("customer", 2.0 * k, 2.0 * k + 1.0) for k in range(3, 400))]
    talk += [("rep", 800.5, 802.0), ("rep", 802.1, 804.0)]
    blips = [(2.0 * k + 1.5, 0.01) for k in range(400)] + [(802.0, 0.1)]
    drops = [AudioDropped(start_s=a, duration_s=d, reason="overflow") for a, d in blips]
    out = raw_events(talk, 810.0, bounds=list(range(100, 81000, 100)), drops=drops)
    (summary,) = [e for e in out if isinstance(e, SessionSummary)]
    # two blips fall in the customer's first 5 s and the 0.1 s in the rep's pause: talk, not unheard
    assert summary.unheard_s == pytest.approx(3.98)
    heard = summary.rep_talk_s + summary.customer_talk_s - summary.overlap_s + summary.silence_s
    assert heard + summary.unheard_s == pytest.approx(summary.duration_s)


@pytest.mark.parametrize(("session_gap_s", "wait_s"), [(30.0, 29.5), (120.0, 40.0)])
def test_a_long_wait_before_the_reps_answer_keeps_the_customers_turn(session_gap_s: float, wait_s: float) -> None:
    """The customer's 10 s story, a wait shorter than the session gap, the rep's answer with two "mm"s from the
    customer in its first second: the story and the response gap look back the whole wait, past the mm's."""
    answer_s = 10.0 + wait_s
    mm_hmms = [("customer", answer_s + 0.1, answer_s + 0.3), ("customer", answer_s + 0.6, answer_s + 0.8)]
    c = run([("customer", 0.0, 10.0), ("rep", answer_s, answer_s + 15.0), *mm_hmms], answer_s + 30.0,
            with_analytics(session_gap_s=session_gap_s))  # fmt: skip
    assert [g.gap_s for g in of(c, ResponseGap)] == [pytest.approx(wait_s)]
    (summary,) = c.sessions
    assert (summary.response_gaps, summary.stories) == (1, 1) and summary.longest_story_s == pytest.approx(10.0)


@pytest.mark.parametrize("rep_start_s", [0.0, 0.01])
def test_a_session_opening_on_talk_over_talk_gives_the_customer_the_floor_in_a_tie(rep_start_s: float) -> None:
    """Both begin with nobody holding the floor: the earlier start takes it, a tie goes to the customer (it went
    by the order of the parties' names, which said the same without saying why)."""
    c = run([("customer", 0.0, 5.0), ("rep", rep_start_s, 5.0)], 10.0)
    assert [(f.by, f.onset_s) for f in of(c, FloorChange)] == [(CUST, 0.0)]


def test_a_session_opening_on_talk_over_talk_gives_the_floor_to_the_earlier_start() -> None:
    later = run([("customer", 0.01, 5.0), ("rep", 0.0, 5.0)], 10.0)  # the rep first by one frame: the rep's
    assert [(f.by, f.onset_s) for f in of(later, FloorChange)] == [(REP, 0.0)]


def test_a_rep_talking_through_a_sessions_end_holds_the_floor_again_in_the_next() -> None:
    # the rep talks from 6 s to 80 s without a pause the bridging keeps; the customer, silent since 5 s, ends
    # session 1 at 35 s and opens session 2 with an "mm" at 36 s: the rep's floor there is a monologue and
    # the customer's "mm"s during it are backchannels (the floor released at 35 s, taken again from 35 s)
    mm = [("customer", t, t + 0.4) for t in (36.0, 50.0, 65.0)]
    c = run([("customer", 0.0, 5.0), ("rep", 6.0, 80.0), *mm], 120.0)
    assert [(f.by, f.onset_s) for f in of(c, FloorChange)] == [(CUST, 0.0), (REP, 6.0), (REP, 35.0)]
    first, second = c.sessions
    assert (first.monologues, second.monologues) == (1, 1)
    assert first.longest_monologue_s == pytest.approx(29.0) and second.longest_monologue_s == pytest.approx(44.0)
    assert [b.onset_s for b in of(c, Backchannel) if b.by is CUST] == [36.0, 50.0, 65.0]
    assert second.backchannels_by_customer == 3


def test_a_rep_start_undecided_when_its_session_ends_is_no_premature_start() -> None:
    """The rep starts 0.5 s before the customer's 30 s of silence end the session; the customer is back 0.7 s
    after the rep's onset, in a new session. Decided after the end, the premature start was counted in the
    recording's totals but in no session's summary; the floor it jumped into went with the session."""
    c = run([("customer", 0.0, 20.0), ("rep", 49.5, 56.0), ("customer", 50.2, 72.0)], 100.0)
    assert next(e.end_s for e in of(c, SessionEnded)) == 50.0  # the rep, talking on at the end, is in it
    assert of(c, PrematureStart) == []
    assert [s.premature_starts for s in c.sessions] == [0, 0]


def test_a_customer_sound_that_proves_no_speech_does_not_move_a_sessions_end() -> None:
    """A 0.05 s customer blip 0.07 s before the session gap runs out (under min_speech_s: no speech) holds the
    decision back until it is dropped, 0.18 s later. The rep began 0.05 s before the gap ran out, not yet known
    as speech then: the session ended at the customer's last word without the blip, and took in 0.23 s of the
    rep and 29.95 s of "long silence" with it."""

    def ended(*blip: tuple[str, float, float]) -> tuple[list[tuple[float, float]], list[tuple[float, float, int]]]:
        c = run([("customer", 0.0, 20.0), *blip, ("rep", 49.95, 60.0)], 100.0)
        ends = [(e.onset_s, e.end_s) for e in of(c, SessionEnded)]
        return ends, [(s.duration_s, s.rep_talk_s, s.long_silences) for s in c.sessions]

    assert ended() == ([(0.0, 20.0)], [(20.0, 0.0, 0)])
    assert ended(("customer", 49.93, 49.98)) == ended()
    assert (
        of(run([("customer", 0.0, 20.0), ("customer", 49.93, 49.98), ("rep", 49.95, 60.0)], 100.0), LongSilence) == []
    )


def test_a_silence_the_customer_ends_just_inside_the_session_gap_is_a_long_silence() -> None:
    """The customer back 29.95 s after their last word (known as speech only after the gap has run out): the
    session goes on, and the silence inside it is a long one."""
    c = run([("customer", 0.0, 20.0), ("customer", 49.95, 60.0)], 100.0)
    assert [(e.onset_s, e.end_s) for e in of(c, SessionEnded)] == [(0.0, 60.0)]
    assert [(x.onset_s, x.duration_s) for x in of(c, LongSilence)] == [(20.0, pytest.approx(29.95))]
