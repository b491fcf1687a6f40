"""One running listener per state folder.

Two instances with one ``service.state_dir`` share one spool and one device id: every visit is
published twice under one device, with sessions that overlap, and the two MQTT clients take the
broker connection from each other in turn. A second ``listener run`` (a hand-started one while the
service runs, say) is refused at start instead, naming the one that runs. Refused is the service,
the refusal is temporary: it exits 75, which its unit restarts on, and takes over once the other run ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path

from listener.config.service_unit import RESTART_S
from listener.errors import AlreadyRunningError, ServiceDeferredError
from listener.lifecycle import Managed

log = logging.getLogger(__name__)

LOCK_FILE = "listener.lock"  # holds the running instance's pid, nothing else
LOCKS_TABLE = "/proc/locks"  # Linux: every lock held on the machine, by device and inode


class InstanceLock(Managed):
    """An exclusive lock on ``state_dir``/listener.lock while the run lasts (released by the kernel on any exit)."""

    def __init__(self, state_dir: Path, *, service: bool = False) -> None:
        """``service``: this run is the systemd unit's, whose refusal is temporary (exit 75, restarted)."""
        self.path = state_dir / LOCK_FILE
        self.service = service
        self._fd: int | None = None

    def open(self) -> None:
        if self._fd is not None:
            return
        fd, writable = self._open_file()
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):  # a file system without locks (NFS without lockd)
                os.close(fd)
                log.warning(
                    "cannot lock %s (%s): a second listener on this state_dir would not be refused",
                    self.path,
                    exc.strerror or exc,
                )
                return
            holder = _holder(fd)
            os.close(fd)
            raise self._refusal(holder) from None
        if writable:
            self._write_pid(fd)
        self._fd = fd

    def _refusal(self, holder: str) -> AlreadyRunningError:
        """A run by hand is told to stop the service; the service, that it waits out the run by hand: with exit 2
        (not restarted) it stayed down for good once an installer's `listener run` at the counter had ended."""
        if self.service:
            return ServiceDeferredError(
                f"another listener{holder} already runs with [service] state_dir {self.path.parent} (a `listener run` "
                f"by hand?): the service tries again every {RESTART_S:g} s (RestartSec) and starts once that one ends "
                "(Ctrl-C it); `sudo systemctl stop listener` ends the tries"
            )
        return AlreadyRunningError(
            f"another listener{holder} already runs with [service] state_dir {self.path.parent}: stop it first "
            "(`sudo systemctl stop listener` for the service), or give this run its own state_dir"
        )

    def _write_pid(self, fd: int) -> None:
        """Our pid in the lock file, for a second run's refusal to name; a full disk costs only that name."""
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:  # the lock is held all the same; the spool says what a full disk costs
            log.warning("cannot write this run's pid into %s (%s)", self.path, exc.strerror or exc)

    def _open_file(self) -> tuple[int | None, bool]:
        """The lock file's descriptor and whether it can take our pid; (None, False) without one."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), True
        except PermissionError:
            # another user's file (left by a `sudo listener run`): a lock needs no write access, the pid does
            with contextlib.suppress(OSError):
                return os.open(self.path, os.O_RDONLY), False
        except IsADirectoryError:  # nothing a chown cures, and nothing the spool would say (MQTT off)
            log.warning(
                "the instance lock %s is a folder: a second listener on this state_dir would not be refused; fix: "
                "remove it (`rmdir %s`: the listener makes the file)",
                self.path,
                self.path,
            )
            return None, False
        except OSError as exc:  # a folder this user may not write: the spool says so where it matters
            log.debug("no instance lock at %s (%s)", self.path, exc.strerror or exc)
            return None, False
        with contextlib.suppress(OSError):  # a folder it cannot search: the spool says so
            if self.path.exists():
                log.warning(
                    "cannot open the instance lock %s: a second listener on this state_dir would not be refused; fix: "
                    "give it to this run's user (`sudo chown listener: %s` for the service)",
                    self.path,
                    self.path,
                )
        return None, False

    def close(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing releases the lock
        self._fd = None


def held(state_dir: Path) -> bool | None:
    """Whether a listener runs with ``state_dir`` now; None when that cannot be told.

    Read from the kernel's table of locks, not by trying the lock: a service starting in the instant
    the lock was tried would be refused, and wait a RestartSec to start again.
    """
    try:
        return bool(_lock_lines(_locks_key((state_dir / LOCK_FILE).stat())))
    except FileNotFoundError:
        return False if not (state_dir / LOCK_FILE).exists() else None  # no listener has run with this folder
    except OSError:
        return None


def _lock_lines(key: str) -> list[list[str]]:
    """The kernel's table of locks' lines on the file it names ``key``, split into fields; OSError if unreadable."""
    table = Path(LOCKS_TABLE).read_text(encoding="ascii", errors="replace")
    return [fields for line in table.splitlines() if key in (fields := line.split())]


def _locks_key(stat: os.stat_result) -> str:
    """How /proc/locks names a file; each line: "1: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF"
    (a waiter's has "->" after the id)."""
    return f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"


def _holder(fd: int) -> str:
    """' (pid N)' for the lock's holder, from the lock file, else the kernel's table; '' if unknown."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (pid {pid})"
    locker = _pid_in_locks(fd)  # no pid in the file: its holder could not write it (a full card, a file it only reads)
    return f" (pid {locker})" if locker is not None else ""


def _pid_in_locks(fd: int) -> int | None:
    """The pid the kernel's table of locks gives for the lock on ``fd``'s file; None if it gives none."""
    with contextlib.suppress(OSError):
        inode = _locks_key(os.fstat(fd))
        for fields in _lock_lines(inode):
            if "->" not in fields and fields.index(inode) > 0:
                pid = fields[fields.index(inode) - 1]
                if pid.isdigit() and int(pid) > 0:  # 0: a holder outside this run's pid namespace
                    return int(pid)
    return None
