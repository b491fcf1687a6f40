"""The spool's tables, and what a spool written by an earlier version needs before this one uses it.

Each outbox row carries its message's ``kind`` (an event's type, else its leaf), ``session_id`` and
``rank``, the class a full spool drops it in (see eviction): 1 a ``metrics`` snapshot a later one of its
session supersedes, 2 another event, 3 a session's ending (``session``, ``session_end``, its latest
``metrics``). The rank is kept up to date as messages are stored (a session's new ``metrics`` demotes its
earlier one), so that choosing what to drop reads through an index, not the whole spool. A spool from
before these columns gets them at its first start, its rows read once to fill them in. That is a write:
on a full card it fails, and the device starts anyway (it did before them), a full spool dropping the
oldest messages until a start with space.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

# kind and session_id are added by add_columns, to this table and to one from before them
SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    leaf TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
SUPERSEDED, EVENT, ENDING = 1, 2, 3  # the ranks
ENDING_KINDS = ("session", "session_end", "metrics")  # rank 3; metrics superseded by a later one: rank 1
_ENDINGS_SQL = f"({', '.join(repr(kind) for kind in ENDING_KINDS)})"
_COLUMNS = {"kind": "TEXT", "session_id": "TEXT", "rank": "INTEGER"}
_INDEXES = {
    "outbox_session": "CREATE INDEX IF NOT EXISTS outbox_session ON outbox(session_id, kind, id)",
    "outbox_rank": "CREATE INDEX IF NOT EXISTS outbox_rank ON outbox(rank, id)",
}
# a session's earlier metrics, superseded by the one just stored (its id). INDEXED BY: without statistics
# sqlite would read the (rank, id) index instead, every rank-3 row of the spool
SUPERSEDE = (
    "UPDATE outbox INDEXED BY outbox_session SET rank = 1 WHERE session_id = ? AND kind = 'metrics' AND id < ? "
    "AND rank = 3"
)
# sqlite's primary result codes for a write a later start may get through: SQLITE_BUSY, SQLITE_LOCKED,
# SQLITE_IOERR, SQLITE_FULL (a full card); the spool's puts drop and count on the same, and go on
_NOT_NOW_CODES = frozenset({5, 6, 10, 13})


def read_counter(db: sqlite3.Connection, name: str) -> int:
    """The spool's counter ``name`` (0 for one never written)."""
    row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed at the end of the block (when still open), rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        if db.in_transaction:
            db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def migrate_topics(db: sqlite3.Connection) -> int:
    """A spool written before rows held leaves: keep each row (id, so order, and seq) and re-home it; the
    number of rows re-homed."""
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(outbox)")}
    if "topic" not in columns:
        return 0
    with transaction(db):
        rows = db.execute("SELECT id, topic FROM outbox").fetchall()
        db.executemany("UPDATE outbox SET topic = ? WHERE id = ?", [(str(t).rsplit("/", 1)[-1], i) for i, t in rows])
        # renamed, so a previous version of the software fails on this spool rather than send bare leaves
        db.execute("ALTER TABLE outbox RENAME COLUMN topic TO leaf")
    return len(rows)


def row_keys(leaf: str, message: Mapping[str, object]) -> tuple[str, str | None]:
    """(kind, session_id) of a message stored under ``leaf``."""
    kind = message.get("type") if leaf == "event" else leaf
    session_id = message.get("session_id")
    return (kind if isinstance(kind, str) else leaf), (session_id if isinstance(session_id, str) else None)


def insert(
    db: sqlite3.Connection, leaf: str, message: Mapping[str, object], stored: tuple[bytes, int, int], keyed: bool
) -> int:
    """Store ``message`` (``stored``: its payload, qos and seq); its row id. ``keyed``: the columns are there."""
    if not keyed:  # left NULL, as an older version leaves them: the next start with space fills them in
        row = db.execute("INSERT INTO outbox(leaf, payload, qos, seq) VALUES (?, ?, ?, ?)", (leaf, *stored))
        return row.lastrowid or 0
    kind, session_id = row_keys(leaf, message)
    row = db.execute(
        "INSERT INTO outbox(leaf, payload, qos, seq, kind, session_id, rank) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (leaf, *stored, kind, session_id, ENDING if kind in ENDING_KINDS else EVENT),
    )
    row_id = row.lastrowid or 0
    if kind == "metrics" and session_id is not None:
        db.execute(SUPERSEDE, (session_id, row_id))
    return row_id


