"""The drain thread against a broker that stops acknowledging: mqtt.inflight_max bounds what the device
has sent without a PUBACK, and leaves paho room for the retained topics.

A relay between the device and a real mosquitto holds back what the broker sends (its PUBACKs) while
letting the device's messages through, as a stalled broker or a congested link does; a subscriber
connected to mosquitto directly sees every message the device put on the wire.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from listener.events import Backchannel, Party, SourceState
from listener.outputs.mqtt.client import RETAINED_HEADROOM
from listener.outputs.mqtt.spool import Spooled
from tests.mqtt_broker import BASE, Mosquitto, Recorder
from tests.mqtt_feed import connected, json_on, spool_depth, stage_on
from tests.mqtt_relay import AckHold
from tests.waiting import wait_until

INFLIGHT_MAX = 3
BACKLOG = 2 * (INFLIGHT_MAX + RETAINED_HEADROOM)  # more than paho's own window
IDLE_WINDOW_S = 0.5


def _seqs(messages: list[dict[str, object]]) -> list[object]:
    return [m["seq"] for m in messages]


def test_unacknowledged_messages_stay_in_the_spool_beyond_inflight_max(broker: Mosquitto, tmp_path: Path) -> None:
    """With the broker's PUBACKs held back, the device sends inflight_max messages of a backlog and waits,
    idle; a change of state still goes out at once (paho has room left for it), and nothing is lost once
    the acknowledgements come. Without the cap the backlog would fill paho's window and the state would
    wait behind it; with the cap checked one message late, the drain thread would spin on a core meanwhile."""
    with Recorder(broker) as rec, AckHold(broker.port) as relay:
        stage = stage_on(broker, tmp_path, port=relay.port, inflight_max=INFLIGHT_MAX, drain_rate_per_s=1000.0)
        with stage:
            rec.wait_for(connected)
            assert stage.publisher.flush(5.0)  # the retained topics of the connect are acknowledged
            relay.hold()
            # the drain thread held off meanwhile (the lock is re-entrant): it finds the whole backlog waiting
            # and a full token bucket, the case where only the in-flight cap stops it sending all at once
            with stage.publisher._cond:
                for n in range(BACKLOG):
                    stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
            got = rec.wait_for(lambda ms: len(json_on(ms, "event")) >= INFLIGHT_MAX)
            assert len(json_on(got, "event")) >= INFLIGHT_MAX
            stage.process(SourceState(t_s=BACKLOG, available=False, detail="array unplugged"))
            got = rec.wait_for(lambda ms: [s["mode"] for s in json_on(ms, "state")][-1:] == ["fault"], timeout_s=5)
            # in order on one connection: what came before the state is all the device had sent
            assert [s["mode"] for s in json_on(got, "state")][-1:] == ["fault"], "the state waited behind the backlog"
            before_state = next(i for i, m in enumerate(got) if m.topic.endswith("/state") and b'"fault"' in m.payload)
            assert len(json_on(got[:before_state], "event")) == INFLIGHT_MAX
            assert stage.spool.depth == BACKLOG  # nothing acknowledged: all of it still on disk
            # and the drain thread waits for an acknowledgement, it does not poll the spool for room
            cpu_s = time.process_time()
            time.sleep(IDLE_WINDOW_S)
            cpu_s = time.process_time() - cpu_s
            assert cpu_s < 0.3 * IDLE_WINDOW_S, f"{cpu_s:.2f} s of CPU in {IDLE_WINDOW_S} s while waiting"
            relay.release()
            assert stage.publisher.flush(10.0)
            got = rec.wait_for(lambda ms: len(json_on(ms, "event")) >= BACKLOG)
    events = json_on(got, "event")
    assert len(events) == BACKLOG and _seqs(events) == sorted(_seqs(events))  # type: ignore[type-var]
    assert len({json.dumps(e, sort_keys=True) for e in events}) == BACKLOG  # none twice


def test_an_idle_link_does_not_save_up_a_burst(broker: Mosquitto, tmp_path: Path) -> None:
    """mqtt.drain_rate_per_s holds after a quiet spell too: the token bucket fills to one second's worth,
    not to everything the idle time would allow, so a backlog after an outage leaves at the set rate."""
    rate_per_s, backlog = 5.0, 20
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path, drain_rate_per_s=rate_per_s)
        with stage:
            rec.wait_for(connected)
            time.sleep(3.0)  # idle: uncapped, the bucket would hold 15 messages' worth by now
            with stage.publisher._cond:  # all of it spooled before the drain thread looks
                for n in range(backlog):
                    stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
            got = rec.wait_for(lambda ms: len(json_on(ms, "event")) >= backlog, timeout_s=15)
    arrivals = [m.at for m in got if m.topic.endswith("/event")]
    assert len(arrivals) == backlog
    # a second's worth at once, the rest at the rate: (20 - 5) / 5 = 3 s; uncapped it took 1 s. Timed at
    # the subscriber, a first arrival delayed by a busy machine shortens the span: 1 s of room for that
    assert arrivals[-1] - arrivals[0] >= (backlog - rate_per_s) / rate_per_s - 1.0


def test_a_spool_that_fills_while_connected_blames_the_drain_rate_not_an_outage(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """drain_rate_per_s paces the live messages too: a spool that fills with the broker connected said "the
    broker has been away too long; ... fix the outage", sending its reader after an outage there was not."""
    with (
        caplog.at_level(logging.WARNING, logger="listener.outputs.mqtt.spool"),
        Recorder(broker) as rec,
        stage_on(broker, tmp_path, drain_rate_per_s=1.0, spool_max_messages=10, shutdown_drain_s=0.0) as stage,
    ):
        rec.wait_for(connected)
        with stage.publisher._cond:  # faster than one a second, and none sent while they are stored
            for n in range(12):
                stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
    told = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert len(told) == 1, told
    assert "the broker is connected, but the link sends messages slower than they are made" in told[0]
    assert told[0].endswith("raise mqtt.drain_rate_per_s") and "outage" not in told[0]


