"""The spool's start on a full card: in memory, its file tried again until it opens.

A card the journal or another program filled leaves no room for the spool's -shm (32 KiB) or a new spool's
tables. The start failed (exit 2, which the unit does not restart): the device stayed dark and measured
nothing until someone freed space and restarted it. Now the spool starts in memory, numbered from the clock
in milliseconds (above every row id a file can hold, as seq is: see fresh_seq), says so once, and tries its
file again every REOPEN_S, with a message or between them (see spool_card). Once the file opens, what waits
in memory goes into it as when the card fills later (see spool_held). The file's own backlog from before is
sent first when nothing was sent from memory yet; else at the next start, its ids being below those already
sent.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from listener.outputs.mqtt.spool_damage import fresh_seq
from listener.outputs.mqtt.spool_file import Opened, connect
from listener.outputs.mqtt.spool_held import Held, Outgoing
from listener.outputs.mqtt.spool_schema import delete_rows
from listener.outputs.mqtt.spool_warnings import full_at_start, held_lost, reopened

log = logging.getLogger("listener.outputs.mqtt.spool")  # said as the spool's own lines

REOPEN_S = 30.0  # how often a put tries the file again while the spool runs in memory
_UPSERT = "INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value"


def _counter(db: sqlite3.Connection, name: str) -> int:
    row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


class FullCardStart:
    """Mixed into :class:`~listener.outputs.mqtt.spool.Spool`, whose fields these are."""

    path: Path
    max_messages: int
    _db: sqlite3.Connection | None
    _held: Held | None
    _acked: set[int]
    _seq: int
    _depth: int
    _keyed: bool
    _taken: int
    _unrecorded: int
    _sessions_before: tuple[int, int]
    _refused: BaseException | None = None  # why the file would not open: the spool runs in memory meanwhile
    _reopen_at_s = 0.0  # monotonic
    _first_id = 0  # the first row id handed out in memory

    def _connect(self, seq_from: int = 0, id_from: int = 0, in_memory: bool = False) -> sqlite3.Connection:
        raise NotImplementedError

    def _insert(self, messages: Sequence[Outgoing]) -> tuple[list[int], Counter[str]]:
        raise NotImplementedError

    def _store_at_close(self) -> None:
        """At the stop, the lock held: the file tried once more (the spool in memory), what waits in memory
        written into it (see spool_held), or said lost."""
        if self._refused is not None:
            self._reopen()
        if self._refused is not None:  # the acknowledged rows are the publisher's, sent
            waiting, cause = self._depth - len(self._acked), self._refused
        elif self._held is not None and self._held.count:
            waiting = self._held.count
            try:
                self._insert([])
                return
            except sqlite3.Error as exc:
                cause = exc
        else:
            return
        if waiting:
            log.error(held_lost(self.path, cause, waiting))

    def _start_in_memory(self, exc: BaseException, room: int) -> sqlite3.Connection:
        """The spool in memory, its file having refused the start for a full card (``exc``); ``room``: messages
        kept at most."""
        self._first_id = fresh_seq()
        db = self._connect(id_from=self._first_id, in_memory=True)
        self._refused, self._reopen_at_s = exc, time.monotonic() + REOPEN_S
        log.error(full_at_start(self.path, exc, room, REOPEN_S))
        return db

    def _reopen_due(self) -> None:
        """With a put: the file tried again, every REOPEN_S at most. The lock is held."""
        if self._refused is not None and time.monotonic() >= self._reopen_at_s:
            self._reopen()

    def _reopen(self) -> None:
        """The file tried again; once it opens, the messages in memory wait to be written into it. Lock held."""
        self._reopen_at_s = time.monotonic() + REOPEN_S
        try:
            opened = connect(self.path)
        except (sqlite3.Error, OSError):
            return
        if opened.last_id >= self._first_id:  # the clock read earlier now than when the file's ids were numbered
            opened.db.close()
            self._reopen_at_s = math.inf
            log.warning("MQTT spool %s: its row ids are above this start's; it is used from the next start", self.path)
            return
        memory, self._db = self._db, opened.db
        if memory is not None:
            self._adopt(memory, opened)
        self._refused = None
        log.info(reopened(self.path, self._held.count if self._held else 0, opened.depth, self._taken > 0))

    def _adopt(self, memory: sqlite3.Connection, opened: Opened) -> None:
        """What the spool in memory holds, carried over to the file ``opened``."""
        if self._acked:  # sent from memory: forgotten there
            delete_rows(memory, self._acked)
            self._acked.clear()
        self._unrecorded += _counter(memory, "dropped")  # into the file's counter with the next write
        self._carry_sessions(memory, opened.db)
        self._held = Held(opened.last_id, memory)
        self._depth, self._keyed, self._seq = opened.depth, opened.keyed, max(self._seq, opened.seq)

    def _carry_sessions(self, memory: sqlite3.Connection, file: sqlite3.Connection) -> None:
        """The day's sessions this run counted in memory, added to the file's count for that day."""
        before = (_counter(file, "sessions_day"), _counter(file, "sessions_today"))
        self._sessions_before = before  # what earlier runs left: see SessionCounts.redate_sessions
        day, today = _counter(memory, "sessions_day"), _counter(memory, "sessions_today")
        if day:
            today += before[1] if before[0] == day else 0
            with contextlib.suppress(sqlite3.Error):  # a card still nearly full: the count starts afresh
                file.executemany(_UPSERT, [("sessions_day", day), ("sessions_today", today)])
