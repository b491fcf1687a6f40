"""Cue metrics: counts, speaking rate over the talk time actually heard, partial marking, sessions."""

from __future__ import annotations

import math
import typing

import pytest

from listener.analytics.report import AudioInfo, ReportCollector
from listener.events import (
    Acknowledgement,
    Echo,
    EndOfStream,
    Event,
    Filler,
    Party,
    Question,
    SessionEnded,
    SessionStarted,
    SpeechSegment,
    SpeechStarted,
    TranscriptionSkipped,
    WordsRecognized,
)
from listener.transcription.summary import RATE_MIN_TALK_S, CueFigures, CueTally

REP, CUST = Party.REP, Party.CUSTOMER


def tally(events: list[Event]) -> CueTally:
    t = CueTally()
    for e in events:
        assert list(t.process(e)) == []
    return t


def seg(party: Party, start_s: float, end_s: float) -> SpeechSegment:
    return SpeechSegment(party=party, start_s=start_s, end_s=end_s, decided_s=end_s + 0.2)


def words(party: Party, start_s: float, end_s: float, n: int) -> WordsRecognized:
    return WordsRecognized(party=party, start_s=start_s, end_s=end_s, decided_s=end_s + 1.0, n_words=n)


def q(t_s: float, open_ended: bool, followup: bool = False) -> Question:
    return Question(by=REP, onset_s=t_s, end_s=t_s + 1, decided_s=t_s + 2, open_ended=open_ended, followup=followup)


CONVERSATION: list[Event] = [
    seg(REP, 0.0, 30.0),
    words(REP, 0.0, 30.0, 70),
    seg(CUST, 31.0, 50.0),
    words(CUST, 31.0, 50.0, 45),
    seg(REP, 51.0, 81.0),
    words(REP, 51.0, 81.0, 80),
    q(10.0, True, followup=False),
    q(55.0, True, followup=True),
    q(60.0, False),
    Echo(by=REP, onset_s=52.0, decided_s=54.0, summary=False),
    Echo(by=REP, onset_s=70.0, decided_s=72.0, summary=True),
    Acknowledgement(by=REP, onset_s=51.0, decided_s=53.0),
    Filler(by=REP, onset_s=5.0, decided_s=6.0),
    Filler(by=REP, onset_s=65.0, decided_s=66.0),
    EndOfStream(t_s=90.0),
]


def test_counts_and_rates() -> None:
    m = tally(CONVERSATION).metrics()
    assert m.rep_words == 150 and m.customer_words == 45
    assert m.rep_wpm == pytest.approx(150.0)  # 150 words in 60 s of rep talk
    assert (m.rep_questions, m.rep_open_questions, m.rep_closed_questions) == (3, 2, 1)
    assert m.rep_followups == 1
    assert (m.rep_echoes, m.rep_summaries) == (2, 1)
    assert m.rep_acknowledgements == 1 and m.rep_action_plans == 0
    assert m.rep_fillers == 2 and m.rep_fillers_per_min == pytest.approx(2.0)
    assert m.asr_skipped_s == 0 and m.asr_partial is False


def test_skipped_audio_leaves_the_rate_unbiased_and_marks_partial() -> None:
    # 20 s of the second rep turn were never recognised: its words cover the 10 s heard
    events = [e for e in CONVERSATION if not (isinstance(e, WordsRecognized) and e.start_s == 51.0)]
    events += [words(REP, 71.0, 81.0, 25), TranscriptionSkipped(start_s=51.0, duration_s=20.0)]
    m = tally(events).metrics()
    assert m.rep_words == 95
    assert m.rep_wpm == pytest.approx(95 / (40 / 60), abs=0.1)
    assert m.asr_skipped_s == pytest.approx(20.0) and m.asr_partial is True


def test_window_and_sessions() -> None:
    events = [
        SessionStarted(session_id="a1", onset_s=0.0, decided_s=1.0),
        SessionEnded(session_id="a1", onset_s=0.0, decided_s=45.0, end_s=50.5),
        SessionStarted(session_id="b2", onset_s=50.5, decided_s=52.0),
        *CONVERSATION,
        words(CUST, 50.3, 51.5, 4),  # an utterance counts where its middle is: the recogniser starts words early
    ]
    t = tally(events)
    first, second = t.session_metrics()
    assert first.session_id == "a1" and (first.start_s, first.end_s) == (0.0, 50.5)
    assert first.figures.rep_words == 70 and first.figures.rep_questions == 1
    assert first.figures.rep_wpm == pytest.approx(140.0)
    assert second.session_id == "b2" and second.end_s == 90.0  # still open at the end of the stream
    assert second.figures.rep_words == 80 and second.figures.rep_questions == 2 and second.figures.rep_followups == 1
    assert second.figures.customer_words == 4 and first.figures.customer_words == 45
    assert t.metrics(50.5, math.inf).rep_echoes == 2
    # in the report, each session's figures follow its id and span
    metrics = ReportCollector().report(AudioInfo(90.0, 4, 16000), cues=t)["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["cue_sessions"] == [
        {"session_id": c.session_id, "start": c.start_s, "end": c.end_s} | c.figures.record() for c in (first, second)
    ]


