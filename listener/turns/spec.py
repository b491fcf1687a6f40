"""Where the turn model lives and what its JSON sidecar promises.

Every model file ``X.onnx`` comes with ``X.json`` (schema
``listener.turn-model/1``): the input feature version and size, the state
size, the frame hop, the projection bins, the activity thresholds and
look-ahead (``lookahead_steps``, 0 when absent), plus how it was trained
and what it scored, and (written by models.train since 2026-12-05) the
model file's ``sha256``, checked when present. The stage refuses a model whose sidecar does not
match the features this package computes, or lacks, mistypes or puts out
of range any field it reads (``SIDECAR_FIELDS``).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

from listener.config import Config
from listener.config.rules import rule_of
from listener.config.schema import ActivityConfig
from listener.errors import (
    DENIED_FIX,
    ConfigError,
    ModelError,
    ModelFileError,
    ModelMissingError,
    looked_at,
    os_reason_and_fix,
    why_no_file,
)
from listener.small_files import read_small_file
from listener.turns.derive import CONTINUE_WINDOW_S, RESUME_WITHIN_S
from listener.turns.features import FEATURE_VERSION, FRAMES_PER_STEP, N_FEATURES

SIDECAR_SCHEMA = "listener.turn-model/1"
SHIPPED_NAME = "turn.int8.onnx"
INPUT_FEATURES = "features"
INPUT_STATE = "state"
OUTPUT_PROBS = "probs"
OUTPUT_STATE = "state_out"
# an interruption must still be decided within 1.0 s of its onset: the look-ahead is bounded in seconds, as a
# model of 40 ms steps hears twice as far per step
MAX_LOOKAHEAD_S = 0.5
MAX_LOOKAHEAD_STEPS = 25  # of the 20 ms steps models.train trains on: MAX_LOOKAHEAD_S
FIX = (
    "reinstall the listener package (it ships listener/data/models/turn.int8.onnx), point [turn_model] path "
    "at a model made by 'python -m models.train', or set [turn_model] enabled = false to use the heuristic decider"
)
# a model the config names: reinstalling mends nothing, the shipped model is one key away
CONFIGURED_FIX = (
    "set [turn_model] path = '' to use the model shipped with the listener, point it at a model made by "
    "'python -m models.train' in a listener checkout (with its .json sidecar beside it), or set [turn_model] "
    "enabled = false to use the heuristic decider"
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A turn model file and the contract its sidecar states."""

    path: Path
    version: str
    state_size: int
    hop_s: float
    bin_edges_s: tuple[float, ...]
    vad_on: float
    vad_off: float
    shift_threshold: float  # of 1 - p_next (a pause's p_shift)
    continue_threshold: float  # of p_continues (an interruption rather than a backchannel)
    resume_threshold: float  # of p_resumes (the holder resumes after a premature start)
    # the activity columns of step j label step j - lookahead_steps: the model hears that much past a frame
    lookahead_steps: int  # the sidecar's defaults (SIDECAR_FIELDS) stand for what older sidecars lack

    @property
    def lag_s(self) -> float:
        """Audio heard past a frame before its activity is known."""
        return round(self.lookahead_steps * self.hop_s, 9)

    @property
    def thresholds(self) -> tuple[float, float, float]:
        return self.shift_threshold, self.continue_threshold, self.resume_threshold

    @property
    def n_bins(self) -> int:
        return len(self.bin_edges_s) - 1

    @property
    def n_outputs(self) -> int:
        """Columns of ``probs``: rep and customer activity, then each party's projection bins."""
        return 2 + 2 * self.n_bins


def shipped_model_path() -> Path:
    return Path(str(resources.files("listener") / "data" / "models" / SHIPPED_NAME))


def model_path(config: Config) -> Path:
    configured = config.turn_model.path
    return Path(configured) if configured else shipped_model_path()  # '~' expanded by the config loader


