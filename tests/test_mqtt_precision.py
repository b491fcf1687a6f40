"""The numbers in the payloads as docs/integrations/mqtt.md ("Times") says they leave the device: ``ts`` in UTC epoch
milliseconds; a session's figures, a ``metrics``' seconds and shares and a session's length to 4 decimals, so a
session's last ``metrics`` equals its summary; a backchannel's ``duration_s``, a dominance event's ``rep_share``
and ``audio_overflow_s`` to 3."""

from __future__ import annotations

import time
from pathlib import Path

from listener.analytics.summary import Window, summarize
from listener.config import parse_config
from listener.events import Backchannel, DominanceChanged, Party, SessionEnded, SpeechSegment
from listener.outputs.mqtt import payloads

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "integrations" / "mqtt.md"
SID = "5e1f0c2a9b8d4e37"
TS_MS = 1_764_000_000_000


def test_ts_is_the_wall_clock_in_utc_epoch_milliseconds() -> None:
    """The payloads' ts (the wall-clock tests replace now_ms with their own clock, so none read the real one)."""
    before_ms = time.time_ns() // 1_000_000
    assert before_ms <= payloads.now_ms() <= time.time_ns() // 1_000_000


def test_the_guide_states_the_precision_this_file_checks() -> None:
    times = GUIDE.read_text(encoding="utf-8").split("### Times", 1)[1].split("\n### ", 1)[0]
    said = " ".join(times.split())
    four, three = said.split("To 4 decimals: ", 1)[1].split("To 3: ", 1)
    assert "a `metrics`' seconds and shares" in four and "a `session_end`'s `duration_s`" in four
    assert "a `backchannel`'s `duration_s`, a dominance event's `rep_share`, `audio_overflow_s`" in three


def test_session_and_metrics_figures_leave_with_four_decimals_and_agree() -> None:
    # talk times off the 10 ms grid, as a recording's resampled timeline can give them
    segments = [
        SpeechSegment(Party.CUSTOMER, 1.0, 9.123456, 9.3),
        SpeechSegment(Party.REP, 9.5, 30.987654, 31.2),
        SpeechSegment(Party.CUSTOMER, 31.3, 36.0, 36.2),
    ]
    summary = summarize(SID, Window(1.0, 36.0), 66.0, segments, [], parse_config({}).analytics)
    session = payloads.session(summary, TS_MS - 35_000, TS_MS, TS_MS)
    assert session["rep_talk_s"] == 21.4877 and session["customer_talk_s"] == 12.8235
    assert session["rep_share"] == round(21.487654 / (21.487654 + 12.823456), 4) == 0.6263
    figures = payloads.SessionFigures(SID, 1.0, rep_talk_s=summary.rep_talk_s, customer_talk_s=summary.customer_talk_s)
    last = payloads.metrics(figures, 35.0, summary.rep_share, False, 0, TS_MS, 0.0123456)
    for name in ("rep_talk_s", "customer_talk_s", "rep_share"):
        assert last[name] == session[name], name  # a dashboard sees the same figure in both
    assert last["rep_share_rolling"] == 0.6263 and last["session_s"] == 35.0
    assert last["audio_overflow_s"] == 0.012


def test_event_durations_and_shares_leave_with_three_decimals() -> None:
    backchannel = Backchannel(by=Party.CUSTOMER, onset_s=5.0, decided_s=6.2, duration_s=0.4567)
    dominance = DominanceChanged(dominating=True, onset_s=7.0, decided_s=7.0, rep_share=0.712345, reason="share")
    ended = SessionEnded(session_id=SID, onset_s=1.0, decided_s=40.0, end_s=10.123456)
    sent = [payloads.event(e, TS_MS, TS_MS - 500, SID) for e in (backchannel, dominance, ended)]
    assert [m and {k: m[k] for k in ("duration_s", "rep_share") if k in m} for m in sent] == [
        {"duration_s": 0.457},
        {"rep_share": 0.712},
        {"duration_s": 9.1235},  # a session's length, as its summary's: 4 decimals
    ]
