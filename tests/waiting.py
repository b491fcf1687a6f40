"""Polling for what another thread (paho's loop, the drain thread, a broker) makes true in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_S = 0.05


def wait_until(done: Callable[[], object], timeout_s: float) -> bool:
    """Whether ``done()`` came true within ``timeout_s`` (returned as soon as it does); the caller asserts it, or
    what else it needs."""
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return bool(done())
