"""Turn a TOML document into the frozen config tree, or say exactly why not.

The loader is driven by the dataclasses in :mod:`listener.config.schema`:
each field's type annotation says what is allowed and its rule
(:mod:`listener.config.rules`) gives the range. Unknown keys are rejected, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import os
import select
import stat
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from listener.config.file_kinds import binary_kind
from listener.config.retired import retired_rule
from listener.config.rules import FieldRule, rule_of
from listener.config.schema import Config, Mic
from listener.config.text_checks import control_character
from listener.config.toml_hints import looks_secret, may_hold_secret, shorten, syntax_hint
from listener.config.value_hints import (
    check_range,
    near_hint,
    quoted,
    range_rule,
    text_example,
    unquoted,
    whole_number_rule,
    within,
)
from listener.errors import (
    DENIED_FIX,
    ConfigError,
    ConfigFileError,
    ConfigFileMissingError,
    ConfigSyntaxError,
    os_reason_and_fix,
    shown_path,
    toml_key,
)

T = TypeVar("T")


# Far above any listener config (the firmware's is under 1 KiB), far below what a Pi can hold: a
# path such as /dev/zero or a log file passed by mistake is refused before it is read whole
MAX_FILE_BYTES = 1024 * 1024
PIPE_WAIT_S = 5.0  # a pipe given as the config file: how long its writer may take to start
_DENIED = {errno.EACCES: DENIED_FIX}  # the config's permissions, and who should run the command


def read_toml(path: Path) -> dict[str, Any]:
    text = read_text(path)
    return parse_toml(text, f"config file {shown_path(path)}")  # one line, whatever the name holds


def parse_toml(text: str, what: str, whole: str | None = None) -> dict[str, Any]:
    """``text`` as TOML, or ConfigSyntaxError saying ``what`` is not; the hint reads its line in ``whole`` (the
    file ``text`` was cut from), or in ``text``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigSyntaxError(f"{what} is not valid TOML: {syntax_hint(whole or text, str(exc))}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables by recursion: a few hundred levels end Python's stack
        raise ConfigSyntaxError(
            f"{what} is not valid TOML for the listener: arrays or tables are nested hundreds of levels deep; no "
            "setting nests more than two"
        ) from None
    except ValueError:
        # tomllib lets Python's own limit on integer literals (4300 digits) through as a bare ValueError
        raise ConfigSyntaxError(
            f"{what} is not valid TOML for the listener: a number is thousands of digits long; write a number in range"
        ) from None


def _read_bytes(path: Path, shown: str) -> bytes:
    """The file's first MAX_FILE_BYTES + 1 bytes. A pipe (``--config <(...)``) is read as it comes, but a named
    pipe nobody writes to would hold the open for ever (``leds-off`` as ExecStopPost: until systemd kills it)."""
    try:
        mode = path.stat().st_mode
    except OSError:  # said by the open below, with its own fix
        mode = 0
    if stat.S_ISSOCK(mode):  # its open fails "No such device or address", which read as a permission problem
        raise ConfigFileError(f"config file {shown} is a socket, not a file: pass the TOML file itself")
    if not stat.S_ISFIFO(mode):
        with path.open("rb") as file:
            return file.read(MAX_FILE_BYTES + 1)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # returns at once, writer or not
    try:
        if not select.select([fd], [], [], PIPE_WAIT_S)[0]:
            raise ConfigFileError(
                f"config file {shown} is a pipe nothing was written to within {PIPE_WAIT_S:g} s: pass the TOML "
                "file itself"
            )
        os.set_blocking(fd, True)
        with open(fd, "rb", closefd=False) as file:
            return file.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)


def read_text(path: Path) -> str:
    shown = shown_path(path)
    try:
        raw = _read_bytes(path, shown)
    except (FileNotFoundError, NotADirectoryError):  # the latter: a file on the way (some.wav/listener.toml)
        raise ConfigFileMissingError(
            f"config file {shown} does not exist: check the path (without a config file the defaults apply)"
        ) from None
    except IsADirectoryError:
        raise ConfigFileError(
            f"config file {shown} is a folder: pass the TOML file itself, e.g. {shown_path(path / 'listener.toml')}"
        ) from None
    except ConfigFileError:  # an OSError too, but said already
        raise
    except OSError as exc:
        raise ConfigFileError(
            # a config made readable to the service user alone (root:listener 0640): as its other files say
            f"config file {shown} cannot be read {os_reason_and_fix(exc, 'check its permissions', _DENIED)}"
        ) from None
    return _text_of(raw, shown)


