"""The test brokers' ports (tests/mqtt_broker.py): two test runs at once never take each other's."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import pytest

from tests import mqtt_broker
from tests.mqtt_broker import free_port


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A lock folder of this test's own, not made yet (the ports it locks stay locked until the process ends)."""
    monkeypatch.setattr(mqtt_broker, "PORT_LOCKS", tmp_path / "ports")
    mqtt_broker._lock_dir.cache_clear()
    yield tmp_path / "ports"
    mqtt_broker._lock_dir.cache_clear()  # the next free_port() locks in the shared folder again


def test_a_port_another_run_holds_is_never_handed_out(lock_dir: Path) -> None:
    first = free_port()
    lock_dir.mkdir(exist_ok=True)
    with ExitStack() as another_run:  # flock is per open file: this holds them as another process would
        held = range(first + 1, first + 6)
        for port in held:
            handle: IO[str] = another_run.enter_context(
                os.fdopen(os.open(lock_dir / f"{port}.lock", os.O_RDONLY | os.O_CREAT, 0o644))
            )
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert free_port() not in held


def test_every_users_runs_can_lock_ports(lock_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        free_port()
    finally:
        os.umask(old)
    assert lock_dir.stat().st_mode & 0o7777 == 0o1777, oct(lock_dir.stat().st_mode)  # not the umask's 1755
