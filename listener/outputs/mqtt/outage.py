"""The broker's outage as the lights see it: a fault after ``mqtt.outage_fault_s`` unreachable, cleared when back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from listener.config.mqtt_schema import MqttConfig
from listener.events import DeviceMode, DeviceState
from listener.outputs.mqtt.client import MqttLink
from listener.outputs.mqtt.connecting import broker_address

log = logging.getLogger("listener.outputs.mqtt.stage")  # said as the MQTT stage's, as before it moved here


class OutageWatch:
    """One fault per outage, and its end logged: the journal never shows an outage that never ended."""

    def __init__(self, cfg: MqttConfig) -> None:
        self.cfg = cfg
        self.fault_shown = False
        self.backlog_at_connect = 0  # spooled messages waiting when the latest connection came (paho's thread)

    def step(self, link: MqttLink, t_s: float) -> Iterator[DeviceState]:
        outage = link.outage_s()
        if not self.fault_shown and outage >= self.cfg.outage_fault_s:
            self.fault_shown = True
            log.warning("MQTT broker unreachable for %.0f s: showing a fault until it is back", outage)
            detail = f"broker unreachable for {outage:.0f} s"
            yield DeviceState(t_s=t_s, mode=DeviceMode.FAULT, detail=detail, cause="broker")
        elif self.fault_shown and link.connected:
            self.fault_shown = False
            log.info(
                "MQTT broker %s reachable again after %.0f s: the fault is cleared, sending %d spooled messages",
                broker_address(self.cfg),
                link.last_outage_s,
                self.backlog_at_connect,
            )
            yield DeviceState(t_s=t_s, mode=DeviceMode.LISTENING, detail="broker reachable again", cause="broker")
