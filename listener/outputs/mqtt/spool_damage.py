"""A spool file SQLite finds damaged: set aside (kept, never deleted) so the device starts a fresh one.

A power cut during a file system repair, or a failing SD card, can leave ``mqtt-spool.sqlite3``
truncated or full of garbage. Refusing to start over it would stop the whole device for a file
whose messages cannot be read anyway; so the file moves aside with its ``-wal`` and ``-shm`` as
``mqtt-spool.sqlite3.corrupt-<UTC time>`` and the service goes on with a fresh spool. ``seq``
must still never repeat (consumers drop a ``seq`` they have seen), so the fresh spool counts on
from the current time in milliseconds, or from the old spool's counter where that is higher.

A sound SQLite database of another shape there (someone's ``create table``, a file copied in from
elsewhere) is set aside the same way, as ``mqtt-spool.sqlite3.foreign-<UTC time>``: it holds none of
the service's messages, and writing the spool's tables into it would change a file that is not ours.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from listener.errors import OutputFileError
from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.spool_sessions import SESSION_COUNTERS

log = logging.getLogger(__name__)

# sqlite's primary result codes for a file that is not (or no longer) a sound database; unlike a
# permission problem, no chown or free space cures these
_DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_COMPANIONS = ("-wal", "-shm")
# per table, its key and the columns every version of the spool has had ("leaf|topic": a row's leaf
# was its whole topic before, which the spool's _migrate re-homes)
CARRIED_COUNTERS = ("dropped", *SESSION_COUNTERS)  # by a fresh spool after damage; seq apart
START_AGAIN = ", then start again"  # how a file not set aside at the start ends its line (the start stops)
_COUNTER = "SELECT value FROM counters WHERE name = '{}'"
_NUMBERING = ("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", _COUNTER.format("seq"))
_SHAPE = {"outbox": ("id", "leaf|topic", "payload", "qos", "seq"), "counters": ("name", "value")}


class ForeignSpool(sqlite3.DatabaseError):
    """The spool's file is a sound database, but not of the spool's shape: set aside, like damage."""


def is_damage_error(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and isinstance(code, int) and code & 0xFF in _DAMAGE_CODES


def find_damage(path: Path) -> sqlite3.DatabaseError | None:
    """The damage (or foreign shape) the service's start would find in the spool ``path``, read only (None: none)."""
    if not path.is_file():
        return None
    try:
        db = _read_only(path)
    except sqlite3.Error as exc:  # unreadable, not damaged: the spool's own open says why, with its fix
        log.debug("spool %s not checked for damage: %s", path, exc)
        return None
    try:  # the reads the start makes: a damaged page they touch stops it, a foreign shape is set aside
        foreign = foreign_shape(db)
        if foreign is not None:
            return foreign
        db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
    except sqlite3.DatabaseError as exc:
        return exc if is_damage_error(exc) else None
    finally:
        db.close()
    return None


def file_numbering(path: Path) -> tuple[int, int]:
    """(its highest outbox row id, its latest seq) of the spool ``path``, read without a write (a full card takes
    none); 0 for what cannot be read so (no file, damage, its last commits in a -wal without its -shm)."""
    last_id, seq = _read_without_write(path, _NUMBERING)
    return last_id, seq


def file_counters(path: Path) -> dict[str, int]:
    """The totals the dashboards show that the spool ``path`` keeps (CARRIED_COUNTERS: ``dropped``, the day's
    sessions), read without a write; those that cannot be read so left out: a start on a full card counts on from
    them (from 0, "Messages lost" and "Sessions today" fell until the file opened)."""
    found = _read_without_write(path, [_COUNTER.format(name) for name in CARRIED_COUNTERS])
    counts = dict(zip(CARRIED_COUNTERS, found, strict=True))
    if not counts["sessions_day"]:  # a count of no day: none
        del counts["sessions_day"], counts["sessions_today"]
    return {name: value for name, value in counts.items() if value}


def _read_without_write(path: Path, queries: Sequence[str]) -> list[int]:
    """Each query's integer in the spool ``path``, 0 for one without; all 0 where the file cannot be read."""
    with contextlib.suppress(OSError):
        if not path.is_file():
            return [0] * len(queries)
    # the start's failed open leaves an empty -wal and a -shm too short to read through: the file alone then
    for immutable in (False, True):
        try:
            db = _read_only(path, immutable)
        except sqlite3.Error:
            continue
        try:
            db.execute("SELECT name FROM sqlite_master").fetchall()
            found = [0] * len(queries)
            for n, sql in enumerate(queries):
                with contextlib.suppress(sqlite3.Error):  # a spool without rows ever has no sqlite_sequence
                    row = db.execute(sql).fetchone()
                    found[n] = row[0] if row and isinstance(row[0], int) else 0
            return found
        except sqlite3.Error:
            continue
        finally:
            db.close()
    return [0] * len(queries)


