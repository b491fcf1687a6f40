"""This process's own CPU time and memory, as the benches report them."""

from __future__ import annotations

import resource
from pathlib import Path


def rss_mb(field: str = "VmRSS") -> float:
    """A memory figure of /proc/self/status in MiB (1024 x 1024 bytes, labelled "MB" in the logs of
    bench/README.md before 2026-12-05): ``VmRSS`` now, ``VmHWM`` the peak so far."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_s() -> float:
    """User and system CPU seconds this process has used."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