def test_messages_the_acl_refuses_are_said_once_per_topic_and_counted_as_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # MQTT 5: mosquitto answers a publish its ACL forbids with a PUBACK "Not authorized". Each such message was
    # a warning of its own, and deleted from the spool without a trace in spool_dropped (info, metrics)
    allowed = [f"{BASE}/{leaf}" for leaf in ("status", "info", "state", "metrics", "session")] + ["homeassistant/#"]
    acl = "".join(f"topic readwrite {topic}\n" for topic in allowed)  # every topic but event
    with (
        Mosquitto(tmp_path / "broker", acl=acl) as broker,
        caplog.at_level(logging.WARNING),
        stage_on(broker, tmp_path, protocol="5") as stage,
    ):
        link = stage._link
        assert link is not None and link.wait_connected(10)
        for n in range(5):
            stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
        assert stage.publisher.flush(10)
        assert stage.spool.depth == 0  # re-sending them would fail forever
        assert stage.spool.dropped == 5
    refused = [r.getMessage() for r in caplog.records if "refused a spooled message" in r.getMessage()]
    assert len(refused) == 1, refused
    assert f"for {BASE}/event (Not authorized): its ACL must let this device's user publish there" in refused[0]


def test_the_retained_info_counts_each_message_lost_while_the_link_holds(tmp_path: Path) -> None:
    """Home Assistant's "Messages lost (spool)" reads the retained info, which was made at each connect and when a
    backlog had drained: messages the ACL refused (or a full spool dropped) with the link up left it at 0 for as
    long as the connection held. It is made again once the spool has dropped one since (once a metrics_interval_s
    at most)."""
    allowed = [f"{BASE}/{leaf}" for leaf in ("status", "info", "state", "metrics", "session")] + ["homeassistant/#"]
    acl = "topic read #\n" + "".join(f"topic readwrite {topic}\n" for topic in allowed)  # every topic but event
    with (
        Mosquitto(tmp_path / "broker", acl=acl) as broker,
        Recorder(broker) as rec,
        stage_on(broker, tmp_path, protocol="5", metrics_interval_s=1.0) as stage,
    ):
        rec.wait_for(connected)
        for n in range(5):
            stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
        got = rec.wait_for(lambda ms: [i["spool_dropped"] for i in json_on(ms, "info")][-1:] == [5])
        assert stage.spool.dropped == 5
    assert json_on(got, "info")[-1]["spool_dropped"] == 5


