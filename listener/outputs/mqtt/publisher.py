"""The drain thread: spool and retained topics to the broker, in order, rate-limited.

The pipeline thread never touches the network: it writes spooled messages
to the :class:`~listener.outputs.mqtt.spool.Spool` and sets retained topics
here, then wakes this thread. This thread hands spooled messages to paho
oldest first, at most ``inflight_max`` unacknowledged at a time and at most
``drain_rate_per_s`` per second, and deletes each from the spool when its
PUBACK arrives. After a reconnect it waits until paho's re-sends of the
messages that were in flight are acknowledged before it hands over newer
ones, so subscribers see the spool's order.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from listener.lifecycle import Managed
from listener.outputs.mqtt.client import MqttLink
from listener.outputs.mqtt.connecting import broker_address
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.spool_warnings import WARN_EVERY

log = logging.getLogger(__name__)
RETAINED_INFLIGHT_KEPT = 64  # far more than the few retained topics a connect sends

STOP_TIMEOUT_S = 5.0  # a drain step stuck in paho or sqlite must not hold up the shutdown
FLUSH_POLL_S = 0.02
RETRY_PAUSE_S = 0.5  # after a failed drain step: no busy loop while the failure lasts


@dataclass(slots=True)
class Retained:
    """A retained topic's latest payload; ``build`` makes it at publish time when given.

    ``again_when_drained``: built while the spool held messages, it is published again once the spool is
    empty (a payload that reports the spool's depth). ``again_when_spool_changes``: published again once the spool
    has dropped a message, or the card's storage has changed, since it was built (a payload that counts the drops
    and says the storage), at most once a ``changes_every_s``."""

    payload: bytes | None
    build: Callable[[], bytes] | None = None
    dirty: bool = True
    again_when_drained: bool = False
    built_with_backlog: bool = False
    again_when_spool_changes: bool = False
    built_with: tuple[int, str] = (0, "ok")  # the spool's drops and storage when it was built
    # a spool overflowing with the link up drops at the rate messages are made: said at every drop, the
    # retained topic went out that often, past drain_rate_per_s, on the very link that could not keep up
    changes_every_s: float = 0.0
    built_s: float = -math.inf  # monotonic
    failed: bool = False  # its last publish raised: tried once more, then left to the next connect


class Publisher(Managed):
    def __init__(
        self, spool: Spool, link: MqttLink, topic: Callable[[str], str], rate_per_s: float, inflight_max: int
    ) -> None:
        """``topic`` makes a spooled message's full topic from its leaf (``event``, ...) when it is sent."""
        self.spool = spool
        self.link = link
        self.topic = topic
        self.rate_per_s = rate_per_s
        self.inflight_max = inflight_max
        self._cond = threading.Condition()
        self._retained: dict[str, Retained] = {}
        self._inflight: dict[int, tuple[int, str]] = {}  # paho mid -> spool row id, and its topic's leaf
        self._sent_through = 0  # highest spool row id handed to paho by this process
        self._more = True  # the spool may hold rows beyond _sent_through
        self._puts = 0  # spooled() calls, so a put racing a short read is not missed
        self._tokens = 1.0
        self._refilled_s = time.monotonic()
        self._hold_for_resends = False
        self._connects_seen = 0
        self._stop = False
        self._thread: threading.Thread | None = None
        self.rejected = 0  # messages the broker refused (MQTT 5: its ACL), dropped and counted in the spool's
        self._refused_topics: set[str] = set()  # each named once in a warning
        # retained topics in flight: an ACL refusing one (Home Assistant's discovery) is said, never spooled
        self._retained_inflight: dict[int, str] = {}  # paho mid -> topic
        link.on_ack = self.wake
        spool.link_up = lambda: link.connected  # a spool that fills while connected blames the rate, not an outage

    # -- called from other threads -----------------------------------------

    def open(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt-drain", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
            self._thread = None

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def spooled(self) -> None:
        """A message was written to the spool."""
        with self._cond:
            self._more = True
            self._puts += 1
            self._cond.notify_all()

    def set_retained(
        self,
        topic: str,
        payload: bytes | None = None,
        build: Callable[[], bytes] | None = None,
        again_when_drained: bool = False,
        again_when_spool_changes: bool = False,
        changes_every_s: float = 0.0,
    ) -> None:
        with self._cond:
            self._retained[topic] = Retained(
                payload,
                build,
                again_when_drained=again_when_drained,
                again_when_spool_changes=again_when_spool_changes,
                changes_every_s=changes_every_s,
            )
            self._cond.notify_all()

    def republish(self, *topics: str) -> None:
        """Publish these retained topics again (broker restarted, Home Assistant came online)."""
        with self._cond:
            for topic in topics or tuple(self._retained):
                if topic in self._retained:
                    self._retained[topic].dirty = True
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing waits to be sent or acknowledged."""
        with self._cond:
            dirty = any(r.dirty for r in self._retained.values())
            return not dirty and not self._inflight and self.spool.depth == 0

    def flush(self, timeout_s: float, give_up: threading.Event | None = None) -> bool:
        """Wait (bounded) until everything was acknowledged; False when it did not happen in time, or at once when
        the link is neither connected nor awaiting the CONNACK of a connection it made.

        ``give_up``, once set, ends the wait at once (a stop asked for twice): what is unsent stays spooled.
        """
        give_up = give_up or threading.Event()
        deadline_s = time.monotonic() + timeout_s
        while time.monotonic() < deadline_s:
            if self.idle():
                return True
            # a connection whose CONNACK is on its way (a short file run ends sooner than a TLS handshake and a
            # login take) is waited for: returning at once left everything in the spool, with a broker up. The
            # link settles its watch just before it says it is connected: a moment's wait spans that
            watched = self.link.connected or self.link.connack_watch.waiting
            if not watched and not self.link.wait_connected(FLUSH_POLL_S):
                return False
            if give_up.wait(FLUSH_POLL_S):
                break
        return self.idle()

    # -- the drain thread --------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._ready():
                    self._cond.wait(timeout=self._idle_wait_s())
                if self._stop:
                    return
                retained = self._take_dirty() if self.link.connected else []
            try:
                self._settle_acks()
                self._publish_retained(retained)
                self._drain_spool()
                self._delete([])  # the backlog sent: the deletes that waited for it
            except Exception:  # a failing publish must not end the thread that keeps metrics flowing
                log.exception("MQTT drain step failed; retrying")
                with self._cond:
                    for _, slot in retained:  # not tried (the acks failed first): the next step sends them
                        slot.dirty = True
                time.sleep(RETRY_PAUSE_S)

    def _publish_retained(self, retained: list[tuple[str, Retained]]) -> None:
        """Hand each to paho in turn, taking it off ``retained`` once tried. One that fails is tried again at the
        next step, once: a topic that keeps failing must not hold up the others or the spool behind it."""
        while retained:
            topic, slot = retained.pop(0)
            try:
                slot.built_with_backlog = slot.again_when_drained and self.spool.depth > 0
                slot.built_with, slot.built_s = self._spool_news(), time.monotonic()
                payload = slot.build() if slot.build is not None else slot.payload
                if payload is not None:
                    self._sent_retained(topic, self.link.publish(topic, payload, qos=1, retain=True))
            except Exception:
                again = not slot.failed
                log.exception(
                    "MQTT retained topic %s failed; %s", topic, "retrying" if again else "sent at the next connect"
                )
                with self._cond:
                    slot.failed, slot.dirty = again, slot.dirty or again
                continue
            slot.failed = False

    def _ready(self) -> bool:
        connected = self.link.connected
        if self.link.connects != self._connects_seen:
            # paho re-sends what was in flight; newer messages wait until those are acknowledged
            self._connects_seen = self.link.connects
            self._hold_for_resends = bool(self._inflight)
        if self.link.acks:
            return True
        if not connected:
            return False
        for slot in self._retained.values():  # since: a drop counted (a full spool, a refusal), a card filled or freed
            slot.dirty = slot.dirty or self._changes_due_in_s(slot) == 0.0
        if any(r.dirty for r in self._retained.values()):
            return True
        return self._can_send()

    def _can_send(self) -> bool:
        if not self._more or len(self._inflight) >= self.inflight_max:
            return False
        if self._hold_for_resends and self._inflight:
            return False
        self._hold_for_resends = False
        self._refill()
        return self._tokens >= 1.0

    def _spool_news(self) -> tuple[int, str]:
        """What a retained topic ``again_when_spool_changes`` says of the spool: its drops, the card's storage."""
        return self.spool.drops, self.spool.storage

    def _changes_due_in_s(self, slot: Retained) -> float | None:
        """When ``slot`` is to say the drops counted, or the storage changed, since it was built (0.0: now); None:
        nothing to say."""
        if not slot.again_when_spool_changes or slot.built_with == self._spool_news():
            return None
        return max(0.0, slot.built_s + slot.changes_every_s - time.monotonic())

    def _idle_wait_s(self) -> float | None:
        if not self.link.connected:
            return None  # woken by the connect
        waits = [due for slot in self._retained.values() if (due := self._changes_due_in_s(slot)) is not None]
        if self._more and self._tokens < 1.0 and len(self._inflight) < self.inflight_max:
            waits.append((1.0 - self._tokens) / self.rate_per_s)
        return min(waits, default=None)  # none: woken by put, ack, connect and disconnect

    def _refill(self) -> None:
        now_s = time.monotonic()
        self._tokens = min(max(1.0, self.rate_per_s), self._tokens + (now_s - self._refilled_s) * self.rate_per_s)
        self._refilled_s = now_s

    def _take_dirty(self) -> list[tuple[str, Retained]]:
        out = []
        for topic, slot in self._retained.items():
            if slot.dirty:
                slot.dirty = False
                out.append((topic, slot))
        return out

    def _settle_acks(self) -> None:
        done: list[int] = []
        while self.link.acks:
            ack = self.link.acks.popleft()
            with self._cond:
                sent = self._inflight.pop(ack.mid, None)
            if sent is None:
                with self._cond:
                    retained = self._retained_inflight.pop(ack.mid, None)
                if retained is not None and not ack.ok:
                    self._refused_retained(retained, ack.reason)
                continue
            if not ack.ok:
                # MQTT 5 brokers say so when they refuse (ACL); re-sending would fail forever
                self._refused(self.topic(sent[1]), ack.reason)
            done.append(sent[0])
        self._delete(done)

    def _sent_retained(self, topic: str, mid: int | None) -> None:
        if mid is None:
            return
        with self._cond:
            self._retained_inflight[mid] = topic
            while len(self._retained_inflight) > RETAINED_INFLIGHT_KEPT:  # acks lost with a connection never come
                del self._retained_inflight[next(iter(self._retained_inflight))]

    def _refused_retained(self, topic: str, reason: str) -> None:
        """Once per topic: sent again at each connect, so the ACL is named until it lets the topic through."""
        if topic in self._refused_topics:
            return
        self._refused_topics.add(topic)
        self._say_refused(
            "the retained message", topic, reason, " (Home Assistant's discovery topics too, where it is on)"
        )

    def _refused(self, topic: str, reason: str) -> None:
        """A message the broker refused is lost: counted where the dashboards see losses (``spool_dropped``),
        and said once per topic, then at every WARN_EVERY-th, not once per message."""
        self.spool.count_dropped(1)
        self.rejected += 1
        if topic in self._refused_topics and self.rejected % WARN_EVERY:
            return
        self._refused_topics.add(topic)
        counted = (
            f"; refused messages are dropped and counted in spool_dropped, {self.rejected} so far"
            f" (said again every {WARN_EVERY})"
        )
        self._say_refused("a spooled message", topic, reason, counted)

    def _say_refused(self, what: str, topic: str, reason: str, after: str) -> None:
        log.warning(
            "MQTT broker %s refused %s for %s (%s): its ACL must let this device's user publish there%s",
            broker_address(self.link.config),
            what,
            topic,
            reason or "no reason given",
            after,
        )

    def _delete(self, rows: list[int]) -> None:
        """Delete sent rows (none: those whose delete waited or failed, which the spool keeps until deleted, once
        it has no more to send); the spool emptied by it marks the retained topics built with a backlog."""
        with self._cond:
            # a backlog draining (rows in flight, or still to send): their rows are deleted a batch at a time
            more_coming = bool(self._inflight) or self._more
        # every drain step and every settling of acks asks: mostly with no rows, and none waiting
        if rows or (not more_coming and self.spool.deletes_waiting):
            self.spool.delete(rows, more_coming=more_coming)
        elif more_coming:
            return
        if self.spool.depth > 0:
            return
        with self._cond:
            for slot in self._retained.values():
                if slot.built_with_backlog:
                    slot.built_with_backlog = False
                    slot.dirty = True

    def _drain_spool(self) -> None:
        with self._cond:
            if not self.link.connected or not self._can_send():
                return
            room = min(self.inflight_max - len(self._inflight), int(self._tokens))
            after, puts = self._sent_through, self._puts
        rows = self.spool.take(after, room)  # held from now: a full spool keeps them
        if len(rows) < room:
            with self._cond:
                self._more = self._puts != puts
        for row in rows:
            mid = self.link.publish(self.topic(row.leaf), row.payload, qos=row.qos)
            with self._cond:
                self._sent_through = row.id
                self._tokens -= 1.0
                if mid is not None and row.qos > 0:
                    self._inflight[mid] = (row.id, row.leaf)
            if mid is not None and row.qos == 0:
                self._delete([row.id])  # QoS 0 has no PUBACK: handed over is as good as it gets