def fix_for(path: Path) -> str:
    """How to mend a turn model that fails: the shipped one by reinstalling, a configured one by the config."""
    return FIX if path == shipped_model_path() else CONFIGURED_FIX


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def load_spec(path: Path) -> ModelSpec:
    """Read and check the sidecar of ``path``; ModelError (naming the file and the fix) otherwise."""
    if not looked_at(Path.is_file, path, ModelFileError, "turn model"):
        what = why_no_file(path)  # a pipe, a device or a link round in a loop was said "not found"
        if what != "does not exist":
            raise ModelFileError(f"turn model {path} {what}: set [turn_model] path to its .onnx file, or to ''")
        raise ModelMissingError(f"turn model {path} not found: {fix_for(path)}")
    side = sidecar_path(path)
    try:
        doc = json.loads(read_small_file(side).decode("utf-8"))  # a pipe or /dev/zero there: refused, not read
    except OSError as exc:
        reason = os_reason_and_fix(exc, fix_for(path))
        raise ModelFileError(f"turn model {path}: its sidecar {side} is missing or unreadable {reason}") from exc
    # not JSON, not UTF-8, or nested deeper than the parser recurses (thousands of '[': RecursionError)
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"turn model {path}: its sidecar {side} is not valid JSON ({exc}); {fix_for(path)}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SIDECAR_SCHEMA:
        raise ModelError(f"turn model {path}: sidecar {side} is not {SIDECAR_SCHEMA!r}; {fix_for(path)}")
    v = _validated(doc, path, side)
    if v["sha256"] is not None:
        _check_digest(path, side, v["sha256"])
    return ModelSpec(
        path=path,
        version=v["version"],
        state_size=v["state_size"],
        hop_s=v["input.hop_s"],
        bin_edges_s=v["output.bin_edges_s"],
        vad_on=v["output.vad_on"],
        vad_off=v["output.vad_off"],
        shift_threshold=v["output.thresholds.shift"],
        continue_threshold=v["output.thresholds.continue"],
        resume_threshold=v["output.thresholds.resume"],
        lookahead_steps=v["output.lookahead_steps"],
    )


def check_config(config: Config, spec: ModelSpec) -> None:
    """ConfigError where the config and the model cannot work together (the turn stage checks it as it opens)."""
    _check_step(config, spec)
    _check_interruption_lag(config, spec)


def _check_step(config: Config, spec: ModelSpec) -> None:
    """The model's step must be FRAMES_PER_STEP of the front end's frames: its dynamics and look-ahead are in steps."""
    frame_ms = config.activity.frame_ms
    if abs(spec.hop_s - FRAMES_PER_STEP * frame_ms / 1000) > 1e-9:
        model_frame_ms = round(spec.hop_s * 1000 / FRAMES_PER_STEP)
        raise ConfigError(
            "activity.frame_ms",
            frame_ms,
            f"the turn model {spec.path} was trained on {model_frame_ms} ms frames: set [activity] frame_ms = "
            f"{model_frame_ms}, or [turn_model] enabled = false to use this frame length",
        )


def _check_interruption_lag(config: Config, spec: ModelSpec) -> None:
    """An interruption is due interruption_min_s after its onset (analytics/overlaps.py: lag_frames early on the
    frame clock), but its onset is only known once the run is min_speech_s long, and its activity comes lag_s
    late: below min_speech_s + lag_s it would be decided later than interruption_min_s after the onset."""
    least_s = config.analytics.interruption_min_s
    earliest_s = round(config.activity.min_speech_s + spec.lag_s, 9)
    if earliest_s > least_s + 1e-9:
        raise ConfigError(
            "analytics.interruption_min_s",
            least_s,
            f"the turn model {spec.path} decides activity {spec.lag_s:g} s late (output.lookahead_steps), and "
            f"speech is speech after activity.min_speech_s = {config.activity.min_speech_s:g} s, so no "
            f"interruption can be decided before {earliest_s:g} s after its onset: set interruption_min_s to "
            f"{earliest_s:g} or more, lower activity.min_speech_s, or set [turn_model] enabled = false",
        )


