"""A paho callback that raises, against a real mosquitto: said once as an error, paho's loop thread goes on and
every message still reaches a subscriber. Unguarded, paho 2.x let the exception end its loop thread: the link
still said connected, no acknowledgement was read again, and the spool filled with nothing said."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from listener.config import parse_config
from listener.events import Backchannel, DeviceMode, DeviceState, Party
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt import client as client_module
from listener.outputs.mqtt.client import MqttLink
from listener.outputs.mqtt.stall import StallWatch
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto, Recorder
from tests.mqtt_feed import block, connected, json_on, stage_on
from tests.waiting import wait_until

EVENTS = 6
FAILED_CONNECTS = 3  # as many short-lived connections as blamed a client-id clash


def _raising_once(real: Callable[..., object]) -> tuple[Callable[..., object], list[bool]]:
    """``real``, except that its first call once armed (``armed[0] = True``) raises."""
    armed = [False]

    def fake(*args: object, **kwargs: object) -> object:
        if armed[0]:
            armed[0] = False
            raise RuntimeError("a handler's bug")
        return real(*args, **kwargs)

    return fake, armed


def _send_events(stage: MqttStage, rec: Recorder) -> None:
    for n in range(EVENTS):
        stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
    got = rec.wait_for(lambda ms: len(json_on(ms, "event")) >= EVENTS, timeout_s=5.0)
    assert len(json_on(got, "event")) == EVENTS
    assert stage.publisher.flush(2.0), "a message stayed unacknowledged: the loop thread ended, or its ack was lost"
    assert stage.spool.depth == 0


def _said_once(caplog: pytest.LogCaptureFixture, callback: str) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"the {callback} handler failed" in errors[0].getMessage()
    assert errors[0].exc_info is not None  # its traceback


def test_a_failed_ack_handler_still_acknowledges_its_message(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """on_publish raising before the ack is recorded: paho forgets the message all the same, so the link
    records the ack itself; without that its spool row waited for ever (flush fails, depth stays 1)."""
    fake, armed = _raising_once(client_module.Ack)
    monkeypatch.setattr(client_module, "Ack", fake)
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path, drain_rate_per_s=1000.0)
        with stage:
            rec.wait_for(connected)
            assert stage.publisher.flush(5.0)
            armed[0] = True
            _send_events(stage, rec)
            assert not armed[0], "the ack handler never ran"
    _said_once(caplog, "on_publish")


def test_a_failed_ack_handler_keeps_the_brokers_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """MQTT 5: the broker refuses every event (its ACL) and the ack handler fails on the first refusal. The
    message recorded in its place is the refusal it was, counted as dropped and said, not as delivered."""
    allowed = [f"{BASE}/{leaf}" for leaf in ("status", "info", "state", "metrics", "session")] + ["homeassistant/#"]
    acl = "".join(f"topic readwrite {topic}\n" for topic in allowed)  # every topic but event
    real, armed = client_module.Ack, [False]

    def fake(*, mid: int, ok: bool, reason: str = "") -> object:
        if armed[0] and not ok:  # a refusal's ack, not another topic's
            armed[0] = False
            raise RuntimeError("a handler's bug")
        return real(mid=mid, ok=ok, reason=reason)

    monkeypatch.setattr(client_module, "Ack", fake)
    with Mosquitto(tmp_path / "broker", acl=acl) as broker, stage_on(broker, tmp_path, protocol="5") as stage:
        assert stage._link is not None and stage._link.wait_connected(10)
        assert stage.publisher.flush(5.0)
        armed[0] = True
        for n in range(EVENTS):
            stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
        assert stage.publisher.flush(5.0)
        assert not armed[0], "the ack handler never ran"
        assert stage.spool.depth == 0 and stage.spool.dropped == EVENTS
    assert any(f"for {BASE}/event (Not authorized)" in r.getMessage() for r in caplog.records)
    _said_once(caplog, "on_publish")


def test_a_failed_connect_handler_reconnects(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """on_connect raising half-way leaves the link not connected on a live connection, which the drain never
    uses: the link drops it and connects again, and the spooled messages go out then."""
    fake, armed = _raising_once(StallWatch.connected)
    monkeypatch.setattr(StallWatch, "connected", fake)
    armed[0] = True
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path, reconnect_min_s=1.0, drain_rate_per_s=1000.0)
        with stage:
            _send_events(stage, rec)
            assert not armed[0] and stage._link is not None and stage._link.connects == 1
    _said_once(caplog, "on_connect")


def _failing_first_connects(fails: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Callable[[], None], list[int]]:
    """An on_connect handler failing at the first FAILED_CONNECTS connections, where ``fails`` says: the stage's
    part to hand the link (on_connected), and the count of failures so far."""
    failed = [0]

    def fail() -> None:
        if failed[0] < FAILED_CONNECTS:
            failed[0] += 1
            raise RuntimeError("a handler's bug")

    if not fails.startswith("before"):
        return fail, failed
    real = StallWatch.connected

    def connected_then(watch: StallWatch) -> None:
        fail()
        real(watch)

    monkeypatch.setattr(StallWatch, "connected", connected_then)
    return (lambda: None), failed


def _ran_through(caplog: pytest.LogCaptureFixture) -> bool:
    # not link.connected: a handler failing after the link says connected leaves it so for a moment (0.2 to
    # 0.8 ms measured, up to the traceback's logging on a loaded machine), which the poll could catch
    return any("ran through" in r.getMessage() for r in caplog.records)


def _check_the_drops_said_as_this_devices_own(caplog: pytest.LogCaptureFixture) -> None:
    _said_once(caplog, "on_connect")  # no client-id clash
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "dropped by this device: its on_connect handler failed" in warning
    ran = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "ran through" in r.getMessage()]
    assert len(ran) == 1 and f"after {FAILED_CONNECTS} connections on which it failed" in ran[0]


@pytest.mark.parametrize("fails", ["before the link says connected", "in the stage's part, after it"])
def test_an_on_connect_handler_failing_at_each_connect_is_named_and_backs_off(
    fails: str, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The link drops each connection whose on_connect handler failed, so paho runs it again on the next. Failing
    after the link said connected, three such drops were blamed at error level on another client using this client
    id; failing before, the link reconnected every reconnect_min_s for good, with no loss said. The drop is said
    once, as this device's own, its wait doubling, and the outage (the lights' fault) goes on until a connection
    whose handler runs through, which is said too."""
    on_connected, failed = _failing_first_connects(fails, monkeypatch)
    config = parse_config({"mqtt": broker.mqtt_config(reconnect_min_s=1.0, reconnect_max_s=2.0)}).mqtt
    link = MqttLink(config, DEVICE_ID, will=(f"{BASE}/status", lambda: b"offline"), on_connected=on_connected)
    with caplog.at_level(logging.DEBUG), link:
        assert wait_until(lambda: _ran_through(caplog), 4 * FAILED_CONNECTS), f"{failed[0]} failures"
        assert link.connected
    connects_s = [r.created for r in caplog.records if "(after " in r.getMessage()]
    assert len(connects_s) == FAILED_CONNECTS + 1
    waits_s = [b - a for a, b in itertools.pairwise(connects_s)]
    assert min(waits_s) > 1.8, waits_s  # each 2 s: reconnect_min_s doubled, up to reconnect_max_s
    assert link.last_outage_s > 5.0  # from the start: no connection whose handler failed ended the outage
    _check_the_drops_said_as_this_devices_own(caplog)


