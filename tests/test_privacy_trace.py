"""The privacy audit's run under strace: every file it writes, every address it reaches (a local socket's too),
no third-party telemetry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service.instance import LOCK_FILE
from tests.privacy_session import Session
from tests.privacy_strace import Traced, read_trace, written_data


def traced(privacy_run: Session) -> Traced:
    """What the audit's run wrote and reached (tests/privacy_strace.py reads it), by any thread."""
    return read_trace(privacy_run.trace, privacy_run.box / "work")


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
        str(box / "work" / ".figure."),  # the figure's copy, renamed over figure.svg once whole (plot_file)
        str(box / "home" / ".cache" / "matplotlib"),  # matplotlib's font cache (font names)
        str(box / "home" / ".config" / "matplotlib"),
        str(box / "cache" / "matplotlib"),
        str(box / "config" / "matplotlib"),
    )
    ancestors = {str(p) for e in expected for p in Path(e).parents}
    unexpected = sorted(p for p in seen.written if not p.startswith(expected) and p not in ancestors | {"/dev/null"})
    assert not unexpected, f"unexpected files written: {unexpected}"
    assert (box / "state" / LOCK_FILE).read_text() == ""
    # the broker's port (down, then up) and paho's wake-up pair, as in the live run: a loopback socket of its own
    # that takes its one caller and closes. Any other port, even on loopback (a local statsd agent), is a way out
    assert ("127.0.0.1", privacy_run.broker_port) in seen.connected, "the trace saw no attempt at the broker"
    loopback = {("127.0.0.1", privacy_run.broker_port)} | {(a, p) for a, p in seen.listening if a == "127.0.0.1"}
    foreign = sorted(seen.connected - loopback)
    assert not foreign, f"connections or datagrams beyond the broker: {foreign}"
    assert {a for a, _ in seen.listening} <= {"127.0.0.1"}, f"sockets opened to callers: {sorted(seen.listening)}"
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


def test_the_trace_is_read_for_files_without_a_name_and_for_the_ports_sockets_got(tmp_path: Path) -> None:
    """A file opened with O_TMPFILE (tempfile.TemporaryFile) is written and never seen by a walk of the folders;
    a socket bound to port 0 listens on the port getsockname tells (paho's wake-up pair connects to it)."""
    (tmp_path / "trace.7").write_text(
        'openat(AT_FDCWD</w>, "/var/tmp", O_RDWR|O_EXCL|O_CLOEXEC|O_TMPFILE, 0600) = 23</var/tmp/#1534>(deleted)\n'
        'bind(7<socket:[466]>, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
        "listen(7<socket:[466]>, 1) = 0\n"
        'getsockname(7<socket:[466]>, {sa_family=AF_INET, sin_port=htons(41839), sin_addr=inet_addr("127.0.0.1")},'
        " [16]) = 0\n"
    )
    seen = read_trace(tmp_path / "trace", tmp_path)
    assert seen.written == {"/var/tmp/#1534 (deleted)"}
    assert seen.listening == {("127.0.0.1", 41839)}


def test_the_trace_is_read_for_the_bytes_written_to_files(tmp_path: Path) -> None:
    """A file's bytes as strace -x shows them (binary as \\xNN, text with its escapes), in the order written, from
    write and pwrite64; pipes and /dev/null are not files kept; a call cut short by the trace fails the reader."""
    (tmp_path / "trace.7").write_text(
        'write(5</box/state/.probe>, "\\x00\\x01\\xff\\x22", 4) = 4\n'
        'write(1<pipe:[77]>, "ok\\n", 3) = 3\n'
        'write(6</dev/null>, "\\x10\\x20", 2) = 2\n'
        'pwrite64(5</box/state/.probe>, "a \\"b\\"\\n", 6, 4) = 6\n'
    )
    assert written_data(tmp_path / "trace") == {"/box/state/.probe": b'\x00\x01\xff"a "b"\n'}
    (tmp_path / "trace.8").write_text('write(5</box/x>, "\\x00\\x01"..., 200000) = 200000\n')
    with pytest.raises(AssertionError, match="a write longer than the trace shows"):
        written_data(tmp_path / "trace")
