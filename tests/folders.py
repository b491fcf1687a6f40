"""A folder that refuses new entries and renames to whoever runs the tests, root included; a folder's fsyncs,
and the descriptors left open on it."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def refusing_writes(folder: Path) -> Iterator[None]:
    """Mode 0555 for a user; for root, whom modes do not stop, the immutable attribute (skips where unsupported)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    with immutable(folder):
        yield


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` with the immutable attribute, which stops even root from renaming or writing it (root only;
    skips where the attribute is not supported)."""
    if os.geteuid() != 0:
        pytest.skip("the immutable attribute (chattr +i) needs root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def folder_syncs(monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[int]:
    """Every fsync of ``folder`` from now on (the real one still runs): a list that grows."""
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.path.samestat(os.fstat(fd), folder.stat()):
            synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def held_open() -> list[Path]:
    """What this process's descriptors are open on, one entry each (Linux's /proc/self/fd)."""
    held = []
    for link in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor, or one closed meanwhile
            held.append(link.readlink())
    return held


def open_on(folder: Path) -> list[Path]:
    """This process's descriptors open on ``folder``, one entry each."""
    return [path for path in held_open() if path == folder]
