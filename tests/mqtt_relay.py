"""A TCP relay between the device and a real mosquitto that can hold back what the broker sends.

Holding the broker's side (its PUBACKs) while the device's messages go through is what a stalled
broker or a congested link looks like to the device. Hanging up on chosen connections once their
CONNECT is read is what a broker shutting down (or a TLS port) looks like; dropping the relayed ones,
a lost link.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType


class AckHold:
    """A TCP relay to ``port``; while held, what the broker sends waits in the relay."""

    def __init__(self, port: int, hang_up: frozenset[int] = frozenset()) -> None:
        self._target = port
        self._hang_up = hang_up  # the connections (1 for the first) closed unanswered after their CONNECT
        self.accepted = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._released = threading.Event()
        self._released.set()
        self._sockets: list[socket.socket] = [self._server]
        self._threads: list[threading.Thread] = []

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def drop(self) -> None:
        """Close every connection relayed so far, as a lost link does."""
        for s in self._sockets[1:]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> AckHold:
        self._start(self._accept)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._released.set()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for t in self._threads:
            t.join(5.0)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                device, _ = self._server.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            if self.accepted in self._hang_up:
                with device:
                    device.recv(65536)  # the CONNECT, left unanswered
                continue
            broker = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [device, broker]
            self._start(self._pump, device, broker, False)
            self._start(self._pump, broker, device, True)

    def _pump(self, src: socket.socket, dst: socket.socket, holdable: bool) -> None:
        try:
            while data := src.recv(65536):
                if holdable:
                    self._released.wait()
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
