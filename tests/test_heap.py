"""The allocator tuning keeps per-block buffers in the process instead of faulting them in again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from listener import cli

# Each "block" allocates and touches eight arrays of about 0.8 MB and frees them, as the front end
# does per second of audio; the page faults of 50 more blocks are counted after a first one.
BLOCKS = """
import resource, sys
import numpy as np
from listener.heap import keep_freed_buffers
if sys.argv[1] == "tuned":
    assert keep_freed_buffers()
def block():
    arrays = [np.ones(100_000 + 1000 * i) for i in range(8)]
    return sum(float(a[-1]) for a in arrays)
block()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    block()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", BLOCKS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


# 48 MB of heap buffers freed, below one still in use at the heap's top: glibc keeps them until asked
FREED = """
import os
import numpy as np
from listener.heap import release_freed_memory
def rss_kib():  # a Pi 5's kernel has 16 KiB pages
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
arrays = [np.ones(12_000) for _ in range(500)]  # 96 KB each: below glibc's mmap threshold, on the heap
top = np.ones(12_000)
del arrays
before = rss_kib()
release_freed_memory()
print(before, rss_kib())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_is_handed_back() -> None:
    """What a renewed recogniser frees leaves the process's resident memory (glibc would keep it)."""
    out = subprocess.run([sys.executable, "-c", FREED], capture_output=True, text=True, check=True)
    before_kib, after_kib = map(int, out.stdout.split())
    assert before_kib - after_kib > 40_000, out.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_block_buffers_are_reused_without_page_faults() -> None:
    plain, tuned = _faults("plain"), _faults("tuned")
    # each block touches 6.5 MB, about 1 600 pages of 4 KiB: under glibc's defaults most fault again
    if plain < 50 * 100:
        pytest.skip(f"this kernel faulted the untuned heap in only {plain} times (huge pages?): nothing to show")
    assert tuned < plain / 50, f"tuned {tuned} page faults against {plain}"


def test_every_command_tunes_the_heap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[bool] = []

    def tune() -> bool:
        calls.append(True)
        return True

    monkeypatch.setattr(cli, "keep_freed_buffers", tune)
    config = tmp_path / "listener.toml"
    config.write_text("")
    assert cli.main(["check-config", str(config)]) == 0
    assert calls == [True]
