"""A full card, as the full-card tests' child scripts make one on the 2 MB tmpfs they run on; a card that refuses
writes for a while, as a spool meets one remounted read-only."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from listener.outputs.mqtt.spool import Spool

CHECKOUT = Path(__file__).resolve().parents[1]
_NO_MOUNT = 77  # the exit status the namespace's shell gives when the tmpfs cannot be mounted


def fill_card(folder: Path) -> None:
    """Write zeros into ``folder``/fill until the file system refuses more: the card has no byte left."""
    fd = os.open(folder / "fill", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:  # ENOSPC: what was wanted
        pass
    finally:
        os.close(fd)


def in_a_card_namespace(
    tmp_path: Path, script: str, *args: object, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """``script`` run by this Python in a private mount namespace with ``tmp_path``/card a 2 MB tmpfs (its
    folder the first argument), skipped where no private mount can be made."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a file system in a private namespace")
    card = tmp_path / "card"
    card.mkdir()
    (tmp_path / "script.py").write_text(script)
    quoted = " ".join(f"'{a}'" for a in (sys.executable, tmp_path / "script.py", card, *args))
    shell = f"mount -t tmpfs -o size=2m tmpfs {card} || exit {_NO_MOUNT}; exec {quoted}"
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}  # this checkout's listener, as `-m listener` finds it here
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True, timeout=timeout_s, env=env
    )
    # only where the namespace or the mount could not be made: a child that failed, saying "mount", is a failure
    if result.returncode == _NO_MOUNT or result.stderr.startswith("unshare:"):
        pytest.skip(f"no private mounts here: {result.stderr.strip()}")
    return result


def damage_under(spool: Spool) -> None:
    """Overwrite the spool's file past its first page (its counters' index with it), as a failing card does, and
    drop sqlite's cached pages."""
    with spool._lock:
        spool.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with spool.path.open("r+b") as f:
            f.seek(4096)
            f.write(os.urandom(spool.path.stat().st_size - 4096))
        spool.db.execute("PRAGMA shrink_memory")


@contextlib.contextmanager
def read_only_for_a_while(spool: Spool) -> Iterator[None]:
    """The open ``spool``'s card refuses every write as sqlite refuses them on a card remounted read-only
    (SQLITE_READONLY; a real remount cannot be made under an open spool), then takes writes again: its connection
    is a read-only one on the same file inside the block, the writable one again after it."""
    writable = spool._db
    refusing = spool._db = sqlite3.connect(f"file:{spool.path}?mode=ro", uri=True, isolation_level=None)
    try:
        yield
    finally:
        refusing.close()  # a second close is nothing: the spool may have let it go itself
        if spool._db in (refusing, None):
            spool._db = writable
        elif writable is not None:  # the spool opened a file of its own (set a damaged one aside): it keeps that
            writable.close()
