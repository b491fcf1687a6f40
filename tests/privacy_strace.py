"""The privacy runs under strace (the audit's, tests/privacy_session.py, and the live one, test_privacy_live.py):
how a run is traced, and what its trace says it wrote and reached."""

from __future__ import annotations

import codecs
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

NET_CALLS = "connect,sendto,sendmsg,sendmmsg"  # every call that reaches an address (a datagram needs no connect)
FILE_CALLS = "mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,truncate"
# getsockname: the port a socket bound to port 0 got (paho's wake-up pair listens on one, and connects to it)
CALLS = f"openat,open,creat,{FILE_CALLS},{NET_CALLS},bind,listen,getsockname"
# with ``data``: what is written to files, whole up to DATA_BYTES a call (a scratch file's contents are gone by
# the time the folders are walked); -x: a string with a byte that is not printable ASCII is all \xNN, so paths
# stay readable. Python's file writes and sqlite's are write and pwrite64 (no writev: seen in none of the runs)
DATA_CALLS = "write,pwrite64"
DATA_BYTES = 1 << 17
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
PATH_ARG = re.compile(r'(?:(?:\d+|AT_FDCWD)<([^>]*)>, )?"([^"]*)"')


def find_strace() -> str | None:
    """strace, if it is installed and may trace here (containers may forbid ptrace)."""
    tool = shutil.which("strace")
    if tool is None:
        return None
    probe = subprocess.run([tool, "-f", "-qq", "-o", os.devnull, "true"], capture_output=True, timeout=30, check=False)
    return tool if probe.returncode == 0 else None


def under_strace(tool: str, trace: Path, cmd: list[str], data: bool = False) -> list[str]:
    """``cmd`` traced by every thread and child, one log per process (``trace``.PID). strace given a program
    and -o blocks fatal signals itself: a signal for the traced program goes to its pid (its one child).
    ``data``: the bytes written to files too (:func:`written_data`)."""
    calls, dump = (f"{CALLS},{DATA_CALLS}", ["-s", str(DATA_BYTES), "-x"]) if data else (CALLS, [])
    return [tool, "-ff", "-qq", "-y", "--seccomp-bpf", *dump, "-o", str(trace), "-e", f"trace={calls}", *cmd]


@dataclass
class Traced:
    written: set[str]
    connected: set[tuple[str, int]]
    listening: set[tuple[str, int]]  # where sockets awaited callers (a client's own end is bound, not listening)
    local: set[str]  # the local (AF_UNIX) sockets connected or sent to: their paths, "@name" for abstract ones


def read_trace(trace: Path | None, cwd: Path) -> Traced:
    """Files opened for writing (or created, renamed, linked), addresses reached and sockets opened to callers,
    by any thread, in the logs of a run traced to ``trace`` from ``cwd``."""
    if trace is None:
        pytest.skip("strace is not installed (or may not trace here): add it to scripts/setup's DEV_APT")
    seen = Traced(set(), set(), set(), set())
    bound: dict[str, tuple[str, int]] = {}  # socket inode -> the address it was bound to (its port, once known)
    listening: set[str] = set()  # socket inodes
    for log in trace.parent.glob(trace.name + ".*"):
        for line in log.read_text(errors="replace").splitlines():
            _read_call(line, str(cwd), seen, bound, listening)
    seen.listening = {bound.get(inode, ("?", 0)) for inode in listening}
    return seen


def _read_call(line: str, cwd: str, seen: Traced, bound: dict[str, tuple[str, int]], listening: set[str]) -> None:
    call = line.split("(", 1)[0]
    # it failed: nothing was written or sent (a non-blocking connect in progress is an attempt all the same)
    if re.search(r"= -1 E(?!INPROGRESS)", line):
        return
    socket = re.match(r"\w+\(\d+<socket:\[(\d+)\]>", line)
    if call in ("open", "openat", "creat"):
        # a file with no name (O_TMPFILE) is "= 5</var/tmp/#1234>(deleted)": written all the same, never walked
        result = re.search(r"= \d+<([^>]*)>(\(deleted\))?$", line)
        if result and (call == "creat" or WRITE_FLAGS.search(line)):
            seen.written.add(result.group(1) + (" (deleted)" if result.group(2) else ""))
    elif call in ("bind", "getsockname") and socket and (address := _inet_address(line)):
        bound[socket.group(1)] = address
    elif call == "listen" and socket:
        listening.add(socket.group(1))
    elif call in NET_CALLS.split(",") and (address := _inet_address(line)):  # a datagram needs no connect
        seen.connected.add(address)
    elif call in NET_CALLS.split(",") and (path := _unix_address(line)):  # the journal, syslog, D-Bus...
        seen.local.add(path)
    elif call in FILE_CALLS.split(","):
        for base, path in PATH_ARG.findall(line):
            seen.written.add(os.path.normpath(Path(base or cwd) / path))


def _inet_address(line: str) -> tuple[str, int] | None:
    family = re.search(r"sa_family=(AF_\w+)", line)
    port = re.search(r"sin6?_port=htons\((\d+)\)", line)
    addr = re.search(r'inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"', line)
    if family and family.group(1) in ("AF_INET", "AF_INET6") and port and addr:
        return addr.group(1), int(port.group(1))
    return None


def _unix_address(line: str) -> str | None:
    """The path of an AF_UNIX address (strace's quoting undone, for the few escapes a path may need)."""
    found = re.search(r'sa_family=AF_UNIX, sun_path=(@?)"((?:[^"\\]|\\.)*)"', line)
    if found is None:
        return None
    return found.group(1) + found.group(2).encode("latin-1").decode("unicode_escape")


WRITE_DATA = re.compile(r'(?:write|pwrite64)\(\d+<([^>]*)>, "((?:[^"\\]|\\.)*)"(\.\.\.)?, ')


def written_data(trace: Path | None) -> dict[str, bytes]:
    """The bytes written to each file by any thread of a run traced with ``data`` (not pipes, sockets or
    /dev/null), in the order written: a file removed before the walk is searched all the same. A call longer
    than DATA_BYTES fails the caller: the part strace left out could hold anything."""
    if trace is None:
        pytest.skip("strace is not installed (or may not trace here): add it to scripts/setup's DEV_APT")
    written: dict[str, bytearray] = {}
    for log in trace.parent.glob(trace.name + ".*"):
        for line in log.read_text(errors="replace").splitlines():
            found = WRITE_DATA.match(line)
            if found is None or not found.group(1).startswith("/") or found.group(1) == "/dev/null":
                continue
            assert not found.group(3), f"a write longer than the trace shows ({DATA_BYTES} bytes): {line[:200]}"
            text = found.group(2).encode("latin-1")  # strace's escapes of the bytes, in ASCII
            written.setdefault(found.group(1), bytearray()).extend(codecs.escape_decode(text)[0])
    return {path: bytes(data) for path, data in written.items()}
