"""The systemd watchdog at the stop, when the stop comes from another thread while a block is feeding it.

The stop is asked for on the signal's own thread (StopSignals) while the pipeline's thread reads audio; a
WATCHDOG=1 that reaches systemd after STOPPING=1 arms the watchdog again for the whole flush. Spoken to through a
real datagram socket named by NOTIFY_SOCKET, as systemd does (the fixture of test_service_runner.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

import pytest

from listener.events import AudioDropped, SourceState
from listener.service.runner import STOPPING_STATUS, SystemdNotifier
from tests.test_service_runner import Clock, _received, notify_socket  # noqa: F401  (fixture)


def test_a_stop_asked_for_while_a_block_feeds_the_watchdog_is_said_last(
    notify_socket: socket.socket,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pipeline's thread has found the stop not yet begun and is sending WATCHDOG=1 when the signal's thread
    says STOPPING=1: the block's WATCHDOG=1 must not arrive after it (systemd re-arms its watchdog at any
    WATCHDOG=1, its stop begun or not, and a flush as long as WatchdogSec was aborted with SIGABRT)."""
    clock = Clock()
    notifier = SystemdNotifier(clock)
    notifier.open()
    list(notifier.process(AudioDropped(start_s=0.0, duration_s=0.05, reason="overflow")))
    assert _received(notify_socket) == ["READY=1", "WATCHDOG=1"]
    clock.now_s += 1.0  # the next feed is due (once a second)
    sender = notifier._notifier
    assert sender is not None
    send = sender.notify
    sending, sent_on = threading.Event(), threading.Event()

    def held(state: str) -> None:  # the real send, held where the block has decided to feed the watchdog
        if state == "WATCHDOG=1":
            sending.set()
            sent_on.wait(2.0)
        send(state)

    monkeypatch.setattr(sender, "notify", held)
    block = threading.Thread(
        target=lambda: list(notifier.process(AudioDropped(start_s=0.05, duration_s=0.05, reason="overflow")))
    )
    block.start()
    assert sending.wait(2.0)
    stop = threading.Thread(target=notifier.stopping)
    stop.start()
    stop.join(0.3)  # the stop's STOPPING=1 goes out now, unless it waits for the block's send
    sent_on.set()
    block.join()
    stop.join()
    told = _received(notify_socket)
    assert "STOPPING=1" in told
    assert "WATCHDOG=1" not in told[told.index("STOPPING=1") :], told


def test_without_systemd_no_socket_is_made_and_with_it_the_socket_is_closed_at_the_end(
    notify_socket: socket.socket,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sdnotify, which the notifier used until 2026-12-07, made its socket before it found no NOTIFY_SOCKET to
    connect it to and left it for the garbage collector (a ResourceWarning each `listener run` outside systemd);
    under systemd the socket was never closed."""
    made: list[socket.socket] = []
    real = socket.socket

    def counted(*args: object, **kwargs: object) -> socket.socket:
        made.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(socket, "socket", counted)  # looked up at each call, by the notifier as by sdnotify before it
    notifier = SystemdNotifier()
    notifier.open()
    assert len(made) == 1
    list(notifier.process(AudioDropped(start_s=0.0, duration_s=0.05, reason="overflow")))
    notifier.close()
    assert _received(notify_socket) == ["READY=1", "WATCHDOG=1", "STOPPING=1"]
    assert made[0].fileno() == -1, "the notifier's socket was left open"

    monkeypatch.delenv("NOTIFY_SOCKET")
    quiet = SystemdNotifier()
    quiet.open()
    list(quiet.process(AudioDropped(start_s=0.0, duration_s=0.05, reason="overflow")))
    quiet.close()
    assert len(made) == 1, "a socket was made with no NOTIFY_SOCKET to connect it to"
    for sock in made:
        sock.close()


@pytest.mark.parametrize("kind", ["missing", "plain file", "folder"])
def test_a_notify_socket_that_cannot_be_connected_is_said_once_and_its_socket_closed(
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NOTIFY_SOCKET naming no socket (a unit's leftover environment, a path mistyped by hand): sdnotify made its
    socket, failed to connect it and dropped it unclosed (a ResourceWarning), and said nothing, though a
    Type=notify unit then never hears READY=1. The run goes on; the socket is closed and the path said once."""
    address = tmp_path / "notify"
    if kind == "plain file":
        address.write_text("")
    elif kind == "folder":
        address.mkdir()
    monkeypatch.setenv("NOTIFY_SOCKET", str(address))
    made: list[socket.socket] = []
    real = socket.socket

    def counted(*args: object, **kwargs: object) -> socket.socket:
        made.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(socket, "socket", counted)
    notifier = SystemdNotifier()
    with caplog.at_level(logging.WARNING, logger="listener.service.runner"):
        notifier.open()
        list(notifier.process(AudioDropped(start_s=0.0, duration_s=0.05, reason="overflow")))
        notifier.close()
    said = [record.getMessage() for record in caplog.records]
    assert len(made) == 1
    assert made[0].fileno() == -1, "the socket that could not be connected was left open"
    assert len(said) == 1, said
    assert str(address) in said[0] and "NOTIFY_SOCKET" in said[0] and "unset" in said[0], said[0]


def test_an_abstract_notify_socket_is_spoken_to() -> None:
    """systemd may name its socket in the abstract namespace ('@' for the leading NUL), as sd_notify(3) allows."""
    name = f"listener-test-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd, pytest.MonkeyPatch.context() as patch:
        systemd.bind("\0" + name)
        patch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = SystemdNotifier()
        notifier.open()
        list(notifier.process(AudioDropped(start_s=0.0, duration_s=0.05, reason="overflow")))
        notifier.close()
        assert _received(systemd) == ["READY=1", "WATCHDOG=1", "STOPPING=1"]


def test_a_stop_before_the_first_audio_is_not_followed_by_ready(notify_socket: socket.socket) -> None:  # noqa: F811
    """A stop while the stages opened, the array missing: the source still says its state once, and READY=1
    went out after STOPPING=1. Where systemd is still starting the unit (a kill not of its asking), READY=1 moves it
    to running and arms its watchdog, which nothing feeds through the flush."""
    notifier = SystemdNotifier()
    notifier.open()
    notifier.stopping()
    list(notifier.process(SourceState(t_s=0.0, available=False, detail="no audio input device 'array'")))
    list(notifier.process(AudioDropped(start_s=0.0, duration_s=0.2, reason="device_lost")))
    notifier.close()
    assert _received(notify_socket) == [f"STATUS={STOPPING_STATUS}", "STOPPING=1"]
