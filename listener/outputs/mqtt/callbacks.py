"""paho's callbacks kept from ending its loop thread.

paho-mqtt 2.x lets an exception raised in a callback out of its network loop (``suppress_exceptions`` is
off by default), and that ends the thread ``loop_start`` made: the link went on saying it was connected,
no acknowledgement was read again and no reconnect came, so the device spooled everything and sent
nothing, with no fault on the LEDs or in MQTT. paho's ``suppress_exceptions`` would keep the thread but
not the link's state (a failed ``on_publish`` still has paho forget the message, whose spool row would
wait for its acknowledgement for ever): :class:`CallbackGuard` logs the failure and runs a recovery
that makes that state whole again.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from listener.config.mqtt_schema import MqttConfig
from listener.outputs.mqtt.connecting import broker_address, kept_meanwhile

log = logging.getLogger(__name__)


class CallbackGuard:
    """Wraps each of a link's paho callbacks; each callback's first failure is an error, later ones debug."""

    def __init__(self) -> None:
        self._failed: set[str] = set()  # paho's thread alone touches it

    def __call__(
        self, name: str, handler: Callable[..., None], recover: Callable[..., None] | None = None, then: str = ""
    ) -> Callable[..., None]:
        """``handler`` run as paho's ``name`` callback; if it raises, ``recover`` (same arguments), said as ``then``."""

        def guarded(*args: Any) -> None:
            try:
                handler(*args)
            except Exception:
                self._say(name, then)
                if recover is not None:
                    try:
                        recover(*args)
                    except Exception:
                        log.exception("MQTT: recovering from the failed %s handler failed too", name)

        return guarded

    def _say(self, name: str, then: str) -> None:
        level = logging.DEBUG if name in self._failed else logging.ERROR
        self._failed.add(name)
        log.log(
            level,
            "MQTT: the %s handler failed, a bug to report with this traceback; paho's loop goes on%s"
            " (its later failures are logged at debug level)",
            name,
            f", {then}" if then else "",
            exc_info=True,
        )


class Rerun:
    """The connections a link drops because its ``on_connect`` handler failed, to run it again on the next.

    Such a loss is this device's doing: a run of them was blamed at error level on another client using this
    client id (three connections dropped soon after the broker accepted them), and a handler failing before the
    link said "connected" reconnected every ``reconnect_min_s`` for good (paho resets its wait at each accept),
    a connected line at info each time and no loss said. Used from paho's thread alone."""

    def __init__(self) -> None:
        self.dropping = False  # the connection ending next is one this link dropped
        self.failures = 0  # connections in a row whose handler failed

    def drop(self, client: paho.Client, *args: object) -> None:
        """The recovery of a failed ``on_connect`` handler (same arguments)."""
        self.dropping = True
        self.failures += 1
        drop_connection(client)

    def ended(self) -> bool:
        """At a loss: whether it is the end of a connection this link dropped itself."""
        dropping, self.dropping = self.dropping, False
        return dropping

    def said(self, config: MqttConfig, max_s: int) -> str:
        times = "" if self.failures == 1 else f", {self.failures} connections in a row"
        return (
            f"MQTT connection to {broker_address(config)} dropped by this device: its on_connect handler failed"
            f"{times} (the error logged with its traceback, a bug to report), no fault of the broker, the network "
            f"or the client id; reconnecting with back-off up to {max_s} s to run it again, {kept_meanwhile(config)}"
        )


def drop_connection(client: paho.Client, *args: object) -> None:
    """Ends the connection as a network loss would: paho says it lost it, and reconnects after its back-off."""
    sock = client.socket()
    if isinstance(sock, socket.socket):  # an SSLSocket too
        sock.shutdown(socket.SHUT_RDWR)
