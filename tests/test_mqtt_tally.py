"""The figures behind the ``metrics`` and ``event`` payloads, party by party and second by second.

A dashboard cannot tell a swapped party or a window's talk from a session's by looking: these pin
what each figure is made of.
"""

from __future__ import annotations

from listener.analytics.summary import Window, summarize
from listener.config import parse_config
from listener.events import (
    Backchannel,
    Interruption,
    Party,
    RollingShare,
    SessionEnded,
    SessionStarted,
    SpeechSegment,
)
from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.tally import Tally

SID = "00000000000000ab"


def _tally() -> Tally:
    tally = Tally()
    tally.start(SessionStarted(session_id=SID, onset_s=1.0, decided_s=1.5))
    return tally


def test_backchannels_are_counted_for_the_party_that_made_them() -> None:
    tally = _tally()
    tally.backchannel(Backchannel(by=Party.REP, onset_s=5.0, decided_s=6.5, duration_s=0.4))
    tally.backchannel(Backchannel(by=Party.REP, onset_s=9.0, decided_s=10.5, duration_s=0.3))
    tally.backchannel(Backchannel(by=Party.CUSTOMER, onset_s=20.0, decided_s=21.5, duration_s=0.5))
    assert tally.session is not None
    assert (tally.session.backchannels_by_rep, tally.session.backchannels_by_customer) == (2, 1)


def test_live_talk_times_are_the_sessions_and_the_share_is_the_windows() -> None:
    # 200 s into a session: the rolling window (120 s) holds less talk than the session so far
    tally = _tally()
    tally.rolling(RollingShare(200.0, 120.0, 60.0, 30.0, 60.0 / 90.0, 100.0, 50.0))
    assert tally.session is not None
    assert (tally.session.rep_talk_s, tally.session.customer_talk_s) == (100.0, 50.0)
    assert tally.rolling_share == 60.0 / 90.0


def test_a_session_end_event_carries_the_sessions_length_not_its_end_time() -> None:
    ended = SessionEnded(session_id=SID, onset_s=1.0, decided_s=40.0, end_s=38.0)
    payload = payloads.event(ended, ts_ms=0, onset_ms=1000, session_id=SID)
    assert payload is not None
    assert (payload["type"], payload["duration_s"], payload["onset_ms"]) == ("session_end", 37.0, 1000)


def test_a_window_with_no_talk_has_no_share_not_a_share_of_zero() -> None:
    # 0.0 would read on a dashboard as "the customer did all the talking"
    tally = _tally()
    tally.rolling(RollingShare(10.0, 120.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    assert tally.rolling_share is None
    # any talk has a share, under a second of it and all the customer's: there 0.0 is what was said
    tally.rolling(RollingShare(11.0, 120.0, 0.0, 0.5, 0.0, 0.0, 0.5))
    assert tally.rolling_share == 0.0
    assert tally.session is not None
    sent = payloads.metrics(tally.session, 10.0, tally.rolling_share, False, 0, 0, 0.0)
    assert (sent["rep_share_rolling"], sent["rep_share"]) == (0.0, 0.0)


def test_a_backchannel_begun_before_a_cut_is_its_own_sessions_not_the_next() -> None:
    # a session cut at 600.5 s, the next begun there: an "mm" from 600.2 s decided after it
    tally = Tally()
    tally.start(SessionStarted(session_id=SID, onset_s=0.5, decided_s=0.6))
    tally.end(SessionEnded(session_id=SID, onset_s=0.5, decided_s=600.5, end_s=600.5))
    tally.start(SessionStarted(session_id="00000000000000cd", onset_s=600.5, decided_s=600.51))
    assert tally.backchannel(Backchannel(by=Party.REP, onset_s=600.2, decided_s=601.5, duration_s=0.3)) == SID
    assert tally.session is not None and tally.session.backchannels_by_rep == 0


def test_a_session_starts_with_every_count_and_talk_time_at_zero() -> None:
    """The metrics sent at a session's start: each count "starts again at 0 (sent at the session's start)"
    (discovery), which Home Assistant's total_increasing reads as a new cycle; no talk yet is no share."""
    tally = _tally()
    assert tally.session is not None
    sent = payloads.metrics(tally.session, 0.0, None, False, 0, 0, 0.0)
    figures = ("rep_talk_s", "customer_talk_s", "interruptions_by_rep", "interruptions_by_customer")
    assert [sent[key] for key in (*figures, "backchannels_by_rep", "backchannels_by_customer")] == [0] * 6
    assert sent["rep_share"] is None


def test_a_sessions_final_metrics_are_its_summarys_figures_to_the_digit() -> None:
    """payloads.metrics rounds "as in the session summary, so a session's final metrics equal its summary's
    figures": talk times with more decimals than either keeps."""
    segments = [SpeechSegment(Party.CUSTOMER, 1.0, 9.123456, 9.3), SpeechSegment(Party.REP, 9.5, 30.654321, 30.9)]
    summary = summarize(SID, Window(1.0, 30.654321), 60.0, segments, [], parse_config({}).analytics)
    final = payloads.metrics(Tally().summarized(summary), summary.duration_s, None, False, 0, 0, 0.0)
    sent = payloads.session(summary, 0, 0, 0)
    assert final["rep_talk_s"] == sent["rep_talk_s"] == 21.1543
    assert final["customer_talk_s"] == sent["customer_talk_s"] == 8.1235
    assert final["rep_share"] == sent["rep_share"]
    assert final["session_s"] == sent["duration_s"] == 29.6543  # metrics.json: "session_s = its duration"


def test_an_interruption_is_counted_once_for_its_party_though_its_outcome_comes_later() -> None:
    """Published when decided, its outcome open, then again with the outcome: one interruption, counted for
    the party that made it, in the session that was running; the second is the outcome of the first."""
    tally = _tally()
    assert tally.session_id() == SID
    opened = Interruption(by=Party.REP, onset_s=4.0, decided_s=5.0, successful=None)
    assert tally.interruption(opened) == (False, SID)
    by_customer = Interruption(by=Party.CUSTOMER, onset_s=6.0, decided_s=7.0, successful=False)
    assert tally.interruption(by_customer) == (False, SID)
    outcome = Interruption(by=Party.REP, onset_s=4.0, decided_s=7.5, successful=True)
    assert tally.interruption(outcome) == (True, SID)
    again = Interruption(by=Party.REP, onset_s=9.0, decided_s=10.0, successful=False)
    assert tally.interruption(again) == (False, SID)
    assert tally.session is not None
    assert (tally.session.interruptions_by_rep, tally.session.interruptions_by_customer) == (2, 1)


def test_an_event_begun_at_the_sessions_first_frame_is_that_sessions() -> None:
    tally = _tally()  # the session begins at 1.0 s
    assert tally.backchannel(Backchannel(by=Party.CUSTOMER, onset_s=1.0, decided_s=2.0, duration_s=0.4)) == SID
    assert tally.session is not None and tally.session.backchannels_by_customer == 1