def test_a_retained_message_the_acl_refuses_is_said_once_and_not_counted_as_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An ACL without homeassistant/# (or the info topic): Home Assistant never showed the device, and the
    refused retained messages left no line in the journal (their acks matched no spooled message).

    Each connect sends them again (a broker restart), and the broker refuses them again: the journal names
    the ACL once, not at every reconnect."""
    allowed = [f"{BASE}/{leaf}" for leaf in ("status", "state", "metrics", "session", "event")]
    acl = "".join(f"topic readwrite {topic}\n" for topic in allowed)  # not info, not homeassistant/#
    with (
        Mosquitto(tmp_path / "broker", acl=acl) as broker,
        caplog.at_level(logging.WARNING),
        stage_on(broker, tmp_path, protocol="5", discovery=True) as stage,
    ):
        link = stage._link
        assert link is not None and link.wait_connected(10)
        stage.process(Backchannel(by=Party.REP, onset_s=1.0, decided_s=1.5, duration_s=0.3))
        assert stage.publisher.flush(10)
        wait_until(lambda: caplog.text.count("refused the retained message") >= 2, 5.0)
        broker.stop()
        wait_until(lambda: not link.connected, 5.0)
        # spooled while the broker is away: sent after the reconnect's retained topics, so once its PUBACK is
        # in, the broker's answers to those are too
        stage.process(Backchannel(by=Party.REP, onset_s=2.0, decided_s=2.5, duration_s=0.3))
        broker.start()
        assert link.wait_connected(10) and link.connects == 2
        assert stage.publisher.flush(10)
        assert stage.spool.dropped == 0  # never spooled: nothing of the device's measures was lost
    refused = [r.getMessage() for r in caplog.records if "refused the retained message" in r.getMessage()]
    assert len(refused) == 2, refused
    assert any(f"for {BASE}/info (Not authorized)" in m for m in refused), refused
    assert any("for homeassistant/" in m and "discovery topics too" in m for m in refused), refused


def test_a_drained_spool_leaves_the_drain_thread_waiting(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once what was spooled is sent, the drain thread waits to be woken (a put, a PUBACK, a connect) rather
    than read the empty spool again and again: a Pi's CPU is the pipeline's."""
    reads: list[int] = []
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path)
        with stage:
            rec.wait_for(connected)
            stage.process(Backchannel(by=Party.REP, onset_s=1.0, decided_s=1.5, duration_s=0.3))
            assert stage.publisher.flush(5.0)
            spool, take = stage.spool, stage.spool.take

            def counted(last_id: int, limit: int) -> list[Spooled]:  # the real take, counted
                reads.append(last_id)
                return take(last_id, limit)

            monkeypatch.setattr(spool, "take", counted)
            time.sleep(1.0)
        assert len(json_on(rec.messages, "event")) == 1
    assert len(reads) <= 1, len(reads)


def test_a_spool_overflowing_with_the_link_up_says_its_drops_once_an_interval(tmp_path: Path) -> None:
    """The info said again at every drop went out at the rate messages were made, past drain_rate_per_s, in the
    very case where the link could not keep up (188 retained infos in 4 s at a drain rate of 1 a second): once a
    metrics_interval_s it is, and the last count still reaches the broker."""
    with (
        Mosquitto(tmp_path / "broker") as broker,
        Recorder(broker) as rec,
        stage_on(broker, tmp_path, drain_rate_per_s=1.0, spool_max_messages=10, metrics_interval_s=1.0) as stage,
    ):
        rec.wait_for(connected)
        start_s = time.monotonic()
        for n in range(60):
            stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
            time.sleep(0.02)
        dropped = stage.spool.dropped
        assert dropped > 0
        got = rec.wait_for(lambda ms: [i["spool_dropped"] for i in json_on(ms, "info")][-1:] == [dropped], 5.0)
        elapsed_s = time.monotonic() - start_s
    infos = json_on(got, "info")
    assert infos[-1]["spool_dropped"] == dropped
    assert len(infos) <= 2 + elapsed_s / 1.0, [i["spool_dropped"] for i in infos]  # the connect's, one a second


def test_a_stop_while_the_connack_is_on_its_way_waits_for_it_and_sends_the_spool(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A short `listener run --input FILE --fast` ends before a TLS handshake and login are through: the stop's
    drain gave up at once (not connected yet), and with the broker up everything stayed in the spool, the line
    blaming "a slow link, or something other than an MQTT broker on that port". It now waits for the CONNACK
    (within shutdown_drain_s). The relay holds the CONNACK back until 0.5 s into the stop."""
    with Recorder(broker) as rec, AckHold(broker.port) as relay:
        relay.hold()
        stage = stage_on(broker, tmp_path, port=relay.port)
        stage.open()
        try:
            wait_until(lambda: relay.accepted >= 1, 5.0)
            time.sleep(0.2)  # the CONNECT sent: the attempt waits for its CONNACK
            stage.process(Backchannel(by=Party.REP, onset_s=1.0, decided_s=1.5, duration_s=0.3))
            threading.Timer(0.5, relay.release).start()
        finally:
            stage.close()
        got = rec.wait_for(lambda ms: len(json_on(ms, "event")) >= 1, timeout_s=5)
    assert [e["type"] for e in json_on(got, "event")] == ["backchannel"]
    assert spool_depth(tmp_path / "state") == 0
