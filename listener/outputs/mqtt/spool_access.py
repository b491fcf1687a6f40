"""Why the spool cannot be written by this process, said with the command that fixes it.

Shared by the spool (at start and while running) and ``listener doctor``, so both say the same.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import sqlite3
from pathlib import Path
from typing import Literal

from listener.errors import (
    SERVICE_STATE_DIR,
    OutputFileError,
    dead_link,
    file_kind,
    not_looked_at,
    os_reason_and_fix,
)
from listener.lifecycle import under_systemd

# sqlite's primary result codes for "this process may not write the file", unlike SQLITE_FULL:
# READONLY is what a root-owned spool opened by the service user gives at the first write
_ACCESS_CODES = frozenset({3, 8, 14, 23})  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_AUTH


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
SANDBOX_FIX = (
    f"set [service] state_dir under {SERVICE_STATE_DIR}, or let the unit write the folder "
    "(`sudo systemctl edit listener`: [Service] ReadWritePaths=FOLDER)"
)


# the card, not who may write it: a failed read or write (SQLITE_IOERR), no space left (SQLITE_FULL)
_IO_ERROR, _FULL = 10, 13
# sqlite sizes the -shm file (32 KiB) at every start and a commit takes a few pages: with less free than this, its
# "disk I/O error" (the -shm could not be sized) is a full card, not a failing one
_NEARLY_FULL_BYTES = 1 << 20
JOURNAL_KEPT = "50M"  # what the advice for a full card keeps of the journal (journald's own cap is 10 % of the card)


def spool_files(path: Path) -> tuple[Path, Path, Path]:
    """The spool ``path`` and the -wal and -shm files sqlite keeps beside it, all written in place."""
    return path, Path(f"{path}-wal"), Path(f"{path}-shm")


def _primary(exc: BaseException) -> int | None:
    """sqlite's primary result code of ``exc`` (None for an error not sqlite's)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def card_is_full(exc: BaseException, folder: Path) -> bool:
    """Whether ``exc``, met opening the spool in ``folder``, is a full card (which freeing space cures)."""
    if isinstance(exc, OSError):  # the folder could not be made
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    primary = _primary(exc)
    return primary == _FULL or (primary == _IO_ERROR and _nearly_full(folder))


def storage_state(exc: BaseException, folder: Path) -> Literal["full", "unwritable"]:
    """What info.storage says of a card that refused the spool's write with ``exc`` (see spool_card): "full" when
    freeing space cures it, else "unwritable"."""
    return "full" if card_is_full(exc, folder) else "unwritable"


def card_is_read_only(exc: BaseException, folder: Path) -> bool:
    """Whether ``exc``, met opening the spool in ``folder``, is the card itself refusing writes (ext4 remounts a
    failing card read-only), not the unit's sandbox or who may write the file: no chown or setting cures it."""
    if isinstance(exc, OSError):
        refused = exc.errno == errno.EROFS
    else:
        refused = isinstance(exc, sqlite3.Error) and is_access_error(exc)
    if not refused:
        return False
    try:  # exists() raises, not answers, for a path below a folder that may not be entered
        place = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        read_only = bool(os.statvfs(place).f_flag & os.ST_RDONLY)
    except OSError:
        return False
    return read_only and not _sandboxed(place)


def _sandboxed(folder: Path) -> bool:
    """A folder the unit's ProtectSystem=strict keeps read-only: only its StateDirectory= is writable."""
    return under_systemd() and not folder.is_relative_to(SERVICE_STATE_DIR)


def storage_problem(exc: BaseException, folder: Path) -> str | None:
    """The fix for a spool the card itself fails (an I/O error, no space left: an I/O error on a card with next
    to no space left is that; a folder that cannot be made on a read-only card), None for any other error."""
    if card_is_full(exc, folder):
        return (
            f"the card is full: free at least {_NEARLY_FULL_BYTES >> 20} MB on it (`df -h {folder}`; the journal's "
            f"old files: `sudo journalctl --vacuum-size={JOURNAL_KEPT}`)"
        )
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:  # the spool's folder could not be made
        return f"{folder} is on a read-only file system: {READ_ONLY_FIX}"
    if _primary(exc) == _IO_ERROR:
        return f"the card failed a read or write: {READ_ONLY_FIX} (and see `df -h {folder}` for space)"
    return None


def _nearly_full(folder: Path) -> bool:
    try:
        card = os.statvfs(folder)
    except OSError:  # not looked at: the I/O error's own advice stands
        return False
    blocks = card.f_bfree if os.geteuid() == 0 else card.f_bavail  # root also writes the blocks kept for it
    return blocks * card.f_frsize < _NEARLY_FULL_BYTES


def broken_link(place: Path) -> tuple[str, str] | None:
    """What is wrong with ``place`` and its cure when it is a link that leads to no folder, else None."""
    link = dead_link(place)
    if link is None:
        return None
    cure = "replace it with a folder" if link.loops else "make that folder (mount its card)"
    return f"{place} is {link.said()}", cure


def access_problem(path: Path) -> str:
    """Why this process may not write the spool ``path``, and the command that fixes it."""
    try:
        return _access_problem(path)
    except OSError as exc:  # a folder on the way this user may not enter: even looking fails
        return not_looked_at(path, exc)