def _text_of(raw: bytes, shown: str) -> str:
    """The config file's bytes as text, or the error that says which other kind of file it is."""
    if raw[:4] in (b"RIFF", b"RF64"):  # the recording and the config swapped on the command line
        raise ConfigSyntaxError(
            f"config file {shown} is a WAV recording, not TOML: pass the recording as the file to analyse "
            "and the listener's TOML file with --config"
        )
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigFileError(
            f"config file {shown} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB, the most a config file "
            "may be: pass the listener's TOML file (a few KiB)"
        )
    binary = binary_kind(raw)
    if binary is not None:  # "save it as UTF-8" would be the wrong fix for these
        raise ConfigSyntaxError(
            f"config file {shown} is {binary}, not the TOML config: pass the listener's TOML text file "
            "(e.g. /etc/listener/listener.toml)"
        )
    try:
        # utf-8-sig: editors such as Notepad start UTF-8 files with a byte-order mark, which TOML rejects;
        # a file converted twice has two
        return raw.decode("utf-8-sig").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise ConfigSyntaxError(
            f"config file {shown} cannot be read: {_undecodable(raw, exc.start)} is not UTF-8 text: save it as UTF-8"
        ) from None


def _undecodable(raw: bytes, start: int) -> str:
    """Where the byte that is not UTF-8 is, as an editor finds it: its line, shown with '?' for it (an 'é' typed
    in a Windows editor). A byte offset alone sent the installer counting bytes."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # every line would show as '?'s: its NULs
        return 'the file is UTF-16 (Notepad\'s "Unicode") and'
    first = raw.rfind(b"\n", 0, start) + 1
    end = raw.find(b"\n", start)
    line = raw[first : end if end >= 0 else len(raw)].decode("utf-8", "replace").replace("\ufffd", "?")
    shown = "" if may_hold_secret(line) else f", {shorten(line.strip())}"
    number = raw.count(b"\n", 0, start) + 1
    return f"line {number}{shown}: byte {start} (0x{raw[start]:02x})"


def build(cls: type[T], data: Any, path: str) -> T:
    """Build dataclass ``cls`` from a TOML table, validating every key."""
    if not isinstance(data, dict):
        raise ConfigError(path or "<root>", data, "must be a table" + _table_fix(path, data))
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            # a misspelt 'password' is unknown, and its value must reach neither the terminal nor the journal
            shown = "<hidden>" if looks_secret(key, data[key]) else data[key]
            where = _join(path, key)
            raise ConfigError(where, shown, retired_rule(where) or _unknown_key_rule(key, fields, path))
    # keys left out take the field's default: the dataclass's own __init__ supplies it
    values = {
        name: _convert(hints[name], data[name], _join(path, name), rule_of(spec))
        for name, spec in fields.items()
        if name in data
    }
    return cls(**values)


def _table_fix(path: str, data: object) -> str:
    """``[[mqtt]]`` (an array of tables) for ``[mqtt]``: the echo, ``mqtt = [{port = 1}]``, is not what the file
    says, so the doubled brackets are named."""
    if path and isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return f": write [{path}] with single brackets; [[{path}]] makes an array of tables"
    return ""


def _unknown_key_rule(key: str, fields: typing.Iterable[str], path: str) -> str:
    """Why ``key`` is refused, and which table it belongs in when it is another table's key."""
    if path and key in _TOP_TABLES:  # [array.parties], or parties.rep_channel = 0 under [array]: as YAML nests
        return f"unknown key; [{key}] is a table of its own, not part of [{path}]: write its keys under [{key}]"
    tables = [f"[{table}]" for table in _tables_with_key(Config, key, "")]
    if not tables:
        allowed = sorted(fields)
        near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
        if near:
            spelling = f"unknown key; did you mean {toml_key(near[0])}? Correct the spelling"
            return f"{spelling} (allowed here: {', '.join(allowed)})"
        return "unknown key; allowed here: " + ", ".join(allowed)
    if len(tables) == 1:
        return f"unknown key; {toml_key(key)} belongs in {tables[0]}: move it under {tables[0]}"
    where = ", ".join(tables[:-1]) + " or " + tables[-1]
    return f"unknown key; {toml_key(key)} belongs in {where}: move it under the one you meant"


_TOP_TABLES = frozenset(f.name for f in dataclasses.fields(Config))


def key_rule(table: str, key: str) -> str | None:
    """What build() says of ``key`` under ``[table]``, for a key the TOML parser refused before build() saw it
    (``sample_räte``, not ASCII): None where ``table`` is none of the schema's tables, or has the key."""
    cls: Any = Config
    for part in filter(None, table.split(".")):
        cls = typing.get_type_hints(cls).get(part)
        if not dataclasses.is_dataclass(cls):
            return None
    fields = {f.name for f in dataclasses.fields(cls)}
    return None if key in fields else _join(table, key) + ": " + _unknown_key_rule(key, fields, table)


def _tables_with_key(cls: type, key: str, path: str) -> list[str]:
    """The tables (dotted paths) under dataclass ``cls`` that have a key named ``key``."""
    found = []
    for name, tp in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(tp):
            table = _join(path, name)
            if key in {f.name for f in dataclasses.fields(tp)}:
                found.append(table)
            found += _tables_with_key(typing.cast(type, tp), key, table)
    return found


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{toml_key(key)}" if path else toml_key(key)


