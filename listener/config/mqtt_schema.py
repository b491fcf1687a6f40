"""The ``[mqtt]`` table of the configuration tree (see :mod:`listener.config.schema`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from listener.config.rules import field
from listener.config.text_checks import AREA_RULE, is_area, is_host, is_topic_id, is_topic_prefix

_TOPIC_LEVELS = (
    "MQTT topic levels joined by /, without +, # or empty levels, not starting with $, no space at a level's edge"
)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    enabled: bool = field(False, "publish anonymized metrics over MQTT")
    host: str = field(
        "127.0.0.1",
        "broker host",
        allowed='a host name or IP address, e.g. `"192.0.2.10"` (not a URL: the port is `port`)',
        accepts=is_host,
    )
    port: int = field(1883, "broker port", min=1, max=65535)
    topic_prefix: str = field(
        "listener", "topics are <topic_prefix>/<device_id>/...", allowed=_TOPIC_LEVELS, accepts=is_topic_prefix
    )
    device_id: str = field(
        "",
        "'' = 'listener-' + 12 hex digits of a salted slow hash (scrypt) of the board serial (else of /etc/machine-id)",
        allowed='`""`, or 1-64 ASCII letters, digits, - or _, the first a letter or digit (`"counter-3"`, not'
        ' `"counter.3"`)',
        accepts=lambda text: text == "" or is_topic_id(text),
        example="counter-3",
    )
    protocol: Literal["3.1.1", "5"] = field("3.1.1", "MQTT protocol version")
    keepalive_s: int = field(
        30, "keep-alive; a hung device's Last Will comes 1.5x this after its last packet (mosquitto: up to 3 s more)",
        min=5, max=3600,
    )  # fmt: skip
    reconnect_min_s: float = field(
        1.0,
        "first wait before reconnecting; doubles per failure; rounded to whole seconds, at least 1",
        min=0.1,
        max=60.0,
    )
    reconnect_max_s: float = field(
        60.0,
        "longest wait between reconnect attempts; rounded to whole seconds",
        min=1.0,
        max=3600.0,
        allowed="≥ reconnect_min_s",
    )
    tls: bool = field(False, "connect over TLS")
    ca_file: str = field("", "CA bundle (PEM) that signed the broker's certificate; '' = system CAs", path=True)
    cert_file: str = field("", "client certificate (PEM) for mutual TLS; '' = none", path=True)
    key_file: str = field(
        "", "private key of cert_file (PEM, without a passphrase)", path=True, allowed="set with cert_file, or neither"
    )
    tls_insecure: bool = field(False, "skip the broker certificate's host name check (testing only)")
    username: str = field(
        "",
        "'' = anonymous; the password comes from password_file or LISTENER_MQTT_PASSWORD",
        allowed="text without control characters, at most 65535 UTF-8 bytes (MQTT's limit)",
    )
    password_file: str = field(
        "",
        "file holding the broker password on its first line and nothing else, owned by the service user with mode "
        "0600; never put it in TOML",
        path=True,
    )
    metrics_interval_s: float = field(
        10.0, "seconds of audio between metrics messages in a session", min=1.0, max=3600.0
    )
    spool_metrics: bool = field(True, "keep metrics in the on-disk spool too, so outages lose none")
    spool_max_messages: int = field(
        50000,
        "spool bound; when full, rolling metrics snapshots are dropped first, session summaries last (all counted); "
        "50000 (~29 MB) holds ~108 h of opening hours at a visit every 5 min, every event and summary of ~170 h",
        min=10,
        max=10000000,
    )
    drain_rate_per_s: float = field(
        50.0,
        "most spooled messages sent a second, live ones as well as a backlog after an outage; below "
        "2 / metrics_interval_s + 1 the spool can fill with the broker connected (check-config warns)",
        min=1.0,
        max=10000.0,
    )
    inflight_max: int = field(20, "spooled messages awaiting PUBACK at once", min=1, max=1000)
    outage_fault_s: float = field(
        300.0, "broker unreachable this long: device state 'fault' (LEDs)", min=1.0, max=86400.0
    )
    shutdown_drain_s: float = field(2.0, "on shutdown, wait this long for the spool to drain", min=0.0, max=60.0)
    discovery: bool = field(True, "publish Home Assistant MQTT discovery")
    discovery_prefix: str = field(
        "homeassistant", "Home Assistant's discovery prefix", allowed=_TOPIC_LEVELS, accepts=is_topic_prefix
    )
    suggested_area: str = field(
        "",
        "Home Assistant puts the device in this area (made if missing) while it is in none, e.g. the store; "
        "'' = none. It is published: name a store or counter, never a person",
        allowed=AREA_RULE,
        accepts=is_area,
        example="Store 12",
    )
