"""How a refused value should have been written: the key's range in words, a number without its quotes,
text in them, the key as its table writes it.

The loader says what is wrong with a value; these say what to write instead, so that the error names the fix.
check_range refuses a number outside its key's range (or inf, nan) in the same words.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from decimal import Decimal

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
    """The hint for a number written as text (``sample_rate = "16000"``, ``buffer_s = "5 s"``): '' for anything else.

    A unit after the number is converted to the key's where both measure the same (``"500 ms"`` for buffer_s is
    0.5), else the number is kept and the key's unit named. A number the key's range then refuses
    (``block_ms = "5"``) is not suggested: the range is said instead."""
    written = _number_in_text(value)
    if written is None:
        return ""
    number, unit = written
    converted, note = _in_key_unit(_key(path), number, unit)
    if kind is int and converted != converted.to_integral_value():
        return ""
    without = ", without quotes" + (" or unit" if unit else "") + note
    if _outside(converted, rule):
        return f"{without}, {_bounds(rule)}"
    shown = format(converted.normalize(), "f")
    key = _key(path)
    if "[" in key:  # a list's element: "mic_channels[0] = 0" is no TOML a person could write back
        return f"{without}: {shown} in {key.split('[', 1)[0]} = [...], not {json.dumps(value)}"
    return f"{without}: {key} = {shown}"


# a number as text, with a unit after it or none: "5 s", "50ms", "16 kHz", " 10.5"; not "nan", nor "5,5" (no
# 5 meant), nor "0x10"
_NUMBER_TEXT = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([^\W\d_]+|°)?\s*")
# units an installer writes after a number: what each measures, and its size in that measure's unit below
_UNITS = {
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), ("time", Decimal("0.001"))),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), ("time", Decimal(1))),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), ("time", Decimal(60))),
    **dict.fromkeys(("hz",), ("frequency", Decimal(1))),
    **dict.fromkeys(("khz",), ("frequency", Decimal(1000))),
    **dict.fromkeys(("deg", "°", "degree", "degrees"), ("angle", Decimal(1))),
    **dict.fromkeys(("db",), ("level", Decimal(1))),
}
# a key's unit by its name's ending (drain_rate_per_s is a rate, not seconds); sample_rate's doc says Hz
_KEY_UNITS = (("_per_s", ""), ("_ms", "ms"), ("_s", "s"), ("_hz", "hz"), ("_deg", "deg"), ("_db", "db"))
_NAMED_UNITS = {"ms": "milliseconds", "s": "seconds", "hz": "Hz", "deg": "degrees", "db": "dB"}


def _number_in_text(value: object) -> tuple[Decimal, str] | None:
    """The number a text starts with and the unit after it ('' for none), or None for text that is no number."""
    if not isinstance(value, str):
        return None
    match = _NUMBER_TEXT.fullmatch(value)
    if match is None:
        return None
    number = Decimal(match.group(1))
    if abs(number.adjusted()) > 30:  # "1e400" is no setting's value, and printed in full it fills the terminal
        return None
    return number, match.group(2) or ""


def _in_key_unit(key: str, number: Decimal, unit: str) -> tuple[Decimal, str]:
    """``number`` in the unit ``key`` is read in, and the words that say so where ``unit`` was another or unknown."""
    own = "hz" if key == "sample_rate" else next((u for end, u in _KEY_UNITS if key.endswith(end)), "")
    if not own or not unit:
        return number, ""
    measure, size = _UNITS.get(unit.lower(), ("", Decimal(1)))
    note = f", in {_NAMED_UNITS[own]} (the key's unit)"
    if measure != _UNITS[own][0]:  # "5 parsecs", or Hz for seconds: which number was meant is a guess
        return number, note
    return number * size / _UNITS[own][1], "" if size == _UNITS[own][1] else note


def _outside(value: float | Decimal, rule: FieldRule) -> bool:
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


def near_choice(value: str, allowed: list[str]) -> str | None:
    """The allowed name ``value`` was meant to be: the same but for case, spaces or '_' for '-', or one close."""
    plain = "-".join(value.lower().replace("_", " ").replace("-", " ").split())
    if plain in allowed:
        return plain
    near = difflib.get_close_matches(plain, allowed, n=1, cutoff=0.7)
    return near[0] if near else None


def near_hint(path: str, value: str, allowed: list[str]) -> str:
    """The fix for a name nearly one of ``allowed`` ("ReSpeaker 4mic", "EN"), as the file must spell it; ''."""
    near = near_choice(value, allowed)
    return f"; did you mean {quoted(path, near)}? Write the name as listed" if near is not None else ""


def quoted(path: str, value: object) -> str:
    """The line as it should be written, the value in quotes: ``green_pin = "22"`` for ``leds.green_pin``."""
    return f"{_key(path)} = {json.dumps(str(value))}"


def _key(path: str) -> str:
    """The key as written in its table: ``green_pin`` for ``leds.green_pin``."""
    return path.rsplit(".", 1)[-1]
