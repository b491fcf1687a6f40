"""Another client with this device's client id, told from the other ways a connection is lost.

paho resets its back-off to the minimum whenever the broker accepts a
connection. A connection the broker drops soon after accepting it (another
client with the same client id takes it over) must not reset it, or two
devices with one id kick each other off once a second forever: the link
keeps doubling the wait across such connections and says once what to fix.
"Soon" is within about twice the next wait: the other client comes back as soon as its own back-off ends,
and that grows as ours does. A connection that lived longer was ended by something else (a broker
restart, the network), and is reconnected from the shortest wait without blaming anyone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from listener.config.mqtt_schema import MqttConfig
from listener.outputs.mqtt.connecting import Backoff, broker_address, client_id_clash

log = logging.getLogger("listener.outputs.mqtt.client")  # said as the link's, as before it moved here

SHORT_LIVED_REPEATS = 3  # connections in a row lost soon after being accepted before the client id is blamed
KICK_SLACK_S = 1.0  # the other client's connect, beyond its back-off, before the broker drops this connection


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a loss was taken for."""

    wait_s: int  # the next reconnect wait
    blamed: bool  # on another client with this id, at error level: the loss itself is not said
    held: bool  # the connection outlasted stable_s: the next loss is news again


class ClashWatch:
    """Counts the losses soon after an accept; used from paho's thread, and a timer's for :meth:`connected`."""

    def __init__(self, config: MqttConfig, client_id: str, backoff: Backoff) -> None:
        self.config = config
        self.client_id = client_id
        self.backoff = backoff  # the link's: its delay_s is the wait paho starts from
        self.short_lived = 0  # such connections in a row that the broker dropped soon after accepting them
        self.kicks = 0  # losses in a row that came at once after the connect (a clash), none after a while
        self.blamed = False  # the client-id error was logged for the current run of short-lived connections
        self.suspected = False  # the run was said as a warning: a clash, or a broker restarting that often
        self._hold_watch: threading.Timer | None = None  # says when a connection after the error has held

    def judge(self, taken_over: bool, may_be_kick: bool, lived_s: float) -> Verdict:
        """A connection lost after ``lived_s``; ``taken_over``: the broker said so (MQTT 5); ``may_be_kick``: it was
        accepted at the first attempt, and this device did not stall."""
        backoff = self.backoff
        wait_s = min(2 * backoff.delay_s, backoff.max_s)
        # Another client with our id that backs off as we do takes our place as soon as its wait ends: a loss
        # within twice our wait is such a kick, and the wait goes on doubling (paho reset it at the accept). A
        # later loss reconnects from the shortest wait: a broker restart, or a client that reconnects at its own
        # steady pace; a run of them under stable_s is said as either (a warning), never at once as a clash.
        kicked = taken_over or (may_be_kick and lived_s <= min(2 * wait_s + KICK_SLACK_S, backoff.stable_s))
        next_s = wait_s if kicked else backoff.min_s
        if taken_over or (may_be_kick and lived_s < backoff.stable_s):
            self.short_lived += 1
            self.kicks = self.kicks + 1 if kicked else 0
            if taken_over or self.kicks >= SHORT_LIVED_REPEATS:
                self._blame(taken_over)
                return Verdict(next_s, blamed=True, held=False)
            if self.short_lived >= SHORT_LIVED_REPEATS and not self.suspected:
                self.suspected = True
                log.warning("%s", client_id_clash(self.config, self.client_id, self.short_lived, backoff.max_s))
            return Verdict(next_s, blamed=False, held=False)
        self.short_lived = self.kicks = 0
        held = lived_s >= backoff.stable_s
        if held:
            self.blamed = self.suspected = False
        return Verdict(next_s, blamed=False, held=held)

    def _blame(self, taken_over: bool) -> None:
        if not self.blamed:
            self.blamed = True
            times = None if taken_over else self.short_lived
            log.error("%s", client_id_clash(self.config, self.client_id, times, self.backoff.max_s))

    def connected(self, holds: Callable[[], bool]) -> None:
        """A connection was accepted; ``holds``: whether it is still the current one. The reconnects are quiet
        once a clash was blamed: this says when one holds, or the clash's end is never seen."""
        if self._hold_watch is not None:  # the connection it watched is gone: each left running was a thread
            self._hold_watch.cancel()  # kept stable_s, one per reconnect of a clash
        if self.blamed:
            self._hold_watch = threading.Timer(self.backoff.stable_s, self._held, (holds,))
            self._hold_watch.daemon = True
            self._hold_watch.start()

    def _held(self, holds: Callable[[], bool]) -> None:
        """The connection has lasted ``stable_s`` (a timer thread): the clash blamed is over."""
        if self.blamed and holds():
            self.blamed, self.short_lived, self.kicks, self.suspected = False, 0, 0, False
            log.info(
                "MQTT connection to %s as %s has held for %.0f s: no other client takes its place any more",
                broker_address(self.config),
                self.client_id,
                self.backoff.stable_s,
            )

    def close(self) -> None:
        if self._hold_watch is not None:
            self._hold_watch.cancel()
