"""A session cut at ``session_max_s``: customer-side sound that never pauses for the session gap (a radio).

Without the cut such a session never ended: no summary ever reached the dashboards, and its log (every
segment and event, for the summary) grew by about 1 MiB an hour until the Pi ran out of memory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from listener.analytics.stage import ConversationAnalytics
from listener.events import (
    ActivityFrames,
    EndOfStream,
    Event,
    Interruption,
    Reported,
    SessionEnded,
    SessionStarted,
    SessionSummary,
)
from tests.analytics_timelines import run, with_analytics
from tests.cli_run import listener_cli, one_line

HOP_S, BLOCK = 0.01, 100  # blocks of 1 s, as analyze hands them over
MAX_S, SECONDS = 600.0, 2100  # three whole sessions of 10 min and a last one of 5 min
CYCLE, CUSTOMER_UNTIL, REP = 300, 260, (400, 550)  # frames: the customer talks 2.6 s of every 3, the rep 1.5 s of 7


def active(first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    f = np.arange(first, first + n)
    customer = (f >= 50) & (f % CYCLE < CUSTOMER_UNTIL)  # from 0.5 s on; in a stretch at every cut
    rep = (f % 700 >= REP[0]) & (f % 700 < REP[1])  # over the customer's speech at times: interruptions
    return rep, customer


def frames(first: int) -> ActivityFrames:
    rep, customer = active(first, BLOCK)
    return ActivityFrames(
        start_s=first * HOP_S,
        hop_s=HOP_S,
        rep_active=rep,
        customer_active=customer,
        rep_prob=rep.astype(np.float32),
        customer_prob=customer.astype(np.float32),
        doa_deg=np.full(BLOCK, np.nan, dtype=np.float32),
    )


def test_a_customer_side_that_never_falls_silent_is_cut_into_sessions_of_session_max_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stage = ConversationAnalytics(with_analytics(session_max_s=MAX_S))
    out: list[Event] = []
    held = []  # what the open session keeps for its summary, after each second
    with caplog.at_level(logging.WARNING, logger="listener.analytics.stage"):
        for second in range(SECONDS):
            out += stage.process(frames(second * BLOCK))
            assert stage.conversation is not None
            log = stage.conversation.sessions.current
            held.append(0 if log is None else len(log.segments) + len(log.events))
        out += stage.process(EndOfStream(float(SECONDS)))
    starts = [e for e in out if isinstance(e, SessionStarted)]
    ends = [e for e in out if isinstance(e, SessionEnded)]
    summaries = [e for e in out if isinstance(e, SessionSummary)]
    assert [(e.onset_s, e.end_s) for e in ends] == [(0.5, 600.5), (600.5, 1200.5), (1200.5, 1800.5), (1800.5, 2099.6)]
    # each ends (and its summary comes) at the frame of its cut, and the next begins there: no time in none
    assert [e.decided_s for e in ends[:3]] == [600.5, 1200.5, 1800.5]
    assert [s.onset_s for s in starts] == [0.5, 600.5, 1200.5, 1800.5]
    assert [(s.session_id, s.onset_s, s.end_s) for s in summaries] == [(e.session_id, e.onset_s, e.end_s) for e in ends]
    # a stretch going on at a cut counts in both sessions, its part in each: the talk adds up to the whole
    rep, customer = active(0, SECONDS * BLOCK)
    assert sum(s.customer_talk_s for s in summaries) == pytest.approx(customer.sum() * HOP_S)
    assert sum(s.rep_talk_s for s in summaries) == pytest.approx(rep[50:].sum() * HOP_S)  # the rep's before: none
    assert max(held) <= 1.05 * max(held[:600])  # the log is one session's at most, however long the sound goes on
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    for ended, message in zip(ends, warnings, strict=False):
        assert message.startswith(f"session {ended.session_id} reached [analytics] session_max_s (10 min)")
        assert "session_gap_s (30 s)" in message and "radio" in message


def test_a_session_silent_at_its_cut_ends_at_its_last_speech_and_the_customer_back_begins_the_next() -> None:
    # the customer stops 5 s before the cut and is back 10 s after it: the rep's words in between, up to the
    # cut, are the session's; what follows the cut, until the customer is back, is in no session, as after
    # any session's end
    config = with_analytics(session_max_s=MAX_S)
    segments = [("customer", 1.0, 596.0), ("rep", 598.0, 603.0), ("customer", 611.0, 640.0)]
    c = run(segments, 700.0, config)
    ends = [e for e in c.events if isinstance(e, SessionEnded)]
    starts = [e for e in c.events if isinstance(e, SessionStarted)]
    assert [(e.onset_s, e.end_s, e.decided_s) for e in ends] == [(1.0, 601.0, 601.0), (611.0, 640.0, 670.0)]
    assert [s.onset_s for s in starts] == [1.0, 611.0]
    assert c.sessions[0].rep_talk_s == pytest.approx(3.0)


@pytest.mark.parametrize("stop_s", [600.9, 601.0])
def test_a_cut_in_the_customers_pause_begins_no_session_without_them(stop_s: float) -> None:
    # the customer stops 0.1 s before the cut, inside the bridge (their stretch still open), or exactly at it
    # (active in the frame before it, whether they go on not yet known), and never goes on: a session begun
    # at the cut would hold only the rep's 23.5 s, published with no customer at all
    segments = [("customer", 1.0, stop_s), ("rep", 601.5, 625.0)]
    c = run(segments, 700.0, with_analytics(session_max_s=MAX_S))
    assert [(e.onset_s, e.end_s, e.decided_s) for e in c.events if isinstance(e, SessionEnded)] == [
        (1.0, stop_s, 601.0)
    ]
    assert [s.onset_s for s in c.events if isinstance(s, SessionStarted)] == [1.0]
    assert [(s.onset_s, round(s.customer_talk_s, 6)) for s in c.sessions] == [(1.0, round(stop_s - 1.0, 6))]


def test_a_customer_going_on_within_the_bridge_after_a_cut_in_their_pause_begins_the_next_session_there() -> None:
    # one stretch to the timeline (a pause of 0.15 s is bridged): the part after their last speech before the
    # cut is the next session's, the pause with it, so the two count the whole stretch
    segments = [("customer", 1.0, 600.9), ("customer", 601.05, 640.0)]
    c = run(segments, 700.0, with_analytics(session_max_s=MAX_S))
    ends = [e for e in c.events if isinstance(e, SessionEnded)]
    assert [(e.onset_s, e.end_s) for e in ends] == [(1.0, 600.9), (600.9, 640.0)]
    assert [(s.onset_s, round(s.customer_talk_s, 6)) for s in c.sessions] == [(1.0, 599.9), (600.9, 39.1)]


def test_a_customers_bridged_pause_at_a_cut_the_rep_speaks_across_counts_in_the_next_session() -> None:
    # the customer pauses 0.17 s (bridged: one stretch, 1.0 to 640.0) over the cut at 601.0 while the rep
    # speaks across it: the rep's speech kept the cut session to the cut, the next began there, and the
    # customer's 0.15 s before it, not yet known as speech at the cut, counted in neither summary
    segments = [("customer", 1.0, 600.85), ("rep", 598.0, 605.0), ("customer", 601.02, 640.0)]
    c = run(segments, 700.0, with_analytics(session_max_s=MAX_S))
    windows = [(e.onset_s, e.end_s) for e in c.events if isinstance(e, SessionEnded)]
    assert windows == [(1.0, 600.85), (600.85, 640.0)]  # they tile: the rep's speech counts in one or the other
    customer = [(max(a, 1.0), min(b, 640.0)) for a, b in windows]  # the customer's stretch, inside each window
    assert [round(s.customer_talk_s, 6) for s in c.sessions] == [round(b - a, 6) for a, b in customer]
    assert sum(s.customer_talk_s for s in c.sessions) == pytest.approx(639.0)
    assert sum(s.rep_talk_s for s in c.sessions) == pytest.approx(7.0)


def test_a_rep_in_a_pause_at_a_cut_the_customer_speaks_through_counts_to_their_last_word() -> None:
    """The customer speaks through the cut at 601.0 s; the rep's stretch of 598.0-600.9 s is still open there
    (0.1 s into the bridge) and never goes on: the cut session counts it to 600.9 s, 2.9 s, not to the cut."""
    segments = [("customer", 1.0, 640.0), ("rep", 598.0, 600.9)]
    c = run(segments, 700.0, with_analytics(session_max_s=MAX_S))
    assert [(e.onset_s, e.end_s) for e in c.events if isinstance(e, SessionEnded)] == [(1.0, 601.0), (601.0, 640.0)]
    assert [(round(s.rep_talk_s, 6), round(s.customer_talk_s, 6)) for s in c.sessions] == [(2.9, 600.0), (0, 39.0)]


def test_sessions_never_overlap_at_a_cut() -> None:
    # the customer's sound begun 0.05 s before the cut is speech only after it; the rep's speech across the cut
    # would keep the cut session to the cut, the customer's 0.05 s in it but not in its summary: it ends at
    # their onset instead, where the next begins, not inside the one cut
    segments = [("customer", 1.0, 590.0), ("rep", 595.0, 605.0), ("customer", 600.95, 640.0)]
    c = run(segments, 700.0, with_analytics(session_max_s=MAX_S))
    ends = [e for e in c.events if isinstance(e, SessionEnded)]
    assert [(e.onset_s, e.end_s) for e in ends] == [(1.0, 600.95), (600.95, 640.0)]
    assert [s.onset_s for s in c.events if isinstance(s, SessionStarted)] == [1.0, 600.95]
    assert [round(s.customer_talk_s, 6) for s in c.sessions] == [589.0, 39.05]
    # the rolling share counts the session's talk from the same start as its summary
    after = [r for r in c.rolling if 605.0 <= r.t_s < 610.0]
    assert after and all(r.session_rep_talk_s == pytest.approx(c.sessions[1].rep_talk_s) for r in after)
    assert [s.rep_talk_s for s in c.sessions] == pytest.approx([5.95, 4.05])


@pytest.mark.parametrize(("rep_until_s", "successful"), [(603.0, False), (601.8, True)])
def test_an_interruption_across_a_cut_succeeds_only_if_the_holder_falls_silent_in_time(
    rep_until_s: float, successful: bool
) -> None:
    # the rep holds the floor from 594 s; the customer cuts in at 600.0 s, 0.5 s before the cut, whose release
    # of the floor lets them take it at 601.5 s whether or not the rep is still talking: success asks the rep
    # to fall silent by 602.0 s (interruption_yield_s), so talking on to 603 s is a failed interruption
    talk = [("customer", 3 * k + 0.5, 3 * k + 2.5) for k in range(198)]
    segments = [*talk, ("rep", 594.0, rep_until_s), ("customer", 600.0, 620.0), ("rep", 621.0, 630.0)]
    config = with_analytics(session_max_s=MAX_S)
    whole = run(segments, 660.0, config)
    streamed = run(segments, 660.0, config, bounds=list(range(5, 66000, 37)))
    cut_in = [e for e in whole.events if isinstance(e, Interruption) and e.onset_s > 590.0]
    assert [(e.by.value, e.onset_s, e.successful) for e in cut_in] == [("customer", 600.0, successful)]
    without_ids = [
        [{k: v for k, v in e.record().items() if k != "session_id"} for e in c.events] for c in (whole, streamed)
    ]
    assert without_ids[0] == without_ids[1]


def test_sessions_that_end_by_the_gap_before_session_max_s_are_what_they_were() -> None:
    # the last ends by the gap (decided at 601 s) on the frame its cut would fall on: an ordinary end
    segments = [("customer", 1.0, 200.0), ("rep", 200.5, 220.0), ("customer", 221.0, 571.0), ("rep", 571.5, 580.0)]
    cut = run(segments, 700.0, with_analytics(session_max_s=MAX_S))
    uncut = run(segments, 700.0, with_analytics(session_max_s=86400.0))

    def records(events: list[Reported]) -> list[dict[str, object]]:
        return [{k: v for k, v in e.record().items() if k != "session_id"} for e in events]

    assert records(cut.events) == records(uncut.events)
    assert [(e.end_s, e.decided_s) for e in cut.events if isinstance(e, SessionEnded)] == [(580.0, 601.0)]


def test_check_config_refuses_a_session_max_s_out_of_its_range(tmp_path: Path) -> None:
    cfg = tmp_path / "listener.toml"
    cfg.write_text("[analytics]\nsession_max_s = 60\n")  # a minute: consultations would be cut in pieces
    one_line(listener_cli("check-config", str(cfg)), "analytics.session_max_s = 60.0", "between 600.0 and 86400.0")


def test_the_holders_mm_just_past_the_limit_of_a_cut_in_across_a_cut_leaves_it_successful() -> None:
    """As above, the rep falling silent at 601.8 s, before the 602.0 s limit of the customer's cut-in at 600.0 s;
    then the rep says "mm" from 602.01 s, in the floor the customer took at 601.5 s after the cut released it.
    Only the rep's speech by the limit says whether it fell silent by then: the interruption succeeded."""
    talk = [("customer", 3 * k + 0.5, 3 * k + 2.5) for k in range(198)]
    rep = [("rep", 594.0, 601.8), ("rep", 602.01, 602.3), ("rep", 621.0, 630.0)]
    c = run([*talk, *rep, ("customer", 600.0, 620.0)], 660.0, with_analytics(session_max_s=MAX_S))
    cut_in = [e for e in c.events if isinstance(e, Interruption) and e.onset_s > 590.0]
    assert [(e.by.value, e.onset_s, e.successful) for e in cut_in] == [("customer", 600.0, True)]
