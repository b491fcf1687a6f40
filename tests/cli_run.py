"""Running the real ``listener`` command in the CLI's bad-input tests: as this account, or as an installer's.

Root may read and write anything, so the cases about permissions drop root's override with setpriv, as an
installer's own account would run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from listener.service.runner import sample_conversation

SAMPLE = sample_conversation()
CONFIG = "[parties]\nrep_azimuth_deg = 0.0\ncustomer_azimuth_deg = 180.0\n"
ENV = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
FULL_DISK = Path("/dev/full")  # every write to it fails with ENOSPC, as `> report.json` on a full SD card


def listener_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdout: int = subprocess.PIPE,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``listener ARGS`` in a child process; ``preexec_fn`` runs in it first (a resource limit, say)."""
    return subprocess.run(
        [sys.executable, "-m", "listener", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        env=env or ENV,
        preexec_fn=preexec_fn,
    )


def onto_a_full_disk(*args: str) -> subprocess.CompletedProcess[str]:
    """``listener ARGS``, its output sent to ``FULL_DISK`` (the test skipped where there is none)."""
    if not FULL_DISK.exists():
        pytest.skip("needs /dev/full")
    with FULL_DISK.open("w") as full:
        return listener_cli(*args, stdout=full.fileno())


def as_installer(*args: str) -> subprocess.CompletedProcess[str]:
    """``listener ARGS`` without root's power to read and write past permissions."""
    if os.geteuid() != 0:
        return listener_cli(*args)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    if shutil.which("setpriv") is None or subprocess.run([*drop, "true"], check=False).returncode:
        pytest.skip("root, and setpriv cannot drop its override of file permissions here")
    return subprocess.run(
        [*drop, sys.executable, "-m", "listener", *args], capture_output=True, text=True, timeout=300, env=ENV
    )


def one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("listener"), result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr
