"""How a refused value should have been written: the key's range in words, a number without its quotes,
text in them, the key as its table writes it.

The loader says what is wrong with a value; these say what to write instead, so that the error names the fix.
check_range refuses a number outside its key's range (or inf, nan) in the same words.
"""

from __future__ import annotations

import json
import math

from listener.config.rules import FieldRule
from listener.errors import ConfigError


def whole_number_rule(path: str, value: object, rule: FieldRule) -> str:
    """Why ``value`` is no whole number for ``path``, with how to write one the key's range takes.

    TOML types 16000.0 as a float: the number without its decimal point is suggested, but only where the
    range takes it (``block_ms = 5.0`` was told to write 5, which the range then refused)."""
    if not isinstance(value, float) or isinstance(value, bool):
        return "must be a whole number" + (unquoted(path, value, int, rule) or within(rule))
    if abs(value) < 2**53 and value.is_integer() and not _outside(value, rule):
        return f"must be a whole number, written without a decimal point: {int(value)}"
    return f"must be a whole number{within(rule)}{_read_as_inf(value)}"


def within(rule: FieldRule) -> str:
    """The key's range after a type's rule (``must be a whole number between 1 and 65535``): a value of the
    wrong type (``port = true``, ``port = "http"``) was told the type alone, not what the key takes."""
    return f" {_bounds(rule)}" if rule.low is not None or rule.high is not None else ""


def range_rule(rule: FieldRule, fallback: str) -> str:
    lo, hi = rule.low, rule.high
    if lo is not None and hi is not None:
        return f"must be between {lo} and {hi}"
    if lo is not None:
        return f"{fallback}, at least {lo}"
    return fallback


def _read_as_inf(value: object) -> str:
    """For an infinite float: a number written too large (1e400) arrives as inf, so the echoed value is not
    what the file says."""
    if not (isinstance(value, float) and math.isinf(value)):
        return ""
    sign = "-" if value < 0 else ""
    return f" (a number too large to hold, such as {sign}1e400, is read as {sign}inf)"


def check_range(value: float, path: str, rule: FieldRule) -> None:
    # TOML has inf and nan; no setting means either, and a range with one bound would let inf through
    if isinstance(value, float) and not math.isfinite(value):
        between = f" {_bounds(rule)}" if rule.low is not None and rule.high is not None else ""
        raise ConfigError(path, value, f"must be a finite number{between}{_read_as_inf(value)}")
    if _outside(value, rule):
        raise ConfigError(path, value, f"must be {_bounds(rule)}")


def unquoted(path: str, value: object, kind: type[int] | type[float], rule: FieldRule) -> str:
    """The hint for a number written as text (``sample_rate = "16000"``): '' for anything else.

    A number the key's range then refuses (``block_ms = "5"``) is not suggested: the range is said instead."""
    if not isinstance(value, str):
        return ""
    try:
        number = kind(value.strip())
    except ValueError:
        return ""
    if not math.isfinite(number):  # "nan" is no number any setting takes
        return ""
    if _outside(number, rule):
        return f", without quotes, {_bounds(rule)}"
    key = _key(path)
    if "[" in key:  # a list's element: "mic_channels[0] = 0" is no TOML a person could write back
        return f", without quotes: {number} in {key.split('[', 1)[0]} = [...], not {json.dumps(value)}"
    return f", without quotes: {key} = {number}"


def _outside(value: float, rule: FieldRule) -> bool:
    lo, hi = rule.low, rule.high
    return (lo is not None and value < lo) or (hi is not None and value > hi)


def _bounds(rule: FieldRule) -> str:
    """The key's range in words; the key has at least one bound."""
    lo, hi = rule.low, rule.high
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}"


def text_example(path: str, value: object, rule: FieldRule) -> str:
    """The e.g. for a number written where text goes (``green_pin = 22``, ``device_id = 3``): the number
    in quotes when the key's rule takes it, else the key's own example (``host = 1883`` is no host)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    accepts, choices = rule.accepts, rule.choices
    if choices is not None:  # language = 5: "5" is no lexicon
        accepts = set(choices()).__contains__
    if accepts is None or accepts(str(value)):
        return f", e.g. {quoted(path, value)}"
    return f", e.g. {quoted(path, rule.example)}" if rule.example else ""


def quoted(path: str, value: object) -> str:
    """The line as it should be written, the value in quotes: ``green_pin = "22"`` for ``leds.green_pin``."""
    return f"{_key(path)} = {json.dumps(str(value))}"


def _key(path: str) -> str:
    """The key as written in its table: ``green_pin`` for ``leds.green_pin``."""
    return path.rsplit(".", 1)[-1]
