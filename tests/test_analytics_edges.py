"""Hand-written timelines at a session's edges: what ends or begins exactly there, or just outside it.

Times sit on the 10 ms frame grid, so "exactly at the edge" is exact.
"""

from __future__ import annotations

from listener.analytics.summary import all_sessions
from listener.events import FloorHeld, Question
from tests.analytics_timelines import CONFIG, CUST, REP, of, run


def test_a_rep_question_just_before_the_customers_first_word_is_not_the_sessions() -> None:
    """The rep asks from 4.8 s to 5.3 s, to nobody yet; the customer's first word opens the session at 5.5 s.
    Events count in a session when their onset lies in it: the question (decided at 8.0 s, while the session
    is open) is no question of it, in its summary or in the recording's totals, and waited for no answer."""
    asked = Question(by=REP, onset_s=4.8, end_s=5.3, decided_s=8.0, open_ended=False, followup=False)
    segments = [("rep", 0.0, 5.3), ("customer", 5.5, 20.0), ("rep", 20.5, 30.0)]
    c = run(segments, 65.0, extra=[asked], bounds=[1000])  # the question is fed at 10 s, inside the session
    (s,) = c.sessions
    assert (s.onset_s, s.questions, s.question_wait_median_s) == (5.5, 0, None)
    together = all_sessions(c.segments, c.events, 65.0, CONFIG.analytics)
    assert (together.questions, together.question_wait_median_s) == (0, None)


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
