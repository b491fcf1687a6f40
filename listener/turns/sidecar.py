"""The turn model sidecar's fields and what each may hold (used by :mod:`listener.turns.spec`).

An installer may point [turn_model] path at a model of its own, so a sidecar may be damaged or hand-edited:
every field the stage reads is checked here, once, so a bad one stops start-up (and fails `listener doctor`)
naming the field, instead of surfacing as a traceback minutes into a recording.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

from listener.config.rules import rule_of
from listener.config.schema import ActivityConfig
from listener.errors import ModelError
from listener.turns.derive import CONTINUE_WINDOW_S, RESUME_WITHIN_S
from listener.turns.features import FEATURE_VERSION, FRAMES_PER_STEP, N_FEATURES

# an interruption must still be decided within 1.0 s of its onset: the look-ahead is bounded in seconds, as a
# model of 40 ms steps hears twice as far per step
MAX_LOOKAHEAD_S = 0.5
MAX_LOOKAHEAD_STEPS = 25  # of the 20 ms steps models.train trains on: MAX_LOOKAHEAD_S

Check = Callable[[object], Any]  # the value as ModelSpec takes it; raises _RefusedError otherwise
_REQUIRED = object()
THRESHOLD_KEYS = ("shift", "continue", "resume")


class _RefusedError(ValueError):
    """A sidecar value outside what is allowed: ``str`` says what is; ``key`` names the bad field inside it."""

    def __init__(self, allowed: str, key: str = "") -> None:
        super().__init__(allowed)
        self.key = key


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(lo: float, hi: float, *, open_: bool = False) -> Check:
    """A finite JSON number in [lo, hi] (``open_``: strictly inside); "nan" in quotes is not a number."""
    allowed = f"a number {'strictly between' if open_ else 'from'} {lo:g} {'and' if open_ else 'to'} {hi:g}"

    def check(value: object) -> float:
        if _is_number(value) and math.isfinite(value) and (lo < value < hi if open_ else lo <= value <= hi):
            return float(value)
        raise _RefusedError(allowed)

    return check


def _whole(lo: int, hi: int, unit: str = "") -> Check:
    def check(value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
            return value
        raise _RefusedError(f"a whole number from {lo} to {hi}{unit}")

    return check


def _equal(wanted: int) -> Check:
    def check(value: object) -> object:
        if value == wanted and _is_number(value):
            return value
        raise _RefusedError(f"{wanted!r}, what this listener computes")

    return check


def _text(value: object) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise _RefusedError("a non-empty string")


def _digest(value: object) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return value
    raise _RefusedError("the model file's SHA-256, 64 hexadecimal digits")


def _object(value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return value
    raise _RefusedError("an object of named fields")


def _object_of(keys: tuple[str, ...]) -> Check:
    """A JSON object holding no field but ``keys`` (each checked by a row of its own)."""

    def check(value: object) -> dict[str, object]:
        if not isinstance(value, dict):
            raise _RefusedError(f"an object with the fields {', '.join(keys)}")
        for key in value:
            if key not in keys:
                raise _RefusedError(f"one of {', '.join(keys)} (no other is read)", key)
        return value

    return check


def _bin_edges(value: object) -> tuple[float, ...]:
    # the decisions (derive.py) read the projection from the frame on, up to CONTINUE_WINDOW_S[1] ahead
    reach = max(CONTINUE_WINDOW_S[1], RESUME_WITHIN_S)
    allowed = f"a list of increasing numbers of seconds, from 0 to at least {reach:g}"
    if not isinstance(value, list) or len(value) < 2 or not all(_is_number(e) and math.isfinite(e) for e in value):
        raise _RefusedError(allowed)
    edges = tuple(float(e) for e in value)
    if edges[0] != 0.0 or edges[-1] < reach or any(b <= a for a, b in itertools.pairwise(edges)):
        raise _RefusedError(allowed)
    return edges


def _step_hop_range_s() -> tuple[float, float]:
    """Seconds per model step the listener can feed: FRAMES_PER_STEP front-end frames of [activity] frame_ms."""
    frame_ms = next(rule_of(f) for f in dataclasses.fields(ActivityConfig) if f.name == "frame_ms")
    assert frame_ms.low is not None and frame_ms.high is not None  # the schema bounds frame_ms
    return FRAMES_PER_STEP * frame_ms.low / 1000, FRAMES_PER_STEP * frame_ms.high / 1000


def _step_hop(value: object) -> float:
    """Seconds per model step: FRAMES_PER_STEP frames of a frame_ms [activity] allows, in whole milliseconds."""
    lo_s, hi_s = _step_hop_range_s()
    if _is_number(value) and math.isfinite(value) and lo_s <= value <= hi_s:
        frame_ms = value * 1000 / FRAMES_PER_STEP
        # a hop between two frame_ms would pass, and spec._check_step blame [activity] frame_ms, which no setting mends
        if abs(frame_ms - round(frame_ms)) <= 1e-6:
            return float(value)
    raise _RefusedError(
        f"a number from {lo_s:g} to {hi_s:g} (seconds per model step), {FRAMES_PER_STEP} x a whole number of "
        "milliseconds (an [activity] frame_ms)"
    )


_PROBABILITY = _number(0.0, 1.0)
_THRESHOLD = _number(0.0, 1.0, open_=True)  # derive.Outlooker divides by 1 - t, and t = 0 decides yes always
# (dotted field path, check, default when absent); a parent's row comes before its fields' rows
SIDECAR_FIELDS: tuple[tuple[str, Check, object], ...] = (
    ("version", _text, _REQUIRED),
    ("state_size", _whole(1, 1 << 16), _REQUIRED),  # the graph's own width is checked when it is opened
    ("input", _object, _REQUIRED),
    ("input.feature_version", _equal(FEATURE_VERSION), _REQUIRED),
    ("input.n_features", _equal(N_FEATURES), _REQUIRED),
    ("input.frames_per_step", _equal(FRAMES_PER_STEP), _REQUIRED),
    ("input.hop_s", _step_hop, _REQUIRED),
    ("output", _object, _REQUIRED),
    ("output.bin_edges_s", _bin_edges, _REQUIRED),
    ("output.vad_on", _PROBABILITY, _REQUIRED),
    ("output.vad_off", _PROBABILITY, _REQUIRED),
    ("output.lookahead_steps", _whole(0, MAX_LOOKAHEAD_STEPS, " (model steps)"), 0),  # 0: from before it existed
    ("output.thresholds", _object_of(THRESHOLD_KEYS), {}),
    *((f"output.thresholds.{key}", _THRESHOLD, 0.5) for key in THRESHOLD_KEYS),
    ("sha256", _digest, None),  # None: not checked (models.train records it since 2026-12-05; the shipped has none)
)


def validated(doc: dict[str, object], path: Path, side: Path, fix: str) -> dict[str, Any]:
    """Every row of SIDECAR_FIELDS checked in ``doc``: the values by dotted path, or ModelError naming a bad one
    (and ``fix``, how to mend the model ``path``)."""
    values: dict[str, Any] = {}
    for name, check, default in SIDECAR_FIELDS:
        parent, _, key = name.rpartition(".")
        holder: dict[str, Any] = values[parent] if parent else doc  # its parent's row made sure it is an object
        if key not in holder:
            if default is _REQUIRED:
                raise _refusal(path, side, fix, name, _allowed(check))
            values[name] = default
            continue
        try:
            values[name] = check(holder[key])
        except OverflowError:  # a JSON integer past any float: math.isfinite cannot even look at it
            raise _refusal(path, side, fix, name, _allowed(check), holder[key]) from None
        except _RefusedError as bad:
            inner = holder[key][bad.key] if bad.key else holder[key]
            raise _refusal(path, side, fix, f"{name}.{bad.key}" if bad.key else name, str(bad), inner) from None
    _check_across(values, path, side, fix)
    return values


def _check_across(values: dict[str, Any], path: Path, side: Path, fix: str) -> None:
    """The rules that tie one field to another."""
    on, off = values["output.vad_on"], values["output.vad_off"]
    if off > on:  # hysteresis: a party speaking alone turns off below where it turned on, not above
        raise _refusal(path, side, fix, "output.vad_off", f"at most output.vad_on ({on:g})", off)
    ahead, hop_s = values["output.lookahead_steps"], values["input.hop_s"]
    if ahead * hop_s > MAX_LOOKAHEAD_S + 1e-9:
        allowed = (
            f"at most {math.floor(MAX_LOOKAHEAD_S / hop_s + 1e-9)} steps of input.hop_s = {hop_s:g} s "
            f"(it is {ahead * hop_s:g} s; a look-ahead of more than {MAX_LOOKAHEAD_S:g} s would decide "
            "interruptions later than 1.0 s after their onset)"
        )
        raise _refusal(path, side, fix, "output.lookahead_steps", allowed, ahead)


def _allowed(check: Check) -> str:
    """What ``check`` allows, in words: every check refuses a missing value."""
    try:
        check(_REQUIRED)
    except _RefusedError as refused:
        return str(refused)
    raise AssertionError("a sidecar check accepted a missing value")


def _refusal(path: Path, side: Path, fix: str, name: str, allowed: str, value: object = _REQUIRED) -> ModelError:
    if value is _REQUIRED:
        return ModelError(f"turn model {path}: sidecar {side} lacks {name}, which should be {allowed}; {fix}")
    shown = json.dumps(value)  # as written in the file, on one line (NaN included)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ModelError(f"turn model {path}: sidecar {side} has {name} = {shown}, which should be {allowed}; {fix}")
