"""What is still being decided when a session is cut at ``session_max_s`` counts in that session's summary.

An interruption begun just before the cut is decided up to 1.0 s after it, its outcome later still, and a
backchannel once the holder goes on: the cut session's summary, made at the cut, counted none of them (they
were in the event stream and ``analyze``'s totals only). Its end and summary now wait until the rules hold
nothing begun in it (docs/metrics.md, Sessions).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from listener.analytics.context import Context
from listener.analytics.replay import HOP_S, activity, frame_blocks
from listener.analytics.sessions import settle_frames
from listener.analytics.stage import ConversationAnalytics
from listener.analytics.summary import all_sessions
from listener.events import (
    Backchannel,
    EndOfStream,
    Interruption,
    Party,
    Reported,
    SessionEnded,
    SessionStarted,
    SessionSummary,
)
from listener.outputs.led_status import Status
from tests.analytics_timelines import run, with_analytics

MAX_S = 600.0
CONFIG = with_analytics(session_max_s=MAX_S)
TALK = [("customer", 3 * k + 0.5, 3 * k + 2.5) for k in range(198)]  # from 0.5 s: the cut falls at 600.5 s
CUT_S = 600.5
END_S = 660.0
Timeline = list[tuple[str, float, float]]


def _sessions(segments: Timeline) -> list[SessionSummary]:
    c = run(segments, END_S, CONFIG)
    assert next(e.decided_s for e in c.events if isinstance(e, SessionEnded)) == CUT_S
    return c.sessions


def _totals_are_the_summaries(segments: Timeline) -> None:
    """Each counted event in exactly one summary: the recording's totals (by onset) are the summaries' sums."""
    config = with_analytics(session_max_s=MAX_S, session_min_speech_s=0.0)  # every session has its summary
    c = run(segments, END_S, config)
    whole = all_sessions(c.segments, c.events, END_S, config.analytics)
    for key in ("interruptions_by_rep", "interruptions_by_customer", "successful_interruptions_by_rep"):
        assert getattr(whole, key) == sum(getattr(s, key) for s in c.sessions), key
    for key in ("successful_interruptions_by_customer", "backchannels_by_rep", "backchannels_by_customer"):
        assert getattr(whole, key) == sum(getattr(s, key) for s in c.sessions), key
    assert whole.rep_talk_s == pytest.approx(sum(s.rep_talk_s for s in c.sessions))


@pytest.mark.parametrize(("rep_until_s", "successful"), [(603.0, False), (601.8, True)])
def test_an_interruption_begun_before_a_cut_and_decided_after_it_counts_in_the_cut_session(
    rep_until_s: float, successful: bool
) -> None:
    # the rep holds the floor from 594 s; the customer cuts in at 600.0 s, 0.5 s before the cut: decided at 601.0 s,
    # its outcome at 602.01 s (the rep silent by the 2.0 s mark, or talking past it)
    segments = [*TALK, ("rep", 594.0, rep_until_s), ("customer", 600.0, 620.0), ("rep", 621.0, 630.0)]
    cut, after = _sessions(segments)
    assert (cut.onset_s, cut.end_s, after.onset_s) == (0.5, CUT_S, CUT_S)
    assert (cut.interruptions_by_customer, cut.successful_interruptions_by_customer) == (1, int(successful))
    assert (after.interruptions_by_customer, after.successful_interruptions_by_customer) == (0, 0)
    assert cut.decided_s == 602.01  # waited for its outcome, known 2.0 s after its onset
    _totals_are_the_summaries(segments)


def test_an_interruption_straddling_a_cut_has_its_outcome_counted_in_the_cut_session() -> None:
    # the rep cuts in at 599.0 s over the customer: decided at 600.0 s, before the cut, with its outcome open
    # (the customer talks on to 600.9 s, past nothing yet); the rep takes the floor after the cut released it
    segments = [*TALK, ("customer", 594.0, 600.9), ("rep", 599.0, 615.0), ("customer", 616.0, 620.0)]
    cut, *_ = _sessions(segments)
    assert (cut.interruptions_by_rep, cut.successful_interruptions_by_rep) == (1, 1)
    _totals_are_the_summaries(segments)


def test_a_backchannel_just_before_a_cut_decided_after_it_counts_in_the_cut_session() -> None:
    # the customer's "mm" (600.1-600.35 s) under the rep's turn ends the session at 600.35 s (their last speech,
    # their stretch in the bridge at the cut); it is a backchannel once the rep, talking on, retakes the floor
    segments = [*TALK, ("rep", 594.5, 610.0), ("customer", 600.1, 600.35), ("customer", 611.0, 640.0)]
    cut, _ = _sessions(segments)
    assert (cut.end_s, cut.backchannels_by_customer, cut.decided_s) == (600.35, 1, 601.5)
    _totals_are_the_summaries(segments)


def test_the_reps_speech_at_a_cut_counts_to_the_end_in_the_cut_session() -> None:
    # the customer speaks through the cut; the rep pauses 0.15 s across it (bridged: one stretch, 598.0-605.0 s),
    # and later starts 0.05 s before the next cut (known as speech only after it): each stretch's part before
    # the cut counts in the session cut, the rest in the next, and the talk adds up to the rep's speech
    customer = [("customer", 0.5, 1300.0)]
    rep = [("rep", 598.0, 600.4), ("rep", 600.55, 605.0), ("rep", 1200.45, 1210.0)]
    c = run([*customer, *rep], 1300.0, CONFIG)
    assert [(s.onset_s, s.end_s) for s in c.sessions] == [(0.5, 600.5), (600.5, 1200.5), (1200.5, 1300.0)]
    assert [round(s.rep_talk_s, 6) for s in c.sessions] == [2.5, 4.55, 9.5]


def test_the_cut_sessions_end_and_summary_come_together_after_its_events_and_before_the_next_start() -> None:
    """What a live consumer sees (MQTT stores a session_end with its summary): the session's end and summary
    together, after every event begun in it, then the next session's start and what was decided meanwhile."""
    segments = [*TALK, ("rep", 594.0, 601.8), ("customer", 600.0, 620.0), ("rep", 621.0, 630.0)]
    stage = ConversationAnalytics(CONFIG)
    out = [e for block in frame_blocks(activity(segments, END_S)) for e in stage.process(block)]
    events = [e for e in [*out, *stage.process(EndOfStream(END_S))] if isinstance(e, Reported)]
    (ended,) = [i for i, e in enumerate(events) if isinstance(e, SessionEnded) and e.decided_s == CUT_S]
    assert isinstance(events[ended + 1], SessionSummary) and isinstance(events[ended + 2], SessionStarted)
    cut_in = [e for e in events[:ended] if isinstance(e, Interruption) and e.by is Party.CUSTOMER]
    assert [(e.onset_s, e.decided_s, e.successful) for e in cut_in] == [(600.0, 601.0, None), (600.0, 602.01, True)]
    assert not any(isinstance(e, Interruption | Backchannel) and e.onset_s < CUT_S for e in events[ended + 1 :])


