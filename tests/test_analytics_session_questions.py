"""Hand-written timelines: a session summary's questions, their waits for an answer, and stacked questions.

Times sit on the 10 ms frame grid, so "exactly at the threshold" is exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from listener.analytics.summary import all_sessions
from listener.events import Question
from tests.analytics_timelines import CONFIG, REP, run


def question(onset_s: float, end_s: float) -> Question:
    return Question(by=REP, onset_s=onset_s, end_s=end_s, decided_s=end_s + 0.5, open_ended=False, followup=False)


def test_question_wait_and_stacked_questions() -> None:
    segments = [("customer", 0.0, 10.0), ("rep", 10.5, 12.0), ("rep", 13.0, 14.0), ("customer", 15.5, 25.0)]
    c = run(segments, 28.0, extra=[question(10.5, 12.0), question(13.0, 14.0)])
    (s,) = c.sessions
    assert (s.questions, s.stacked_questions) == (2, 1)
    assert s.question_wait_median_s == pytest.approx(np.median([3.5, 1.5]))


@pytest.mark.parametrize(("first_end_s", "second_s", "stacked"), [(12.0, 15.0, 1), (15.1, 18.1, 1), (15.1, 18.11, 0)])
def test_a_question_exactly_the_stacking_limit_after_another_is_stacked(
    first_end_s: float, second_s: float, stacked: int
) -> None:
    # 18.1 - 15.1 is 3.0000000000000018 in floats: "within 3.0 s" must not depend on where the questions fell
    segments = [("customer", 0.0, 10.0), ("rep", 10.5, first_end_s), ("rep", second_s, second_s + 1.0)]
    extra = [question(10.5, first_end_s), question(second_s, second_s + 1.0)]
    c = run([*segments, ("customer", second_s + 1.5, 30.0)], 34.0, extra=extra)
    (s,) = c.sessions
    assert (s.questions, s.stacked_questions) == (2, stacked)


def test_questions_with_the_customer_speaking_between_them_are_not_stacked() -> None:
    segments = [("customer", 0.0, 10.0), ("rep", 10.5, 12.0), ("customer", 12.3, 13.5), ("rep", 14.0, 15.0)]
    c = run([*segments, ("customer", 15.5, 25.0)], 28.0, extra=[question(10.5, 12.0), question(14.0, 15.0)])
    (s,) = c.sessions
    assert (s.questions, s.stacked_questions) == (2, 0)


def test_an_answer_begun_before_the_questions_last_word_waited_zero() -> None:
    segments = [("customer", 0.0, 10.0), ("rep", 10.5, 12.0), ("customer", 11.8, 20.0), ("customer", 30.0, 40.0)]
    c = run(segments, 42.0, extra=[question(10.5, 12.0)])
    (s,) = c.sessions
    assert s.question_wait_median_s == pytest.approx(0.0)


def test_a_question_left_unanswered_at_a_sessions_end_waits_for_no_answer_from_the_next_visit() -> None:
    """The recording's totals summarise its sessions as one: the next visit's first words answered the
    question its session ended without an answer to, a wait longer than any session holds (37 s)."""
    first = [("customer", 0.0, 10.0), ("rep", 10.5, 14.0), ("customer", 15.0, 20.0), ("rep", 20.5, 23.0)]
    segments = [*first, ("customer", 60.0, 75.0), ("rep", 75.5, 77.0), ("customer", 78.0, 90.0)]
    c = run(segments, 125.0, extra=[question(20.5, 23.0), question(75.5, 77.0)])
    assert len(c.sessions) == 2
    together = all_sessions(c.segments, c.events, 125.0, CONFIG.analytics)
    assert together.questions == 2 and together.question_wait_median_s == pytest.approx(1.0)


def test_an_mm_while_the_rep_still_asks_is_no_answer() -> None:
    segments = [("customer", 0.0, 10.0), ("rep", 10.5, 14.0), ("customer", 11.0, 11.3), ("customer", 16.0, 25.0)]
    c = run(segments, 28.0, extra=[question(10.5, 14.0)])
    (s,) = c.sessions
    assert s.question_wait_median_s == pytest.approx(2.0)
