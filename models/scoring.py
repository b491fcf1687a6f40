"""Frame activity post-processing and F1, shared by training and evaluation.

Every system's frame decisions pass through the same rules the pipeline's
timeline applies (gaps under 0.2 s bridged, bursts under 0.1 s dropped),
so the model, the heuristic and the baseline VADs are scored alike.
"""

from __future__ import annotations

import numpy as np

from listener.turns.base import decide_activity
from models.corpus import bridge
from models.tasks import runs

BRIDGE_FRAMES = 20
MIN_SPEECH_FRAMES = 10


def hysteresis(probs: np.ndarray, on: float, off: float) -> np.ndarray:
    """(T, 2) probabilities -> activity, step by step by the stage's own rule (``decide_activity``)."""
    out = np.zeros(probs.shape, dtype=bool)
    state = (False, False)
    for t, (rep, cust) in enumerate(probs.tolist()):
        state = decide_activity(state, rep, cust, on, off)
        out[t] = state
    return out


def timeline(active: np.ndarray) -> np.ndarray:
    """One party's 10 ms activity as the timeline reports it."""
    out = bridge(active, BRIDGE_FRAMES)
    for a, b in runs(out):
        if b - a < MIN_SPEECH_FRAMES:
            out[a:b] = False
    return out


def steps_to_frames(active: np.ndarray, frames: int) -> np.ndarray:
    """(steps, parties) at 20 ms -> (parties, frames) at 10 ms."""
    fine = np.repeat(active, 2, axis=0).T
    out = np.zeros((active.shape[1], frames), dtype=bool)
    n = min(frames, fine.shape[1])
    out[:, :n] = fine[:, :n]
    return out


def counts(truth: np.ndarray, system: np.ndarray) -> np.ndarray:
    """tp, fp, fn per row of two (rows, frames) masks -> (rows, 3)."""
    return np.stack(
        [(truth & system).sum(axis=1), (~truth & system).sum(axis=1), (truth & ~system).sum(axis=1)], axis=1
    )


def f1(c: np.ndarray) -> float | None:
    tp, fp, fn = (int(v) for v in c)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