@pytest.mark.parametrize("yield_s", [2.0, 10.0])  # interruption_yield_s: its default, the top of its range
def test_an_interruption_begun_in_the_cut_session_reaches_the_leds_as_it_is_decided(yield_s: float) -> None:
    """Only what follows the cut session waits for its end; an event begun in it is out as it is decided (it comes
    before the end anyway). The customer talks through the cut at 600.5 s; the rep cuts in at 600.2 s and talks on:
    decided at 601.2 s, the outcome (unsuccessful) known 2 s after its onset, or 10 s. Held with the session's
    end until then, the LEDs' pulse (until 605.2 s) began 1.0 s late, or never."""
    config = with_analytics(session_max_s=MAX_S, interruption_yield_s=yield_s)
    segments = [("customer", 0.5, 640.0), ("rep", 600.2, 615.0)]
    stage, status = ConversationAnalytics(config), Status.from_config(config)
    shown: list[float] = []
    for block in frame_blocks(activity(segments, END_S), bounds=range(10, round(END_S / HOP_S), 10)):  # 0.1 s
        for event in stage.process(block):
            status.update(event)
        if status.interrupting(block.end_s):
            shown.append(round(block.end_s, 6))
    assert shown[:1] == [601.2] and shown[-1] == 605.1  # from the block it is decided in, for 4 s
    (cut, *_) = run(segments, END_S, config).sessions
    assert (cut.end_s, cut.interruptions_by_rep, cut.successful_interruptions_by_rep) == (CUT_S, 1, 0)


def test_what_is_still_open_when_the_wait_is_over_is_settled_as_at_the_end_of_a_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wait is bounded (settle_frames, 3.2 s by default, which the rules' own limits keep every decision
    within); shortened here to 0.3 s, what is open then is settled as at the end of a stream, in the events as in
    the summaries: an outcome still open is unsuccessful, an interruption not yet decided none."""
    monkeypatch.setattr("listener.analytics.sessions.settle_frames", lambda ctx: 30)
    # the rep cuts in at 599.0 s (decided at 600.0 s, its outcome open at the cut, a success at 601.5 s unshortened)
    straddling = [*TALK, ("customer", 594.0, 600.9), ("rep", 599.0, 615.0), ("customer", 616.0, 640.0)]
    # the customer cuts in at 600.0 s, over the rep's floor (decided at 601.0 s unshortened)
    late = [*TALK, ("rep", 594.0, 603.0), ("customer", 600.0, 620.0), ("rep", 621.0, 630.0)]
    for segments, party, counted in ((straddling, Party.REP, (1, 0)), (late, Party.CUSTOMER, (0, 0))):
        c = run(segments, END_S, CONFIG)
        assert c.sessions[0].decided_s == CUT_S + 0.3
        cut_in = [(e.onset_s, e.successful) for e in c.events if isinstance(e, Interruption) and e.by is party]
        assert cut_in == ([(599.0, False)] if party is Party.REP else [])
        figures = {
            k: v for k, v in dataclasses.asdict(c.sessions[0]).items() if k.endswith(f"interruptions_by_{party}")
        }
        assert tuple(figures.values()) == counted
        _totals_are_the_summaries(segments)


def test_the_wait_docs_metrics_md_names_is_the_one_the_analytics_keep() -> None:
    limit_s = settle_frames(Context(CONFIG.analytics, CONFIG.activity, HOP_S)) * HOP_S
    assert f"at most {limit_s:g} s (the longest of" in (Path(__file__).parents[1] / "docs" / "metrics.md").read_text()
