"""Two devices with one client id, against a real mosquitto.

The broker lets one client id be connected once: each new connection with it
throws the previous one off. paho resets its back-off whenever the broker
accepts a connection, so without care the two devices kick each other off
about once a second forever, each logging a warning every time.
"""

from __future__ import annotations

import logging
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from listener.outputs.mqtt.client import SESSION_TAKEN_OVER, MqttLink
from tests.mqtt_broker import DEVICE_ID, Mosquitto
from tests.mqtt_links import link_to
from tests.waiting import wait_until

CLIENT_ID = DEVICE_ID  # the client id is the device id
BLAME = f"another client uses client id {CLIENT_ID}: give each device its own [mqtt] device_id"


def _link(broker: Mosquitto, protocol: str = "3.1.1") -> MqttLink:
    return link_to(broker, reconnect_min_s=1.0, reconnect_max_s=8.0, protocol=protocol)


def _messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_two_devices_with_one_client_id_back_off_and_say_why_once(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    # mosquitto 2.0 closes the old connection without an MQTT 5 reason, for either protocol: the link
    # recognises connections dropped soon after the broker accepted them at the first attempt
    first, second = _link(broker), _link(broker)
    with caplog.at_level(logging.INFO), first:
        assert first.wait_connected(10)
        with second:
            wait_until(lambda: _messages(caplog, logging.ERROR), 40.0)
            connects = first.connects + second.connects
            waits_s = (first.backoff.delay_s, second.backoff.delay_s)
    errors = _messages(caplog, logging.ERROR)
    assert errors, "the likely cause was never named"
    assert BLAME in errors[0] and "3 times in a row" in errors[0]
    assert len(errors) <= 2  # once per device
    # the waits double across the kicks (1, 2, 4 s...): without that, a connection a second
    assert connects <= 8, connects
    assert max(waits_s) >= 4, waits_s  # three kicks: 1 -> 2 -> 4 (-> 8) s, not back to 1 s each time
    lost = [m for m in _messages(caplog, logging.WARNING) if "lost" in m]
    assert len(lost) <= 2, lost  # one per device, not one per kick


def test_session_taken_over_is_named_at_the_first_drop(broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    # Brokers that send MQTT 5's reason code (mosquitto 2.0.11 here does not) say outright what happened;
    # the link's disconnect callback is handed what paho makes of such a DISCONNECT packet.
    link = _link(broker, protocol="5")
    with caplog.at_level(logging.INFO), link:
        assert link.wait_connected(10)
        client = link._client
        assert client is not None
        reason = ReasonCode(PacketTypes.DISCONNECT, identifier=SESSION_TAKEN_OVER)
        time.sleep(0.2)
        link._handle_disconnect(client, None, None, reason, None)
        errors = _messages(caplog, logging.ERROR)
        assert len(errors) == 1 and BLAME in errors[0] and "session taken over" in errors[0]
        assert client._reconnect_min_delay == 2  # doubled, not back to the 1 s minimum
