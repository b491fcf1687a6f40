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


def drop_connection(client: paho.Client, *args: object) -> None:
    """Ends the connection as a network loss would: paho says it lost it, and reconnects after its back-off."""
    sock = client.socket()
    if isinstance(sock, socket.socket):  # an SSLSocket too
        sock.shutdown(socket.SHUT_RDWR)