def test_a_failed_disconnect_handler_still_leaves_the_link_disconnected(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """on_disconnect raising before the link's state said the loss left it connected in name for the whole outage:
    no fault on the lights, and the drain handing paho what it could not send. Its recovery marks it disconnected,
    the outage counted from the loss; what was spooled meanwhile goes out once the broker is back."""
    stage = stage_on(broker, tmp_path, outage_fault_s=2.0)
    with stage:
        link = stage._link
        assert link is not None and link.wait_connected(10) and stage.publisher.flush(5.0)
        real, armed = link._outage_clock, [True]

        def clock() -> float:  # read by the handler as it marks the outage's start
            if armed[0]:
                armed[0] = False
                raise RuntimeError("a handler's bug")
            return real()

        monkeypatch.setattr(link, "_outage_clock", clock)
        broker.stop()
        assert wait_until(lambda: not link.connected, 5.0), "the link still says connected"
        assert not armed[0], "the handler never ran"
        states = [e for k in range(3) for e in stage.process(block(float(k))) if isinstance(e, DeviceState)]
        assert [(e.mode, e.t_s) for e in states] == [(DeviceMode.FAULT, 2.0)]
        for n in range(EVENTS):
            stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
        broker.start()
        assert link.wait_connected(10) and stage.publisher.flush(5.0)
        assert stage.spool.depth == 0
    _said_once(caplog, "on_disconnect")
