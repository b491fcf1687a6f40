"""What the journal says across several outages in one run, against a real mosquitto.

Each outage's cause (a password now required, a port that never answers) must be named even when an
earlier outage was already warned of, and every reconnect must have its loss before it: the
Troubleshooting table of docs/integrations/mqtt.md sends installers looking for exactly these lines.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from listener.config import parse_config
from listener.outputs.mqtt.clash import KICK_SLACK_S, ClashWatch
from listener.outputs.mqtt.client import MqttLink
from listener.outputs.mqtt.connecting import Backoff, kept_meanwhile
from tests.mqtt_broker import DEVICE_ID, Mosquitto
from tests.mqtt_links import device_link, link_to
from tests.mqtt_relay import AckHold
from tests.waiting import wait_until

LOST = "MQTT connection to 127.0.0.1:{port} lost"
CONNECTED = "MQTT connected to 127.0.0.1:{port}"


def _said(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def _lose(broker: Mosquitto, link: MqttLink, caplog: pytest.LogCaptureFixture) -> None:
    """Stop the broker under a connected link and wait until the link has said the loss (at any level)."""
    assert link.wait_connected(10)
    lost = LOST.format(port=broker.port)
    before = sum(r.getMessage().startswith(lost) for r in caplog.records)
    broker.stop()
    wait_until(lambda: sum(r.getMessage().startswith(lost) for r in caplog.records) > before, 5.0)
    assert not link.connected


def test_a_broker_back_requiring_a_password_is_named_after_the_warning_of_its_outage(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # the "lost" warning used up the one warning the link had, and every refusal after it went to debug:
    # the journal said "lost (Unspecified error)" and never "Not authorized"
    link = link_to(broker)
    with caplog.at_level(logging.DEBUG), link:
        _lose(broker, link, caplog)
        broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
        broker.start()
        wait_until(lambda: "refused the connection" in caplog.text, 8.0)
    refused = [m for m in _said(caplog, logging.WARNING) if "refused the connection" in m]
    assert len(refused) == 1 and "Not authorized" in refused[0], _said(caplog, logging.WARNING)


def test_a_silent_port_after_an_outage_is_named(broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    # the broker's port taken over by something that takes connections and never answers them
    link = link_to(broker)
    with caplog.at_level(logging.DEBUG), link:
        _lose(broker, link, caplog)
        with socket.create_server(("127.0.0.1", broker.port)):  # the backlog takes the connection: no accept needed
            wait_until(lambda: "no CONNACK within" in caplog.text, 12.0)
    silent = [m for m in _said(caplog, logging.WARNING) if "has not answered it (no CONNACK within 5 s)" in m]
    assert len(silent) == 1, _said(caplog, logging.WARNING)
    # the port answered as a broker before the outage: its settings are right, the broker is the one to look at
    assert "answered on this port earlier in this run, so the broker is hung or overloaded" in silent[0]
    assert "check mqtt.port" not in silent[0]


def test_every_reconnect_after_a_short_connection_has_its_loss_before_it(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # a connection shorter than stable_s, lost: the journal showed "MQTT connected (after 2.0 s)" alone
    link = link_to(broker)
    with caplog.at_level(logging.INFO), link:
        for _ in range(2):
            _lose(broker, link, caplog)
            broker.start()
        assert link.wait_connected(10)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    lines = [m for m in said if m.startswith((LOST.format(port=broker.port), CONNECTED.format(port=broker.port)))]
    kinds = ["lost" if " lost " in m else "connected" for m in lines]
    assert kinds == ["connected", "lost", "connected", "lost", "connected"], said
    assert len([m for m in _said(caplog, logging.WARNING) if " lost " in m]) == 1  # the second at info


def test_a_broker_stopped_under_a_running_device_is_said_as_before_not_as_a_stall(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # the stall's line is for a device that stood still longer than the broker waits (7.5 s with keepalive_s = 5):
    # a broker gone while the device ran keeps the line the Troubleshooting table sends installers to the broker with
    link = link_to(broker)
    with caplog.at_level(logging.DEBUG), link:
        assert link.wait_connected(10)
        time.sleep(1.5 * 5 + 0.5)  # connected longer than the broker waits: the connection's age is no stall
        _lose(broker, link, caplog)
    lost = [r for r in caplog.records if r.getMessage().startswith(LOST.format(port=broker.port))]
    assert [(r.levelno, r.getMessage()) for r in lost] == [
        (
            logging.WARNING,
            f"{LOST.format(port=broker.port)} (Unspecified error); reconnecting with back-off, "
            f"{kept_meanwhile(link.config)}",
        )
    ]


def test_quick_broker_restarts_are_no_client_id_clash_and_keep_the_shortest_wait(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # connections of 6.5 s, under stable_s (16 s) and accepted at the first attempt, each ended by a broker
    # restart: the third was blamed on another client with this id (at error), the reconnects went quiet,
    # and the wait doubled each time (up to 41 s with the defaults)
    link = link_to(broker, reconnect_min_s=1.0, reconnect_max_s=8.0)
    with caplog.at_level(logging.INFO), link:
        for _ in range(3):
            assert link.wait_connected(10)
            time.sleep(6.5)
            _lose(broker, link, caplog)
            broker.start()
        assert link.wait_connected(10)
        waits_s = link.backoff.delay_s
    assert not _said(caplog, logging.ERROR)
    assert waits_s == 1  # reconnected from the shortest wait each time
    connected = [m for m in _said(caplog, logging.INFO) if m.startswith(CONNECTED.format(port=broker.port))]
    assert len(connected) == 4, _said(caplog, logging.INFO)


@pytest.mark.parametrize(("max_s", "held_s"), [(2.0, 10.0), (6.0, 12.0), (5.6, 12.0)])
def test_a_clash_is_over_once_a_connection_holds_twice_reconnect_max_s_and_10_s_at_least(
    max_s: float, held_s: float
) -> None:
    """docs/integrations/mqtt.md: quiet "until one holds for twice reconnect_max_s (10 s at least)" (the test below
    shows the line at the floor, through a real broker); the waits are paho's whole seconds (5.6 s is 6)."""
    config = parse_config({"mqtt": {"enabled": True, "reconnect_min_s": 1.0, "reconnect_max_s": max_s}}).mqtt
    assert Backoff.of(config).stable_s == held_s


