"""Connection attempts that fail in ways paho does not expect, kept from ending its loop thread.

paho's loop thread catches only ``OSError`` around each connection attempt. A host name that
cannot even be encoded for a DNS lookup (``a..b``, ``192.168..5``, a label longer than 63
characters) raises ``UnicodeError`` there instead, which ended the thread with a traceback: the
run went on without MQTT for good, with no warning and no reconnect. :class:`GuardedClient` turns
any such exception into an ``OSError``, so paho reports it through ``on_connect_fail`` and retries
with back-off exactly as for a broker that is away.

A port that takes the TCP connection but is no MQTT broker (a web server, an SSH server, a TLS port
that lets a plain CONNECT hang) never sends the CONNACK, and paho only gives up on it after
``keepalive_s`` (30 s by default), saying nothing: :class:`ConnackWatch` notices the silence after
:data:`CONNACK_WAIT_S`, so that the journal names the port instead of only what stays in the spool.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from listener.clock import TIME_FIX, judged_by_clock, refused_by_its_dates
from listener.config.mqtt_schema import MqttConfig
from listener.errors import toml_value

# as long as `listener doctor` waits for the CONNACK (doctor.MQTT_TIMEOUT_S): a broker answers in milliseconds
CONNACK_WAIT_S = 5.0
STABLE_MIN_S = 10.0  # a connection holds this long at least before it counts as stable, however short max_s
CLOCK_FIX = f"{TIME_FIX}; if the time is right, renew the broker's certificate"
HOST_FIX = "set mqtt.host to the broker's host name or IP address, e.g. '192.0.2.10' (parts of 1-63 characters)"


class ConnectAttemptError(OSError):
    """A connection attempt raised something other than ``OSError``; ``cause`` is what it raised."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class GuardedClient(paho.Client):
    """A paho client whose connection attempts fail with ``OSError`` only, and that calls ``on_round`` (in its
    loop thread) at each round of its loop: how a stall of this device is told from a broker's loss."""

    on_round: Callable[[], None] | None = None

    def loop_misc(self) -> MQTTErrorCode:
        # paho's loop calls this at the end of every round that kept the connection (at least once a second)
        if self.on_round is not None:
            self.on_round()
        return super().loop_misc()

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


def connect_fail_hint(config: MqttConfig, cause: BaseException | None) -> str:
    """What to check when a connection attempt failed with ``cause`` (None: paho gave none)."""
    if refused_by_its_dates(cause):
        # a Pi with no network time (1970, or yesterday's saved time) sees a valid certificate so: blaming
        # the CA file had installers replace a good one
        return f"{judged_by_clock()}: {CLOCK_FIX}"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            "check mqtt.ca_file (the CA file that signed the broker's certificate; '' = the system's CAs) "
            "and that the certificate names mqtt.host (tls_insecure skips only that)"
        )
    # a plain port reads the TLS handshake as a broken CONNECT and hangs up
    plain_port = isinstance(cause, ConnectionResetError | ssl.SSLEOFError) or (
        isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER"
    )
    if config.tls and plain_port:
        return "if that port speaks plain MQTT (1883 usually does), set mqtt.tls = false or use its TLS port"
    if isinstance(cause, ssl.SSLError):
        return "check mqtt.ca_file, mqtt.cert_file, mqtt.key_file and the broker's TLS settings"
    return "check that it is running, mqtt.host and mqtt.port, and the network"


def closed_early_hint(config: MqttConfig, answered_before: bool = False) -> str:
    """What to check when the broker closes connections without answering them (or lets them hang).

    ``answered_before``: a broker on this port accepted this run's connection before, so neither the port nor
    mqtt.tls was wrong then: what changed is on the broker's side (a proxy or container port in front of a broker
    that is down hangs up so, as does a broker restarted with TLS on this port).
    """
    if answered_before:
        now_tls = "" if config.tls else ", and if it now takes only TLS on this port, set mqtt.tls = true"
        return (
            "it answered on this port earlier in this run, so the port is right: check that the broker is running "
            f"(a proxy or container port in front of it hangs up while it is down) and its log{now_tls}"
        )
    if config.tls:
        return "check the broker's log (it may require a client certificate: mqtt.cert_file, mqtt.key_file)"
    # a TLS port reads a plain CONNECT as a broken handshake and hangs up
    return (
        "if that port speaks TLS (8883 usually does), set mqtt.tls = true (and mqtt.ca_file); if it is no MQTT port "
        "at all (a web server), check mqtt.port (plain MQTT is usually on 1883)"
    )


