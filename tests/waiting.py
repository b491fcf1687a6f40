"""Polling for what another thread (paho's loop, the drain thread, a broker) makes true in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 0.05


def wait_until(done: Callable[[], object], timeout_s: float) -> None:
    """Return once ``done()`` is true, or after ``timeout_s``; the caller asserts what it needs."""
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(POLL_S)
