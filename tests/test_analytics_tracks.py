"""Hand-written timelines on the frame a stretch of speech starts or ends on, and on what a track keeps.

A party's stretch covers frames [start, end): the frame its last word ends on is already silence. Times sit
on the 10 ms frame grid, so "the instant" is one frame exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from listener.analytics.tracks import Span, Track
from listener.config import Config
from listener.events import Backchannel, FloorHeld, Interruption, Party, PrematureStart, ResponseGap, SessionEnded
from tests.analytics_timelines import CONFIG, CUST, REP, of, run, with_analytics


def with_activity(**changes: Any) -> Config:  # the keys of [activity], each of its own type
    return dataclasses.replace(CONFIG, activity=dataclasses.replace(CONFIG.activity, **changes))


def test_a_rep_start_the_instant_the_customer_stops_is_premature_when_the_customer_resumes() -> None:
    """The customer stops at 5.0 s, the rep starts at 5.0 s, the customer is back at 5.5 s: the rep came in
    during the customer's pause (the customer's last frame is before 5.0 s), no interruption of speech."""
    c = run([("customer", 0.0, 5.0), ("rep", 5.0, 7.5), ("customer", 5.5, 8.0)], 15.0)
    assert [(p.onset_s, p.decided_s) for p in of(c, PrematureStart)] == [(5.0, 6.01)]
    assert of(c, Interruption) == []


def test_a_customer_mm_after_a_rep_start_the_instant_the_customer_stopped_is_no_turn_end() -> None:
    """The rep starts in the frame the customer's turn ended on, in the customer's silence: the customer's
    "mm" 0.3 s later is listening to the rep, so the customer's turn ended at 10.0 s, and the gap is 0 s."""
    c = run([("customer", 0.0, 10.0), ("rep", 10.0, 15.0), ("customer", 10.3, 10.6)], 20.0)
    assert [(b.by, b.onset_s) for b in of(c, Backchannel)] == [(CUST, 10.3)]
    assert [(f.by, f.onset_s, f.end_s) for f in of(c, FloorHeld)] == [(CUST, 0.0, 10.0), (REP, 10.0, 15.0)]
    assert [(g.onset_s, g.gap_s) for g in of(c, ResponseGap)] == [(10.0, 0.0)]


def test_a_customer_sound_begun_with_the_reps_start_is_the_customers_turn_going_on() -> None:
    """After a 0.5 s pause the customer and the rep start in the same frame: the rep did not begin in the
    customer's silence, so the customer's 0.3 s there ends the customer's turn and the gap is -0.3 s."""
    c = run([("customer", 0.0, 10.0), ("customer", 10.5, 10.8), ("rep", 10.5, 15.0)], 20.0)
    assert [(f.by, f.onset_s, f.end_s) for f in of(c, FloorHeld)] == [(CUST, 0.0, 10.8), (REP, 10.5, 15.0)]
    assert [(g.onset_s, round(g.gap_s, 9)) for g in of(c, ResponseGap)] == [(10.5, -0.3)]


@pytest.mark.parametrize(
    "mms",
    [
        [("rep", 55.3, 55.6)],
        [("rep", 55.1, 55.3), ("rep", 55.5, 55.7)],
        [("rep", 55.1, 55.2), ("rep", 55.4, 55.5), ("rep", 55.7, 55.8)],
    ],
)
def test_a_rep_floor_kept_through_a_long_silence_still_ends_at_the_reps_last_word(
    mms: list[tuple[str, float, float]],
) -> None:
    """The rep talks 10.5-20 s and holds the floor through 35 s of silence (the customer's short sounds keep
    the session open but take no floor); the customer takes it at 55 s and the rep says "mm" once, twice or
    three times in its first second. The rep's floor still ends at 20 s, a 9.5 s monologue: a track keeps the
    newest stretch older than its window however many follow it (with two "mm"s it dropped the 10.5-20 s
    stretch, and the floor came out 0 s long, no monologue)."""
    sounds = [("customer", 30.0, 30.4), ("customer", 45.0, 45.4)]
    c = run([("customer", 0.0, 10.0), ("rep", 10.5, 20.0), *sounds, ("customer", 55.0, 65.0), *mms], 70.0)
    assert [(f.by, f.onset_s, f.end_s) for f in of(c, FloorHeld)][1] == (REP, 10.5, 20.0)
    (s,) = c.sessions
    assert s.monologues == 1 and s.longest_monologue_s == pytest.approx(9.5)


def test_a_rep_start_known_as_speech_just_as_the_session_gap_runs_out_is_in_the_session() -> None:
    """The customer's last word ends at 20 s; the session gap runs out at 50 s. The rep, from 49.9 s, is
    known as speech at 50 s exactly: the session ends at 50 s with it. From 49.95 s it is known only
    after, and the session ends at the customer's last word."""
    ends = [e.end_s for e in of(run([("customer", 0.0, 20.0), ("rep", 49.9, 60.0)], 100.0), SessionEnded)]
    assert ends == [50.0]
    ends = [e.end_s for e in of(run([("customer", 0.0, 20.0), ("rep", 49.95, 60.0)], 100.0), SessionEnded)]
    assert ends == [20.0]


