"""Store and forward: a bounded on-disk queue of messages waiting for their PUBACK.

SQLite in WAL mode, in the service's state directory. A message is written
here, with its ``seq`` stamped, *before* anything tries to publish it, and
deleted only when the broker acknowledged it; so a broker outage, a
process restart or a power cut loses nothing committed, and a re-sent message is byte-identical
(same ``seq``, same ``ts``). The ``seq`` counter lives in the same database
and is advanced in the same transaction as the insert, so it never repeats
across restarts.

One connection, shared by the pipeline thread (which only inserts) and the
publisher's drain thread (which reads and deletes), guarded by a lock.

A row holds its topic's leaf (``event``, ``metrics``, ``session``), not the
full topic: the publisher puts the current ``<topic_prefix>/<device_id>/``
in front when it sends it, so a device renamed while messages wait sends
them under its new name, not as a phantom of its old one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from listener.errors import OutputError, OutputFileError
from listener.lifecycle import Managed
from listener.outputs.mqtt.spool_damage import is_damage_error, set_aside

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 5.0  # sqlite waits this long for a lock held by another connection
WARN_EVERY = 100  # while the disk is full, one warning per this many messages dropped
# sqlite's primary result codes for "this process may not write the file", unlike SQLITE_FULL:
# READONLY is what a root-owned spool opened by the service user gives at the first write
_ACCESS_CODES = frozenset({3, 8, 14, 23})  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_AUTH

_SCHEMA = """
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


@dataclass(frozen=True, slots=True)
class Spooled:
    """One stored message, exactly as it will be (re)sent."""

    id: int
    leaf: str
    payload: bytes
    qos: int
    seq: int


def encode(message: dict[str, object]) -> bytes:
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")


