"""MQTT settings that work but cost something: said (check-config, the start of run, doctor).

A drain rate too slow for what a session makes. ``mqtt.drain_rate_per_s`` limits every spooled message the drain
thread sends, the live ones as much as a backlog (its token bucket holds a second's worth). A session makes a
``metrics`` message every ``metrics_interval_s`` and its events besides, and its end stores its ``session_end``,
summary and final metrics at once. A rate below what is made fills the spool while the broker is connected, and a
full spool drops messages: with ``metrics_interval_s = 1``, ``drain_rate_per_s = 1`` and ``spool_max_messages = 10``
(each in range) a real-time run with the broker up dropped messages and ended with 8 still spooled.

A broker login open to the network: a password sent without TLS, or a certificate whose host name is not checked.
"""

from __future__ import annotations

import ipaddress
import math

from listener.config.mqtt_schema import MqttConfig
from listener.config.warning import ConfigWarning
from listener.errors import toml_value


def needed_drain_rate_per_s(metrics_interval_s: float) -> float:
    """The least rate not warned of: the metrics twice over (a session's end brings its final metrics and
    summary with them) and one event a second (a lively conversation's backchannels and interruptions)."""
    return 2.0 / metrics_interval_s + 1.0


def slow_drain(mqtt: MqttConfig) -> list[ConfigWarning]:
    """A warning for a drain rate below :func:`needed_drain_rate_per_s`, while MQTT is on."""
    needed = needed_drain_rate_per_s(mqtt.metrics_interval_s)
    if not mqtt.enabled or mqtt.drain_rate_per_s >= needed:
        return []
    # shown rounded up, so that the value said silences the warning; rounded first: 1.1 * 100 is 110.00000000000001
    at_least = math.ceil(round(needed * 100, 9)) / 100
    problem = (
        f"mqtt.drain_rate_per_s = {toml_value(mqtt.drain_rate_per_s)}: every spooled message is sent at most this "
        f"many a second, live ones too, and a session makes a metrics message every mqtt.metrics_interval_s = "
        f"{toml_value(mqtt.metrics_interval_s)} s besides its events: below {at_least:g} (2 / metrics_interval_s + 1) "
        "the spool fills while the broker is connected, and a full spool drops messages"
    )
    return [ConfigWarning(problem, f"set drain_rate_per_s to {at_least:g} or more, or raise metrics_interval_s")]


def exposed_login(mqtt: MqttConfig) -> list[ConfigWarning]:
    """A warning for a broker login that others on the network could read or take: a password sent without
    TLS, or a certificate whose host name is not checked (while MQTT is on)."""
    if not mqtt.enabled:
        return []
    if mqtt.username and not mqtt.tls and not _on_this_device(mqtt.host):
        problem = (
            f"mqtt.username = {toml_value(mqtt.username)} with mqtt.tls = false: the broker login (user name and "
            "password) crosses the network in plain text, readable by any device on the way"
        )
        fix = (
            "set [mqtt] tls = true and the broker's TLS port (usually 8883); on a network only trusted devices "
            "reach, this can be left as it is (the warning stays)"
        )
        return [ConfigWarning(problem, fix, ": ")]
    if mqtt.tls and mqtt.tls_insecure:
        problem = (
            "mqtt.tls_insecure = true: the broker's certificate is not checked against mqtt.host, so any device "
            "on the way that holds a certificate of the same CA can pose as the broker (and take the password)"
        )
        fix = "set mqtt.host to a name the certificate holds, then tls_insecure = false (it is for testing only)"
        return [ConfigWarning(problem, fix, ": ")]
    return []


def _on_this_device(host: str) -> bool:
    """A broker on the device itself: its login never leaves it."""
    try:
        return host.casefold() == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False