def in_place_problem(path: Path) -> str | None:
    """A folder or a link to nothing where the spool ``path`` or its -wal or -shm file belongs, and the fix:
    sqlite says only "unable to open" or "disk I/O error" of them, and no chown or card cures it."""
    for place in spool_files(path):
        with contextlib.suppress(OSError):
            broken = broken_link(place)
            if broken is not None:
                return f"{broken[0]}: remove the link; the service makes the file"
        standing = not_a_file(place)
        if standing is not None:
            return f"{standing}: {FOLDER_FIX}"
    return None


def not_a_file(place: Path) -> str | None:
    """What stands where the spool file ``place`` (or its -wal or -shm) belongs if it is no file: a folder (sqlite
    says only "unable to open database file"), a pipe or a device (its "disk I/O error" reads as a failing card);
    no chown or card cures them. None for a file, nothing, or a place that may not be looked at."""
    try:
        kind = kind_of(place)
    except OSError:
        return None
    return None if kind in (None, "a file") else f"{place} is {kind}, where the spool file belongs"


def kind_of(place: Path) -> str | None:
    """What stands at ``place`` ("a file", "a pipe"), None for nothing; raises the OS error of a path that may not
    be looked at."""
    try:
        return file_kind(place.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:  # a loop of links: nothing stands there, and broken_link names the loop
            return None
        raise


def _access_problem(path: Path) -> str:
    in_place = in_place_problem(path)
    if in_place is not None:
        return in_place
    folder = path.parent
    not_owners = _beyond_owners(folder)
    if not_owners:
        return not_owners
    me = user_name(os.geteuid())
    chown = f"sudo chown -R {me}: {folder}"
    fix = f"fix: `{chown}`"
    # the -wal and -shm files too: a root run that crashed leaves them behind, root-owned
    present = [p for p in (*spool_files(path), folder) if p.exists()]
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
    """A refusal no chown cures: a read-only mount, a card out of inodes, or one that even root meets ('' if none)."""
    with contextlib.suppress(OSError):
        card = os.statvfs(folder)
        if card.f_flag & os.ST_RDONLY:
            if _sandboxed(folder):  # the unit's ProtectSystem=strict, not the card
                return f"{folder} is read-only to the service: {SANDBOX_FIX}"
            return f"{folder} is on a read-only file system: {READ_ONLY_FIX}"
        if card.f_files and not card.f_favail:  # no -wal or -shm can be made: sqlite says only "unable to open"
            return f"{folder} is on a card with no free inodes (too many files on it): remove files (`df -i {folder}`)"
    if os.geteuid() == 0:  # root writes any file it owns or not: a chown would only break the service
        return f"{folder} refuses writes even to root: check `mount` (read-only?) and `lsattr` (immutable files?)"
    return ""


_POINT_ELSEWHERE = f"point [service] state_dir at a folder (the service's is {SERVICE_STATE_DIR})"


def in_the_way(folder: Path) -> str | None:
    """What stands where ``folder`` or a folder above it should be: a file, or a link to nothing (a card's
    folder not mounted, a target deleted); None: nothing, or nothing that may be looked at."""
    for place in (folder, *folder.parents):
        with contextlib.suppress(OSError):  # a folder this user may not enter: is_file() raises there
            kind = kind_of(place)
            if kind not in (None, "a folder"):  # a pipe or a device: mkdir said only "File exists"
                return f"{place} is {kind}, not a folder: {_POINT_ELSEWHERE}"
            broken = broken_link(place)
            if broken is not None:
                what, cure = broken
                return f"{what}: {cure}, or {_POINT_ELSEWHERE}"
    return None


def probe_write(db: sqlite3.Connection) -> None:
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


_OPEN_FIX = "check that service.state_dir exists and is writable by the listener user"


def open_error(path: Path, exc: Exception) -> OutputFileError:
    """The spool's start failed on ``exc``: what is wrong, and its fix."""
    in_place = in_place_problem(path)
    if in_place is not None:  # whatever sqlite made of it (access, I/O): no chown or card cures this
        return OutputFileError(f"MQTT spool {path} cannot be opened ({exc}): {in_place}")
    if isinstance(exc, sqlite3.Error) and is_access_error(exc):
        # said at start, before any message is taken in and then lost
        return OutputFileError(f"MQTT spool {path} cannot be written ({exc}): {access_problem(path)}")
    blocking = in_the_way(path.parent) if isinstance(exc, FileExistsError | NotADirectoryError) else None
    if blocking is not None:  # mkdir's "File exists" reads as if the folder were there
        return OutputFileError(f"MQTT spool {path} cannot be made: {blocking}")
    if isinstance(exc, OSError):
        return OutputFileError(f"MQTT spool {path} cannot be opened {os_reason_and_fix(exc, _OPEN_FIX)}")
    fix = (storage_problem(exc, path.parent) if isinstance(exc, sqlite3.Error) else None) or _OPEN_FIX
    return OutputFileError(f"MQTT spool {path} cannot be opened ({exc}): {fix}")
