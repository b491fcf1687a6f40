"""The spool in memory while its file cannot be had: a start on a full card, or damage met while running whose
fresh spool cannot be made. Its file is tried again until it opens.

A card the journal or another program filled leaves no room for the spool's -shm (32 KiB) or a new spool's
tables. The start failed (exit 2, which the unit does not restart): the device stayed dark and measured
nothing until someone freed space and restarted it. Now the spool starts in memory, says so once, and tries
its file again every REOPEN_S, with a message or between them (see spool_card). Once the file opens, what
waits in memory goes into it as when the card fills later (see spool_held). The file's own backlog from
before is sent first when nothing was sent from memory yet; else at the next start, its ids being below
those already sent.

The memory spool numbers on above the file's rows and seqs, read without a write (see file_numbering): it
counted from the clock alone, and a Pi's clock can read earlier than when the file's were numbered (before
NTP it reads the time it last saved). Such a file then never opened ("used from the next start"), the card
said full all run once it had room again, and the seqs sent from memory lay below the file's. Where the
file cannot be read so (its last commits in a -wal without its -shm), its rows are renumbered below the
memory's when it opens, in their order (see renumber_below).

A damaged file that cannot be set aside, or whose fresh spool cannot be made (a folder that refuses renames,
a card remounted read-only or full): the spool went on in memory for good, while info said storage "ok" and
nothing in memory, and a stop lost it all unsaid. Now it runs as a start on a full card does: storage says
why, the messages at risk are counted, the damaged file is set aside once that works, and a stop says what
it loses.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from listener.outputs.mqtt.spool_access import storage_state
from listener.outputs.mqtt.spool_damage import (
    ForeignSpool,
    file_counters,
    file_numbering,
    fresh_seq,
    is_damage_error,
    set_aside,
)
from listener.outputs.mqtt.spool_file import Opened, connect
from listener.outputs.mqtt.spool_held import Held, Outgoing
from listener.outputs.mqtt.spool_schema import delete_rows, read_counter, renumber_below
from listener.outputs.mqtt.spool_sessions import write_sessions
from listener.outputs.mqtt.spool_warnings import damaged_in_memory, full_at_start, held_lost, reopened

log = logging.getLogger("listener.outputs.mqtt.spool")  # said as the spool's own lines

REOPEN_S = 30.0  # how often a put tries the file again while the spool runs in memory


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
    _sessions_kept: tuple[int, int] | None
    _refused: BaseException | None = None  # why the file cannot be had: the spool runs in memory meanwhile
    _refused_as = "full"  # what info's storage says meanwhile (see spool_card.STORAGE_STATES)
    _reopen_at_s = 0.0  # monotonic: when the card is tried next (a put's reopen, or spool_card.store_waiting)
    _first_id = 0  # the spool in memory numbers its rows above it; the file's are at or below it
    _damage_said = ""  # the line said for the spool in memory after damage
    _seeded: Mapping[str, int] = {}  # the counters the spool in memory started from (see _adopt)

    def _connect(
        self, seq_from: int = 0, id_from: int = 0, in_memory: bool = False, carried: Mapping[str, int] | None = None
    ) -> sqlite3.Connection:
        raise NotImplementedError

    def _insert(self, messages: Sequence[Outgoing]) -> tuple[list[int], Counter[str]]:
        raise NotImplementedError

    @property
    def held(self) -> int:  # spool_card.CardState's
        raise NotImplementedError

    def carried_sessions(
        self, memory: tuple[int, int], file: tuple[int, int], seed: tuple[int, int]
    ) -> tuple[int, int]:
        raise NotImplementedError

    def _store_at_close(self) -> None:
        """At the stop, the lock held: the file tried once more (the spool in memory), what waits in memory
        written into it (see spool_held), or said lost. Written with nothing left in memory too: the seqs handed out
        there are above the file's counter, and a start with the card freed counted on from it, handing them out
        again to other messages (a consumer drops a seq it has seen)."""
        if self._refused is not None:
            self._reopen()
        if self._refused is not None:  # the acknowledged rows are the publisher's, sent
            waiting, cause = self.held, self._refused
        elif self._held is not None:  # even with none left: the file's seq counter goes above those sent from it
            waiting = self.held
            try:
                self._insert([])
                return
            except sqlite3.Error as exc:
                cause = exc
        else:
            return
        if waiting:
            log.error(held_lost(self.path, cause, waiting))

    def _start_in_memory(self, exc: BaseException, room: int, refused_as: str) -> sqlite3.Connection:
        """The spool in memory, its file having refused the start for a full card or one remounted read-only
        (``exc``; ``refused_as``: what info.storage says of it); ``room``: messages kept at most."""
        last_id, seq = file_numbering(self.path)  # above the file's rows and seqs, however the clock reads
        self._first_id = fresh_seq(last_id)
        # the dashboards' totals counted on from the file's: from 0, Home Assistant's "Sessions today" dropped mid-day
        # and "Messages lost (spool)" read a meter reset
        self._seeded = file_counters(self.path)
        db = self._connect(seq, self._first_id, in_memory=True, carried=self._seeded)
        self._refused, self._reopen_at_s = exc, time.monotonic() + REOPEN_S
        self._refused_as = refused_as
        log.error(full_at_start(self.path, exc, room, REOPEN_S, self._refused_as))
        return db

    def _in_memory_after_damage(
        self, exc: BaseException, numbering: tuple[int, int], carried: Mapping[str, int]
    ) -> None:
        """Damage met while running, and the file could not be set aside or its fresh spool made (``exc``): the spool
        in memory, numbered on from ``numbering`` (seq, row id), with what waited in memory for room on the card;
        the file tried again every REOPEN_S (see _reopen). The lock is held."""
        seq_from, id_from = numbering
        held, self._held = self._held, None
        self._seeded = carried
        self._db = self._connect(seq_from, id_from, in_memory=True, carried=carried)  # nothing measured is lost
        self._first_id = held.after_id if held is not None else id_from
        if held is not None:  # one spool in memory, as at a start on a full card
            self._depth += held.write_into(self._db, keyed=True)
            held.close()
        self._refused, self._reopen_at_s = exc, time.monotonic() + REOPEN_S
        self._refused_as = storage_state(exc, self.path.parent)
        said = damaged_in_memory(self.path, exc, self._refused_as, REOPEN_S)
        if said != self._damage_said:  # a file damaged past what its open reads is met again at each reopen
            log.error(said)
            self._damage_said = said

    def _reopen_due(self) -> None:
        """With a put: the file tried again, every REOPEN_S at most. The lock is held."""
        if self._refused is not None and time.monotonic() >= self._reopen_at_s:
            self._reopen()

    def _reopen(self) -> None:
        """The file tried again; once it opens, the messages in memory wait to be written into it. Lock held."""
        self._reopen_at_s = time.monotonic() + REOPEN_S
        try:
            opened = self._open_file()
        except (sqlite3.Error, OSError):
            return
        if opened.last_id > self._first_id and not self._renumbered(opened):
            return
        memory, self._db = self._db, opened.db
        if memory is not None:
            self._adopt(memory, opened)
        self._refused = None
        held = self._held.count if self._held else 0
        log.info(reopened(self.path, held, opened.depth, self._taken > 0, self._refused_as))

    def _open_file(self) -> Opened:
        """The spool's file; a damaged one (or another program's) set aside first, a fresh one numbered on above the
        spool in memory."""
        try:
            return connect(self.path)
        except sqlite3.DatabaseError as exc:
            if not (is_damage_error(exc) or isinstance(exc, ForeignSpool)):
                raise
            seq_from, carried = set_aside(self.path, exc, at_least=self._seq + 1)
        return connect(self.path, seq_from, self._first_id, carried=carried)

    def _renumbered(self, opened: Opened) -> bool:
        """The file's rows, numbered above the spool in memory's (the file could not be read at the start: see
        file_numbering), renumbered below them in their order; False, the file closed, where that cannot be done."""
        try:
            moved = renumber_below(opened.db, self._first_id)
        except sqlite3.Error:  # the card full again: tried again with the next reopen
            opened.db.close()
            return False
        if moved is None:  # a clock reading 1970 numbered the spool in memory: no room below it
            opened.db.close()
            self._reopen_at_s = math.inf
            log.warning("MQTT spool %s: its row ids are above this start's; it is used from the next start", self.path)
            return False
        log.info(
            "MQTT spool %s: its %d messages from before are numbered below this start's, in order", self.path, moved
        )
        return True

    def _adopt(self, memory: sqlite3.Connection, opened: Opened) -> None:
        """What the spool in memory holds, carried over to the file ``opened``."""
        if self._acked:  # sent from memory: forgotten there
            delete_rows(memory, self._acked)
            self._acked.clear()
        self._unrecorded += self._dropped_beyond(read_counter(memory, "dropped"), read_counter(opened.db, "dropped"))
        self._carry_sessions(memory, opened.db)
        self._held = Held(self._first_id, memory)  # the file's rows are at or below it
        self._depth, self._keyed, self._seq = opened.depth, opened.keyed, max(self._seq, opened.seq)

    def _dropped_beyond(self, memory: int, file: int) -> int:
        """The drops a file whose counter reads ``file`` lacks (into it with the next write): the spool in memory
        (``memory``) counted on from ``_seeded``, the file's own where the start could read it; a sum counted them
        twice."""
        own = memory - self._seeded.get("dropped", 0)
        return max(memory, file + own) - file

    def _carry_sessions(self, memory: sqlite3.Connection, file: sqlite3.Connection) -> None:
        """The day's sessions counted in memory, added to the file's count for that day (see
        SessionCounts.carried_sessions); kept in memory where the file still refuses them (a card nearly full)."""
        before = (read_counter(file, "sessions_day"), read_counter(file, "sessions_today"))
        now = (read_counter(memory, "sessions_day"), read_counter(memory, "sessions_today"))
        seed = (self._seeded.get("sessions_day", 0), self._seeded.get("sessions_today", 0))
        counted = self.carried_sessions(now, before, seed)
        if counted[0] and counted != before:
            try:
                write_sessions(file, counted)
            except sqlite3.Error:  # written with the next write the card takes (see Spool._insert)
                self._sessions_kept = counted
