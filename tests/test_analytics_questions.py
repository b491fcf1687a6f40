"""A session summary's question waits and stacked questions, found by bisection in the customer's speech.

Each question used to scan the customer's speech from its start: questions × stretches, which a
recording's totals (every session's questions against every stretch of customer speech) make large.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from listener.analytics.intervals import Interval, union
from listener.analytics.summary import Span, Window, _questions
from listener.events import Party, Question, Reported
from listener.frames import at_least


def by_scan(events: list[Reported], customer: list[Interval], stacked_s: float, span: Span) -> tuple[list[float], int]:
    """The scan the bisection replaced, kept as the reference: the same answers, question by question."""
    questions = sorted((e for e in events if isinstance(e, Question) and e.by is Party.REP), key=lambda q: q.onset_s)
    waits = []
    for q in questions:
        ends_s = min((w.end_s for w in span.windows if w.holds(q.onset_s)), default=span.end_s)
        nxt = next((a for a, b in customer if a >= q.onset_s and b > q.end_s and a <= ends_s), None)
        if nxt is not None:
            waits.append(max(0.0, nxt - q.end_s))
    stacked = 0
    for first, second in itertools.pairwise(questions):
        between = any(a < second.onset_s and b > first.end_s for a, b in customer)
        stacked += at_least(stacked_s, second.onset_s - first.end_s) and not between
    return waits, stacked


class Passes(list[Interval]):
    """The customer's speech, counting how often it is read through."""

    passes = 0

    def __iter__(self) -> Iterator[Interval]:
        self.passes += 1
        return super().__iter__()


def case(seed: int) -> tuple[list[Reported], list[Interval], Span]:
    """Hours of rep questions (on the 10 ms grid, so edges coincide) and customer speech, in a few sessions."""
    rng = np.random.default_rng(seed)
    t, customer = 0.0, []
    for _ in range(3000):
        t = round(t + float(rng.choice([0.0, 0.01, 0.5, 2.0, 40.0])), 2)
        end = round(t + float(rng.choice([0.01, 0.3, 1.0, 6.0])), 2)
        customer.append((t, end))
        t = end
    starts = [a for a, _ in customer]
    questions: list[Reported] = []
    for k in range(2000):
        # every third question begins exactly where the customer begins to speak, and every third ends
        # there: an answer, or speech between two questions, on the very edge of the comparison
        onset = round(float(rng.choice(starts)) if k % 3 == 0 else float(rng.uniform(0.0, t)), 2)
        end = round(onset + float(rng.choice([0.5, 1.0, 3.0])), 2)
        if k % 3 == 1:
            end = min((a for a in starts if a > onset), default=end)
        asked = Question(by=Party.REP, onset_s=onset, end_s=end, decided_s=end, open_ended=False, followup=False)
        questions.append(asked)
    cuts = sorted({*(round(float(x), 2) for x in rng.uniform(0.0, t, 4)), *rng.choice(starts, 4)})  # some at an answer
    span = Span(tuple(Window(a, b) for a, b in itertools.pairwise([0.0, *cuts, t])))  # sessions end to end
    return questions, union(customer), span


def test_questions_are_answered_as_the_scan_answered_them_in_one_pass_over_the_speech() -> None:
    for seed in range(3):
        questions, customer, span = case(seed)
        waits, stacked = by_scan(questions, customer, 3.0, span)
        assert len(waits) > 1000 and stacked > 10  # many questions, answered and stacked both
        speech = Passes(customer)
        assert _questions(questions, speech, 3.0, span, []) == (waits, stacked)
        assert speech.passes <= 2  # not one per question