def _convert(tp: Any, value: Any, path: str, rule: FieldRule) -> Any:
    if dataclasses.is_dataclass(tp):
        return build(typing.cast(type, tp), value, path)
    try:
        return _convert_value(tp, value, path, rule)
    except ConfigError as exc:
        if not isinstance(value, dict) or "[" in path:
            raise
        # a table where a setting goes: [mqtt.tls], as YAML nests; no setting takes one, so this was raised
        table, key = path.rsplit(".", 1)
        fix = f"{key} is a setting of [{table}], not a table: write {key} = ... on a line under [{table}]"
        raise ConfigError(exc.path, exc.value, f"{exc.rule}; {fix}") from None


def _convert_value(tp: Any, value: Any, path: str, rule: FieldRule) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _convert_optional(tp, value, path, rule)
    if origin is Literal:
        return _convert_choice(get_args(tp), value, path)
    if origin is tuple:
        return _convert_tuple(tp, value, path, rule)
    return _convert_scalar(tp, value, path, rule)


def _convert_choice(allowed: tuple[object, ...], value: Any, path: str) -> Any:
    if value in allowed:
        return value
    why = "must be one of " + ", ".join(repr(a) for a in allowed)
    if str(value) in allowed:  # protocol = 5 for "5"
        why += f", in quotes: {quoted(path, value)}"
    elif isinstance(value, str):  # "ReSpeaker 4mic", "warn": the name it is near, as the file must spell it
        why += near_hint(path, value, [a for a in allowed if isinstance(a, str)])
    raise ConfigError(path, value, why)


def _convert_optional(tp: Any, value: Any, path: str, rule: FieldRule) -> Any:
    inner = [a for a in get_args(tp) if a is not type(None)]
    if len(inner) != 1:
        raise TypeError(f"unsupported config type {tp}")
    return _convert_value(inner[0], value, path, rule)  # no table is optional: it has its defaults


def _convert_tuple(tp: Any, value: Any, path: str, rule: FieldRule) -> tuple[Any, ...]:
    args = get_args(tp)
    if not isinstance(value, list):
        raise ConfigError(path, value, "must be an array" + _inner_array_fix(path, args, rule))
    if len(args) == 2 and args[1] is Ellipsis:
        item_types = [args[0]] * len(value)
        if not value:
            raise ConfigError(path, value, "must not be empty")
    else:
        item_types = list(args)
        if len(value) != len(args):
            raise ConfigError(path, value, f"must have exactly {len(args)} elements" + _missing_z(tp, value))
    return tuple(_convert(t, v, _join(path, i), rule) for i, (t, v) in enumerate(zip(item_types, value, strict=True)))


def _missing_z(tp: Any, value: list[Any]) -> str:
    """A mic written in the plane (``[0.05, 0.0]``): the array's x-y plane is where azimuths are measured, so a
    flat array's height is any one number, which the bare count did not say."""
    if tp != Mic or len(value) != 2:
        return ""
    return f": x, y and z, in metres; for mics all at one height add z = 0.0: {[*value, 0.0]}"


def _inner_array_fix(path: str, args: tuple[Any, ...], rule: FieldRule) -> str:
    """For an item of a list of lists (the mics: ``mics = [0.0, 0.0, 0.0, ...]`` flat, or ``[[array.mics]]``): how
    the whole list is written, which "must be an array" at ``mics[0]`` did not say."""
    if not path.endswith("]") or Ellipsis in args:
        return ""
    key = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return f" of {len(args)} numbers: {key} is an array of arrays, written {key} = [[...], [...]] ({rule.doc})"


def _convert_scalar(tp: Any, value: Any, path: str, rule: FieldRule) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, value, "must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, value, whole_number_rule(path, value, rule))
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, value, "must be a number" + (unquoted(path, value, float, rule) or within(rule)))
        try:
            value = float(value)
        except OverflowError:  # an integer beyond any float: TOML allows it, no setting means it
            raise ConfigError(path, value, range_rule(rule, "must be a finite number")) from None
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, value, "must be text in quotes" + text_example(path, value, rule))
        return _convert_path(value, path, rule) if rule.path else value
    else:
        raise TypeError(f"unsupported config type {tp}")
    check_range(value, path, rule)
    return value


def _convert_path(value: str, path: str, rule: FieldRule) -> str:
    if value.strip() == "" and value and rule.example == "":
        # no file is named by it, and paths.py leaves it as it is: check-config passed it, and the run looked
        # for a file named ' ' ("turn model   not found", the name invisible); state_dir, with no '', says its own
        raise ConfigError(path, value, 'must be a file or folder path, or "" for the default: blank text names none')
    control = control_character(value)
    if control is not None:
        raise ConfigError(
            path, value, f"must be a file or folder path without control characters ({control}): remove it"
        )
    # expanded once, here: every reader of the tree (spool, pause flag, models, doctor) then opens the same
    # place, where a bare Path('~/x') would make a folder named '~' in whatever folder the service started
    # os.path's, not Path's: that one raises on '~nosuchuser' (refused below) and reads '' as '.'
    expanded = os.path.expanduser(value)  # noqa: PTH111
    if expanded.startswith("~"):  # '~nosuchuser/x': read from the config's folder, a folder named '~...'
        home = expanded.split("/")[0]
        raise ConfigError(path, value, f"{home} is the home folder of no user here: write an absolute path (or ~/...)")
    return expanded