def test_the_end_of_a_client_id_clash_is_said_once_a_connection_holds(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # after the error the reconnects are at debug level: without a word when one held, the journal never
    # showed that the clash was over (the other device renamed, the test client gone)
    link = link_to(broker, reconnect_min_s=1.0, reconnect_max_s=2.0)  # stable_s: 10 s
    intruder = paho.Client(CallbackAPIVersion.VERSION2, client_id=DEVICE_ID, reconnect_on_failure=False)
    with caplog.at_level(logging.INFO), link:
        for _ in range(3):  # connects once each time, taking the link's place; the link's reconnect takes it back
            assert link.wait_connected(10)
            intruder.connect("127.0.0.1", broker.port)
            intruder.loop_start()
            wait_until(lambda: not link.connected, 5.0)
            assert link.wait_connected(10)
            intruder.loop_stop()
        (error,) = _said(caplog, logging.ERROR)
        assert f"another client uses client id {DEVICE_ID}" in error
        wait_until(lambda: "has held" in caplog.text, 15.0)
    held = [m for m in _said(caplog, logging.INFO) if "has held" in m]
    assert held == [
        f"MQTT connection to 127.0.0.1:{broker.port} as {DEVICE_ID} has held for 10 s: "
        "no other client takes its place any more"
    ], _said(caplog, logging.INFO)


def test_a_client_with_this_id_reconnecting_at_its_own_pace_is_named(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # a test client (or a second device whose back-off did not grow with ours) takes the link's place every
    # 5.5 s, longer than twice the link's wait: counted as ordinary outages, the clash was never named
    link = link_to(broker, reconnect_min_s=1.0, reconnect_max_s=2.0)  # stable_s: 10 s; a kick: lost within 5 s
    intruder = paho.Client(CallbackAPIVersion.VERSION2, client_id=DEVICE_ID, reconnect_on_failure=False)
    with caplog.at_level(logging.INFO), link:
        for _ in range(3):
            assert link.wait_connected(10)
            time.sleep(5.5)
            intruder.connect("127.0.0.1", broker.port)
            intruder.loop_start()
            wait_until(lambda: not link.connected, 5.0)
            assert link.wait_connected(10)
            intruder.loop_stop()
        waits_s = link.backoff.delay_s
    assert not _said(caplog, logging.ERROR)  # as likely a broker restarting that often: a warning, not an error
    named = [m for m in _said(caplog, logging.WARNING) if f"another client uses client id {DEVICE_ID}" in m]
    assert len(named) == 1 and "or the broker restarts that often" in named[0], _said(caplog, logging.WARNING)
    assert waits_s == 1  # each reconnect from the shortest wait, as after a restart


def test_a_clash_after_an_ordinary_loss_is_still_the_error(caplog: pytest.LogCaptureFixture) -> None:
    """Two devices cloned with one id boot together after a power cut: the second connects 30 s into the first's
    connection (an ordinary loss), then each kicks the other at once. That first loss kept the run from ever
    being all kicks, so the clash stayed a warning with a "lost" line at every reconnect, and never ended."""
    config = parse_config({"mqtt": {"enabled": True, "reconnect_min_s": 1.0, "reconnect_max_s": 60.0}}).mqtt
    link = device_link(config)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=DEVICE_ID)  # never connected: its back-off setter
    lost = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")
    with caplog.at_level(logging.INFO):
        for lived_s in (30.0, 0.5, 0.5, 0.5, 0.5):
            link._after_loss(client, lost, lived_s)
    (error,) = _said(caplog, logging.ERROR)
    assert f"another client uses client id {DEVICE_ID}" in error
    assert link.backoff.delay_s > 1  # kicked: the wait doubles instead of hammering the broker


def _accepted_after(link: MqttLink, connects: int) -> bool:
    return link.connected and link.connects > connects


def _drop_and_reconnect(relay: AckHold, link: MqttLink, times: int) -> None:
    """Drop the link's connection ``times`` times, each time waiting until paho's next one is accepted."""
    for _ in range(times):
        assert link.connected
        connects = link.connects
        relay.drop()
        wait_until(lambda: not link.connected, 5.0)
        assert wait_until(functools.partial(_accepted_after, link, connects), 10.0)  # paho's wait, then accepted


def _clash_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    return [(level, line) for level, line in said if f"another client uses client id {DEVICE_ID}" in line]


def test_a_clash_is_blamed_at_the_third_kick_and_counted_afresh_once_a_connection_held(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # connections lost soon after each accept, as when another client with this id takes the place (here the
    # relay drops them): two can be chance, the third is the clash, said once; once a connection has held
    # stable_s its loss is an ordinary one, and a new clash takes three kicks in a row again: a connection
    # lost later than a kick (past twice the wait and the slack) but before stable_s is short-lived, no kick
    with AckHold(broker.port) as relay, caplog.at_level(logging.DEBUG):
        link = link_to(broker, port=relay.port, reconnect_min_s=1.0, reconnect_max_s=1.0)  # stable_s: 10 s
        with link:
            assert link.wait_connected(10)
            _drop_and_reconnect(relay, link, 2)
            assert _clash_lines(caplog) == []
            _drop_and_reconnect(relay, link, 1)
            assert [level for level, _ in _clash_lines(caplog)] == [logging.ERROR]
            wait_until(lambda: "has held" in caplog.text, 15.0)
            assert "has held" in caplog.text
            _drop_and_reconnect(relay, link, 1)  # the held connection
            time.sleep(2 * link.backoff.max_s + KICK_SLACK_S + 1.0)  # 4 s: short-lived, too long for a kick
            _drop_and_reconnect(relay, link, 3)  # then two kicks: three short-lived in a row, two kicks
            clash = _clash_lines(caplog)
            assert [level for level, _ in clash] == [logging.ERROR, logging.WARNING], clash
            assert "or the broker restarts that often" in clash[1][1]
            _drop_and_reconnect(relay, link, 1)
            assert [level for level, _ in _clash_lines(caplog)] == [logging.ERROR, logging.WARNING, logging.ERROR]


def test_a_port_that_answered_then_hangs_up_on_every_attempt_is_not_blamed_on_the_settings(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # a proxy or a container's port in front of a broker that went away takes each connection and closes it
    # unanswered, as a TLS port does a plain CONNECT: the warning told the installer to set mqtt.tls = true or
    # check mqtt.port, the settings this very run had connected with
    with AckHold(broker.port, hang_up=frozenset(range(2, 1000))) as relay, caplog.at_level(logging.DEBUG):
        link = link_to(broker, port=relay.port)
        with link:
            assert link.wait_connected(10)
            relay.drop()
            wait_until(lambda: "times in a row" in caplog.text, 10.0)
    closed = [m for m in _said(caplog, logging.WARNING) if "closed the connection before answering it" in m]
    assert len(closed) == 1, _said(caplog, logging.WARNING)
    assert "it answered on this port earlier in this run, so the port is right" in closed[0], closed[0]
    assert "check that the broker is running" in closed[0] and "(8883 usually does)" not in closed[0], closed[0]
    assert "check mqtt.port" not in closed[0], closed[0]


def test_each_reconnect_of_a_clash_cancels_the_previous_connections_hold_watch() -> None:
    # every connection accepted after the clash was blamed started a timer thread that lived stable_s (up to
    # twice reconnect_max_s), and a new connection left the previous one's running: one thread per reconnect
    config = parse_config({"mqtt": {"enabled": True, "reconnect_min_s": 1.0, "reconnect_max_s": 60.0}}).mqtt
    watch = ClashWatch(config, DEVICE_ID, Backoff.of(config))
    watch.blamed = True
    try:
        for _ in range(20):
            watch.connected(lambda: True)
        timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
        # this watch's, not yet cancelled (a cancelled one is on its way out); other tests' timers left aside
        waiting = [t for t in timers if getattr(t.function, "__self__", None) is watch and not t.finished.is_set()]
        assert len(waiting) == 1
    finally:
        watch.close()
