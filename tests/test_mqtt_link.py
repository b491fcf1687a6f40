"""What the broker link says in the journal, against a real mosquitto: TLS mismatches and failures,
and a broker coming back after an outage.

The journal is all a technician has on a device that shows a broker fault: each failure must
name its cause and the [mqtt] key that fixes it, and the end of an outage must be visible.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from listener.config import parse_config
from listener.outputs.mqtt.client import MqttLink
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto

WAIT_S = 3.0  # long enough for a few attempts at reconnect_min_s = 0.2


def _link(broker: Mosquitto, **mqtt: object) -> MqttLink:
    config = parse_config({"mqtt": broker.mqtt_config(**mqtt)}).mqtt
    return MqttLink(config, client_id=DEVICE_ID, will=(f"{BASE}/status", lambda: b"offline"))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def _attempt(link: MqttLink, wait_s: float = WAIT_S) -> bool:
    link.open()
    try:
        return link.wait_connected(wait_s)
    finally:
        link.close()


def test_plain_mqtt_to_a_tls_port_suggests_tls(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # the TLS port reads the plain CONNECT as a broken handshake and hangs up before any CONNACK
    with Mosquitto(tmp_path / "tls", tls=True) as broker, caplog.at_level(logging.DEBUG):
        assert not _attempt(_link(broker, tls=False, ca_file=""))
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings  # once, not at every attempt
    assert f"127.0.0.1:{broker.port} closed the connection before answering it" in warnings[0]
    assert "set mqtt.tls = true" in warnings[0]