def _check_digest(path: Path, side: Path, want: str) -> None:
    """ModelError if the model's bytes are not those its training wrote (models.train records their SHA-256;
    the weights of a flipped or overwritten file load and run, deciding nonsense)."""
    try:
        got = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        reason = os_reason_and_fix(exc, fix_for(path), {errno.EACCES: DENIED_FIX})  # as read_model says it
        raise ModelFileError(f"turn model {path} cannot be read {reason}") from exc
    if got != want.lower():
        raise ModelError(
            f"turn model {path} is damaged: its SHA-256 is {got}, not the {want} its sidecar {side} records "
            f"(its bytes changed after training); {fix_for(path)}"
        )


# --- the sidecar's fields and what each may hold ----------------------------
#
# An installer may point [turn_model] path at a model of its own, so a sidecar may be damaged or hand-edited:
# every field the stage reads is checked here, once, so a bad one stops start-up (and fails `listener doctor`)
# naming the field, instead of surfacing as a traceback minutes into a recording.

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
        # a hop between two frame_ms would pass, and _check_step blame [activity] frame_ms, which no setting mends
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


def _validated(doc: dict[str, object], path: Path, side: Path) -> dict[str, Any]:
    """Every row of SIDECAR_FIELDS checked in ``doc``: the values by dotted path, or ModelError naming a bad one."""
    values: dict[str, Any] = {}
    for name, check, default in SIDECAR_FIELDS:
        parent, _, key = name.rpartition(".")
        holder: dict[str, Any] = values[parent] if parent else doc  # its parent's row made sure it is an object
        if key not in holder:
            if default is _REQUIRED:
                raise _refusal(path, side, name, _allowed(check))
            values[name] = default
            continue
        try:
            values[name] = check(holder[key])
        except OverflowError:  # a JSON integer past any float: math.isfinite cannot even look at it
            raise _refusal(path, side, name, _allowed(check), holder[key]) from None
        except _RefusedError as bad:
            inner = holder[key][bad.key] if bad.key else holder[key]
            raise _refusal(path, side, f"{name}.{bad.key}" if bad.key else name, str(bad), inner) from None
    _check_across(values, path, side)
    return values


def _check_across(values: dict[str, Any], path: Path, side: Path) -> None:
    """The rules that tie one field to another."""
    on, off = values["output.vad_on"], values["output.vad_off"]
    if off > on:  # hysteresis: a party speaking alone turns off below where it turned on, not above
        raise _refusal(path, side, "output.vad_off", f"at most output.vad_on ({on:g})", off)
    ahead, hop_s = values["output.lookahead_steps"], values["input.hop_s"]
    if ahead * hop_s > MAX_LOOKAHEAD_S + 1e-9:
        allowed = (
            f"at most {math.floor(MAX_LOOKAHEAD_S / hop_s + 1e-9)} steps of input.hop_s = {hop_s:g} s "
            f"(it is {ahead * hop_s:g} s; a look-ahead of more than {MAX_LOOKAHEAD_S:g} s would decide "
            "interruptions later than 1.0 s after their onset)"
        )
        raise _refusal(path, side, "output.lookahead_steps", allowed, ahead)


def _allowed(check: Check) -> str:
    """What ``check`` allows, in words: every check refuses a missing value."""
    try:
        check(_REQUIRED)
    except _RefusedError as refused:
        return str(refused)
    raise AssertionError("a sidecar check accepted a missing value")


def _refusal(path: Path, side: Path, name: str, allowed: str, value: object = _REQUIRED) -> ModelError:
    if value is _REQUIRED:
        return ModelError(f"turn model {path}: sidecar {side} lacks {name}, which should be {allowed}; {fix_for(path)}")
    shown = json.dumps(value)  # as written in the file, on one line (NaN included)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ModelError(
        f"turn model {path}: sidecar {side} has {name} = {shown}, which should be {allowed}; {fix_for(path)}"
    )
