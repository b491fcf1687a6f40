"""Keep ``listener doctor``'s output to its own report: no log lines or library noise between its lines.

The parts doctor opens are the service's own, and they say what the service
would say: LiveSource logs "capturing 4 channels ..." at INFO, and Kaldi
(inside vosk) prints ``ERROR (VoskAPI:Model() ...)`` on stderr before vosk
raises, whatever vosk's log level. Doctor's lines already report both, so
while its checks run those are held back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

# the package's root logger: every module logs below it
LISTENER_LOGGER = "listener"


@contextlib.contextmanager
def own_lines_only() -> Iterator[None]:
    """Hold back the listener's INFO and WARNING lines (a check's finding is its report line).

    With ``service.log_level = "debug"`` nothing is held back: someone asked to see it all.
    """
    logger = logging.getLogger(LISTENER_LOGGER)
    before = logger.level
    if logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


@contextlib.contextmanager
def no_stderr() -> Iterator[None]:
    """File descriptor 2 points at /dev/null meanwhile: C++ code writes to it past Python's sys.stderr."""
    with contextlib.suppress(ValueError, OSError):  # a test's capture without a descriptor: nothing to hide
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (closed at start): nothing reaches it anyway
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
