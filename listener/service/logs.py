"""Log lines for journald: level, logger, message; no timestamps (the journal adds its own).

Under systemd (``JOURNAL_STREAM`` set) each line starts with the sd-daemon
``<N>`` priority prefix, so ``journalctl -p warning`` filters by level.
"""

from __future__ import annotations

import logging
import os
import sys

HANDLER_NAME = "listener-journal"
FORMAT = "%(levelname)s %(name)s: %(message)s"
# syslog priorities, as sd-daemon(3) reads them from a "<N>" line prefix
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """Prefixes every line of a record with its priority: a traceback stays at the record's level."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{PRIORITY.get(record.levelno, PRIORITY[logging.INFO])}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def setup_logging(level: int = logging.INFO) -> None:
    """One stderr handler on the root logger, unless something (a test runner) installed its own."""
    root = logging.getLogger()
    if root.handlers:  # like logging.basicConfig: leave an existing set-up alone
        return
    handler = logging.StreamHandler(sys.stderr)
    under_systemd = bool(os.environ.get("JOURNAL_STREAM"))
    handler.setFormatter(JournalFormatter(FORMAT) if under_systemd else logging.Formatter(FORMAT))
    handler.set_name(HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(level)


def set_level(name: str) -> None:
    """Apply ``service.log_level`` ('debug', 'info', 'warning', 'error') if :func:`setup_logging` set up the logs."""
    root = logging.getLogger()
    if any(h.get_name() == HANDLER_NAME for h in root.handlers):
        root.setLevel(getattr(logging, name.upper(), logging.INFO))
