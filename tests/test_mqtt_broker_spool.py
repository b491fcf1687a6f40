"""The MQTT stage's spool against a real mosquitto: kept through a restart and sent first, an overflow said,
a backlog drained at its rate, under a renamed device's id, and info once it is empty.

As in test_mqtt_broker.py, the stage is fed analytics events directly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from listener.events import Backchannel, Party
from tests.mqtt_broker import Mosquitto, Recorder
from tests.mqtt_feed import conversation, feed, json_on, spool_depth, stage_on


def test_spool_survives_a_restart_and_drains_first(broker: Mosquitto, tmp_path: Path) -> None:
    broker.stop()
    first = stage_on(broker, tmp_path)
    with first:
        feed(first, conversation("0000000000000001"))
    # events, metrics (the start's, 3 live, 1 final), session: all on disk
    assert spool_depth(tmp_path / "state") == 6 + 5 + 1
    stopped_ms = time.time_ns() // 1_000_000
    broker.start()
    with Recorder(broker) as rec:
        second = stage_on(broker, tmp_path)
        with second:
            feed(second, conversation("0000000000000002", t0=100.0), t0=100.0)
            # the second session's final metrics come last
            got = rec.wait_for(lambda ms: len(json_on(ms, "session")) == 2 and len(json_on(ms, "metrics")) == 10)
    sessions = json_on(got, "session")
    assert [s["session_id"] for s in sessions] == ["0000000000000001", "0000000000000002"]
    assert sessions[0]["ts"] < stopped_ms < sessions[1]["ts"]  # type: ignore[operator]
    spooled = [m for m in got if m.topic.rsplit("/", 1)[1] in ("event", "metrics", "session")]
    seqs = [json.loads(m.payload)["seq"] for m in spooled]
    assert len(spooled) == 24 and seqs == sorted(seqs)
    assert [json.loads(m.payload).get("session_id") for m in spooled[:12]] == ["0000000000000001"] * 12


def test_spool_overflow_drops_oldest_and_says_so(broker: Mosquitto, tmp_path: Path) -> None:
    broker.stop()
    with stage_on(broker, tmp_path, spool_max_messages=10) as stage:
        for n in range(30):
            stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
    broker.start()
    with Recorder(broker) as rec, stage_on(broker, tmp_path, spool_max_messages=10):
        got = rec.wait_for(lambda ms: len(json_on(ms, "event")) >= 10 and bool(json_on(ms, "info")))
    events = json_on(got, "event")
    assert len(events) == 10
    assert [e["onset_ms"] for e in events] == sorted(e["onset_ms"] for e in events)  # type: ignore[type-var]
    assert json_on(got, "info")[-1]["spool_dropped"] == 20


def test_a_backlog_drains_at_the_configured_rate(broker: Mosquitto, tmp_path: Path) -> None:
    """After a long outage the spool may hold thousands of messages: mqtt.drain_rate_per_s keeps their
    flood from swamping a small broker or a metered link. 20 messages at 5 per second take 3 s and more."""
    broker.stop()
    with stage_on(broker, tmp_path) as stage:
        for n in range(20):
            stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
    broker.start()
    with Recorder(broker) as rec, stage_on(broker, tmp_path, drain_rate_per_s=5.0):
        got = rec.wait_for(lambda ms: len([m for m in ms if m.topic.endswith("/event")]) >= 20, timeout_s=20.0)
    events = [m for m in got if m.topic.endswith("/event")]
    assert len(events) == 20
    assert events[-1].at - events[0].at >= 2.5


def test_a_renamed_device_sends_its_backlog_under_its_new_id(broker: Mosquitto, tmp_path: Path) -> None:
    # spooled under one device id while the broker was away, sent after the device was renamed
    broker.stop()
    with stage_on(broker, tmp_path, device_id="counter-old") as old:
        for n in range(3):
            old.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
    broker.start()
    with Recorder(broker) as rec, stage_on(broker, tmp_path):
        got = rec.wait_for(lambda ms: len(json_on(ms, "event")) >= 3)
    assert [e["type"] for e in json_on(got, "event")] == ["backchannel"] * 3
    assert not [m.topic for m in got if "counter-old" in m.topic]  # no phantom device


def test_info_says_the_spool_is_empty_again_once_a_backlog_has_drained(broker: Mosquitto, tmp_path: Path) -> None:
    # info is made at connect, when the backlog is still there: an alert on spool_depth > 0 would stay on
    broker.stop()
    with stage_on(broker, tmp_path) as stage:  # a backlog from before a restart
        for n in range(30):
            stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
    broker.start()
    with Recorder(broker) as rec, stage_on(broker, tmp_path):
        got = rec.wait_for(lambda ms: len(json_on(ms, "info")) >= 2, timeout_s=15.0)
        depths = [i["spool_depth"] for i in json_on(got, "info")]
        assert depths[0] == 30 and depths[-1] == 0, depths
        assert len(json_on(got, "event")) == 30
        with Recorder(broker, client_id="late") as late:  # a dashboard subscribing now sees the retained 0
            retained = late.wait_for(lambda ms: bool(json_on(ms, "info")))
        assert [i["spool_depth"] for i in json_on(retained, "info")] == [0]
        time.sleep(0.5)
        assert len(json_on(rec.messages, "info")) == 2  # once, not after every later message
