"""Connection attempts that fail in ways paho does not expect, kept from ending its loop thread.

paho's loop thread catches only ``OSError`` around each connection attempt. A host name that
cannot even be encoded for a DNS lookup (``a..b``, ``192.168..5``, a label longer than 63
characters) raises ``UnicodeError`` there instead, which ended the thread with a traceback: the
run went on without MQTT for good, with no warning and no reconnect. :class:`GuardedClient` turns
any such exception into an ``OSError``, so paho reports it through ``on_connect_fail`` and retries
with back-off exactly as for a broker that is away.
"""

from __future__ import annotations

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from listener.config.schema import MqttConfig
from listener.errors import toml_value

HOST_FIX = "set mqtt.host to the broker's host name or IP address, e.g. '192.0.2.10' (parts of 1-63 characters)"


class ConnectAttemptError(OSError):
    """A connection attempt raised something other than ``OSError``; ``cause`` is what it raised."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class GuardedClient(paho.Client):
    """A paho client whose connection attempts fail with ``OSError`` only."""

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError:
            raise
        except Exception as exc:  # anything else would end paho's loop thread, and every reconnect with it
            raise ConnectAttemptError(exc) from exc


def kept_meanwhile(config: MqttConfig, until: str = "when it is back") -> str:
    """What a broker outage keeps on disk, as a warning says it: with spool_metrics off, not the live metrics."""
    if config.spool_metrics:
        return f"metrics are spooled on disk and sent {until}"
    return (
        f"events and session summaries are spooled on disk and sent {until}; live metrics are not kept "
        "(mqtt.spool_metrics = false: set it to true to keep them)"
    )


def attempt_failed_warning(config: MqttConfig, error: ConnectAttemptError) -> str:
    """The warning for an attempt that failed before reaching the network (mostly an unusable host)."""
    if isinstance(error.cause, ValueError):  # UnicodeError included: the host cannot be encoded for a lookup
        return (
            f"MQTT broker unreachable: mqtt.host = {toml_value(config.host)} is not a host name or IP address "
            f"({error.cause}): {HOST_FIX}; {kept_meanwhile(config, 'once it is fixed')}"
        )
    return (
        f"MQTT broker unreachable: connecting to mqtt.host = {toml_value(config.host)}, mqtt.port = {config.port} "
        f"failed ({error}): check mqtt.host and mqtt.port; {kept_meanwhile(config, 'once it connects')}"
    )
