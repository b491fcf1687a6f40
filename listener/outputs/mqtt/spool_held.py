"""Messages the spool's file cannot take (a full SD card), kept in memory until it can.

A card fills from outside the service (the journal, another program), and the spool's next write fails.
Every message it could not store was dropped, though measured, with the broker connected too: 8 of a
sample conversation's 13 were lost, its session summary among them. They now wait here, in an in-memory
database of the spool's own shape, numbered on above the file's rows: the publisher sends them from here
in the spool's order while the broker is connected, a full spool's choice of what to drop holds here
too, and the next message stored once the card has room (or the stop) writes them into the file first,
with their ids and seqs. At most HELD_MAX wait; only a stop while the card is still full loses them,
said then.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from listener.outputs.mqtt.eviction import evict
from listener.outputs.mqtt.spool_schema import SCHEMA, SUPERSEDE, add_columns, insert, transaction

# some 11 hours of conversation (about 460 messages an hour), a few MB of memory
HELD_MAX = 5000

HeldRow = tuple[str, Mapping[str, object], bytes, int, int]  # leaf, message, payload, qos, seq
Outgoing = tuple[str, dict[str, object], int]  # a message to spool: its topic's leaf, the message, its QoS
_COLUMNS = "id, leaf, payload, qos, seq, kind, session_id, rank"


class Held:
    """The messages waiting in memory; their ids follow ``after_id``, the file's last row."""

    def __init__(self, after_id: int, db: sqlite3.Connection | None = None) -> None:
        """``db``: a spool in memory whose rows these become (see spool_start), numbered above ``after_id``."""
        self.after_id = after_id
        if db is None:
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            db.executescript(SCHEMA)
            add_columns(db)  # ranked as the file's rows are: the same choice of what a full spool drops
            db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('outbox', ?)", (after_id,))
        self.db = db
        self.count = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def put(self, rows: Sequence[HeldRow], room: int, held_through: int) -> tuple[int, Counter[str]]:
        """Keep ``rows``, the least needed dropped beyond ``room`` (never rows up to ``held_through``, handed to
        the publisher); (the last row's id, the kinds dropped)."""
        last_id = 0
        with transaction(self.db):
            for leaf, message, payload, qos, seq in rows:
                last_id = insert(self.db, leaf, message, (payload, qos, seq), keyed=True)
            excess = self.count + len(rows) - room
            lost = evict(self.db, excess, held_through) if excess > 0 else Counter[str]()
        self.count += len(rows) - lost.total()
        return last_id, lost

    def rows(self, after_id: int, limit: int) -> list[tuple[int, str, bytes, int, int]]:
        """Up to ``limit`` rows with id > ``after_id``, oldest first: (id, leaf, payload, qos, seq)."""
        return self.db.execute(
            "SELECT id, leaf, payload, qos, seq FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ).fetchall()

    def owns(self, row_id: int) -> bool:
        """Whether ``row_id`` is one of these (the file gains no row while any waits here)."""
        return row_id > self.after_id

    def delete(self, ids: Iterable[int]) -> None:
        """Forget rows the broker acknowledged: sent from memory, they need no place on the card."""
        mine = [(i,) for i in ids if self.owns(i)]
        if mine:
            gone = self.db.executemany("DELETE FROM outbox WHERE id = ?", mine).rowcount
            self.count -= max(gone, 0)

    def write_into(self, db: sqlite3.Connection, keyed: bool) -> int:
        """Every row written into the spool file ``db``, with its id and seq, in the caller's transaction (its
        ``keyed``: the file's rows carry their kind); the number written."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY id").fetchall()
        if keyed:
            db.executemany(f"INSERT INTO outbox({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            # a session's metrics kept here supersede its earlier ones in the file
            for row_id, _, _, _, _, kind, session_id, _ in rows:
                if kind == "metrics" and session_id is not None:
                    db.execute(SUPERSEDE, (session_id, row_id))
        else:
            db.executemany(
                "INSERT INTO outbox(id, leaf, payload, qos, seq) VALUES (?, ?, ?, ?, ?)", (r[:5] for r in rows)
            )
        # the file numbers on above every id handed out here, those sent and forgotten too: the publisher has
        # sent up to them, and skips a row numbered below
        last = int(self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()[0])
        if not db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'", (last,)).rowcount:
            db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('outbox', ?)", (last,))
        return len(rows)

    def close(self) -> None:
        self.db.close()
