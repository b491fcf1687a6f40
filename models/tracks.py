"""What the turn model learns from one simulated dialogue: its features and per-step targets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from listener.turns.features import FRAMES_PER_STEP, swap_parties
from models.simulate import Sample

BIN_EDGES_S = (0.0, 0.2, 0.6, 1.2, 2.0)
N_OUT = 2 + 2 * (len(BIN_EDGES_S) - 1)
SILENCE_WEIGHT = 3.0


@dataclass(frozen=True, slots=True)
class Track:
    features: np.ndarray  # (T, F)
    vad: np.ndarray  # (T, 2)
    future: np.ndarray  # (T, 2 * bins), rep bins then customer bins
    mask: np.ndarray  # (T,) weight of the projection loss: 0 where the future runs past the dialogue's end
    truth: np.ndarray  # (2, frames) at 10 ms


def targets(sample: Sample, lookahead_steps: int = 0) -> Track:
    """Per 20 ms step: activity ``lookahead_steps`` back, and the fraction of each future bin each party speaks in."""
    truth = sample.truth
    steps = min(len(sample.features), truth.shape[1] // FRAMES_PER_STEP)
    frames = truth.shape[1]
    cs = np.concatenate([np.zeros((2, 1)), np.cumsum(truth, axis=1)], axis=1)
    now = FRAMES_PER_STEP * (np.arange(steps) + 1)
    vad = ((cs[:, now] - cs[:, now - FRAMES_PER_STEP]) / FRAMES_PER_STEP).T
    future = []
    for party in (0, 1):
        for lo, hi in itertools.pairwise(BIN_EDGES_S):
            a, b = np.minimum(now + round(lo * 100), frames), np.minimum(now + round(hi * 100), frames)
            future.append((cs[party, b] - cs[party, a]) / np.maximum(b - a, 1))
    inside = now + round(BIN_EDGES_S[-1] * 100) <= frames
    # mutual silences are where turns are taken or kept: they weigh more in the projection loss
    silent = (cs[:, now] - cs[:, now - FRAMES_PER_STEP]).sum(axis=0) == 0
    mask = inside * (1.0 + (SILENCE_WEIGHT - 1.0) * silent)
    if lookahead_steps:  # before the first step, the first step's activity
        vad = np.concatenate([np.repeat(vad[:1], lookahead_steps, axis=0), vad[:-lookahead_steps]])
    return Track(
        sample.features[:steps].astype(np.float32),
        vad.astype(np.float32),
        np.stack(future, axis=1).astype(np.float32),
        mask,
        truth,
    )


def swapped(seq: Track) -> Track:
    nb = len(BIN_EDGES_S) - 1
    fut = np.concatenate([seq.future[:, nb:], seq.future[:, :nb]], axis=1)
    vad = seq.vad[:, ::-1].copy()
    return replace(seq, features=swap_parties(seq.features), vad=vad, future=fut, truth=seq.truth[::-1])