def delete_rows(db: sqlite3.Connection, ids: Iterable[int]) -> int:
    """Delete rows the broker acknowledged, in one transaction that waits for no sync of the card (or in the
    caller's transaction, a put's, as it is); the rows deleted.

    A delete lost to a power cut costs a duplicate at the next start (same seq, same bytes), never a message:
    its WAL frames come after every stored message's, and the next put's sync (or the kernel's writeback within
    half a minute) makes them durable too. Each acknowledgement was a transaction with a sync of its own: half
    the syncs a connected broker cost the card, and one per message while a backlog drained.
    """
    rows = [(i,) for i in ids]
    if db.in_transaction:
        return max(db.executemany("DELETE FROM outbox WHERE id = ?", rows).rowcount, 0)
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        with transaction(db):
            deleted = max(db.executemany("DELETE FROM outbox WHERE id = ?", rows).rowcount, 0)
    finally:
        db.execute("PRAGMA synchronous=FULL")  # every put syncs before it returns
    return deleted


def renumber_below(db: sqlite3.Connection, top: int) -> int | None:
    """Every outbox row numbered anew in its order, the last ``top``, in one transaction: a spool numbered above
    the one that ran in memory meanwhile (see spool_start); the rows renumbered, None where ids from 1 up to
    ``top`` are too few for them (nothing changed)."""
    with transaction(db):
        ids = [int(row[0]) for row in db.execute("SELECT id FROM outbox ORDER BY id")]
        if len(ids) > top:
            db.execute("ROLLBACK")
            return None
        db.execute("UPDATE outbox SET id = -id")  # out of the new ids' way: a key is unique at every row's update
        first = top - len(ids) + 1
        db.executemany("UPDATE outbox SET id = ? WHERE id = ?", [(first + n, -old) for n, old in enumerate(ids)])
    return len(ids)


def keyed(db: sqlite3.Connection) -> sqlite3.OperationalError | None:
    """``add_columns``; None when done, else the error that kept it from it when a later start may get
    through (a full card), rolled back: a full disk is no reason not to start."""
    try:
        add_columns(db)
    except sqlite3.OperationalError as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if not isinstance(code, int) or code & 0xFF not in _NOT_NOW_CODES:
            raise
        return exc
    return None


def add_columns(db: sqlite3.Connection) -> None:
    """Give every row its kind, session_id and rank: a new spool, one written before this version (its rows
    are read once to fill them in), and rows an older version stored after a downgrade (left NULL by it)."""
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(outbox)")}
    if _keyed(db, columns):  # no write at every start: a full disk is no reason not to start
        return
    with transaction(db):
        for column, sql_type in _COLUMNS.items():
            if column not in columns:  # nullable: an older version, downgraded to, inserts without them
                db.execute(f"ALTER TABLE outbox ADD COLUMN {column} {sql_type}")
        for index in _INDEXES.values():
            db.execute(index)
        _rank(db)


def _rank(db: sqlite3.Connection) -> None:
    unkeyed = db.execute("SELECT id, leaf, payload FROM outbox WHERE kind IS NULL").fetchall()
    db.executemany(
        "UPDATE outbox SET kind = ?, session_id = ? WHERE id = ?",
        [(*row_keys(str(leaf), decoded(payload)), i) for i, leaf, payload in unkeyed],
    )
    db.execute(f"UPDATE outbox SET rank = CASE WHEN kind IN {_ENDINGS_SQL} THEN 3 ELSE 2 END WHERE rank IS NULL")
    # once, at this start: a downgraded version's metrics may supersede rows this one ranked 3
    db.execute(
        "UPDATE outbox SET rank = 1 WHERE rank = 3 AND kind = 'metrics' AND EXISTS (SELECT 1 FROM outbox AS later "
        "WHERE later.session_id = outbox.session_id AND later.kind = 'metrics' AND later.id > outbox.id)"
    )


def _keyed(db: sqlite3.Connection, columns: set[str]) -> bool:
    if not set(_COLUMNS) <= columns:
        return False
    names = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    if not set(_INDEXES) <= names:
        return False
    return db.execute("SELECT 1 FROM outbox WHERE rank IS NULL OR kind IS NULL LIMIT 1").fetchone() is None


def decoded(payload: object) -> Mapping[str, object]:
    try:
        message = json.loads(bytes(payload) if isinstance(payload, bytes | memoryview) else str(payload))
    except (ValueError, TypeError):  # sent as it is; kept as a plain event of its leaf
        return {}
    return message if isinstance(message, dict) else {}
