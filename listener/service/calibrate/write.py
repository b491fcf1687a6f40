"""``listener calibrate --write``: set the two azimuths (channel-map mode: the two channels) in ``[parties]``.

Only those two keys change; comments, spacing, line endings, a byte-order
mark and every other line stay. The result is checked with the project's
own loader before it atomically replaces the file, which keeps its owner,
group, mode and extended attributes (an ACL among them); a symlinked config
is written where the link points.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import re
import stat
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from listener.config import config_folder, parse_config
from listener.config.loader import read_toml
from listener.config.toml_hints import table_headers
from listener.durable import sync_folder
from listener.errors import (
    CalibrationError,
    ConfigFileError,
    ConfigSyntaxError,
    file_kind,
    os_reason_and_fix,
    shown_path,
)


def write_parties(path: Path, rep_deg: float, customer_deg: float) -> None:
    """Set the two azimuths in ``path``'s [parties] table, keep everything else, replace the file atomically."""
    rep_deg, customer_deg = float(f"{rep_deg:.1f}"), float(f"{customer_deg:.1f}")  # as the file will hold them
    by_hand = f"set rep_azimuth_deg = {rep_deg:.1f} and customer_azimuth_deg = {customer_deg:.1f} in [parties] by hand"
    _write_keys(path, {"rep_azimuth_deg": rep_deg, "customer_azimuth_deg": customer_deg}, by_hand)


def write_channels(path: Path, rep_channel: int, customer_channel: int) -> None:
    """Set [parties] rep_channel and customer_channel in ``path`` (channel-map mode), as :func:`write_parties`."""
    by_hand = f"set rep_channel = {rep_channel} and customer_channel = {customer_channel} in [parties] by hand"
    _write_keys(path, {"rep_channel": rep_channel, "customer_channel": customer_channel}, by_hand)


def _write_keys(path: Path, values: dict[str, float | int], by_hand: str) -> None:
    # first: read_toml waits on a pipe nobody writes to; a file missing, denied or a loop of links it says below
    with contextlib.suppress(OSError):
        _check_regular(path, path.stat(), by_hand)  # stat follows a symlink, as the write below does
    original = read_toml(path)  # its errors name the file and the fix
    target = path.resolve()  # replacing a symlink with a file would cut it from where it points
    raw = target.read_bytes()
    bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
    # bytes, not read_text: "\r\n" line endings stay as they are; a file converted twice loses its second mark
    text = raw.decode("utf-8").lstrip("\ufeff")
    if "parties" in original and "parties" not in table_headers(text.splitlines(keepends=True)):
        raise CalibrationError(
            f"{shown_path(path)}: [parties] is written as an inline table or dotted keys (parties.KEY = ...), which"
            f" calibrate does not edit; {by_hand}"
        )
    new_text = edit_parties(text, values)
    _validate(path, original, new_text, values, by_hand)
    was = target.stat()
    _check_writable(target, was, by_hand)
    _replace_atomically(target, was, bom + new_text.encode("utf-8"), by_hand)


def edit_parties(text: str, values: dict[str, float | int]) -> str:
    """``text`` with each key of ``values`` set in [parties]: edited in place, added, or in a new table."""
    lines = text.splitlines(keepends=True)
    headers = table_headers(lines)  # as TOML reads them: ["parties"], not a '[' inside a string or an array
    start = next((i for i, name in enumerate(headers) if name == "parties"), None)
    eol = _line_ending(text)  # every line added ends as the file's own do, or a CRLF file ends up mixed
    if start is None:
        tail = "" if not text or text.endswith("\n") else eol
        added = "".join(f"{key} = {_toml(value)}{eol}" for key, value in values.items())
        return f"{text}{tail}{eol}[parties]{eol}{added}"
    end = next((i for i in range(start + 1, len(lines)) if headers[i] is not None), len(lines))
    last_key = start
    for key, value in values.items():
        # quoted ("key" or 'key') it is the same key to TOML: added again below, the file would hold it twice
        pattern = re.compile(rf"^(\s*(?:{key}|\"{key}\"|'{key}')\s*=\s*)([^#\r\n]*?)(\s*(?:#.*)?)(\r?\n?)$")
        for i in range(start + 1, end):
            match = pattern.match(lines[i])
            if match:
                lines[i] = f"{match.group(1)}{_toml(value)}{match.group(3)}{match.group(4)}"
                last_key = max(last_key, i)
                break
        else:
            last_key = max(last_key, _last_assignment(lines, start, end))
            if not lines[last_key].endswith("\n"):  # the file's last line: the new key must not join it
                lines[last_key] += eol
            lines.insert(last_key + 1, f"{key} = {_toml(value)}{eol}")
            end += 1
            last_key += 1
    return "".join(lines)


