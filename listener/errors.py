"""Every error the listener raises on purpose.

The CLI prints ``str(error)`` on one line and exits with the error's ``exit_code`` (2, but for a
wedged driver, which a restart cures, and a run by hand holding the service's folder, which the
restarts outlast), so each message names the problem *and* the fix.
Leaf errors also inherit the matching built-in, so callers that only know
Python's own exceptions still catch them.

Beside the exceptions live the helpers their messages are written with: a value
as TOML shows it, a path as the user typed it, a link that leads to nothing, an
OS error's reason and fix, and the service's folder and user, which most fixes
for files and permissions name.
They are here so that every message names values, paths and fixes the same way.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# what to do about the OS errors a path given on the command line meets; others get the caller's own advice
_OS_FIXES = {
    errno.EACCES: "check the permissions of the file and of the folders above it",
    errno.EPERM: "check the file's permissions and attributes (lsattr: immutable?)",
    errno.ENAMETOOLONG: "shorten the name (a file name holds at most 255 bytes)",
    errno.ELOOP: "fix the symbolic links in the path",
    errno.EROFS: "it is on a read-only file system: remount it read-write or choose another place",
    errno.ENOSPC: "free some space there or choose another place",
    errno.EDQUOT: "free some space there or choose another place",
}


class ListenerError(Exception):
    """Root of every deliberate listener error."""

    # 2 for input or set-up a person must fix (the unit does not restart on it: it would fail again)
    exit_code: ClassVar[int] = 2
    # the level its line is filed at in the journal: what `journalctl -p err` lists is something to fix
    journal_level: ClassVar[int] = logging.ERROR


class ConfigError(ListenerError, ValueError):
    """A configuration key is unknown, mistyped or out of range."""

    def __init__(self, path: str, value: object, rule: str) -> None:
        self.path = path
        self.value = value
        self.rule = rule
        super().__init__(f"config error at {path} = {toml_value(value)}: {rule}")


# An echoed value stays one readable line: a pasted certificate or a 3000-deep table is cut short
_SHOWN_CHARS = 200
_SHOWN_DEPTH = 8


def toml_value(value: object) -> str:
    """``value`` as it would be written in the TOML file the user edits, cut short when long."""
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{_quote(value[:_SHOWN_CHARS])}... ({len(value)} characters)"
    text = _render(value, 0)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def _render(value: object, depth: int) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, list | tuple):
        # deeper than any setting nests: a recursion limit, not the user, would end the echo otherwise
        inner = "..." if depth >= _SHOWN_DEPTH else ", ".join(_render(v, depth + 1) for v in value)
        return f"[{inner}]"
    if isinstance(value, dict):
        if depth >= _SHOWN_DEPTH:
            return "{...}"
        return "{" + ", ".join(f"{toml_key(k)} = {_render(v, depth + 1)}" for k, v in value.items()) + "}"
    return str(value)


def _quote(text: str) -> str:
    # JSON's escapes are TOML's: a value holding a newline or a terminal's escape codes stays one
    # line and prints harmlessly; what JSON lets through and prints as nothing, or as a line break, or
    # turns the text around (DEL, the C1 controls, U+2028, bidi overrides, zero-width characters, a
    # no-break space) is escaped too, TOML's way
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c == " " or c.isprintable() else _escaped(c) for c in quoted)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def toml_key(key: object) -> str:
    """``key`` as TOML writes it: bare when it may be, else quoted (one line, escapes harmless)."""
    text = str(key)
    return text if _BARE_KEY.fullmatch(text) and len(text) <= _SHOWN_CHARS else toml_value(text)


_FILE_KINDS = {
    stat.S_IFREG: "a file",
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a disk device",
    stat.S_IFIFO: "a pipe",
    stat.S_IFSOCK: "a socket",
}


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, for a message that names what stands where a file or folder belongs ("a pipe")."""
    return _FILE_KINDS.get(stat.S_IFMT(mode), "a special file")


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` for a message: one line, nothing a terminal acts on, undecodable bytes as ``\\xNN``.

    A file name is bytes: one that is not UTF-8 reaches Python with surrogates,
    which no stream may print, and one may hold a newline or an escape code.
    """
    raw = os.fsencode(path)
    text = raw.decode(sys.getfilesystemencoding(), "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


@dataclass(frozen=True, slots=True)
class DeadLink:
    """A symbolic link that leads to nothing: ``target`` (what the link holds, as a message shows it) is not
    there, or the links lead round in a loop, which making the target cannot cure."""

    target: str
    loops: bool

    def said(self) -> str:
        return f"a link to {self.target}, which {'leads round in a loop' if self.loops else 'does not exist'}"


def dead_link(path: Path) -> DeadLink | None:
    """``path`` as a link that leads to nothing, None when it is no link or leads somewhere. ``Path.exists``
    says False of both, and mkdir and open say "File exists" or "No such file" of them. Raises the OS error
    of a folder on the way this user may not enter."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR):
            raise
        return DeadLink(shown_path(path.readlink()), loops=exc.errno == errno.ELOOP)
    return None


def why_no_file(path: Path) -> str:
    """Why there is no file at ``path``, for a message: "does not exist", "is a folder", "is a pipe, not a file",
    "is a link to x, which leads round in a loop". ``Path.is_file`` says False of all of them alike. Raises the
    OS error of a folder on the way this user may not enter."""
    link = dead_link(path)
    if link is not None:
        return f"is {link.said()}"
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "does not exist"
    return "is a folder" if stat.S_ISDIR(mode) else f"is {file_kind(mode)}, not a file"


# systemd/listener.service's StateDirectory=listener, the built-in [service] state_dir: the one folder the
# service user may write, and the folder the unit runs it in (WorkingDirectory=)
SERVICE_STATE_DIR = Path("/var/lib/listener")
# a command as the service sees the device, README.md's systemd-run line for doctor word for word: in the
# service's folder, for `sudo -u listener` keeps the caller's (the installer's home, 0700 on Debian 12), and
# lgpio makes its FIFOs in the current folder when it is imported (gpiozero#1106): there the GPIO check would
# fail on a Pi 5; with the unit's groups and secrets, without which doctor fails the audio group and the broker
# login the service has
AS_SERVICE_USER = (
    'sudo systemd-run --pipe --wait --quiet -p User=listener -p SupplementaryGroups="audio gpio spi plugdev"'
    f" -p WorkingDirectory={SERVICE_STATE_DIR} -p EnvironmentFile=-/etc/listener/secrets.env"
    " -p ProtectHome=yes -p PrivateTmp=yes"
)
# a folder on the way that this user may not enter: typically the service's own (StateDirectoryMode=0750)
SERVICE_FILES_HINT = (
    f"the service's files are the listener user's: run the command as that user (`{AS_SERVICE_USER} listener ...`)"
)
NOT_ENTERED_FIX = f"check the permissions of the folders above it; {SERVICE_FILES_HINT}"
DENIED_FIX = f"check the permissions of the file and of the folders above it; {SERVICE_FILES_HINT}"


def looked_at(test: Callable[[Path], bool], path: Path, error: Callable[[str], ListenerError], what: str) -> bool:
    """``test(path)`` (``Path.is_file`` and the like), with the OS error it raises when a folder on the
    way may not be entered made ``error``: "``what`` ``path`` cannot be looked at (reason): fix"."""
    try:
        return test(path)
    except OSError as exc:
        raise error(f"{what} {not_looked_at(path, exc)}") from exc


def not_looked_at(path: Path, exc: OSError) -> str:
    """``path cannot be looked at (reason): fix`` for the OS error met looking at ``path``."""
    reason = os_reason_and_fix(exc, NOT_ENTERED_FIX, {errno.EACCES: NOT_ENTERED_FIX})
    return f"{shown_path(path)} cannot be looked at {reason}"


def os_reason_and_fix(exc: OSError, otherwise: str, fixes: Mapping[int, str] | None = None) -> str:
    """``(reason): fix`` for an OS error on a path, e.g. ``(Permission denied): check the permissions...``.

    ``fixes`` (by errno) comes first, then the advice for the usual errors, then ``otherwise``.
    """
    code = exc.errno or 0
    fix = (fixes or {}).get(code) or _OS_FIXES.get(code, otherwise)
    return f"({exc.strerror or type(exc).__name__}): {fix}"


class ConfigFileError(ListenerError, OSError):
    """The configuration file cannot be read."""


class ConfigFileMissingError(ConfigFileError, FileNotFoundError):
    """The configuration file named does not exist."""


class ConfigSyntaxError(ListenerError, ValueError):
    """The configuration file was read but is not UTF-8 TOML."""


class AudioInputError(ListenerError, OSError):
    """An audio file or device cannot be opened or read."""


class AudioFileMissingError(AudioInputError, FileNotFoundError):
    """The audio file named does not exist."""


class AudioFormatError(ListenerError, ValueError):
    """Audio that was read does not fit the configured array."""


class DeviceLostError(AudioInputError):
    """A live input device disappeared while it was being read."""


class DeviceSilentError(DeviceLostError):
    """A live input device opened but never delivered a sample: its driver or clock, not its cable."""


class DriverWedgedError(AudioInputError):
    """The audio driver never let go of a lost array's stream: only a new process frees it."""

    exit_code: ClassVar[int] = 75  # EX_TEMPFAIL: the unit restarts on this one


class DeviceOpenError(AudioInputError):
    """A live input device is there but will not open as configured (its rates, another program holding it)."""


class ModelError(ListenerError, RuntimeError):
    """A model file is missing, corrupt or unusable."""


class ModelMissingError(ModelError, FileNotFoundError):
    """No model where the config points."""


class ModelFileError(ModelError, OSError):
    """A model file or folder cannot be read or written."""


class ModelStepError(ModelError):
    """A turn model that loaded failed on one step: onnxruntime raised, or its outputs are no probabilities."""

    def __init__(self, path: Path, reason: str, step: int, fix: str) -> None:
        self.path = path
        self.reason = reason  # what went wrong, to follow "turn model <path>"
        self.fix = fix
        super().__init__(f"turn model {path} {reason} at step {step}; {fix}")


class OutputError(ListenerError, RuntimeError):
    """An output (LEDs, MQTT, spool) cannot be set up."""


class OutputFileError(OutputError, OSError):
    """A file an output reads or writes (password, certificate, spool, plot) cannot be used."""


class CalibrationError(ListenerError, ValueError):
    """The recording does not show where the rep stands."""


class AlreadyRunningError(ListenerError, RuntimeError):
    """Another listener already runs with the same state folder (spool, counters, pause)."""


class ServiceDeferredError(AlreadyRunningError):
    """The service found another listener (a run by hand) on its state folder: it is started again until that ends.

    Exit 2 left the unit down for good once the run by hand had ended (RestartPreventExitStatus=2)."""

    exit_code: ClassVar[int] = 75  # EX_TEMPFAIL: the unit restarts on this one, every RestartSec
    # an installer's run at the counter is no fault: at error, `journalctl -p err` filled with ~3 lines a minute
    journal_level: ClassVar[int] = logging.WARNING


class NotOpenError(RuntimeError):
    """A device, client or stage used before ``open()`` or after ``close()``. A bug, so, like
    :class:`WordHandlingError`, not a :class:`ListenerError`: the CLI shows its traceback for a report."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} used before open() or after close(): use it in a `with` block")


class WordHandlingError(RuntimeError):
    """A bug met while the recogniser's words were handled; its message names the exception's type and where it
    was raised, never its own message (which may hold a word). Not a :class:`ListenerError`: a bug is no user's
    mistake with a fix to print on one line, so the CLI shows its traceback for a report."""


class NonFiniteNumberError(ValueError):
    """A number about to be written as JSON (an MQTT payload, ``analyze --json``) is NaN or infinite, which JSON
    cannot carry: a parser (Home Assistant's, Node-RED's, Python's own in strict mode) refuses the whole message.
    A figure that may be undefined goes out as ``null``; this is one that may not, so a bug, and, like
    :class:`NotOpenError`, not a :class:`ListenerError`: the CLI shows its traceback for a report."""

    def __init__(self, where: str, path: str, value: float) -> None:
        super().__init__(
            f"{where}: {path} is {value}, which JSON cannot carry: a bug in the listener, please report it"
            " with the recording or log that made it"
        )
