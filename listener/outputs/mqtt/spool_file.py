"""Opening the spool's database: made if new, checked, set up, made this version's and tried with a write."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from listener.outputs.mqtt.spool_access import probe_write
from listener.outputs.mqtt.spool_damage import foreign_shape, fresh_seq
from listener.outputs.mqtt.spool_schema import SCHEMA, keyed, migrate_topics, read_counter
from listener.outputs.mqtt.spool_warnings import unkeyed_warning

log = logging.getLogger("listener.outputs.mqtt.spool")  # said as the spool's own lines, as they always were

LOCK_TIMEOUT_S = 5.0  # sqlite waits this long for a lock held by another connection
# a put rewrites five pages (the outbox's, its two indexes', the seq counter's, AUTOINCREMENT's) for a message
# of 200-1000 bytes: at sqlite's 4096 an hour of conversation wrote 33 MB to the card, at 1024 11.5 MB
PAGE_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Opened:
    """An open spool database and what the spool keeps of it."""

    db: sqlite3.Connection
    last_id: int  # the highest outbox row id ever (AUTOINCREMENT's)
    depth: int  # rows in the outbox
    seq: int  # the latest seq handed out
    keyed: bool  # the rows carry their kind (see spool_schema)


def connect(
    path: Path, seq_from: int = 0, id_from: int = 0, in_memory: bool = False, carried: Mapping[str, int] | None = None
) -> Opened:
    """The spool's database at ``path`` (or in memory), made if new and checked; a new one numbers on from
    ``id_from``, and from ``seq_from`` or the clock in milliseconds, whichever is higher, and starts ``carried``
    counters there."""
    if not in_memory:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(":memory:" if in_memory else path, check_same_thread=False, isolation_level=None,
                         timeout=LOCK_TIMEOUT_S)  # fmt: skip
    try:
        is_keyed = _prepared(db, path)
        if db.execute("SELECT 1 FROM counters WHERE name = 'seq'").fetchone() is None:
            # a new spool (the first start, a wiped state_dir, a fresh card, damage set aside, the
            # fallback in memory): seq starts at the clock, above every earlier spool's (see fresh_seq);
            # an existing spool's counter goes on as it is
            db.execute("INSERT INTO counters(name, value) VALUES ('seq', ?)", (fresh_seq(seq_from),))
            db.executemany("INSERT OR IGNORE INTO counters(name, value) VALUES (?, ?)", (carried or {}).items())
        if id_from:  # the publisher has sent rows up to an id of the old file: new ones come after it
            db.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('outbox', ?)", (id_from,))
        last_id = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        depth = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        seq = read_counter(db, "seq")
    except BaseException:
        db.close()
        raise
    return Opened(db, int(last_id[0]) if last_id else 0, depth, seq, is_keyed)


def _prepared(db: sqlite3.Connection, path: Path) -> bool:
    """``db`` checked to be a spool (or empty), set up, made this version's and tried with a write; whether
    its rows carry their kind (see spool_schema)."""
    foreign = foreign_shape(db)  # before anything is written: a file of another shape is not ours to change
    if foreign is not None:
        raise foreign
    # WAL: the drain thread reads while the pipeline writes. FULL: shops switch the power off at
    # closing time, and NORMAL can roll the last commits back then, handing their seq out again
    # to different messages. It costs a sync per message stored (deletes make none: spool_schema).
    # PAGE_BYTES: a new file's pages (an existing file keeps its own); see its comment
    db.execute(f"PRAGMA page_size={PAGE_BYTES}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    is_keyed = _upgraded(db, path)
    probe_write(db)
    return is_keyed


def _upgraded(db: sqlite3.Connection, path: Path) -> bool:
    """A spool of an earlier version made this version's; False: it runs without kinds (see spool_schema)."""
    if rehomed := migrate_topics(db):
        log.info("MQTT spool: %d messages from before will be sent under the current device id", rehomed)
    not_keyed = keyed(db)
    if not_keyed is not None:
        log.warning(unkeyed_warning(path, not_keyed))
    return not_keyed is None
