"""The privacy audit's run under strace: every file it writes, every address it reaches (a local socket's too),
no third-party telemetry."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service.instance import LOCK_FILE
from tests.privacy_session import (
    NET_CALLS,
    Session,
)

# --- what the process touched: strace -------------------------------------------------------------

WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
PATH_ARG = re.compile(r'(?:(?:\d+|AT_FDCWD)<([^>]*)>, )?"([^"]*)"')


@dataclass
class Traced:
    written: set[str]
    connected: set[tuple[str, int]]
    listening: set[tuple[str, int]]  # where sockets awaited callers (a client's own end is bound, not listening)
    local: set[str]  # the local (AF_UNIX) sockets connected or sent to: their paths, "@name" for abstract ones


def traced(privacy_run: Session) -> Traced:
    """Files opened for writing (or created, renamed, linked), addresses reached and sockets opened to callers,
    by any thread."""
    if privacy_run.trace is None:
        pytest.skip("strace is not installed (or may not trace here): add it to scripts/setup's DEV_APT")
    cwd = str(privacy_run.box / "work")
    seen = Traced(set(), set(), set(), set())
    bound: dict[str, tuple[str, int]] = {}  # socket inode -> the address it was bound to
    for log in privacy_run.trace.parent.glob(privacy_run.trace.name + ".*"):
        for line in log.read_text(errors="replace").splitlines():
            call = line.split("(", 1)[0]
            # it failed: nothing was written or sent (a non-blocking connect in progress is an attempt all the same)
            if re.search(r"= -1 E(?!INPROGRESS)", line):
                continue
            socket = re.match(r"\w+\(\d+<socket:\[(\d+)\]>", line)
            if call in ("open", "openat", "creat"):
                result = re.search(r"= \d+<([^>]*)>$", line)
                if result and (call == "creat" or WRITE_FLAGS.search(line)):
                    seen.written.add(result.group(1))
            elif call == "bind" and socket and (address := _inet_address(line)):
                bound[socket.group(1)] = address
            elif call == "listen" and socket:
                seen.listening.add(bound.get(socket.group(1), ("?", 0)))
            elif call in NET_CALLS.split(",") and (address := _inet_address(line)):  # a datagram needs no connect
                seen.connected.add(address)
            elif call in NET_CALLS.split(",") and (path := _unix_address(line)):  # the journal, syslog, D-Bus...
                seen.local.add(path)
            elif call in ("mkdir", "mkdirat", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
                          "symlinkat", "truncate"):  # fmt: skip
                for base, path in PATH_ARG.findall(line):
                    seen.written.add(os.path.normpath(Path(base or cwd) / path))
    return seen


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


def test_every_file_written_lies_inside_the_watched_folders(privacy_run: Session) -> None:
    """Nothing goes to the real /tmp, /dev/shm, /var, the checkout: every write was walked above."""
    written = traced(privacy_run).written
    assert any(p.endswith("mqtt-spool.sqlite3") for p in written)  # the trace sees the product's writes
    box = str(privacy_run.box) + os.sep
    outside = sorted(p for p in written if not p.startswith(box) and p not in ("/dev/null", "/dev/tty"))
    assert not outside, f"written outside HOME/TMPDIR/cwd/state: {outside}"


def _onnxruntime_telemetry(box: Path) -> tuple[str, ...]:
    """Where onnxruntime's 1DS telemetry writes (on at import unless ORT_DISABLE_TELEMETRY=1)."""
    ort = Path("Microsoft") / "DeveloperTools" / ".onnxruntime"
    return str(box / "cache" / ort), str(box / "home" / ".cache" / ort), str(box / "tmp" / ".ses")


def test_only_the_spool_and_the_figure_are_written_and_only_the_broker_is_contacted(privacy_run: Session) -> None:
    """No scratch file, even one deleted before the folders were walked (a temp file of audio would be)."""
    seen = traced(privacy_run)
    box = privacy_run.box
    expected = (
        str(box / "state" / SPOOL_FILE),  # and its -wal, -shm, -journal
        str(box / "state" / LOCK_FILE),  # the instance lock: the running pid, emptied at the end (below)
        str(box / "work" / "figure.svg"),
        str(box / "home" / ".cache" / "matplotlib"),  # matplotlib's font cache (font names)
        str(box / "home" / ".config" / "matplotlib"),
        str(box / "cache" / "matplotlib"),
        str(box / "config" / "matplotlib"),
    )
    ancestors = {str(p) for e in expected for p in Path(e).parents}
    unexpected = sorted(p for p in seen.written if not p.startswith(expected) and p not in ancestors | {"/dev/null"})
    assert not unexpected, f"unexpected files written: {unexpected}"
    assert (box / "state" / LOCK_FILE).read_text() == ""
    # the broker (down, then up) and paho's loopback wake-up pair
    foreign = sorted((a, p) for a, p in seen.connected if a not in ("127.0.0.1", "::1"))
    assert not foreign, f"connections or datagrams beyond the broker: {foreign}"
    # paho's wake-up pair: a loopback socket that takes its one caller (its own) and closes
    outside = sorted((a, p) for a, p in seen.listening if a not in ("127.0.0.1", "::1"))
    assert not outside, f"sockets opened to callers beyond this machine: {outside}"
    assert seen.connected, "the trace saw no connection, not even the broker's: it proves nothing"
    # local sockets too (the journal's, syslog's, D-Bus, another program's): only systemd's notify socket,
    # which the test holds and reads (test_privacy_audit.py searches what came)
    assert seen.local == {privacy_run.notify_socket}, f"local sockets reached: {sorted(seen.local)}"


def test_no_third_party_telemetry_is_written_or_sent(privacy_run: Session) -> None:
    # onnxruntime's 1DS telemetry writes a device id and an event queue to ~/.cache/Microsoft/DeveloperTools
    # and $TMPDIR/.ses at import, and looks up mobile.events.data.microsoft.com, unless listener turns it off
    seen = traced(privacy_run)
    telemetry = sorted(p for p in seen.written if p.startswith(_onnxruntime_telemetry(privacy_run.box)))
    lookups = sorted((a, p) for a, p in seen.connected if p == 53)
    assert not telemetry and not lookups, f"telemetry files {telemetry}, DNS lookups {lookups}"


def test_the_trace_is_read_for_local_sockets_too(tmp_path: Path) -> None:
    """A datagram to a local socket (syslog's, another program's) is a way out too; a failed connect sent nothing."""
    (tmp_path / "trace.7").write_text(
        'sendto(3<socket:[92]>, "x", 1, 0, {sa_family=AF_UNIX, sun_path="/tmp/log.sock"}, 36) = 1\n'
        'connect(4<socket:[93]>, {sa_family=AF_UNIX, sun_path=@"bus"}, 6) = 0\n'
        'connect(5<socket:[94]>, {sa_family=AF_UNIX, sun_path="/run/systemd/journal/stdout"}, 30) = -1 ENOENT (No'
        " such file or directory)\n"
    )
    run = Session(tmp_path, tmp_path, b"", b"", [], [], [], [], "", 0.0, {}, trace=tmp_path / "trace")
    assert traced(run).local == {"/tmp/log.sock", "@bus"}
