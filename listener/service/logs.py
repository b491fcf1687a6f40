"""Log lines for journald: level, logger, message; no timestamps (the journal adds its own).

Under systemd (``JOURNAL_STREAM`` set) each line starts with the sd-daemon
``<N>`` priority prefix, so ``journalctl -p warning`` filters by level. The
command's own error lines and an uncaught traceback, written past the logger,
get the prefix too: without one journald files a line at the unit's default
level (info, or warning under systemd/listener.service's ``SyslogLevel=``),
never at error, and the reason a service failed to start is no error.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import sys
import threading
import traceback
from types import TracebackType

HANDLER_NAME = "listener-journal"
FORMAT = "%(levelname)s %(name)s: %(message)s"
# syslog priorities, as sd-daemon(3) reads them from a "<N>" line prefix
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def under_journal() -> bool:
    """stderr is journald's: systemd sets JOURNAL_STREAM to the device and inode of the stream it connects.

    The variable is inherited by whatever the service starts, so a child whose stderr goes elsewhere (a
    file, a pipe to another tool) would otherwise write ``<N>`` prefixes into it; systemd.exec(5) says to
    compare the numbers with stderr's.
    """
    stream = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    try:
        stat = os.fstat(2)
        return (int(device), int(inode)) == (stat.st_dev, stat.st_ino)
    except (OSError, ValueError):  # no stderr, or not the variable's format: not the journal's
        return False


def prioritized(text: str, level: int) -> str:
    """Every line of ``text`` with ``level``'s priority prefix: the journal files each line on its own."""
    prefix = f"<{PRIORITY.get(level, PRIORITY[logging.INFO])}>"
    return "\n".join(prefix + line for line in text.splitlines())


class JournalFormatter(logging.Formatter):
    """Prefixes every line of a record with its priority: a traceback stays at the record's level."""

    def format(self, record: logging.LogRecord) -> str:
        return prioritized(super().format(record), record.levelno)


def say(message: str, level: int = logging.ERROR) -> None:
    """One of the command's own lines on stderr (``listener: ...``): as written on a terminal, at ``level``
    in the journal."""
    print(prioritized(message, level) if under_journal() else message, file=sys.stderr)


def journal_excepthooks() -> None:
    """Under the journal, an uncaught traceback (main thread or another) is filed at error, not info."""
    if under_journal():
        sys.excepthook = _uncaught
        threading.excepthook = _uncaught_in_thread
        sys.unraisablehook = _unraisable


def crash_traces() -> None:
    """A hard crash prints every thread's Python stack: a fault in native code (vosk, onnxruntime, PortAudio)
    or the watchdog's SIGABRT, which says where the pipeline hung. File names, line numbers and function
    names only, never a value: nothing heard reaches the log this way.

    On stderr: faulthandler writes raw lines, with no "<N>" prefix, and a stream of its own at error would
    be one more socket the service reaches (the privacy tests hold it to the notify socket). The unit's
    ``SyslogLevel=warning`` files unprefixed lines at warning, so `journalctl -p warning` shows where it
    died beside systemd's own line that it did ("Failed with result 'watchdog'", or 'signal').
    """
    # a stderr with no descriptor (an embedding host's): no traces, and no failure
    with contextlib.suppress(AttributeError, ValueError, RuntimeError, OSError):
        faulthandler.enable(sys.stderr, all_threads=True)


def _uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    _write_error("".join(traceback.format_exception(kind, exc, tb)))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # as the default hook: a thread that exits is no error
        return
    name = args.thread.name if args.thread is not None else threading.get_ident()
    trace = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    _write_error(f"Exception in thread {name}:\n{trace}")


def _unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """An exception Python could not raise (in a ``__del__``, a finaliser): its report at error too."""
    what = unraisable.err_msg or "Exception ignored in"
    head = f"{what}: {unraisable.object!r}" if unraisable.object is not None else what
    if unraisable.exc_value is None:  # as Python's own hook: the message alone
        _write_error(head)
        return
    trace = "".join(traceback.format_exception(unraisable.exc_value))
    _write_error(f"{head}\n{trace}")


def _write_error(text: str) -> None:
    if sys.stderr is None:  # nowhere to say it (as Python's own hooks)
        return
    sys.stderr.write(prioritized(text, logging.ERROR) + "\n")
    sys.stderr.flush()


def setup_logging(level: int = logging.INFO) -> None:
    """One stderr handler on the root logger, unless something (a test runner) installed its own."""
    root = logging.getLogger()
    if root.handlers:  # like logging.basicConfig: leave an existing set-up alone
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter(FORMAT) if under_journal() else logging.Formatter(FORMAT))
    handler.set_name(HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(level)


def set_level(name: str) -> None:
    """Apply ``service.log_level`` ('debug', 'info', 'warning', 'error') if :func:`setup_logging` set up the logs."""
    root = logging.getLogger()
    if any(h.get_name() == HANDLER_NAME for h in root.handlers):
        root.setLevel(getattr(logging, name.upper(), logging.INFO))
