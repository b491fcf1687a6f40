"""Every error the listener raises on purpose.

The CLI prints ``str(error)`` on one line and exits with code 2 for any
:class:`ListenerError`, so each message names the problem *and* the fix.
Leaf errors also inherit the matching built-in, so callers that only know
Python's own exceptions still catch them.
"""

from __future__ import annotations

import json
import re

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ListenerError(Exception):
    """Root of every deliberate listener error."""


class ConfigError(ListenerError, ValueError):
    """A configuration key is unknown, mistyped or out of range."""

    def __init__(self, path: str, value: object, rule: str) -> None:
        self.path = path
        self.value = value
        self.rule = rule
        super().__init__(f"config error at {path} = {toml_value(value)}: {rule}")


def toml_value(value: object) -> str:
    """``value`` as it would be written in the TOML file the user edits."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON's escapes are TOML's: a value holding a newline or a terminal's escape codes stays one
        # line and prints harmlessly; DEL and the C1 controls, which JSON lets through, are escaped too
        quoted = json.dumps(value, ensure_ascii=False)
        return "".join(f"\\u{ord(c):04x}" if 0x7F <= ord(c) <= 0x9F else c for c in quoted)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def toml_key(key: object) -> str:
    """``key`` as TOML writes it: bare when it may be, else quoted (one line, escapes harmless)."""
    text = str(key)
    return text if _BARE_KEY.fullmatch(text) else toml_value(text)


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


class ModelError(ListenerError, RuntimeError):
    """A model file is missing, corrupt or unusable."""


class ModelMissingError(ModelError, FileNotFoundError):
    """No model where the config points."""


class ModelFileError(ModelError, OSError):
    """A model file or folder cannot be read or written."""


class OutputError(ListenerError, RuntimeError):
    """An output (LEDs, MQTT, spool) cannot be set up."""


class OutputFileError(OutputError, OSError):
    """A file an output reads or writes (password, certificate, spool, plot) cannot be used."""


class CalibrationError(ListenerError, ValueError):
    """The recording does not show where the rep stands."""