def test_a_customer_sound_holding_the_sessions_end_back_moves_nothing() -> None:
    """As above, the rep from 49.9 s, known as speech at 50 s exactly, but only 0.15 s of it: a customer
    sound at 49.99 s (0.09 s, no speech) holds the decision back until 50.28 s, by when the rep's stretch
    has closed. The session still ends at 50 s with the rep's words in it, as it would without the sound."""
    c = run([("customer", 0.0, 20.0), ("customer", 49.99, 50.08), ("rep", 49.9, 50.05)], 100.0)
    assert [(e.end_s, e.decided_s) for e in of(c, SessionEnded)] == [(50.0, 50.28)]
    assert [round(s.rep_talk_s, 9) for s in c.sessions] == [0.1]


def test_with_no_bridge_gap_a_one_frame_gap_splits_a_partys_speech() -> None:
    # gaps shorter than bridge_gap_s are bridged: none is shorter than 0 s
    c = run([("customer", 1.0, 2.0), ("customer", 2.01, 3.0)], 5.0, with_activity(bridge_gap_s=0.0))
    assert [(s.party, s.start_s, s.end_s) for s in c.segments] == [(CUST, 1.0, 2.0), (CUST, 2.01, 3.0)]


def test_with_min_speech_s_one_frame_a_one_frame_burst_is_speech() -> None:
    c = run([("customer", 1.0, 1.01)], 3.0, with_activity(min_speech_s=0.01))
    assert [(s.party, s.start_s, s.end_s) for s in c.segments] == [(CUST, 1.0, 1.01)]


def test_a_customer_sound_too_short_to_be_speech_is_no_resumption() -> None:
    """The rep starts 0.5 s into the customer's pause; 0.5 s later the customer makes a 0.05 s sound (under
    min_speech_s: no speech) and says nothing more within 1.0 s of the rep's onset: no premature start."""
    assert of(run([("customer", 0.0, 5.0), ("rep", 5.5, 8.0), ("customer", 6.0, 6.05)], 15.0), PrematureStart) == []
    resumed = run([("customer", 0.0, 5.0), ("rep", 5.5, 8.0), ("customer", 6.0, 6.1)], 15.0)  # 0.1 s: speech
    assert [p.onset_s for p in of(resumed, PrematureStart)] == [5.5]


def test_a_rep_start_is_premature_though_the_rep_said_more_before_the_customer_resumed() -> None:
    """With premature_resume_s = 3 s the rep's start at 5.5 s waits for the customer until 8.5 s; meanwhile the
    rep has finished its 1.3 s stretch and said another word (7.2-7.5 s). The customer back at 8.0 s makes the
    5.5 s start premature: the newer word does not hide the stretch that began there."""
    timeline = [("customer", 0.0, 5.0), ("rep", 5.5, 6.8), ("rep", 7.2, 7.5), ("customer", 8.0, 10.0)]
    c = run(timeline, 15.0, with_analytics(premature_resume_s=3.0))
    assert [(p.onset_s, p.decided_s) for p in of(c, PrematureStart)] == [(5.5, 8.1)]
    assert of(run(timeline, 15.0), PrematureStart) == []  # by default 8.0 s is too late: 1 s after the onset


def test_a_track_tells_only_what_it_knew_at_the_frame_asked_about() -> None:
    """Before its first frame a track cannot say the party was silent in it; ``known_end(limit)`` is the latest
    end as it stood at ``limit``, however far the speech has gone since (sessions cut at such a limit)."""
    track = Track(Party.CUSTOMER, bridge_frames=20, min_frames=10, keep_frames=0)
    assert track.spoke_within(0, 1) is None
    for f in range(30):
        track.step(f, True)
    assert (track.known_end(5), track.known_end(20), track.latest_end()) == (None, 20, 30)
    for f in range(30, 60):
        track.step(f, False)  # closed at frame 49: quiet for the bridge
    assert track.spans[-1].end_frame == 30
    assert (track.known_end(25), track.known_end(60)) == (25, 30)


def test_speech_beginning_where_the_frames_asked_about_stop_is_not_within_them() -> None:
    """``spoke_within(first, stop)`` asks about frames [first, stop): a stretch from ``stop`` on is after them."""
    track = Track(Party.REP, bridge_frames=20, min_frames=10, keep_frames=0)
    for f in range(80):
        track.step(f, 10 <= f < 30)
    assert track.spans[-1] == Span(10, 30)
    assert (track.spoke_within(0, 10), track.spoke_within(0, 11), track.spoke_within(30, 40)) == (False, True, False)
