"""The spool's counters (``seq``, ``dropped``, the day's sessions), kept in its database beside the outbox.

Each can outrun the file while the card refuses writes (a full card, one remounted read-only): the pipeline goes
on, the count goes on in memory, and it goes into the file with the next write the card takes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from listener.outputs.mqtt.spool_damage import seq_after
from listener.outputs.mqtt.spool_schema import read_counter
from listener.outputs.mqtt.spool_sessions import SessionCounts, write_sessions

T = TypeVar("T")


class Counters(SessionCounts):
    """Mixed into :class:`~listener.outputs.mqtt.spool.Spool`, whose fields these are."""

    _lock: threading.Lock
    _seq: int
    _unrecorded: int
    drops: int
    _dropped_seen = 0  # the file's dropped counter as last read: a fresh spool after damage counts on from it

    @property
    def db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _renewing(self, op: Callable[[], T]) -> T:
        raise NotImplementedError

    def _warn_unwritable(self, exc: sqlite3.Error) -> None:
        raise NotImplementedError

    def _bump(self, name: str, by: int = 1, at_least: int = 0) -> int:
        """The counter plus ``by``, and no less than ``at_least`` (a new counter starts at the larger)."""
        row = self.db.execute(
            "INSERT INTO counters(name, value) VALUES (?, max(?, ?)) "
            "ON CONFLICT(name) DO UPDATE SET value = max(value + ?, ?) RETURNING value",
            (name, by, at_least, by, at_least),
        ).fetchone()
        return int(row[0])

    def counter(self, name: str) -> int:
        with self._lock:
            return self._renewing(lambda: read_counter(self.db, name))

    def set_counter(self, name: str, value: int) -> None:
        upsert = "INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = ?"
        with self._lock:
            try:
                self._renewing(lambda: self.db.execute(upsert, (name, value, value)))
            except sqlite3.Error as exc:  # disk full: the counter stays behind, the pipeline goes on
                self._warn_unwritable(exc)

    def _store_sessions(self) -> None:
        with self._lock:
            kept = self._sessions_kept
            if kept is None:
                return
            try:
                self._renewing(lambda: write_sessions(self.db, kept))
            except sqlite3.Error as exc:  # the card refuses: kept in memory, written with the next write it takes
                self._warn_unwritable(exc)
                return
            self._sessions_kept = None

    def next_seq(self) -> int:
        with self._lock:
            try:
                self._seq = self._renewing(self._seq_in_file)
            except sqlite3.Error as exc:  # disk full: count on in memory rather than stop the pipeline
                self._seq_in_memory()
                self._warn_unwritable(exc)
            return self._seq

    def _seq_in_file(self) -> int:
        """The next seq (see seq_after), taken in the file's counter in the caller's transaction (raises
        sqlite3.Error); the caller keeps it in ``_seq``. The lock is held."""
        # above the seqs handed out from memory while the file could not be written too (its counter stayed
        # behind them, and a subscriber drops a seq it has seen)
        return self._bump("seq", at_least=seq_after(self._seq))

    def _seq_in_memory(self) -> int:
        """The next seq (see seq_after), the file refusing it: its counter catches up with the next write it
        takes. The lock is held."""
        self._seq = seq_after(self._seq)
        return self._seq

    def count_dropped(self, lost: int) -> None:
        """Messages lost after they were stored (the broker refused them): counted in ``dropped``."""
        with self._lock:
            self.drops += lost
            try:
                self._renewing(lambda: self._bump("dropped", lost))
            except sqlite3.Error:  # disk full: counted in memory, as the messages it could not store
                self._unrecorded += lost

    @property
    def dropped(self) -> int:
        stored = self.counter("dropped")
        self._dropped_seen = max(self._dropped_seen, stored)
        return stored + self._unrecorded

    def as_said(self, carried: Mapping[str, int]) -> dict[str, int]:
        """A damaged file's counters (``carried``, as far as they could be read) for its fresh spool, no lower than
        this run said: the damage that hides them from the read (an index page overwritten) left "Messages lost" and
        "Sessions today" at 0 mid-day. The messages it held count as lost only where they could be read. The lock is
        held."""
        counts = {**carried, "dropped": max(carried.get("dropped", 0), self._dropped_seen)}
        said = self._sessions_said
        if said > (counts.get("sessions_day", 0), counts.get("sessions_today", 0)):  # a later day, or more that day
            counts["sessions_day"], counts["sessions_today"] = said
        return counts
