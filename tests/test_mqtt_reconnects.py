"""What the journal says across several outages in one run, against a real mosquitto.

Each outage's cause (a password now required, a port that never answers) must be named even when an
earlier outage was already warned of, and every reconnect must have its loss before it: the
Troubleshooting table of docs/integrations/mqtt.md sends installers looking for exactly these lines.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import pytest

from listener.config import parse_config
from listener.outputs.mqtt.client import MqttLink
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto

LOST = "MQTT connection to 127.0.0.1:{port} lost"
CONNECTED = "MQTT connected to 127.0.0.1:{port}"


def _link(broker: Mosquitto, **mqtt: object) -> MqttLink:
    config = parse_config({"mqtt": broker.mqtt_config(**mqtt)}).mqtt
    return MqttLink(config, client_id=DEVICE_ID, will=(f"{BASE}/status", lambda: b"offline"))


def _said(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def _wait(done: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def _lose(broker: Mosquitto, link: MqttLink, caplog: pytest.LogCaptureFixture) -> None:
    """Stop the broker under a connected link and wait until the link has said the loss (at any level)."""
    assert link.wait_connected(10)
    lost = LOST.format(port=broker.port)
    before = sum(r.getMessage().startswith(lost) for r in caplog.records)
    broker.stop()
    _wait(lambda: sum(r.getMessage().startswith(lost) for r in caplog.records) > before, 5.0)
    assert not link.connected


def test_a_broker_back_requiring_a_password_is_named_after_the_warning_of_its_outage(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # the "lost" warning used up the one warning the link had, and every refusal after it went to debug:
    # the journal said "lost (Unspecified error)" and never "Not authorized"
    link = _link(broker)
    with caplog.at_level(logging.DEBUG), link:
        _lose(broker, link, caplog)
        broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
        broker.start()
        _wait(lambda: "refused the connection" in caplog.text, 8.0)
    refused = [m for m in _said(caplog, logging.WARNING) if "refused the connection" in m]
    assert len(refused) == 1 and "Not authorized" in refused[0], _said(caplog, logging.WARNING)


def test_a_silent_port_after_an_outage_is_named(broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    # the broker's port taken over by something that takes connections and never answers them
    link = _link(broker)
    with caplog.at_level(logging.DEBUG), link:
        _lose(broker, link, caplog)
        with socket.create_server(("127.0.0.1", broker.port)):  # the backlog takes the connection: no accept needed
            _wait(lambda: "no CONNACK within" in caplog.text, 12.0)
    silent = [m for m in _said(caplog, logging.WARNING) if "has not answered it (no CONNACK within 5 s)" in m]
    assert len(silent) == 1, _said(caplog, logging.WARNING)


def test_every_reconnect_after_a_short_connection_has_its_loss_before_it(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # a connection shorter than stable_s, lost: the journal showed "MQTT connected (after 2.0 s)" alone
    link = _link(broker)
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