def is_access_error(exc: sqlite3.Error) -> bool:
    """A permission problem (owner, mode), which freeing space does not cure."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (isinstance(code, int) and code & 0xFF in _ACCESS_CODES) or "readonly database" in str(exc)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


FOLDER_FIX = "remove it (or move it away); the service makes the file"
# ext4 remounts itself read-only when the SD card fails: ownership is not the problem
READ_ONLY_FIX = "check `dmesg` for card errors, repair or replace the card"


def folder_problem(path: Path) -> str:
    """The spool ``path`` is a folder: sqlite says only "unable to open database file"; no chown cures it."""
    return f"{path} is a folder, where the spool file belongs"


def access_problem(path: Path) -> str:
    """Why this process may not write the spool ``path``, and the command that fixes it."""
    if path.is_dir():
        return f"{folder_problem(path)}: {FOLDER_FIX}"
    folder = path.parent
    not_owners = _beyond_owners(folder)
    if not_owners:
        return not_owners
    me = user_name(os.geteuid())
    chown = f"sudo chown -R {me}: {folder}"
    fix = f"fix: `{chown}`"
    # the -wal and -shm files too: a root run that crashed leaves them behind, root-owned
    present = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), folder) if p.exists()]
    try:
        stats = [(p, p.stat()) for p in present]
    except OSError as exc:
        return f"{folder} cannot be read ({exc.strerror or exc}); {fix}"
    for target, st in stats:
        if st.st_uid != os.geteuid():
            # typically `sudo listener run ...` once, which left a root-owned spool behind
            return f"{target} belongs to {user_name(st.st_uid)}, not to {me} that runs this; {fix}"
    for target, st in stats:
        if not os.access(target, os.W_OK):
            mode = f"{target} has mode {st.st_mode & 0o777:o}, which {me} may not write"
            return f"{mode}; fix: `{chown} && sudo chmod -R u+rwX {folder}`"
    return f"{me} may not write in {folder}; {fix}"


def _beyond_owners(folder: Path) -> str:
    """A refusal no chown cures: a read-only mount, or one that even root meets ('' if neither)."""
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{folder} is on a read-only file system: {READ_ONLY_FIX}"
    if os.geteuid() == 0:  # root writes any file it owns or not: a chown would only break the service
        return f"{folder} refuses writes even to root: check `mount` (read-only?) and `lsattr` (immutable files?)"
    return ""


def _probe_write(db: sqlite3.Connection) -> None:
    """Raise the access error the first real write would: sqlite opens a file it may not write read-only,
    silently. A full disk is no reason not to start (``put`` drops and counts then), so it passes here."""
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT OR REPLACE INTO counters(name, value) VALUES ('write_probe', 0)")
    except sqlite3.Error as exc:
        if is_access_error(exc):
            raise
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")


def _migrate(db: sqlite3.Connection) -> None:
    """A spool written before rows held leaves: keep each row (id, so order, and seq) and re-home it."""
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(outbox)")}
    if "topic" not in columns:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        rows = db.execute("SELECT id, topic FROM outbox").fetchall()
        db.executemany("UPDATE outbox SET topic = ? WHERE id = ?", [(str(t).rsplit("/", 1)[-1], i) for i, t in rows])
        # renamed, so a previous version of the software fails on this spool rather than send bare leaves
        db.execute("ALTER TABLE outbox RENAME COLUMN topic TO leaf")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    if rows:
        log.info("MQTT spool: %d messages from before will be sent under the current device id", len(rows))


class Spool(Managed):
    """The outbox and the per-device counters (``seq``, drops, sessions per day)."""

    def __init__(self, path: Path, max_messages: int) -> None:
        self.path = path
        self.max_messages = max_messages
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._depth = 0
        self._seq = 0  # the latest seq handed out, to go on counting while the disk is full
        self._unstored = 0  # messages dropped because the spool could not be written (disk full)

    def open(self) -> None:
        try:
            db = self._connect()
        except (sqlite3.Error, OSError) as exc:
            if not is_damage_error(exc):
                raise self._open_error(exc) from None
            # a damaged file would stop the device for good: it is kept aside, the device goes on
            seq_from = set_aside(self.path, exc)
            try:
                db = self._connect(seq_from)
            except (sqlite3.Error, OSError) as again:
                raise self._open_error(again) from None
        self._db = db
        if self._depth:
            log.info("MQTT spool holds %d messages from before; they are sent first", self._depth)

    def _connect(self, seq_from: int = 0) -> sqlite3.Connection:
        """The spool's database, made if new and checked; a new ``seq`` counts on from ``seq_from``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=LOCK_TIMEOUT_S)
        try:
            # WAL: the drain thread reads while the pipeline writes. FULL: shops switch the power off at
            # closing time, and NORMAL can roll the last commits back then, handing their seq out again
            # to different messages. It costs an fsync per message (a few ms, a few messages a minute).
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            _migrate(db)
            _probe_write(db)
            if seq_from:
                db.execute("INSERT OR IGNORE INTO counters(name, value) VALUES ('seq', ?)", (seq_from,))
            self._depth = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            self._seq = int((db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone() or (0,))[0])
        except BaseException:
            db.close()
            raise
        return db

    def _open_error(self, exc: Exception) -> OutputFileError:
        if isinstance(exc, sqlite3.Error) and is_access_error(exc):
            # said at start, before any message is taken in and then lost
            return OutputFileError(f"MQTT spool {self.path} cannot be written ({exc}): {access_problem(self.path)}")
        return OutputFileError(
            f"MQTT spool {self.path} cannot be opened ({exc}): check that service.state_dir exists "
            "and is writable by the listener user"
        )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutputError("MQTT spool used before open(): open the MQTT stage first")
        return self._db

    # -- counters ------------------------------------------------------------

    def _bump(self, name: str, by: int = 1) -> int:
        row = self.db.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value",
            (name, by),
        ).fetchone()
        return int(row[0])

    def counter(self, name: str) -> int:
        with self._lock:
            row = self.db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_counter(self, name: str, value: int) -> None:
        with self._lock:
            try:
                self.db.execute(
                    "INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = ?",
                    (name, value, value),
                )
            except sqlite3.Error as exc:  # disk full: the counter stays behind, the pipeline goes on
                self._warn_unwritable(exc)

    def next_seq(self) -> int:
        with self._lock:
            try:
                self._seq = self._bump("seq")
            except sqlite3.Error as exc:  # disk full: count on in memory rather than stop the pipeline
                self._seq += 1
                self._warn_unwritable(exc)
            return self._seq

    def stamp(self, message: dict[str, object]) -> bytes:
        """A message that is not spooled (retained state, status) still takes the next ``seq``."""
        message["seq"] = self.next_seq()
        return encode(message)

    @property
    def dropped(self) -> int:
        return self.counter("dropped") + self._unstored

    @property
    def depth(self) -> int:
        return self._depth

    # -- the outbox ------------------------------------------------------------

    def put(self, leaf: str, message: dict[str, object], qos: int = 1) -> int:
        """Stamp ``seq`` into ``message``, store it under its topic's ``leaf``, drop the oldest beyond the
        bound; returns seq.

        When the disk is full the message is dropped and counted (-1 is returned): the pipeline goes on.
        """
        with self._lock:
            db = self.db
            try:
                db.execute("BEGIN IMMEDIATE")
                seq = self._bump("seq")
                message["seq"] = seq
                db.execute(
                    "INSERT INTO outbox(leaf, payload, qos, seq) VALUES (?, ?, ?, ?)",
                    (leaf, encode(message), qos, seq),
                )
                excess = self._depth + 1 - self.max_messages
                if excess > 0:
                    db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (excess,))
                    self._bump("dropped", excess)
                db.execute("COMMIT")
            except sqlite3.Error as exc:  # SQLITE_FULL and friends: sqlite has already rolled back
                self._rollback()
                self._unstored += 1
                self._warn_unwritable(exc)
                return -1
            except BaseException:
                self._rollback()
                raise
            self._seq = seq
            self._depth = min(self._depth + 1, self.max_messages)
        if excess > 0:
            log.warning("MQTT spool full (%d messages): dropped the oldest %d", self.max_messages, excess)
        return seq

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _warn_unwritable(self, exc: sqlite3.Error) -> None:
        if self._unstored > 1 and self._unstored % WARN_EVERY:
            return  # once, then every WARN_EVERY-th: a full disk must not also fill the journal
        if is_access_error(exc):  # an install fault: "free space" would send the installer the wrong way
            log.error(
                "MQTT spool %s cannot be written (%s): %d messages dropped so far; %s",
                self.path,
                exc,
                self._unstored,
                access_problem(self.path),
            )
            return
        log.warning(
            "MQTT spool %s cannot be written (%s): %d messages dropped so far; free space on service.state_dir",
            self.path,
            exc,
            self._unstored,
        )

    def after(self, last_id: int, limit: int) -> list[Spooled]:
        """Up to ``limit`` messages with id > ``last_id``, oldest first."""
        with self._lock:
            rows = self.db.execute(
                "SELECT id, leaf, payload, qos, seq FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
            ).fetchall()
        return [Spooled(int(r[0]), str(r[1]), bytes(r[2]), int(r[3]), int(r[4])) for r in rows]

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            cursor = self.db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._depth = max(0, self._depth - max(cursor.rowcount, 0))
