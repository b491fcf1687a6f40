"""Response gaps and switches per minute across time the device did not hear (the privacy pause, a fault): what
went on then is unknown, so no gap is measured across it and it is no minute of conversation (docs/metrics.md)."""

from __future__ import annotations

import pytest

from listener.analytics.summary import Window, summarize
from listener.events import AudioDropped, DropReason, Party, Question, ResponseGap, SessionSummary, SpeechSegment
from tests.analytics_timelines import CONFIG, raw_events

Segments = list[tuple[str, float, float]]

# the customer's 10 s, then the rep's 12.5 s answer 15.5 s later; the customer closes the visit
VISIT: Segments = [("customer", 0.0, 10.0), ("rep", 25.5, 38.0), ("customer", 38.5, 44.0)]


def replay(segments: Segments, seconds: float, unheard: tuple[float, float] | None, reason: DropReason) -> list[object]:
    """The analytics on ``segments``, ``unheard`` not heard: its frames come as silence, in a block of their own,
    announced after them, as the source delivers a drop."""
    drops = [] if unheard is None else [AudioDropped(unheard[0], unheard[1] - unheard[0], reason)]
    bounds = [] if unheard is None else [round(unheard[0] * 100), round(unheard[1] * 100)]
    return raw_events(segments, seconds, bounds=bounds, drops=drops)


def gaps(out: list[object]) -> list[float]:
    return [round(e.gap_s, 6) for e in out if isinstance(e, ResponseGap)]


def summary(out: list[object]) -> SessionSummary:
    (s,) = [e for e in out if isinstance(e, SessionSummary)]
    return s


@pytest.mark.parametrize("reason", ["paused", "device_lost", "overflow"])
def test_no_response_gap_is_measured_across_time_the_device_did_not_hear(reason: DropReason) -> None:
    """The device hears nothing from 10.5 s to 25 s: whether the customer spoke on, or the rep answered at once,
    is unknown, so the rep's answer at 25.5 s is no 15.5 s "patient" gap (it was one, and the summary's p90)."""
    assert gaps(replay(VISIT, 80.0, None, reason)) == [15.5]
    out = replay(VISIT, 80.0, (10.5, 25.0), reason)
    assert gaps(out) == []
    s = summary(out)
    assert (s.response_gaps, s.patient_gaps, s.response_gap_p90_s, s.patient_gap_fraction) == (0, 0, None, None)


def test_a_gap_heard_whole_beside_an_outage_is_still_measured() -> None:
    """Unheard time before the customer's last words, or after the rep's onset, leaves the gap between heard."""
    segments: Segments = [("customer", 0.0, 10.0), ("customer", 20.0, 22.0), ("rep", 22.8, 40.0)]
    assert gaps(replay(segments, 80.0, (10.5, 19.5), "device_lost")) == [0.8]
    assert gaps(replay(segments, 80.0, (23.0, 30.0), "device_lost")) == [0.8]


def test_switches_per_minute_count_the_minutes_heard() -> None:
    """Two floor changes in a 44 s session, 14.5 s of it unheard: 2 per 29.5 s heard (4.07 a minute), not per
    44 s (2.73): the minutes nobody heard held no switch the device could count."""
    heard = summary(replay(VISIT, 80.0, None, "paused"))
    assert heard.floor_changes == 2 and heard.switches_per_min == pytest.approx(2 * 60.0 / 44.0)
    s = summary(replay(VISIT, 80.0, (10.5, 25.0), "paused"))
    assert (s.duration_s, s.floor_changes) == (44.0, 2) and s.unheard_s == pytest.approx(14.5)
    assert s.switches_per_min == pytest.approx(2 * 60.0 / (44.0 - 14.5))


def question(onset_s: float, end_s: float) -> Question:
    return Question(by=Party.REP, onset_s=onset_s, end_s=end_s, decided_s=end_s + 0.5, open_ended=True, followup=False)


def asked(questions: list[Question], unheard: list[tuple[float, float]]) -> SessionSummary:
    """A 40 s session: the customer's 4 s, the rep's questions, the customer answering from 22 s."""
    speech = [SpeechSegment(Party.CUSTOMER, 0.0, 4.0, 4.2), SpeechSegment(Party.CUSTOMER, 22.0, 30.0, 30.2)]
    speech += [SpeechSegment(Party.REP, q.onset_s, q.end_s, q.end_s + 0.2) for q in questions]
    return summarize("s", Window(0.0, 40.0), 70.0, speech, questions, CONFIG.analytics, unheard)


def test_no_question_wait_is_measured_across_time_the_device_did_not_hear() -> None:
    """The rep asks at 5-7 s, the device hears nothing 8-20 s, the customer speaks at 22 s: they may have answered
    unheard, so that is no 15 s wait (it was the session's median)."""
    assert asked([question(5.0, 7.0)], []).question_wait_median_s == pytest.approx(15.0)
    assert asked([question(5.0, 7.0)], [(8.0, 20.0)]).question_wait_median_s is None
    # unheard before the question, or after the answer began, leaves the wait between heard
    assert asked([question(5.0, 7.0)], [(4.5, 4.8), (25.0, 26.0)]).question_wait_median_s == pytest.approx(15.0)


def test_questions_with_unheard_time_between_are_not_known_stacked() -> None:
    """Two questions 2.5 s apart with the device deaf for 1.5 s between: the customer may have answered."""
    two = [question(5.0, 7.0), question(9.5, 11.0)]
    assert asked(two, []).stacked_questions == 1
    assert asked(two, [(7.5, 9.0)]).stacked_questions == 0
    assert asked(two, [(3.0, 4.5), (12.0, 14.0)]).stacked_questions == 1
