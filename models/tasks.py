"""Turn-taking test items from per-party truth activity, and how they are scored.

From a (2, frames) truth at 10 ms (row 0 rep, row 1 customer):

* **pauses** (shift vs hold): every mutual silence of at least 0.25 s after
  speech by exactly one party. Hold: that party speaks next. Shift: the
  other party speaks next and keeps going for over a second (a lone short
  vocalisation is not a turn; those pauses, and simultaneous starts, are
  left out). Judged 0.2 s into the silence.
* **overlap onsets** (backchannel vs interruption): a party starts while
  the other has been speaking for at least 0.5 s. Backchannel: the
  newcomer stops within 1 s and the other party continues; interruption:
  the newcomer keeps speaking for 1 s or more. Judged 0.5 s after onset.
* **starts in a pause** (premature start): a party starts during the
  other's pause (the other spoke last). Truth: the other resumes within
  1 s of that onset. Judged at the onset.

The model's outputs are read at the 20 ms frame that ends at the judging
time. Scores are balanced accuracies (mean of the two classes' recalls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from scipy.stats import mannwhitneyu

from listener.frames import runs as runs
from listener.turns import derive

FRAME_S = 0.01
PAUSE_MIN = 25
PAUSE_READ = 20
TURN_MIN = 100  # a shift needs the new speaker to keep going this long
HOLDER_MIN = 50
OVERLAP_READ = 50
BACKCHANNEL_MAX = 100
RESUME_WITHIN = 100


@dataclass(frozen=True, slots=True)
class Item:
    """One judgement at 10 ms frame ``at`` about ``party``; ``label`` True = shift / interruption / resumes."""

    task: str  # "pause" | "overlap" | "premature"
    party: int  # the pausing party / the newcomer / the party expected to resume
    start: int  # pause start / overlap onset / premature onset (10 ms frames)
    at: int  # judging time (10 ms frames)
    label: bool
    pause_frames: int = 0  # full length of the pause (for the pause-length baseline)


def run_end(active: np.ndarray, start: int) -> int:
    """End (exclusive) of the run of ``active`` that contains ``start``."""
    off = np.flatnonzero(~active[start:])
    return start + int(off[0]) if off.size else len(active)


def pause_items(truth: np.ndarray) -> list[Item]:
    anyone = cast(np.ndarray, truth.any(axis=0))  # numpy's stubs allow a scalar for any axis
    n = truth.shape[1]
    items = []
    for a, b in runs(~anyone):
        if a == 0 or b >= n or b - a < PAUSE_MIN:
            continue
        before = truth[:, a - 1]
        if before.sum() != 1:
            continue
        by = int(np.argmax(before))
        after = truth[:, b]
        if after.sum() != 1:
            continue
        nxt = int(np.argmax(after))
        if nxt != by and run_end(truth[nxt], b) - b < TURN_MIN:
            continue
        items.append(Item("pause", by, a, a + PAUSE_READ, nxt != by, b - a))
    return items


def overlap_items(truth: np.ndarray) -> list[Item]:
    n = truth.shape[1]
    items = []
    for newcomer in (0, 1):
        other = 1 - newcomer
        for a, b in runs(truth[newcomer]):
            if a == 0 or not truth[other, a - 1] or a + OVERLAP_READ >= n:
                continue
            other_start = a - 1
            while other_start > 0 and truth[other, other_start - 1]:
                other_start -= 1
            if a - other_start < HOLDER_MIN:
                continue
            if b - a >= BACKCHANNEL_MAX:
                label = True
            elif b < n and truth[other, b : min(n, b + RESUME_WITHIN)].any():
                label = False
            else:
                continue
            items.append(Item("overlap", newcomer, a, a + OVERLAP_READ, label))
    return items


def premature_items(truth: np.ndarray) -> list[Item]:
    anyone = cast(np.ndarray, truth.any(axis=0))
    n = truth.shape[1]
    items = []
    for a, b in runs(~anyone):
        if a == 0 or b >= n or truth[:, a - 1].sum() != 1 or truth[:, b].sum() != 1:
            continue
        holder = int(np.argmax(truth[:, a - 1]))
        if truth[holder, b] or b + RESUME_WITHIN >= n:
            continue  # the holder itself resumed: no start by the other party
        label = bool(truth[holder, b : b + RESUME_WITHIN].any())
        items.append(Item("premature", holder, b, b, label))
    return items


def all_items(truth: np.ndarray) -> list[Item]:
    return pause_items(truth) + overlap_items(truth) + premature_items(truth)


def step_at(frame10: int) -> int:
    """The 20 ms model step that ends at 10 ms frame boundary ``frame10``."""
    return max(0, round(frame10 / 2) - 1)


def score(
    item: Item, outputs: np.ndarray, edges: Sequence[float], thresholds: tuple[float, float, float] = (0.5, 0.5, 0.5)
) -> float:
    """The model's probability for ``item.label`` from raw outputs (steps, 2 + 2 * bins), as the stage derives it."""
    row = outputs[min(step_at(item.at), len(outputs) - 1)][None]
    view = derive.outlook(row, edges, thresholds)
    table = {"pause": view.p_shift, "overlap": view.p_continues, "premature": view.p_resumes}
    return float(table[item.task][item.party][0])


def balanced_accuracy(labels: Sequence[bool], probs: Sequence[float], threshold: float = 0.5) -> float | None:
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(probs) >= threshold
    if y.all() or (~y).all():
        return None
    return float(0.5 * (np.mean(p[y]) + np.mean(~p[~y])))


def auc(labels: Sequence[bool], probs: Sequence[float] | np.ndarray) -> float | None:
    """Area under the ROC curve (threshold-free; ties count half).

    From the Mann-Whitney U statistic (ranks), not pairwise comparisons, so
    it stays cheap for the benches' hundred-thousand-frame pools.
    """
    y, p = np.asarray(labels, dtype=bool), np.asarray(probs, dtype=float)
    if y.all() or (~y).all():
        return None
    u = mannwhitneyu(p[y], p[~y], alternative="two-sided").statistic
    return float(u) / (int(y.sum()) * int((~y).sum()))


def best_threshold(labels: Sequence[bool], probs: Sequence[float]) -> float:
    """The threshold (on a 0.01 grid) that maximises balanced accuracy; 0.5 if undefined."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores = [balanced_accuracy(labels, probs, float(t)) or 0.0 for t in grid]
    return float(grid[int(np.argmax(scores))]) if max(scores) > 0 else 0.5


@dataclass(frozen=True, slots=True)
class TaskScore:
    n: int
    positives: int
    balanced_accuracy: float | None


def score_items(items: Sequence[Item], prob: Callable[[Item], float], task: str) -> TaskScore:
    chosen = [i for i in items if i.task == task]
    labels = [i.label for i in chosen]
    return TaskScore(len(chosen), sum(labels), balanced_accuracy(labels, [prob(i) for i in chosen]))
