"""Where the turn model lives and what its JSON sidecar promises.

Every model file ``X.onnx`` comes with ``X.json`` (schema
``listener.turn-model/1``): the input feature version and size, the state
size, the frame hop, the projection bins, the activity thresholds and
look-ahead (``lookahead_steps``, 0 when absent), plus how it was trained
and what it scored, and (written by models.train since 2026-12-05) the
model file's ``sha256``, checked when present. The stage refuses a model whose sidecar does not
match the features this package computes, or lacks, mistypes or puts out
of range any field it reads (:mod:`listener.turns.sidecar`).
"""

from __future__ import annotations

import errno
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from listener.config import Config
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
from listener.turns.features import FRAMES_PER_STEP
from listener.turns.sidecar import validated

SIDECAR_SCHEMA = "listener.turn-model/1"
SHIPPED_NAME = "turn.int8.onnx"
INPUT_FEATURES = "features"
INPUT_STATE = "state"
OUTPUT_PROBS = "probs"
OUTPUT_STATE = "state_out"
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
    lookahead_steps: int  # the sidecar's defaults (sidecar.SIDECAR_FIELDS) stand for what older sidecars lack

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
    v = validated(doc, path, side, fix_for(path))
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
