"""Where the turn model lives and what its JSON sidecar promises.

Every model file ``X.onnx`` comes with ``X.json`` (schema
``listener.turn-model/1``): the input feature version and size, the state
size, the frame hop, the projection bins, the activity thresholds and
look-ahead (``lookahead_steps``, 0 when absent), plus how it was trained
and what it scored. The stage refuses a model whose sidecar does not
match the features this package computes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from listener.config import Config
from listener.errors import ModelError, ModelFileError, ModelMissingError
from listener.turns.features import FEATURE_VERSION, FRAMES_PER_STEP, N_FEATURES

SIDECAR_SCHEMA = "listener.turn-model/1"
SHIPPED_NAME = "turn.int8.onnx"
INPUT_FEATURES = "features"
INPUT_STATE = "state"
OUTPUT_PROBS = "probs"
OUTPUT_STATE = "state_out"
MAX_LOOKAHEAD_STEPS = 25  # 0.5 s: an interruption must still be decided within 1.0 s of its onset
FIX = (
    "reinstall the listener package (it ships listener/data/models/turn.int8.onnx), point [turn_model] path "
    "at a model made by 'python -m models.train', or set [turn_model] enabled = false to use the heuristic decider"
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
    shift_threshold: float = 0.5  # of 1 - p_next (a pause's p_shift)
    continue_threshold: float = 0.5  # of p_continues (an interruption rather than a backchannel)
    resume_threshold: float = 0.5  # of p_resumes (the holder resumes after a premature start)
    # the activity columns of step j label step j - lookahead_steps: the model hears that much past a frame
    lookahead_steps: int = 0

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
    return Path(configured).expanduser() if configured else shipped_model_path()


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def load_spec(path: Path) -> ModelSpec:
    """Read and check the sidecar of ``path``; ModelError (naming the file and the fix) otherwise."""
    if not path.is_file():
        raise ModelMissingError(f"turn model {path} not found: {FIX}")
    side = sidecar_path(path)
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelFileError(f"turn model {path}: its sidecar {side} is missing or unreadable ({exc}); {FIX}") from exc
    except ValueError as exc:  # not JSON, or not UTF-8
        raise ModelError(f"turn model {path}: its sidecar {side} is not valid JSON ({exc}); {FIX}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SIDECAR_SCHEMA:
        raise ModelError(f"turn model {path}: sidecar {side} is not {SIDECAR_SCHEMA!r}; {FIX}")
    inputs = doc.get("input", {})
    wanted = {"feature_version": FEATURE_VERSION, "n_features": N_FEATURES, "frames_per_step": FRAMES_PER_STEP}
    for key, value in wanted.items():
        if inputs.get(key) != value:
            raise ModelError(
                f"turn model {path}: sidecar says input {key} = {inputs.get(key)!r}, this listener computes "
                f"{value!r}; {FIX}"
            )
    try:
        out = doc["output"]
        return ModelSpec(
            path=path,
            version=str(doc["version"]),
            state_size=int(doc["state_size"]),
            hop_s=float(inputs["hop_s"]),
            bin_edges_s=tuple(float(e) for e in out["bin_edges_s"]),
            vad_on=float(out["vad_on"]),
            vad_off=float(out["vad_off"]),
            lookahead_steps=_lookahead(out.get("lookahead_steps", 0)),
            **{f"{k}_threshold": float(v) for k, v in out.get("thresholds", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"turn model {path}: sidecar {side} lacks or mistypes {exc}; {FIX}") from exc


def _lookahead(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_LOOKAHEAD_STEPS:
        raise ValueError(f"output.lookahead_steps = {value!r}, not a whole number of steps 0-{MAX_LOOKAHEAD_STEPS}")
    return value