def _read_only(path: Path, immutable: bool = False) -> sqlite3.Connection:
    """The spool ``path`` opened to read, nothing written to the card (raises sqlite3.Error); ``immutable``: the
    file alone, its -wal left unread."""
    # Without its -wal and -shm the spool is not in use, and immutable=1 reads it without making them: a
    # doctor run as root would leave root-owned ones that lock the service out of its spool. In use, those
    # two are there and mode=ro reads through them, in step with the service's writes.
    in_use = not immutable and all(Path(f"{path}{suffix}").exists() for suffix in _COMPANIONS)
    return sqlite3.connect(f"{path.absolute().as_uri()}?{'mode=ro' if in_use else 'immutable=1'}", uri=True)


def foreign_shape(db: sqlite3.Connection) -> ForeignSpool | None:
    """What makes ``db`` no spool of any version of this service's (None: it is one, or still empty).

    Read before the spool writes anything to it: its tables made in another program's database would
    change a file that is not ours, and an outbox of another shape fails at the first message.
    """
    master = db.execute("SELECT name, type, sql FROM sqlite_master").fetchall()
    kinds = {str(name): str(kind) for name, kind, _ in master}
    others = sorted(n for n, k in kinds.items() if k == "table" and n != "counters" and not n.startswith("sqlite_"))
    if "outbox" not in kinds and others:  # beside an outbox of ours (our messages), an extra table is let be
        return ForeignSpool(f"it holds table {', '.join(others)} and no outbox")
    for table, (key, *columns) in _SHAPE.items():
        problem = _table_problem(db, table, kinds[table], key, columns) if table in kinds else ""
        if problem:
            return ForeignSpool(problem)
    outbox = next((str(sql) for name, _, sql in master if name == "outbox"), None)
    if outbox is not None and "AUTOINCREMENT" not in outbox.upper():  # ids used again: the publisher would skip rows
        return ForeignSpool("its outbox table's id is not AUTOINCREMENT")
    return None


def _table_problem(db: sqlite3.Connection, table: str, kind: str, key: str, columns: list[str]) -> str:
    if kind != "table":
        return f"its {table} is a {kind}, not a table"
    info = db.execute(f"PRAGMA table_info({table})").fetchall()
    found = {str(row[1]) for row in info}
    missing = [c.split("|")[0] for c in (key, *columns) if not found & set(c.split("|"))]
    if missing:
        return f"its {table} table has no column {', '.join(missing)}"
    keys = [str(row[1]) for row in info if row[5]]  # outbox's id orders rows for the publisher; counters upsert
    return f"its {table} table's key is {', '.join(keys) or 'none'}, not {key}" if keys != [key] else ""


def fresh_seq(at_least: int = 0) -> int:
    """The ``seq`` counter a new spool starts from: the clock in milliseconds, or ``at_least`` where higher.

    Consumers drop a ``seq`` they have seen per device, and the device id outlives the spool (a fresh
    card image, a wiped state_dir, a damaged file set aside). Every message takes the clock too (see
    seq_after), and the clock moves on by a millisecond per millisecond, so a spool started now counts
    above every one started before it, whatever became of those.

    Not while the clock reads earlier than it did then: a Pi has no battery clock, and before NTP sets it,
    it reads 1970 or the time it last saved. Waiting for NTP would stop a device with no network, and no
    floor helps (a fixed date lies below a spool started on a right clock after it, and two spools started
    on 1970 would share it). The messages made meanwhile count below the lost spool's seqs, and consumers
    that drop a seq lower than one they have seen drop them; the first message after NTP sets the clock
    counts above them all again (seq_after), with no restart. ``listener doctor`` fails a clock that reads
    a date before this software was made.
    """
    return max(payloads.now_ms(), at_least)


def seq_after(latest: int) -> int:
    """The ``seq`` of the message after the one numbered ``latest``: one more, or the clock in milliseconds
    where that is later. The one rule every seq is handed out by, in the file's counter and in memory alike.

    A start on a stale clock (see fresh_seq) counted on by one from it until the next start, whatever NTP did
    meanwhile: every message until a restart on a right clock lay below the seqs handed out before it, and
    consumers that drop those dropped them all. The clock read at each message ends that once NTP steps it;
    the one more keeps seqs increasing when it is stepped back, or several messages come within a millisecond.
    """
    return fresh_seq(latest + 1)


