"""The drawn figure into its file: the whole figure or the file as it was, never a part of one.

Written in place, a figure that failed part way (a full card, ``ulimit -f``) left the one it replaced truncated
or half written; opened for reading too ("w+b"), a write-only figure (mode 0200, which the check before the
analysis lets by) was refused only once the analysis was done. A regular file is now replaced by a copy made
beside it, renamed over it once whole; the copy takes the old file's permission bits (a figure kept private,
0600, stays so), and a new file gets what ``open`` would give it (0666 less the umask).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


def write_figure(data: memoryview, out: Path) -> None:
    """``data`` into ``out``. Through a link, the file it leads to is replaced and the link kept; a device
    (/dev/null) is written as it is; a pipe put there since the check is refused at once (it cannot seek)."""
    target = Path(os.path.realpath(out))
    try:
        was: os.stat_result | None = target.stat()
    except FileNotFoundError:
        was = None
    if was is not None and not stat.S_ISREG(was.st_mode):
        with out.open("w+b") as file:  # a device has no old content to keep; "+" makes a pipe fail, not wait
            file.write(data)
        return
    fd, copy = _make_copy(target)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            if was is not None:
                _keep_mode_and_owner(file.fileno(), was)
            os.fsync(file.fileno())  # on the card before the rename: a power cut leaves the old figure or the new
        copy.replace(target)
    except BaseException:
        copy.unlink(missing_ok=True)
        raise


def _make_copy(target: Path) -> tuple[int, Path]:
    """A new file beside ``target``, opened for writing, hidden by its name (64 random bits: never another's).
    Made with mode 0666 as ``open`` makes a file, so the umask and the folder's default ACL apply (mkstemp's
    0600 would skip both)."""
    copy = target.with_name(f".{target.stem[:40]}.{secrets.token_hex(8)}.part")  # cut: a long name stays legal
    return os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), copy


def _keep_mode_and_owner(fd: int, was: os.stat_result) -> None:
    """The replaced figure's permission bits, and its owner and group where this user may give them (root
    may; anyone may keep a group they belong to): whoever could read the old figure reads the new one."""
    for uid in (was.st_uid, -1):  # the owner, else the group alone; else the figure is this user's, as a new one
        try:
            os.fchown(fd, uid, was.st_gid)
            break
        except PermissionError:
            continue
    if stat.S_IMODE(os.fstat(fd).st_mode) != stat.S_IMODE(was.st_mode):  # FAT takes only a mode it has already
        os.fchmod(fd, stat.S_IMODE(was.st_mode))  # after the owner: fchown clears the set-id bits
