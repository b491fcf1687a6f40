"""glibc's heap: keeping the audio path's short-lived buffers in it, and handing freed memory back.

Every block of audio allocates a few numpy arrays of several hundred KiB
(spectra, cross-spectra, scores) and frees them before the next block.
Under glibc's defaults a freed stretch at the heap's top beyond twice the
largest such buffer goes back to the kernel, and the next block faults it
in again page by page, zeroed: on a 10-minute recording about 350 000 page
faults and a tenth of `listener analyze`'s CPU time (bench/README.md). Fixed
thresholds keep that memory in the process; the peak RSS is the same,
because the pages were in use at the peak anyway.

The other way round, a renewed vosk recogniser frees tens of MB that glibc
would keep: :func:`release_freed_memory` hands them back.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

# mallopt's parameter numbers (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Buffers up to this size come from the heap, larger ones are mapped on their own (and returned at
# once): a 1 s block's largest buffers are about 1.2 MiB on the 6-mic boards.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
# Free memory at the heap's top up to this much stays with the process.
TRIM_THRESHOLD_BYTES = 32 * 1024 * 1024


def keep_freed_buffers() -> bool:
    """Tune glibc's malloc for the audio path; False where there is no glibc ``mallopt`` (nothing to tune)."""
    with contextlib.suppress(OSError, AttributeError):
        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        # mallopt returns 1 on success
        done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
        done = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and done
        if not done:
            log.debug("malloc tuning refused by this C library")
        return done
    return False


@lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to hand back
        return None


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc keeps them otherwise, and RSS with them)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