def aside_kind(damage: Exception) -> str:
    """The word in the name a spool is set aside under (``<spool>.<kind>-<UTC time>``): doctor names that file."""
    return "foreign" if isinstance(damage, ForeignSpool) else "corrupt"


def set_aside(path: Path, damage: Exception, at_least: int = 0) -> tuple[int, dict[str, int]]:
    """Move the damaged (or foreign) spool ``path`` and its -wal, -shm aside; the ``seq`` a fresh spool counts on
    from, and the damaged file's other counters where they can still be read (a foreign file's are not ours).

    ``at_least``: a running service knows the next seq; the damaged file may no longer say it.
    """
    foreign = isinstance(damage, ForeignSpool)
    shape = "is not this service's spool but a database of another shape"
    what = f"{shape if foreign else 'is damaged'} ({damage})"
    aside = _move_aside(path, aside_kind(damage), what)
    old = _old_counters(aside)
    seq = fresh_seq(max(old.pop("seq", 0), at_least))
    if foreign:  # put there by hand or by another program: none of its rows are messages of ours
        log.warning(
            "MQTT spool %s %s: set aside as %s (kept) and a fresh spool started; seq goes on from %d",
            path,
            what,
            aside.name,
            seq,
        )
        return seq, {}
    log.warning(
        "MQTT spool %s %s, as a power cut or a failing SD card leaves it: set aside as %s (kept) "
        "and a fresh spool started; the messages it held cannot be resent, and seq goes on from %d, above "
        "every earlier one; if this happens again, check the card (`dmesg`)",
        path,
        what,
        aside.name,
        seq,
    )
    return seq, old


def _move_aside(path: Path, why: str, what: str) -> Path:
    """The spool and its -wal, -shm renamed as set aside; the new name of the spool."""
    aside = _aside_name(path, why)
    moved: list[tuple[Path, Path]] = []
    try:
        # the -wal first: left beside a fresh spool, sqlite would replay the damaged pages into it
        for suffix in (*_COMPANIONS, ""):
            source = Path(f"{path}{suffix}")
            if source.exists():
                source.rename(f"{aside}{suffix}")
                moved.append((source, Path(f"{aside}{suffix}")))
    except OSError as exc:
        left = _put_back(moved)
        raise OutputFileError(
            f"MQTT spool {path} {what} and cannot be set aside ({exc.strerror or exc}): "
            f"move it and its -wal and -shm files{left} out of {path.parent}{START_AGAIN}"
        ) from None
    return aside


def _put_back(moved: list[tuple[Path, Path]]) -> str:
    """Undo the renames of a move that failed half-way: the next start sets the file aside with its -wal (set aside
    alone, its copy read without its -wal, the carried counters fell behind). '' when undone, else where they are."""
    for place, (source, target) in enumerate(reversed(moved)):
        try:
            target.rename(source)
        except OSError:
            return f" (already renamed: {', '.join(t.name for _, t in moved[: len(moved) - place])})"
    return ""


def _aside_name(path: Path, why: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside, n = path.with_name(f"{path.name}.{why}-{stamp}"), 1
    while any(Path(f"{aside}{suffix}").exists() for suffix in ("", *_COMPANIONS)):  # set aside twice in a second
        n += 1
        aside = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    return aside


def _old_counters(aside: Path) -> dict[str, int]:
    """The set-aside spool's ``seq`` and the counters a fresh one carries on, where they can still be read: the
    messages evicted ever (``dropped``), to which the messages the file still holds are added, being lost with
    it too, and the day's sessions (``sessions_day``, ``sessions_today``), which Home Assistant's "Sessions today"
    would see drop. One file read once; the counters' table read whole, not through its index: a page of a few
    hundred bytes, whose index, damaged, hid them all (the fresh spool counted from 0 mid-day)."""
    try:
        db = sqlite3.connect(f"{aside.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    found: dict[str, int] = {}
    wanted = ("seq", *CARRIED_COUNTERS)
    try:
        for name, value in db.execute("SELECT name, value FROM counters NOT INDEXED").fetchall():
            if name in wanted and isinstance(value, int):
                found[name] = value
        held = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        if held and held[0]:
            found["dropped"] = found.get("dropped", 0) + int(held[0])
    except sqlite3.Error:
        pass  # what was read before the damage stands
    finally:
        db.close()
    return found
