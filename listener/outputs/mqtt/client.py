"""The broker connection: paho-mqtt 2.x (VERSION2 callbacks) in its own loop thread.

:class:`MqttLink` connects asynchronously, so a broker that is away at
start-up only costs one clear warning; paho's loop thread then reconnects
with exponential back-off. Unacknowledged QoS 1 messages stay in paho's
queue across reconnects and are re-sent (same bytes, so the same ``seq``).
The link never blocks its caller on the network: :meth:`publish` only
queues, and acknowledgements come back through :attr:`acks`. A connection
the broker drops soon after accepting it is judged by
:class:`~listener.outputs.mqtt.clash.ClashWatch` (another client with this id?).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from listener.config.mqtt_schema import MqttConfig
from listener.lifecycle import Managed
from listener.outputs.mqtt.callbacks import CallbackGuard, Rerun
from listener.outputs.mqtt.clash import ClashWatch
from listener.outputs.mqtt.connecting import (
    Backoff,
    ConnackWatch,
    ConnectAttemptError,
    GuardedClient,
    attempt_failed_warning,
    broker_address,
    closed_early_hint,
    connect_fail_hint,
    kept_meanwhile,
    not_mqtt,
)
from listener.outputs.mqtt.credentials import PASSWORD_ENV, configure, refused_login_hint
from listener.outputs.mqtt.stall import StallWatch, lost_said

log = logging.getLogger(__name__)

SESSION_TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT reason: another client connected with this client id
RETAINED_HEADROOM = 8  # in-flight room for the retained topics published beside the spool's inflight_max


@dataclass(frozen=True, slots=True)
class Ack:
    mid: int
    ok: bool
    reason: str = ""  # the broker's, when it refused the message (MQTT 5)


class MqttLink(Managed):
    """One paho client: connection, TLS, credentials, Last Will, reconnects."""

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        will: tuple[str, Callable[[], bytes]],
        on_connected: Callable[[], None] = lambda: None,
        on_message: Callable[[str, bytes], None] = lambda topic, payload: None,
        subscriptions: tuple[str, ...] = (),
        outage_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``outage_clock``: what outages are measured on (``outage_s``, ``last_outage_s``); a replay faster
        than real time passes its audio clock, so its fault falls at the same audio time however fast the
        machine (reconnect back-off stays on the wall clock: it is paho's)."""
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
        self.backoff = Backoff.of(config)
        self._init_outage_state(outage_clock)
        self._init_clash_state()
        # names a port that is no MQTT broker, or a slow one (a late CONNACK takes that back); a stop waits on it
        self.connack_watch = ConnackWatch(config, partial(self._never_answered, slow=True))
        self._stall = StallWatch(config.keepalive_s)  # names a loss this device's own stall caused
        self._unanswered_warned = False  # the watch spoke for this attempt: a late CONNACK takes it back
        # the last failure logged at debug level only: a run that ends before a second one says it then
        self.unsaid = ""

    def _init_outage_state(self, outage_clock: Callable[[], float]) -> None:
        """What the link remembers of losses and outages, to say each once and measure it."""
        self._down_since_s = time.monotonic()  # of the latest loss: how long the connection had lived
        self._outage_clock = outage_clock
        self._outage_from_s = outage_clock()  # _down_since_s on the outage clock
        # a cause (refused, unreachable, no CONNACK) was said in this outage: said once per outage, for the
        # broker can come back with another fault (a password now required) than the one it went away with
        self._warned = False
        # the generic "lost" line was said as a warning since the connection last held: later losses at info
        self._lost_said = False
        # a change tells the publisher that paho re-sends what was in flight, and names a connection to _held
        self.connects = 0
        self.last_outage_s = 0.0  # how long the broker was away before the latest connection
        self._up_since_s = 0.0

    def _init_clash_state(self) -> None:
        """What the link counts to tell a client-id clash, or a port that is no broker, from a plain loss."""
        # an attempt failed since the last loss; none can while connected, so at a loss "not this" says the
        # connection was accepted at the first attempt
        self._attempt_failed = False
        self._clash = ClashWatch(self.config, self.client_id, self.backoff)
        self._answered = False  # the broker sent a CONNACK (accepting or refusing) to the current attempt
        self._closed_early = 0  # attempts in a row that the broker closed without a CONNACK
        self._rerun = Rerun()  # connections this link dropped, their on_connect handler having failed

    # -- lifecycle ---------------------------------------------------------

    def open(self) -> None:
        cfg = self.config
        protocol = paho.MQTTv5 if cfg.protocol == "5" else paho.MQTTv311
        kwargs: dict[str, Any] = {} if protocol == paho.MQTTv5 else {"clean_session": True}
        client = GuardedClient(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol, **kwargs)
        guard = CallbackGuard()  # a callback that raises would end paho's loop thread, and the link with it
        client.on_pre_connect = guard("on_pre_connect", self._handle_pre_connect)
        client.on_socket_open = guard("on_socket_open", self._handle_socket_open)
        client.on_connect = guard("on_connect", self._handle_connect, self._rerun.drop, "reconnecting to run it again")
        client.on_connect_fail = guard("on_connect_fail", self._handle_connect_fail)
        # one failed before the link's state said the loss left it connected in name for the whole outage
        lost = "the link disconnected all the same"
        client.on_disconnect = guard("on_disconnect", self._handle_disconnect, self._lost_anyway, lost)
        # paho forgets the message all the same: its spool row would wait for this ack for ever, and hold back the
        # drain after the next reconnect; the handler only records the ack, so its second try records it (a refusal
        # as one), and the publisher ignores an ack recorded twice
        client.on_publish = guard("on_publish", self._handle_publish, self._handle_publish, "its ack recorded again")
        client.on_message = guard("on_message", self._handle_message)
        client.on_round = guard("on_round", self._stall.round)
        configure(client, cfg)
        client.reconnect_delay_set(self.backoff.min_s, self.backoff.max_s)
        client.max_inflight_messages_set(cfg.inflight_max + RETAINED_HEADROOM)
        self._outage_from_s = self._outage_clock()
        # set before the loop starts: on a loaded machine the connection can be up, and the drain
        # thread publishing through self._client, before loop_start() even returns
        self._client = client
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        client.loop_start()

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
        self.connack_watch.settled()
        self._clash.close()
        self._connected.clear()

    # -- state -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def outage_s(self) -> float:
        """Seconds since the broker was last reachable (0 while connected)."""
        return 0.0 if self._connected.is_set() else self._outage_clock() - self._outage_from_s

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
        return broker_address(self.config)

    def _handle_pre_connect(self, client: paho.Client, userdata: object) -> None:
        self._answered = False
        # The Will goes out in CONNECT: made afresh for each attempt, its ts is this connection's,
        # not the process start's (older than the "online" it would replace)
        topic, build = self.will
        try:
            client.will_set(topic, build(), qos=1, retain=True)
        except Exception:  # an exception here would end paho's loop thread, and with it every reconnect
            log.exception("MQTT: could not renew the Last Will; the previous one stays")

    def _handle_socket_open(self, client: paho.Client, userdata: object, sock: object) -> None:
        self._unanswered_warned = False
        self.connack_watch.opened()
        # said by a run that ends before the CONNACK (or the watch) comes; the CONNACK clears it
        self.unsaid = not_mqtt(
            self._where(), "no CONNACK before the run ended", slow=True, answered_before=self.connects > 0
        )

    def _never_answered(self, seen: str, slow: bool = False) -> None:
        """The current attempt's connection was made, but what is on that port does not speak MQTT; ``slow``:
        the watch's wait ran out, and a slow broker's CONNACK may still come."""
        if not self._answered and self._client is not None:  # else answered just now, or the link is closing
            if slow:
                self._unanswered_warned = True
            else:
                self._attempt_failed = True
            said = not_mqtt(self._where(), seen, slow, answered_before=self.connects > 0)
            self._warn_once(f"{said}; {kept_meanwhile(self.config)}")

    def _handle_connect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        self.connack_watch.settled()
        self._answered, self._closed_early, self.unsaid = True, 0, ""
        if self._unanswered_warned:  # the warning was a slow link's: take it back, and say the next problem
            self._unanswered_warned = self._warned = False
            log.info("MQTT broker %s answered after all: a slow link, its port is right", self._where())
        if reason.is_failure:
            self._attempt_failed = True
            self._warn_once(
                f"MQTT broker {self._where()} refused the connection: {reason}; check mqtt.username, the password"
                f" (mqtt.password_file or {PASSWORD_ENV}) and the broker's ACL"
                f"{refused_login_hint(self.config, str(reason))}; {kept_meanwhile(self.config)}"
            )
            return
        self._warned = False  # the outage is over: the next one's cause is news
        outage = self.last_outage_s = self._outage_clock() - self._outage_from_s
        # quiet only once another client with our id was blamed (a short-lived connection followed by an
        # outage is no clash, and without this line the journal shows an outage that never ended), or while
        # the handler fails at each connect (its drops are said, and a connect that runs through)
        level = logging.DEBUG if self._clash.blamed or self._rerun.failures else logging.INFO
        log.log(level, "MQTT connected to %s as %s (after %.1f s)", self._where(), self.client_id, outage)
        self._up_since_s = time.monotonic()
        self._stall.connected()
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self.connects += 1
        self._clash.connected(partial(self._holds, self.connects))
        self._connected.set()
        self.on_ack()  # the drain: a connect while stopping wakes none, the stopping stage hands it on no more
        self._on_connected()
        self._handler_ran(client)

    def _handler_ran(self, client: paho.Client) -> None:
        """This connection's on_connect handler ran through: after some that failed, said, and the shortest wait."""
        failures, self._rerun.failures = self._rerun.failures, 0
        if failures:
            self._set_delay(client, self.backoff.min_s)
            log.info(
                "MQTT connected to %s as %s: its on_connect handler ran through this time, after %d connections "
                "on which it failed",
                self._where(),
                self.client_id,
                failures,
            )

    def _handle_connect_fail(self, client: paho.Client, userdata: object) -> None:
        self._attempt_failed = True
        # paho calls this inside its `except OSError:` block: the exception being handled is the cause
        cause = sys.exc_info()[1]
        if isinstance(cause, ConnectAttemptError):  # it never reached the network: the host, mostly
            self._warn_once(attempt_failed_warning(self.config, cause))
            return
        self._warn_once(
            f"MQTT broker {self._where()} is unreachable ({cause or 'no cause given'}): "
            f"{connect_fail_hint(self.config, cause)}; {kept_meanwhile(self.config)}"
        )

    def _handle_disconnect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        dropped = self._rerun.ended()  # by this link, its on_connect handler having failed: no loss to judge
        if self._connected.is_set():
            # the outage goes on from before a connection whose handler failed: the lights show it all
            self._mark_lost(restart_outage=not dropped)
            if self._client is not None and not dropped:
                self._after_loss(client, reason, self._down_since_s - self._up_since_s)
        elif not self._answered and self._client is not None:
            self._unanswered_end(reason)
        if dropped and self._client is not None:
            self._rerun_later(client)
        self.on_ack()  # wake the drain thread so it notices

    def _mark_lost(self, restart_outage: bool = True) -> None:
        """The connection is gone: the drain stops handing paho messages, and the outage counts."""
        self._down_since_s = time.monotonic()
        if restart_outage:
            self._outage_from_s = self._outage_clock()
        self._connected.clear()

    def _lost_anyway(self, client: paho.Client, *args: object) -> None:
        """The recovery of a failed on_disconnect handler: the loss as the drain and the lights must see it.
        Left connected in name, the link showed no fault for the whole outage and the drain went on handing
        paho what it could not send; only the loss's diagnosis is lost."""
        self.connack_watch.settled()
        if self._connected.is_set():
            self._mark_lost()
        self.on_ack()

    def _rerun_later(self, client: paho.Client) -> None:
        """After a connection this link dropped: its wait doubles (paho reset it at the accept), so a handler
        failing at every connect reconnects every reconnect_max_s, not every reconnect_min_s."""
        self._set_delay(client, min(2 * self.backoff.delay_s, self.backoff.max_s))
        said = self._rerun.said(self.config, self.backoff.max_s)
        first = self._rerun.failures == 1
        self.unsaid = "" if first else said
        log.log(logging.WARNING if first else logging.DEBUG, "%s", said)

    def _unanswered_end(self, reason: ReasonCode) -> None:
        """A connection never answered ended: closed by the far end, on bytes that are not MQTT, or by paho's wait."""
        waited = self.connack_watch.settled()
        if reason == "Protocol error":  # it sent something, and not a CONNACK
            self._never_answered(f"it sent something else: {reason}")
        elif reason != "Keep alive timeout":
            self._closed_before_connack(reason)
        elif waited:  # paho gave up waiting (nobody closed anything) before the watch did
            self._never_answered(f"no CONNACK within {self.config.keepalive_s} s")

    def _closed_before_connack(self, reason: ReasonCode) -> None:
        """The broker took the TCP connection but closed it without a CONNACK.

        Mostly a TLS mismatch: a TLS port reads a plain CONNECT as a broken handshake and hangs up
        (its log says "wrong version number"), which the device would otherwise never name."""
        self._attempt_failed = True
        self._closed_early += 1
        closed = f"MQTT broker {self._where()} closed the connection before answering it ({reason})"
        if self._closed_early < 2:  # once can be a broker shutting down or full: a mismatch closes every time
            self.unsaid = closed
            log.debug("%s", closed)
            return
        self._warn_once(
            f"{closed}, {self._closed_early} times in a row: {closed_early_hint(self.config, self.connects > 0)}; "
            f"{kept_meanwhile(self.config)}"
        )

    def _after_loss(self, client: paho.Client, reason: ReasonCode, lived_s: float) -> None:
        """Runs before paho waits to reconnect, so the wait set here is the next one."""
        stalled_s = self._stall.stalled_s()  # this device's own stall tells nothing of a clash: an ordinary loss
        may_be_kick, self._attempt_failed = not self._attempt_failed and stalled_s is None, False
        verdict = self._clash.judge(reason.value == SESSION_TAKEN_OVER, may_be_kick, lived_s)
        self._set_delay(client, verdict.wait_s)
        if verdict.held:
            self._lost_said = False
        if not verdict.blamed:
            self._say_lost(lost_said(self.config, reason, stalled_s))

    def _set_delay(self, client: paho.Client, delay_s: int) -> None:
        if delay_s != self.backoff.delay_s:
            self.backoff.delay_s = delay_s
            client.reconnect_delay_set(delay_s, self.backoff.max_s)

    def _holds(self, connection: int) -> bool:
        """Whether the ``connection``-th connection is still up (a timer thread asks)."""
        return self._client is not None and self.connected and self.connects == connection

    def _handle_publish(
        self, client: paho.Client, userdata: object, mid: int, reason: ReasonCode, properties: object
    ) -> None:
        # Runs under paho's message lock: only record the ack, the drain thread does the rest.
        self.acks.append(Ack(mid=mid, ok=not reason.is_failure, reason=str(reason)))
        self.on_ack()

    def _handle_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        self._on_message(message.topic, bytes(message.payload))

    def _warn_once(self, text: str) -> None:
        self.unsaid = ""
        if not self._warned:
            self._warned = True
            log.warning(text)
        else:
            log.debug(text)

    def _say_lost(self, text: str) -> None:
        """A warning at the first loss since the connection last held; each later one at info, so that every
        "connected" line in the journal has the loss before it (after a client-id error: debug)."""
        self.unsaid = ""
        level = logging.DEBUG if self._clash.blamed else logging.INFO if self._lost_said else logging.WARNING
        self._lost_said = True
        log.log(level, text)