def _toml(value: float | int) -> str:
    # a channel is an integer: "1.0" would be refused by the loader; an azimuth is stored to 0.1 deg
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def _line_ending(text: str) -> str:
    """The file's line ending, as its first line ends: CRLF (Notepad) or LF; LF for a file of one line."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def _last_assignment(lines: list[str], start: int, end: int) -> int:
    keys = [i for i in range(start + 1, end) if re.match(r"^\s*[A-Za-z0-9_\"'.-]+\s*=", lines[i])]
    return keys[-1] if keys else start


def _validate(
    path: Path, original: dict[str, object], new_text: str, values: dict[str, float | int], by_hand: str
) -> None:
    import tomllib

    try:
        data = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigSyntaxError(f"{path}: the edited file would not be valid TOML ({exc}); {by_hand}") from None
    folder = config_folder(path)  # the file's relative paths are read from its folder, before and after
    before = parse_config(original, folder)
    after = parse_config(data, folder)
    changes: dict[str, Any] = dict(values)  # the keys are PartiesConfig's fields, each of its own type
    wanted = replace(before, parties=replace(before.parties, **changes))
    if after != wanted:
        keys = " and ".join(values)
        raise CalibrationError(f"{path}: editing [parties] would change more than {keys}; {by_hand}")


def _check_regular(path: Path, was: os.stat_result, by_hand: str) -> None:
    """Refuse a target that is not a regular file (a symlink's is where it points). The edited copy is renamed
    over it: /dev/null, which reads as an empty config, would become a file for every program on the machine.
    The CLI refuses one before listening (cli_parsing.check_write_target); this holds for every other caller."""
    if stat.S_ISREG(was.st_mode) or stat.S_ISDIR(was.st_mode):  # a folder: read_toml names the file to pass
        return
    raise CalibrationError(
        f"{shown_path(path)} is {file_kind(was.st_mode)}, not a file: the directions are stored only in the "
        f"listener's TOML file; pass that one, or {by_hand}"
    )


def _check_writable(path: Path, was: os.stat_result, by_hand: str) -> None:
    """Refuse a file that is not to be written, before writing anything.

    The atomic replace needs only the folder to be writable, and root may
    write anything: without this check a file made read-only on purpose, or
    one this user may not write, would be replaced all the same.
    """
    shown = shown_path(path)
    if not was.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigFileError(
            f"{shown} is read-only (mode {stat.S_IMODE(was.st_mode):04o}): to let --write change it, "
            f"make it writable (chmod u+w {shown}) and run again; or {by_hand}"
        )
    try:  # opened, not written: the kernel's answer names the reason (permissions, immutable, read-only mount)
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY))
    except OSError as exc:
        raise _cannot_write(path, exc, by_hand) from None


def _cannot_write(path: Path, exc: OSError, by_hand: str, what: str = "") -> ConfigFileError:
    shown = shown_path(path)
    fixes = {
        errno.EACCES: "run calibrate with sudo, or as the file's owner",
        errno.EPERM: f"it is marked immutable or append-only (lsattr): sudo chattr -i -a {shown}",
        errno.EROFS: "it is on a read-only file system: remount that read-write",
    }
    return ConfigFileError(
        f"{shown} cannot be written{what} {os_reason_and_fix(exc, 'check the path', fixes)}; or {by_hand}"
    )


def _replace_atomically(path: Path, was: os.stat_result, data: bytes, by_hand: str) -> None:
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # the copy goes next to the file, so its folder must take a new file
        folder = f": its folder {shown_path(path.parent)} takes no new file"
        raise _cannot_write(path, exc, by_hand, folder) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            _keep_owner(f.fileno(), path, was, by_hand)
            os.fchmod(f.fileno(), stat.S_IMODE(was.st_mode))
            _keep_xattrs(f.fileno(), path, by_hand)  # after the mode: an ACL sets the group bits as its mask
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, ConfigFileError):  # a full disk, an immutable file
            raise _cannot_write(path, exc, by_hand) from None
        raise
    with contextlib.suppress(OSError):  # written; only how soon it is on the disk is unsure
        sync_folder(path.parent)  # the new name, not only the new content: unplugged next, the old file came back


def _keep_owner(fd: int, path: Path, was: os.stat_result, by_hand: str) -> None:
    # The new file belongs to whoever runs calibrate (root under sudo); a config the service may read
    # only through its group (root:listener 0640, where an operator closed provision.sh's 0644) would
    # become unreadable to it, so the owner and group must carry over.
    now = os.fstat(fd)
    if (now.st_uid, now.st_gid) == (was.st_uid, was.st_gid):
        return
    try:
        os.fchown(fd, was.st_uid, was.st_gid)
    except PermissionError:
        raise ConfigFileError(
            f"{path} belongs to user {was.st_uid}, group {was.st_gid}, which a rewritten file could not keep: "
            f"run calibrate with sudo, or {by_hand}"
        ) from None


def _keep_xattrs(fd: int, path: Path, by_hand: str) -> None:
    """Copy the file's extended attributes onto the new one, or refuse: never drop them unsaid.

    An ACL (system.posix_acl_access) is one: a service user given read access by it would lose that
    access to a new file with only the owner, group and mode, and the service would stop at its next start.
    """
    try:
        names = os.listxattr(path)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.ENOSYS):  # a file system without them: nothing to keep
            return
        raise _cannot_write(path, exc, by_hand, ": its extended attributes cannot be read") from None
    for name in names:
        try:
            value = os.getxattr(path, name)
            # one the new file already has (an SELinux label the folder gives) needs no privilege to set
            if _xattr_or_none(fd, name) != value:
                os.setxattr(fd, name, value)
        except OSError as exc:
            shown = shown_path(path)
            raise ConfigFileError(
                f"{shown} carries the extended attribute {name} (an ACL or a label: getfattr -d -m - {shown}), "
                f"which a rewritten file could not keep ({exc.strerror or exc}): run calibrate with sudo, "
                f"or {by_hand}"
            ) from None


def _xattr_or_none(fd: int, name: str) -> bytes | None:
    try:
        return os.getxattr(fd, name)
    except OSError:
        return None
