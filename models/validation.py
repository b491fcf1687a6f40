"""Choosing the turn model's thresholds, and its figures, on the validation dialogues."""

from __future__ import annotations

import numpy as np

from models import scoring, tasks
from models.tracks import BIN_EDGES_S, Track

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
HYSTERESIS = 0.15


def activity_f1(
    outputs: list[np.ndarray], val: list[Track], on: float, off: float, lookahead_steps: int = 0
) -> dict[str, float | None]:
    """Pooled per-party F1 of the timeline-processed activity against the truth."""
    total = np.zeros((2, 3), dtype=np.int64)
    for out, seq in zip(outputs, val, strict=True):
        frames = seq.truth.shape[1]
        system = scoring.steps_to_frames(scoring.hysteresis(labelled(out[:, :2], lookahead_steps), on, off), frames)
        system = np.stack([scoring.timeline(row) for row in system])
        total += scoring.counts(seq.truth, system)
    rep, cust = scoring.f1(total[0]), scoring.f1(total[1])
    return {"f1_rep": rep, "f1_customer": cust, "f1_mean": None if rep is None or cust is None else (rep + cust) / 2}


def labelled(activity: np.ndarray, lookahead_steps: int) -> np.ndarray:
    """Activity outputs moved to the steps they label; the last steps take the last output (as TurnStage does)."""
    if not lookahead_steps:
        return activity
    return np.concatenate([activity[lookahead_steps:], np.repeat(activity[-1:], lookahead_steps, axis=0)])


def choose_thresholds(outputs: list[np.ndarray], val: list[Track], lookahead_steps: int) -> tuple[float, float]:
    def f1(on: float) -> float:
        return activity_f1(outputs, val, on, on - HYSTERESIS, lookahead_steps)["f1_mean"] or 0.0

    best = max(THRESHOLDS, key=f1)
    return best, round(best - HYSTERESIS, 3)


TASKS = ("pause", "overlap", "premature")  # in the order of ModelSpec.thresholds


def task_scores(
    outputs: list[np.ndarray], val: list[Track], thresholds: tuple[float, float, float]
) -> dict[str, tuple[list[bool], list[float]]]:
    items = [(i, o) for o, seq in zip(outputs, val, strict=True) for i in tasks.all_items(seq.truth)]
    out = {}
    for task in TASKS:
        chosen = [(i, o) for i, o in items if i.task == task]
        out[task] = ([i.label for i, _ in chosen], [tasks.score(i, o, BIN_EDGES_S, thresholds) for i, o in chosen])
    return out


def choose_decision_thresholds(outputs: list[np.ndarray], val: list[Track]) -> tuple[float, float, float]:
    """Per task, the raw threshold with the best balanced accuracy on the validation dialogues."""
    raw = task_scores(outputs, val, (0.5, 0.5, 0.5))
    t = [tasks.best_threshold(*raw[task]) for task in TASKS]
    return t[0], t[1], t[2]


def figures(
    outputs: list[np.ndarray],
    val: list[Track],
    on: float,
    off: float,
    thresholds: tuple[float, float, float],
    lookahead_steps: int,
) -> dict[str, object]:
    out: dict[str, object] = dict(activity_f1(outputs, val, on, off, lookahead_steps))
    for task, (labels, probs) in task_scores(outputs, val, thresholds).items():
        out[f"{task}_n"] = len(labels)
        out[f"{task}_balanced_accuracy"] = tasks.balanced_accuracy(labels, probs)
        out[f"{task}_auc"] = tasks.auc(labels, probs)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}
