"""The command's standard output: a write that fails is remembered once, not raised again while the run ends.

`listener analyze x.wav --json > report.json` on a full SD card, a reader
that went away (`| head`), a stdout closed before the start (`>&-`): each is
one line and an exit code in :func:`listener.cli.main`, never a second
traceback from whatever still writes while the run winds down.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from listener.service.logs import say


def degrade_encoding(*streams: TextIO | None) -> None:
    """What a stream cannot encode is escaped, not fatal: an ASCII-only terminal, a file name that is not UTF-8."""
    for stream in streams:
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError):  # a stream that is already closed: nothing will reach it anyway
                stream.reconfigure(errors="backslashreplace")


_OUTPUT_FIXES = {
    errno.EBADF: "send it somewhere, e.g. > report.json (or > /dev/null)",
    errno.ENOSPC: "free space where it goes, or send it elsewhere",
    errno.EDQUOT: "free space where it goes (a quota), or send it elsewhere",
    errno.EFBIG: "lift the shell's file size limit (ulimit -f), or send it elsewhere",
    # a failing card, or a terminal whose connection went away (a dropped SSH session)
    errno.EIO: "the device behind it failed the write (a card: check `dmesg`), or send it elsewhere",
}


def output_fix(exc: OSError) -> str:
    return _OUTPUT_FIXES.get(exc.errno or 0, "send it elsewhere")


class Stdout:
    """sys.stdout, remembering the first error its own write or flush raised (a full disk behind `> file`).

    After that error, output goes nowhere: whatever still writes while the run
    winds down (a view's last frame) must not raise again and bury the first
    error under a second. A stdout closed before we started (``>&-``) fails
    on the first write, as a full disk would; a command that writes nothing
    runs as usual.
    """

    def __init__(self, stream: TextIO | None) -> None:
        self.original = stream
        # /dev/null also takes the closed descriptor 1, so no file opened later lands there
        self.stream: TextIO = stream if stream is not None else Path(os.devnull).open("w")  # noqa: SIM115
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        if self.error is not None or not text:
            return len(text)
        if self.original is None:
            self.error = OSError(errno.EBADF, "standard output is closed")
            raise self.error
        try:
            raw = _unbuffered(self.stream)
            if raw is None:
                return self.stream.write(text)
            self._write_all(raw, text)
            return len(text)
        except OSError as exc:
            self.error = exc
            raise

    def _write_all(self, raw: io.RawIOBase, text: str) -> None:
        # PYTHONUNBUFFERED (the unit sets it): TextIOWrapper hands text straight to the file and ignores a short
        # write, so past `ulimit -f` a report came out cut at the limit, exit 0; the rest is written until the
        # file refuses it, which raises
        self.stream.flush()
        data = memoryview(text.encode(self.stream.encoding, self.stream.errors or "strict"))
        while data:
            written = raw.write(data)
            if written is None:  # a non-blocking stdout that is full: as BufferedWriter says it
                raise BlockingIOError(errno.EAGAIN, "standard output would block", 0)
            data = data[written:]

    def flush(self) -> None:
        if self.error is not None:
            return
        try:
            self.stream.flush()
        except OSError as exc:
            self.error = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _unbuffered(stream: TextIO) -> io.RawIOBase | None:
    """The file under a text stream with no buffer between them (``python -u``, PYTHONUNBUFFERED)."""
    under = getattr(stream, "buffer", None)
    return under if isinstance(under, io.RawIOBase) else None


def discard_stdout(stream: TextIO) -> None:
    """Point stdout (or stderr) at /dev/null, so output still pending does not fail again when Python exits."""
    with contextlib.suppress(OSError, ValueError):  # no file behind it (a test's capture): nothing to flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


@contextlib.contextmanager
def output_may_fail() -> Iterator[None]:
    """Printing whose output may fail (a reader gone, `| head`; a full disk; a stdout closed, `>&-`): that ends
    the printing, not the command, so what comes after it (calibrate's --write, analyze's --plot figure) still
    happens, and main() says the failure afterwards from what its :class:`Stdout` recorded ('cannot write the
    output', exit 2). Any other OSError raises as before."""
    try:
        yield
    except OSError as exc:
        if getattr(sys.stdout, "error", None) is not exc:  # not the output's own failure, which main() says
            raise


def say_line(message: str, level: int = logging.ERROR) -> None:
    """:func:`say`, but a stderr that cannot take the line (``2>>log`` on a full card) loses only the line: the
    OSError raised out of an error's handler had replaced the command's exit code (2) with a traceback's 1."""
    with contextlib.suppress(OSError):
        say(message, level)


def settle_stderr() -> None:
    """Write out what stderr still holds before Python exits. One that cannot take it is pointed at /dev/null
    first: buffered, the failed lines stay behind, and Python's own flush at exit failed on them again and
    ended even a run that went well with 120."""
    try:
        sys.stderr.flush()
    except OSError:
        discard_stdout(sys.stderr)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
    except ValueError:  # closed: nothing is left to write
        pass


def working_folder_gone() -> bool:
    """The folder the command was started in was deleted (or replaced by a new copy) since."""
    try:
        Path.cwd()
    except FileNotFoundError:
        return True
    return False
