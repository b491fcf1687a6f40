"""The broker connection: paho-mqtt 2.x (VERSION2 callbacks) in its own loop thread.

:class:`MqttLink` connects asynchronously, so a broker that is away at
start-up only costs one clear warning; paho's loop thread then reconnects
with exponential back-off. Unacknowledged QoS 1 messages stay in paho's
queue across reconnects and are re-sent (same bytes, so the same ``seq``).
The link never blocks its caller on the network: :meth:`publish` only
queues, and acknowledgements come back through :attr:`acks`.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from listener.config.schema import MqttConfig
from listener.errors import OutputError

log = logging.getLogger(__name__)

PASSWORD_ENV = "LISTENER_MQTT_PASSWORD"


@dataclass(frozen=True, slots=True)
class Ack:
    mid: int
    ok: bool


def read_password(config: MqttConfig) -> str | None:
    """The broker password: the environment first, then ``password_file``; never the TOML."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not config.password_file:
        return None
    try:
        return Path(config.password_file).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise OutputError(
            f"mqtt.password_file {config.password_file} cannot be read ({exc}): check the path and that the "
            f"listener user may read it, or set {PASSWORD_ENV} instead"
        ) from None


def _check_file(key: str, path: str) -> None:
    if path and not Path(path).is_file():
        raise OutputError(f"mqtt.{key} {path} does not exist: point it at a PEM file, or set it to ''")


class MqttLink:
    """One paho client: connection, TLS, credentials, Last Will, reconnects."""

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        will: tuple[str, bytes],
        on_connected: Callable[[], None] = lambda: None,
        on_message: Callable[[str, bytes], None] = lambda topic, payload: None,
        subscriptions: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.will = will
        self.acks: deque[Ack] = deque()
        self.on_ack: Callable[[], None] = lambda: None
        self._on_connected = on_connected
        self._on_message = on_message
        self._subscriptions = subscriptions
        self._client: paho.Client | None = None
        self._connected = threading.Event()
        self._down_since = time.monotonic()
        self._warned = False
        self.connects = 0  # successful connections so far

    # -- lifecycle ---------------------------------------------------------

    def open(self) -> None:
        cfg = self.config
        protocol = paho.MQTTv5 if cfg.protocol == "5" else paho.MQTTv311
        kwargs: dict[str, Any] = {} if protocol == paho.MQTTv5 else {"clean_session": True}
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol, **kwargs)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        if cfg.tls:
            self._set_tls(client)
        if cfg.username:
            client.username_pw_set(cfg.username, read_password(cfg))
        topic, payload = self.will
        client.will_set(topic, payload, qos=1, retain=True)
        client.reconnect_delay_set(max(1, round(cfg.reconnect_min_s)), max(1, round(cfg.reconnect_max_s)))
        client.max_inflight_messages_set(cfg.inflight_max + 8)  # + retained topics published beside the spool
        self._down_since = time.monotonic()
        # set before the loop starts: on a loaded machine the connection can be up, and the drain
        # thread publishing through self._client, before loop_start() even returns
        self._client = client
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        client.loop_start()

    def _set_tls(self, client: paho.Client) -> None:
        cfg = self.config
        _check_file("ca_file", cfg.ca_file)
        _check_file("cert_file", cfg.cert_file)
        _check_file("key_file", cfg.key_file)
        try:
            client.tls_set(
                ca_certs=cfg.ca_file or None,
                certfile=cfg.cert_file or None,
                keyfile=cfg.key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise OutputError(
                f"MQTT TLS files cannot be used ({exc}): check mqtt.ca_file, cert_file, key_file"
            ) from None
        if cfg.tls_insecure:
            client.tls_insecure_set(True)

    def close(self, last_words: tuple[str, bytes] | None = None, timeout_s: float = 1.0) -> None:
        """Publish ``last_words`` (retained, QoS 1) if connected, then disconnect cleanly."""
        client, self._client = self._client, None
        if client is None:
            return
        if last_words is not None and self._connected.is_set():
            topic, payload = last_words
            info = client.publish(topic, payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=timeout_s)
            except (RuntimeError, ValueError):
                log.debug("MQTT: could not confirm the last message before disconnecting")
        client.disconnect()
        client.loop_stop()
        self._connected.clear()

    # -- state -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def outage_s(self) -> float:
        """Seconds since the broker was last reachable (0 while connected)."""
        return 0.0 if self._connected.is_set() else time.monotonic() - self._down_since

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> int | None:
        """Queue a message in paho (never waits on the network); its mid, or None if refused."""
        client = self._client
        if client is None:
            return None
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            log.warning("MQTT: paho refused a message for %s (%s)", topic, paho.error_string(info.rc))
            return None
        return int(info.mid)

    # -- paho callbacks (paho's loop thread) --------------------------------

    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}{' (TLS)' if self.config.tls else ''}"

    def _handle_connect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        if reason.is_failure:
            self._warn_once(
                f"MQTT broker {self._where()} refused the connection: {reason}; check mqtt.username, the "
                f"password (mqtt.password_file or {PASSWORD_ENV}) and the broker's ACL; metrics are spooled"
            )
            return
        outage = time.monotonic() - self._down_since
        log.info("MQTT connected to %s as %s (after %.1f s)", self._where(), self.client_id, outage)
        self._warned = False
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self.connects += 1
        self._connected.set()
        self._on_connected()

    def _handle_connect_fail(self, client: paho.Client, userdata: object) -> None:
        tls_hint = ", the CA file and the certificate's host name" if self.config.tls else ""
        self._warn_once(
            f"MQTT broker {self._where()} is unreachable; check that it is running, mqtt.host and mqtt.port"
            f"{tls_hint}, and the network; metrics are spooled on disk and sent when it is back"
        )

    def _handle_disconnect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        if self._connected.is_set():
            self._down_since = time.monotonic()
            self._connected.clear()
            if self._client is not None:
                self._warn_once(
                    f"MQTT connection to {self._where()} lost ({reason}); reconnecting with back-off, "
                    "metrics are spooled meanwhile"
                )
        self.on_ack()  # wake the drain thread so it notices

    def _handle_publish(
        self, client: paho.Client, userdata: object, mid: int, reason: ReasonCode, properties: object
    ) -> None:
        # Runs under paho's message lock: only record the ack, the drain thread does the rest.
        self.acks.append(Ack(mid=mid, ok=not reason.is_failure))
        self.on_ack()

    def _handle_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload))

    def _warn_once(self, text: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(text)
        else:
            log.debug(text)
