"""A spool file SQLite finds damaged: set aside (kept, never deleted) so the device starts a fresh one.

A power cut during a file system repair, or a failing SD card, can leave ``mqtt-spool.sqlite3``
truncated or full of garbage. Refusing to start over it would stop the whole device for a file
whose messages cannot be read anyway; so the file moves aside with its ``-wal`` and ``-shm`` as
``mqtt-spool.sqlite3.corrupt-<UTC time>`` and the service goes on with a fresh spool. ``seq``
must still never repeat (consumers drop a ``seq`` they have seen), so the fresh spool counts on
from the current time in milliseconds, or from the old spool's counter where that is higher.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from pathlib import Path

from listener.errors import OutputFileError

log = logging.getLogger(__name__)

# sqlite's primary result codes for a file that is not (or no longer) a sound database; unlike a
# permission problem, no chown or free space cures these
_DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_COMPANIONS = ("-wal", "-shm")


def is_damage_error(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and isinstance(code, int) and code & 0xFF in _DAMAGE_CODES


def find_damage(path: Path) -> sqlite3.DatabaseError | None:
    """The damage the service's start would find in the spool ``path``, read only (None: none found)."""
    if not path.is_file():
        return None
    # Without its -wal and -shm the spool is not in use, and immutable=1 reads it without making them: a
    # doctor run as root would leave root-owned ones that lock the service out of its spool. In use, those
    # two are there and mode=ro reads through them, in step with the service's writes.
    in_use = all(Path(f"{path}{suffix}").exists() for suffix in _COMPANIONS)
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?{'mode=ro' if in_use else 'immutable=1'}", uri=True)
    except sqlite3.Error as exc:  # unreadable, not damaged: the spool's own open says why, with its fix
        log.debug("spool %s not checked for damage: %s", path, exc)
        return None
    try:  # the reads the start makes: a damaged page they touch stops it
        db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
    except sqlite3.DatabaseError as exc:
        return exc if is_damage_error(exc) else None
    finally:
        db.close()
    return None


def set_aside(path: Path, damage: Exception, at_least: int = 0) -> int:
    """Move the damaged spool ``path`` (and its -wal, -shm) aside; the ``seq`` a fresh spool counts on from.

    ``at_least``: a running service knows the next seq; the damaged file may no longer say it.
    """
    aside = _aside_name(path)
    try:
        # the -wal first: left beside a fresh spool, sqlite would replay the damaged pages into it
        for suffix in (*_COMPANIONS, ""):
            source = Path(f"{path}{suffix}")
            if source.exists():
                source.rename(f"{aside}{suffix}")
    except OSError as exc:
        raise OutputFileError(
            f"MQTT spool {path} is damaged ({damage}) and cannot be set aside ({exc.strerror or exc}): "
            f"move it and its -wal and -shm files out of {path.parent}, then start again"
        ) from None
    seq = max(_last_seq(aside), time.time_ns() // 1_000_000, at_least)
    log.warning(
        "MQTT spool %s is damaged (%s), as a power cut or a failing SD card leaves it: set aside as %s (kept) "
        "and a fresh spool started; the messages it held cannot be resent, and seq goes on from %d, above "
        "every earlier one; if this happens again, check the card (`dmesg`)",
        path,
        damage,
        aside.name,
        seq,
    )
    return seq


def _aside_name(path: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
    while any(Path(f"{aside}{suffix}").exists() for suffix in ("", *_COMPANIONS)):  # set aside twice in a second
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    return aside


def _last_seq(aside: Path) -> int:
    """The old spool's ``seq`` counter, where it can still be read (0 where not)."""
    try:
        db = sqlite3.connect(f"{aside.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        row = db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        return int(row[0]) if row and isinstance(row[0], int) else 0
    except sqlite3.Error:
        return 0
    finally:
        db.close()
