"""The link the MQTT publisher sends through, for its tests: the real ``MqttLink`` to the test broker, and
stand-ins for it.

The drain thread's rules (order after a reconnect, retries, closing) hang on when paho takes a message and
when its acknowledgement comes, which a real broker decides in its own time. A stand-in for ``MqttLink``
(the seam over paho the publisher is given) lets the test decide them; paho itself is never replaced.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Callable
from typing import cast

from listener.config import parse_config
from listener.config.mqtt_schema import MqttConfig
from listener.outputs.mqtt.client import Ack, MqttLink
from listener.outputs.mqtt.publisher import Publisher
from listener.outputs.mqtt.spool import Spool
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto


def device_link(config: MqttConfig) -> MqttLink:
    """The real link as the device makes it: the device id its client id, "offline" its Last Will."""
    return MqttLink(config, client_id=DEVICE_ID, will=(f"{BASE}/status", lambda: b"offline"))


def link_to(broker: Mosquitto, **mqtt: object) -> MqttLink:
    """The real link to the test's ``broker``, its [mqtt] table changed by ``mqtt`` (not yet opened)."""
    return device_link(parse_config({"mqtt": broker.mqtt_config(**mqtt)}).mqtt)


class LinkStandIn(abc.ABC):
    """What the publisher uses of ``MqttLink``: connected from the start, no acknowledgement unless the test
    puts one in ``acks``; a subclass's ``publish`` says what becomes of each message handed over."""

    connected = True

    def __init__(self) -> None:
        self.config = MqttConfig()
        self.connects = 1
        self.acks: collections.deque[Ack] = collections.deque()
        self.on_ack: Callable[[], None] = lambda: None  # the publisher sets its own

    @abc.abstractmethod
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> int:
        """paho's mid for the message, as ``MqttLink.publish`` returns it."""

    def publisher(self, spool: Spool, rate_per_s: float, inflight_max: int) -> Publisher:
        """A publisher draining ``spool`` through this link, its topics ``x/<leaf>`` (not yet opened)."""
        link = cast(MqttLink, self)
        return Publisher(spool, link, lambda leaf: f"x/{leaf}", rate_per_s=rate_per_s, inflight_max=inflight_max)
