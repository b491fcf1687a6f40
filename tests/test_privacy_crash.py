"""Privacy after a crash: the process's memory holds audio and words, so a crash must not write it out.

Debian's default writes `core` into the working directory (the service's state directory) whenever the
limit allows; the unit sets LimitCORE=0, and every listener command lowers the limit itself, which is
what this proves, with a real abort.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest


def _abort_in(folder: Path, code: str) -> list[Path]:
    """Run ``code`` with core dumps allowed by the shell, in ``folder``; the core files it left."""
    folder.mkdir()
    script = f"ulimit -c unlimited && exec {shlex.quote(sys.executable)} -c {shlex.quote(code)}"
    subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, timeout=120, check=False)
    return sorted(folder.glob("core*"))


def test_a_crash_leaves_no_core_dump(tmp_path: Path) -> None:
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core dumps go elsewhere here ({pattern}), not into the working directory")
    if not _abort_in(tmp_path / "control", "import os; os.abort()"):
        pytest.skip("this machine does not let a process dump core (hard limit 0)")
    config = tmp_path / "listener.toml"
    config.write_text("")
    code = f"import os; from listener.cli import main; main(['check-config', {str(config)!r}]); os.abort()"
    assert _abort_in(tmp_path / "listener", code) == []


def test_a_listener_process_is_not_dumpable(tmp_path: Path) -> None:
    """Whatever the core limit: no handler piped a core (apport), no other process of the user reads its memory."""
    config = tmp_path / "listener.toml"
    config.write_text("")
    run = f"from listener.cli import main; main(['check-config', {str(config)!r}])"
    code = f"import ctypes; {run}; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"  # 3: PR_GET_DUMPABLE
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.splitlines()[-1] == "0", done.stdout