def test_a_session_summarised_while_the_rep_talks_on_counts_the_reps_open_stretch() -> None:
    """The summary comes while the rep still talks to a customer gone quiet: its rep_talk_s holds that stretch
    up to the session's end, and so must the rates (a reviewer's session read 159.8 wpm for 139.5)."""
    t = tally([seg(CUST, 0.0, 20.0), SpeechStarted(REP, 21.0), words(REP, 21.0, 40.0, 58)])
    m = t.metrics(0.0, 50.0)
    assert m.rep_words == 58 and m.rep_wpm == pytest.approx(58 / (29.0 / 60.0), abs=0.1)
    assert t.metrics(0.0, 15.0).rep_wpm is None  # begun after that window: none of it is in it
    tally_more = [*t.process(seg(REP, 21.0, 80.0))]
    assert tally_more == [] and t.metrics(0.0, 50.0).rep_wpm == m.rep_wpm  # closed: the same stretch, once


def test_nothing_heard_gives_no_speaking_rate_and_no_fillers() -> None:
    m = tally([EndOfStream(t_s=10.0)]).metrics()
    assert m.rep_wpm is None and m.rep_fillers_per_min is None and m.rep_words == 0


@pytest.mark.parametrize(("rep_s", "wpm"), [(0.4, None), (RATE_MIN_TALK_S - 0.1, None), (RATE_MIN_TALK_S, 12.0)])
def test_a_speaking_rate_needs_enough_rep_talk(rep_s: float, wpm: float | None) -> None:
    # "yes" in 0.4 s would read 150 wpm: a rate over a few words is noise
    events: list[Event] = [seg(REP, 5.0, 5.0 + rep_s), words(REP, 5.0, 5.0 + rep_s, 1 if wpm is None else 2)]
    m = tally([*events, seg(CUST, 20.0, 60.0), words(CUST, 20.0, 60.0, 100), EndOfStream(t_s=60.0)]).metrics()
    assert m.rep_wpm == wpm and m.rep_words == (1 if wpm is None else 2)
    assert (m.rep_fillers_per_min is None) is (wpm is None)  # "um" in 0.4 s is no 150 fillers a minute


def test_forgetting_the_past_keeps_what_reaches_past_the_cut_and_its_figures() -> None:
    # A live device tallies session after session: what lies wholly before the cut goes, the rest stays whole.
    events: list[Event] = [
        *CONVERSATION[:-1],
        TranscriptionSkipped(start_s=20.0, duration_s=5.0),
        TranscriptionSkipped(start_s=49.0, duration_s=3.0),
        SessionStarted(session_id="a1", onset_s=0.0, decided_s=1.0),
        SessionEnded(session_id="a1", onset_s=0.0, decided_s=45.0, end_s=40.0),
        SessionStarted(session_id="b2", onset_s=51.0, decided_s=52.0),
        Filler(by=REP, onset_s=50.0, decided_s=50.5),  # at the cut: not before it, and counted from it
    ]
    t = tally(events)
    before = t.metrics(50.0)
    t.forget_before(50.0)
    assert [(w.start_s, w.end_s) for w in t.words] == [(31.0, 50.0), (51.0, 81.0)]
    assert sorted(c.onset_s for c in t.cues) == [50.0, 51.0, 52.0, 55.0, 60.0, 65.0, 70.0]
    assert t.skipped == [(49.0, 52.0)]
    assert [(s.start_s, s.end_s) for s in t.segments] == [(31.0, 50.0), (51.0, 81.0)]
    assert list(t.sessions) == ["b2"]
    assert t.metrics(50.0) == before  # nothing the figures after the cut need was dropped


@pytest.mark.parametrize("events", [[], CONVERSATION], ids=["nothing heard", "a conversation"])
def test_every_seconds_or_rate_figure_is_a_json_float_even_when_zero(events: list[Event]) -> None:
    """A figure that is 0 (an int) in one summary and 0.5 in the next makes a typed store (InfluxDB fed by
    hand, a strict consumer) refuse the field: asr_skipped_s was `0` when nothing was skipped."""
    hints = typing.get_type_hints(CueFigures)
    for name, value in tally(events).metrics().record().items():
        if hints[name] in (float, float | None):
            assert value is None or type(value) is float, (name, value)


def test_the_figures_are_rounded_as_metrics_md_says() -> None:
    """Durations to the millisecond, rep_wpm to 0.1 and rep_fillers_per_min to 0.01."""
    fillers = [Filler(by=REP, onset_s=t_s, decided_s=t_s + 0.5) for t_s in (2.0, 5.0, 9.0)]
    skip = TranscriptionSkipped(start_s=20.0, duration_s=1.23456)  # after the rep's talk: its 13 s all heard
    m = tally([seg(REP, 0.0, 13.0), words(REP, 0.0, 13.0, 40), *fillers, skip, EndOfStream(t_s=30.0)]).metrics()
    assert m.rep_wpm == 184.6  # 40 words in 13 s: 184.615...
    assert m.rep_fillers_per_min == 13.85  # 3 in 13 s: 13.846...
    assert m.asr_skipped_s == 1.235
