"""Store and forward: a bounded on-disk queue of messages waiting for their PUBACK.

SQLite in WAL mode, in the service's state directory. A message is written
here, with its ``seq`` stamped, *before* anything tries to publish it, and
deleted only when the broker acknowledged it; so a broker outage, a
process restart or a power cut loses nothing committed, and a re-sent message is byte-identical
(same ``seq``, same ``ts``). The ``seq`` counter lives in the same database
and is advanced in the same transaction as the insert, so it never repeats
across restarts. Each message takes one more than the last, or the clock in
milliseconds where that is later (spool_damage.seq_after), so it goes on
increasing when the spool itself is lost (a fresh card, a wiped state
directory) while the device id stays the same, above the seqs a card that
refused writes up to the stop handed out in memory, and above every earlier
seq from the first message after NTP sets a clock that read early.

One connection, shared by the pipeline thread (which only inserts) and the
publisher's drain thread (which reads and deletes), guarded by a lock.

A row holds its topic's leaf (``event``, ``metrics``, ``session``), not the
full topic: the publisher puts the current ``<topic_prefix>/<device_id>/``
in front when it sends it, so a device renamed while messages wait sends
them under its new name, not as a phantom of its old one.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from listener import strict_json
from listener.errors import NotOpenError
from listener.lifecycle import Managed
from listener.outputs.mqtt.eviction import EvictionLog, evict
from listener.outputs.mqtt.spool_access import card_is_read_only, open_error, storage_state
from listener.outputs.mqtt.spool_card import CardState
from listener.outputs.mqtt.spool_counters import Counters
from listener.outputs.mqtt.spool_damage import ForeignSpool, is_damage_error, set_aside
from listener.outputs.mqtt.spool_file import connect
from listener.outputs.mqtt.spool_held import HELD_MAX, Held
from listener.outputs.mqtt.spool_held import Outgoing as Outgoing  # the stage and tests name it from here
from listener.outputs.mqtt.spool_schema import delete_rows, insert
from listener.outputs.mqtt.spool_sessions import write_sessions
from listener.outputs.mqtt.spool_start import FullCardStart as FullCardStart  # tests shorten its REOPEN_S
from listener.outputs.mqtt.spool_warnings import (
    held_warning,
    say_again,
    stored_again,
    unwritable_warning,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

ACK_BATCH = 50  # acknowledged rows deleted together while a backlog drains: a second's drain at the default rate


@dataclass(frozen=True, slots=True)
class Spooled:
    """One stored message, exactly as it will be (re)sent."""

    id: int
    leaf: str
    payload: bytes
    qos: int
    seq: int


def encode(message: dict[str, object]) -> bytes:
    """The payload as sent: strict JSON (a NaN or infinite number raises, naming it: no parser would read it)."""
    where = f"the MQTT message {message.get('schema', '')}"
    return strict_json.dumps(message, where, separators=(",", ":")).encode("utf-8")


class Spool(Counters, CardState, Managed):
    """The outbox and the per-device counters (``seq``, drops, sessions per day)."""

    def __init__(self, path: Path, max_messages: int) -> None:
        self.path = path
        self.max_messages = max_messages
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._depth = 0  # rows in the file; ``depth`` leaves out those acknowledged, whose delete waits
        self._acked: set[int] = set()  # rows acknowledged, not yet deleted (see delete)
        self._seq = 0  # the latest seq handed out, to go on counting while the disk is full
        self._last_id = 0  # the highest outbox row id: a fresh spool after damage numbers on above it
        self._unstored = 0  # messages the file could not take since it last took one (held, or dropped)
        self._held: Held | None = None  # those waiting in memory for room on the card (see spool_held)
        self._held_said = False  # the messages waiting in memory said since a message was last stored
        self._unrecorded = 0  # drops counted in memory only (disk full): into the file's counter at its next write
        self.drops = 0  # messages this process dropped, however: the retained info counting them goes again
        # the drops counted at the last warning (-1: none since a message was last stored): a seq stamp or a
        # counter that cannot be written drops nothing, and each connection attempt stamps two
        self._warned_at = -1
        self._evicted = EvictionLog()  # messages dropped by this process because the spool was full
        self._keyed = True  # the rows carry their kind (see spool_schema): a full card at start may leave them not
        # the highest row id handed to the publisher (take): those up to it still stored are sent, or about to
        # be, and await their PUBACK (paho re-sends them after a reconnect): a full spool keeps them
        self._taken = 0
        # whether the broker is connected (the publisher says how): a spool that fills then is drained too
        # slowly, and its warning must not blame an outage
        self.link_up: Callable[[], bool] = lambda: False

    def open(self) -> None:
        try:
            db = self._connect()
        except (sqlite3.Error, OSError) as exc:
            # no reason to stop the device (see spool_start): a card full, or remounted read-only by a fault
            refused_as = storage_state(exc, self.path.parent)
            if refused_as == "full" or card_is_read_only(exc, self.path.parent):
                self._db = self._start_in_memory(exc, min(HELD_MAX, self.max_messages), refused_as)
                self.remember_sessions()
                return
            if not (is_damage_error(exc) or isinstance(exc, ForeignSpool)):
                raise open_error(self.path, exc) from None
            # a damaged or foreign file would stop the device for good: it is kept aside, the device goes on
            seq_from, carried = set_aside(self.path, exc)
            try:
                db = self._connect(seq_from, carried=carried)
            except (sqlite3.Error, OSError) as again:
                raise open_error(self.path, again) from None
        self._db = db
        self.remember_sessions()
        if self._depth:
            log.info("MQTT spool holds %d messages from before; they are sent first", self._depth)

    def _connect(
        self, seq_from: int = 0, id_from: int = 0, in_memory: bool = False, carried: Mapping[str, int] | None = None
    ) -> sqlite3.Connection:
        """The spool's database (see spool_file.connect), its figures taken over."""
        opened = connect(self.path, seq_from, id_from, in_memory, carried)
        self._last_id, self._depth, self._seq, self._keyed = opened.last_id, opened.depth, opened.seq, opened.keyed
        self._acked.clear()  # a fresh spool holds none of the rows acknowledged in the one set aside
        return opened.db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                if self._acked:  # a stop with messages still in flight: those acknowledged go
                    with contextlib.suppress(sqlite3.Error):
                        delete_rows(self._db, self._acked)
                self._store_at_close()
                if self._unrecorded:  # a full disk's drops, not yet in the counter: it may have room by now
                    with contextlib.suppress(sqlite3.Error):
                        self._bump("dropped", self._unrecorded)
                        self._unrecorded = 0
                kept, self._sessions_kept = self._sessions_kept, None
                if kept is not None:  # so may the day's sessions counted since it refused them
                    with contextlib.suppress(sqlite3.Error):
                        write_sessions(self._db, kept)
                self._db.close()
                self._db = None
            if self._held is not None:
                self._held.close()
                self._held = None

    def _renewed(self, exc: sqlite3.Error) -> bool:
        """Damage met while running (a failing card): set aside as at start, go on in a fresh spool.

        Called with the lock held. False when ``exc`` is no damage, or the fresh spool cannot be made.
        """
        if not is_damage_error(exc) or self._db is None:
            return False
        self._db.close()
        self._db = None
        seq_from, id_from = self._seq + 1, self._last_id  # above the clock too: set_aside, _connect see to it
        carried: dict[str, int] = {}
        try:
            seq_from, carried = set_aside(self.path, exc, at_least=seq_from)
            self._db = self._connect(seq_from, id_from, carried=self.as_said(carried))
        except (sqlite3.Error, OSError) as again:  # in memory, the file tried again (see spool_start)
            self._in_memory_after_damage(again, (seq_from, id_from), self.as_said(carried))
        return True

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise NotOpenError("the MQTT spool")
        return self._db

    # -- counters (see spool_counters) ----------------------------------------

    def _renewing(self, op: Callable[[], T]) -> T:
        """``op()``, once more in a fresh spool if it met damage (see ``_renewed``); the lock is held."""
        try:
            return op()
        except sqlite3.Error as exc:
            if not self._renewed(exc):
                raise
        return op()

    def stamp(self, message: dict[str, object]) -> bytes:
        """A message that is not spooled (retained state, status) still takes the next ``seq``."""
        message["seq"] = self.next_seq()
        return encode(message)

    @property
    def depth(self) -> int:
        """Messages stored (or waiting in memory for room on the card) and not yet acknowledged."""
        held = self._held  # read once: the other thread may clear it between a check and a use
        return max(0, self._depth - len(self._acked)) + (held.count if held is not None else 0)

    @property
    def deletes_waiting(self) -> bool:
        """Acknowledged rows whose delete waits for more (see :meth:`delete`)."""
        return bool(self._acked)

    # -- the outbox ------------------------------------------------------------

    def put(self, leaf: str, message: dict[str, object], qos: int = 1) -> int:
        """Stamp ``seq`` into ``message``, store it under its topic's ``leaf``, drop the least needed beyond the
        bound; returns seq.

        When the file cannot take it (a full card) it waits in memory (see spool_held): the pipeline goes on.
        """
        return self.put_many([(leaf, message, qos)])[0]

    def put_many(self, messages: Sequence[Outgoing]) -> list[int]:
        """``put`` for messages stored all together or none (one transaction, seqs in their order): a
        session's end and its summary, which a power cut between two puts would part."""
        with self._lock:
            self._reopen_due()
            try:
                seqs, lost = self._renewing(lambda: self._insert(messages))
            except sqlite3.Error as exc:  # SQLITE_FULL and friends: sqlite has already rolled back
                return self._hold(messages, exc)
            self._stored(lost)
        return seqs

    def _stored(self, lost: Counter[str]) -> None:
        """The file took a write (``lost``: the kinds it dropped beyond the bound). The lock is held."""
        self._warned_at, self._held_said = -1, False  # the next failure is news again
        self.drops += lost.total()
        warning = self._evicted.add(lost, self.max_messages, self._keyed, self.link_up()) if lost else None
        if warning:
            log.warning(warning)

    def _insert(self, messages: Sequence[Outgoing]) -> tuple[list[int], Counter[str]]:
        """(their seqs, the kinds dropped beyond the bound, least needed first: see eviction); the lock is held."""
        db = self.db
        seqs: list[int] = []
        last_id = self._last_id
        try:
            db.execute("BEGIN IMMEDIATE")
            # acknowledged rows waiting for their delete go first: they are no reason to drop a message
            deleted = delete_rows(db, self._acked) if self._acked else 0
            moved = self._held.write_into(db, self._keyed) if self._held is not None else 0
            if self._held is not None:  # seqs were handed out from memory: the counter goes on above them
                self._bump("seq", 0, at_least=self._seq)
            for leaf, message, qos in messages:
                seq = message["seq"] = self._seq_in_file()  # _seq moves on once committed: the counter does meanwhile
                row_id = insert(db, leaf, message, (encode(message), qos, seq), self._keyed)
                seqs.append(seq)
                last_id = max(last_id, row_id)
            bound = self.max_messages if self._refused is None else min(HELD_MAX, self.max_messages)  # in memory
            excess = self._depth - deleted + moved + len(messages) - bound
            lost = evict(db, excess, self._taken, self._keyed) if excess > 0 else Counter[str]()
            if lost or self._unrecorded:
                self._bump("dropped", lost.total() + self._unrecorded)
            kept = self._sessions_kept  # the day's sessions the card refused: it takes writes again
            if kept is not None:
                write_sessions(db, kept)
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._unrecorded, self._sessions_kept = 0, None
        self._acked.clear()
        self._seq, self._last_id = max([self._seq, *seqs]), max(self._last_id, last_id)
        # endings go whole, rows in flight stay: not always the bound
        self._depth += moved + len(messages) - lost.total() - deleted
        if self._held is not None:
            self._held.close()
            self._held = None
            log.info("MQTT spool %s takes writes again: %s", self.path, stored_again(moved))
        return seqs, lost

    def _hold(self, messages: Sequence[Outgoing], exc: sqlite3.Error) -> list[int]:
        """``messages`` kept in memory, the file having refused them (see spool_held); their seqs. The lock is held."""
        if self._held is None:  # numbered on above the file's rows: the file gains none while any wait here
            self._held = Held(self._last_id)
        self._refused_by(exc)
        rows = []
        for leaf, message, qos in messages:
            message["seq"] = seq = self._seq_in_memory()
            rows.append((leaf, message, encode(message), qos, seq))
        room = min(HELD_MAX, self.max_messages)
        self._last_id, lost = self._held.put(rows, room, self._taken)
        self.drops += lost.total()
        self._unrecorded += lost.total()  # into the file's counter with the next write that gets through
        self._unstored += len(messages)
        if not self._held_said or say_again(self._unstored, self._warned_at):  # then at every WARN_EVERY-th
            self._warned_at, self._held_said = self._unstored, True
            log.log(*held_warning(self.path, exc, (self._held.count, room), self.drops))
        return [row[4] for row in rows]

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _warn_unwritable(self, exc: sqlite3.Error) -> None:
        # a counter or a delete: once until a message is stored (each connection attempt stamps two seqs), and
        # not after the line for messages waiting in memory, which says it all: a full disk must not fill the journal
        if self._warned_at < 0:
            self._warned_at = self._unstored
            log.log(*unwritable_warning(self.path, exc))

    def after(self, last_id: int, limit: int) -> list[Spooled]:
        """Up to ``limit`` messages with id > ``last_id``, oldest first."""
        with self._lock:
            return self._after(last_id, limit)

    def _after(self, last_id: int, limit: int) -> list[Spooled]:
        # a fresh spool after damage numbers on above last_id: what it gets next is read then
        rows = self._renewing(
            lambda: self.db.execute(
                "SELECT id, leaf, payload, qos, seq FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
            ).fetchall()
        )
        if self._held is not None and len(rows) < limit:  # numbered above every row of the file
            rows += self._held.rows(last_id, limit - len(rows))
        return [Spooled(int(r[0]), str(r[1]), bytes(r[2]), int(r[3]), int(r[4])) for r in rows]

    def take(self, last_id: int, limit: int) -> list[Spooled]:
        """``after``, for the publisher to send: the rows are held (never dropped by a full spool) from now
        until deleted. Held here, under the lock, not when paho has taken them: a put in between dropped a
        row paho then delivered, and counted it lost."""
        with self._lock:
            rows = self._after(last_id, limit)
            self._taken = max([self._taken, *(row.id for row in rows)])
        return rows

    def delete(self, ids: list[int], more_coming: bool = False) -> None:
        """Delete rows the broker acknowledged. ``more_coming``: a backlog drains (rows in flight or still to
        send), whose acknowledgements follow: these wait for them (up to ACK_BATCH rows, a call without it, the
        next put or the close), all deleted at once. A backlog draining deleted its rows one acknowledgement at a
        time, each a transaction rewriting the table's and its indexes' pages: more written to the card than
        the puts had."""
        with self._lock:
            if self._held is not None:  # sent from memory: forgotten there, the file never held them
                self._held.delete(ids)
                ids = [i for i in ids if not self._held.owns(i)]
            self._acked.update(ids)
            if self._acked and (not more_coming or len(self._acked) >= ACK_BATCH):
                self._delete_acked()
            if self.depth == 0:  # the backlog sent: the next overflow is another outage's, news again
                self._evicted.emptied()

    def _delete_acked(self) -> None:
        try:  # rows of a damaged file went with it: in the fresh spool the delete finds nothing
            deleted = self._renewing(lambda: delete_rows(self.db, self._acked))
        except sqlite3.Error as exc:  # a full card: they wait, as for a batch; sent, they are not sent again
            self._warn_unwritable(exc)
            return
        self._acked.clear()  # only once deleted: a failed delete is tried again with the next
        self._depth = max(0, self._depth - deleted)
