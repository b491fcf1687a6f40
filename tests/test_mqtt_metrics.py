"""A session's final ``metrics``, against a real mosquitto.

Live metrics go out every ``metrics_interval_s`` of a session and stop with it, so the dashboards
fed by them (Home Assistant's rep talk share and interruptions) would keep the last live figures,
up to an interval old, until the next customer. The stage sends one more at the session's end.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from listener.events import Interruption, Party, RollingShare, SessionEnded, SessionStarted, SessionSummary
from tests.mqtt_broker import BASE, Mosquitto, Recorder
from tests.mqtt_feed import SID, Clocks, block, connected, conversation, feed, json_on, rolling, stage_on

NEXT = "00000000000000cc"  # the session that begins where a cut ended SID
FINAL_FIGURES = (
    "rep_talk_s",
    "customer_talk_s",
    "rep_share",
    "interruptions_by_rep",
    "interruptions_by_customer",
    "backchannels_by_rep",
    "backchannels_by_customer",
)


def test_a_session_ends_with_metrics_equal_to_its_summary(broker: Mosquitto, tmp_path: Path) -> None:
    # without the analytics' update at 30.2 s the last live metrics (at 31 s) miss the rep's last 10 s
    # of talk, which only the summary counts: as a live update can lag a session's end
    events = [e for e in conversation() if not (isinstance(e, RollingShare) and e.t_s == 30.2)]
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path)
        with stage:
            rec.wait_for(connected)
            feed(stage, events)
            got = rec.wait_for(lambda ms: len(json_on(ms, "metrics")) >= 5 and bool(json_on(ms, "session")))
    (summary,) = json_on(got, "session")
    metrics = json_on(got, "metrics")
    final = metrics[-1]
    assert final["session_id"] == SID and final["seq"] > summary["seq"]  # type: ignore[operator]
    assert {k: final[k] for k in FINAL_FIGURES} == {k: summary[k] for k in FINAL_FIGURES}
    assert final["session_s"] == summary["duration_s"] == 37.0
    assert [m["session_s"] for m in metrics] == [0.0, 10.0, 20.0, 30.0, 37.0]  # one final, no more
    assert [m["rep_talk_s"] for m in metrics] == [0.0, 1.5, 12.5, 12.5, 22.5]


def test_a_session_too_short_for_a_summary_ends_with_its_running_figures(broker: Mosquitto, tmp_path: Path) -> None:
    sid = "00000000000000aa"
    events = [
        SessionStarted(session_id=sid, onset_s=1.0, decided_s=1.5),
        Interruption(by=Party.REP, onset_s=3.0, decided_s=4.0, successful=None),
        rolling(4.0, rep_s=1.0, customer_s=2.0),
        SessionEnded(session_id=sid, onset_s=1.0, decided_s=6.0, end_s=4.5),
    ]
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path)
        with stage:
            rec.wait_for(connected)
            feed(stage, events, seconds=8)
            got = rec.wait_for(lambda ms: len(json_on(ms, "metrics")) >= 2)
    # the session was shorter than metrics_interval_s: only its start's and its final
    start, final = json_on(got, "metrics")
    # (fed a second at a time, the start is processed before the second it was decided in: 0.0, not 0.5)
    assert (start["session_id"], start["session_s"], start["interruptions_by_rep"]) == (sid, 0.0, 0)
    assert final["session_id"] == sid and final["session_s"] == 3.5
    assert (final["rep_talk_s"], final["customer_talk_s"], final["interruptions_by_rep"]) == (1.0, 2.0, 1)
    assert not json_on(got, "session")


def test_the_retained_state_says_dominating_while_the_session_still_runs(broker: Mosquitto, tmp_path: Path) -> None:
    # a dashboard that looks mid-session must see the dominance as it is decided, not only at the end
    events = [e for e in conversation() if not isinstance(e, SessionEnded | SessionSummary)]
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path)
        with stage:
            rec.wait_for(connected)
            feed(stage, events, seconds=32)
            got = rec.wait_for(lambda ms: any(s["dominating"] for s in json_on(ms, "state")))
    dominating = [s for s in json_on(got, "state") if s["dominating"]]
    assert dominating and dominating[0]["session_id"] == SID


def test_metrics_left_out_of_the_spool_go_live_at_qos_0_and_the_rest_as_before(
    broker: Mosquitto, tmp_path: Path
) -> None:
    # spool_metrics = false (as docs/integrations/mqtt.md and the AsyncAPI file say): metrics are sent
    # live at QoS 0; events and the summary keep QoS 1 and the spool
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path, spool_metrics=False)
        with stage:
            rec.wait_for(connected)
            feed(stage, conversation())
            got = rec.wait_for(lambda ms: len(json_on(ms, "metrics")) >= 5 and bool(json_on(ms, "session")))
    qos = {leaf: {m.qos for m in got if m.topic == f"{BASE}/{leaf}"} for leaf in ("metrics", "event", "session")}
    assert qos == {"metrics": {0}, "event": {1}, "session": {1}}
    assert [m["session_s"] for m in json_on(got, "metrics")] == [0.0, 10.0, 20.0, 30.0, 37.0]


def test_a_session_started_ahead_of_the_audio_clock_here_starts_at_zero_seconds(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """The analytics' events can run ahead of the audio blocks reaching this stage (1 s blocks, the heuristic
    decider): the metrics sent at the session's start say 0 s into it, not a negative time (schema minimum 0)."""
    sid = "00000000000000bb"
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path)
        with stage:
            rec.wait_for(connected)
            list(stage.process(block(0.0)))  # the clock here: 1.0 s
            list(stage.process(SessionStarted(session_id=sid, onset_s=1.48, decided_s=1.6)))
            got = rec.wait_for(lambda ms: bool(json_on(ms, "metrics")))
    (start,) = json_on(got, "metrics")  # json_on validates against the schema
    assert (start["session_id"], start["session_s"]) == (sid, 0.0)


def test_no_two_messages_carry_one_ts_when_a_cut_session_and_the_next_meet_in_one_step(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session cut at session_max_s (the customer still speaking) and the next one's start are decided in
    one step of the analytics: its final metrics and the next one's opening metrics were stamped in one
    millisecond, and InfluxDB (points keyed by device, kind and ts: telegraf-grafana.md) kept one of them,
    mixed. The wall clock is frozen here: a fast Pi does all of that step within a millisecond."""
    Clocks(monkeypatch, 1_800_000_000_000)  # never moved on
    cut = [*conversation(), SessionStarted(session_id=NEXT, onset_s=38.0, decided_s=40.0)]
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path)
        with stage:
            rec.wait_for(connected)
            feed(stage, cut, seconds=42)
            got = rec.wait_for(lambda ms: {m["session_id"] for m in json_on(ms, "metrics")} == {SID, NEXT})
    leaves = ("status", "info", "state", "event", "metrics", "session")
    made = sorted((m for leaf in leaves for m in json_on(got, leaf)), key=lambda m: int(str(m["seq"])))
    metrics = json_on(got, "metrics")
    final = [m for m in metrics if m["session_id"] == SID][-1]
    opening = next(m for m in metrics if m["session_id"] == NEXT)
    assert final["session_s"] == 37.0 and opening["ts"] != final["ts"]
    for before, after in itertools.pairwise(made):
        assert after["ts"] > before["ts"], (before, after)  # type: ignore[operator]
