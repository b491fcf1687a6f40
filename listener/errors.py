"""Every error the listener raises on purpose.

The CLI prints ``str(error)`` on one line and exits with code 2 for any
:class:`ListenerError`, so each message names the problem *and* the fix.
Leaf errors also inherit the matching built-in, so callers that only know
Python's own exceptions still catch them.
"""

from __future__ import annotations


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
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


class ConfigFileError(ListenerError, OSError):
    """The configuration file cannot be read or is not TOML."""


class AudioInputError(ListenerError, OSError):
    """An audio file or device cannot be opened or read."""


class AudioFormatError(ListenerError, ValueError):
    """Audio that was read does not fit the configured array."""


class DeviceLostError(AudioInputError):
    """A live input device disappeared while it was being read."""


class ModelError(ListenerError, RuntimeError):
    """A model file is missing, corrupt or unusable."""


class OutputError(ListenerError, RuntimeError):
    """An output (LEDs, MQTT, spool) cannot be set up."""