def broker_address(config: MqttConfig) -> str:
    """``host:port``, marked when the connection uses TLS: how log lines and doctor name the broker."""
    return f"{config.host}:{config.port}{' (TLS)' if config.tls else ''}"


def client_id_clash(config: MqttConfig, client_id: str, times: int | None, max_s: int) -> str:
    """The error for connections the broker drops soon after accepting them, ``times`` in a row (None: an
    MQTT 5 broker said "session taken over"); ``max_s``: the longest reconnect wait."""
    if times is None:
        seen, other = "dropped this device's connection: session taken over", ""
    else:
        seen = f"dropped this device's connection soon after accepting it, {times} times in a row"
        # a broker restarted about as often as this device reconnects looks the same from here
        other = " (or the broker restarts that often, or drops it for a message its ACL forbids: its log says which)"
    return (
        f"MQTT broker {broker_address(config)} {seen}: another client uses client id {client_id}: give each device "
        f"its own [mqtt] device_id{other}; reconnecting with back-off up to {max_s} s, "
        f"{kept_meanwhile(config)}"
    )


def not_mqtt(where: str, seen: str, slow: bool = False, answered_before: bool = False) -> str:
    """What to say of a port that took the connection but answered it with no CONNACK (``seen``: how).

    ``slow``: no answer yet, which a slow or lossy link (or a broker's slow authentication) also gives.
    ``answered_before``: a broker on this port accepted this run's connection before, so the port and TLS
    settings are right and the broker itself is the one to look at.
    """
    said = "has not answered it" if slow else "never answered it as an MQTT broker"
    if slow and answered_before:
        return (
            f"MQTT broker {where} accepted the connection but {said} ({seen}): it answered on this port "
            "earlier in this run, so the broker is hung or overloaded, or the link slow: look at the broker "
            "(its log, its host's load; restart it if it hangs)"
        )
    cause = "a slow link, or something other than an MQTT broker" if slow else "something else may listen"
    return (
        f"MQTT broker {where} accepted the connection but {said} ({seen}): {cause} on that port: check mqtt.port "
        "and mqtt.tls (plain MQTT is usually on 1883, MQTT over TLS on 8883)"
    )


class ConnackWatch:
    """Calls ``on_silent`` (in a timer thread, with what it saw) when a connection waits ``wait_s`` for its CONNACK."""

    def __init__(self, config: MqttConfig, on_silent: Callable[[str], None]) -> None:
        self.wait_s = min(CONNACK_WAIT_S, config.keepalive_s)  # paho gives up itself after keepalive_s
        self._on_silent = on_silent
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def opened(self) -> None:
        """The attempt's TCP (and TLS) connection is up and its CONNECT on the way."""
        timer = threading.Timer(self.wait_s, self._fire)
        # the interpreter joins non-daemon threads at exit: a process ending mid-connect (a stop, an error before
        # close()) would wait out the whole CONNACK wait first
        timer.daemon = True
        self._swap(timer)
        timer.start()

    @property
    def waiting(self) -> bool:
        """An attempt's connection is up and its CONNACK neither come nor waited for ``wait_s`` yet."""
        return self._timer is not None

    def settled(self) -> bool:
        """The attempt was answered, or its connection ended: whether it was still being waited on."""
        return self._swap(None)

    def _swap(self, timer: threading.Timer | None) -> bool:
        with self._lock:
            old, self._timer = self._timer, timer
        if old is not None:
            old.cancel()
        return old is not None

    def _fire(self) -> None:
        with self._lock:
            if self._timer is not threading.current_thread():  # settled, or a newer attempt's, meanwhile
                return
            self._timer = None
        self._on_silent(f"no CONNACK within {self.wait_s:.0f} s")


@dataclass(slots=True)
class Backoff:
    """The reconnect waits handed to paho, in whole seconds (paho takes no fractions)."""

    min_s: int
    max_s: int
    delay_s: int  # the wait paho starts from before the next attempt
    # Two devices with one id kick each other off after each other's back-off (up to max_s), so a
    # connection has held, and a client-id clash is over, once it has outlasted that twice.
    stable_s: float

    @classmethod
    def of(cls, config: MqttConfig) -> Backoff:
        min_s = max(1, round(config.reconnect_min_s))
        max_s = max(min_s, round(config.reconnect_max_s))
        return cls(min_s, max_s, min_s, max(STABLE_MIN_S, 2.0 * max_s))
