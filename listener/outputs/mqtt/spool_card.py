"""The card under the spool as the dashboards see it: ``info``'s ``storage`` and ``spool_in_memory``.

A message the card refuses waits in memory (see spool_held, spool_start); the journal says so, but the
dashboards (Home Assistant, Node-RED, Grafana) saw nothing: ``info`` had ``spool_depth``, which counts those
messages alike with the ones safe in the file. ``storage`` says whether the card takes the spool's writes
("ok") or why not: "full" (freeing space cures it) or "unwritable" (a card remounted read-only, a spool file
the service may not write, a damaged one that cannot be set aside: the journal says which); ``held`` how many
messages wait in memory, lost at a stop or a power cut before the card takes them. The LEDs show none of it:
metrics still flow, and the rep can do nothing about a card.

While messages wait in memory the card is tried again every spool_start.REOPEN_S without a message to store
(:meth:`CardState.store_waiting`, from the pipeline thread): they went into the file only with the next message,
so a card freed after the day's last visit kept them in memory, lost at the power cut of closing time, and the
dashboards said "full" till the next customer.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter

from listener.outputs.mqtt import spool_start
from listener.outputs.mqtt.spool_access import storage_state

STORAGE_STATES = ("ok", "full", "unwritable")


class CardState(spool_start.FullCardStart):
    """Mixed into :class:`~listener.outputs.mqtt.spool.Spool`, whose fields these are."""

    _lock: threading.Lock
    _refusal = "full"  # what the card's latest refusal of a message said (a start in memory: full)

    def _stored(self, lost: Counter[str]) -> None:
        raise NotImplementedError

    @property
    def held(self) -> int:
        """Messages waiting in memory for room on the card: lost if the service stops before it has some."""
        if self._refused is not None:  # a start on a full card, a damaged file: the whole spool is in memory
            return max(0, self._depth - len(self._acked))
        held = self._held
        return held.count if held is not None else 0

    @property
    def storage(self) -> str:
        """Whether the card takes the spool's writes ("ok"), else why not (see STORAGE_STATES): not "ok" until what
        waited in memory is in the file, though the broker may have had it all by then."""
        if self._refused is not None:  # the spool in memory: a start on a full card, a damaged file
            return self._refused_as
        return self._refusal if self._held is not None else "ok"

    def _refused_by(self, exc: sqlite3.Error) -> None:
        """A message kept in memory for ``exc``: what that says of the card. The lock is held."""
        self._refusal = storage_state(exc, self.path.parent)

    def store_waiting(self) -> bool:
        """Between messages (the pipeline thread): while messages wait in memory, the card tried again every
        spool_start.REOPEN_S, what waits written into the file once it has room; whether that happened now."""
        # one clock for the file's reopening and for this: two let a card wait for up to twice REOPEN_S
        if (self._refused is None and self._held is None) or time.monotonic() < self._reopen_at_s:
            return False
        with self._lock:
            if self._refused is not None:
                self._reopen()  # due again REOPEN_S from now, opened or not
            else:
                self._reopen_at_s = time.monotonic() + spool_start.REOPEN_S  # read here: a test may shorten it
            if self._refused is not None or self._held is None:
                return False
            try:
                _, lost = self._insert([])
            except sqlite3.Error:  # still refused: said with the first message kept, and again every 100th
                return False
            self._stored(lost)
        return True
