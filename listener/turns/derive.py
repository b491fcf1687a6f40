"""Turn-taking decisions derived from the model's voice-activity projection.

For every frame the model projects, per party, the fraction of each future
bin (``bin_edges_s`` after the frame) in which that party will be speaking
(after Voice Activity Projection, Ekstedt & Skantze 2022). The decisions the
analytics need are read off that projection:

* **next speaker** (shift vs hold in a pause): each party's expected seconds
  of speech over the whole horizon; ``p_next(a) = E_a / (E_a + E_b)``.
* **continues** (interruption vs backchannel, 0.5 s after an overlap onset):
  the fraction of ``CONTINUE_WINDOW_S`` ahead the newcomer is projected to
  keep speaking. A backchannel is over by then, a floor bid is not.
* **resumes** (premature start): the most the holder is projected to speak
  in any bin starting within ``RESUME_WITHIN_S``.

Each decision has a threshold, chosen on validation dialogues when the
model is trained (sidecar ``output.thresholds``); :class:`Outlooker` moves
it to 0.5 on the logit scale, so downstream a probability of 0.5 is the
decision boundary, as the analytics assume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]

CONTINUE_WINDOW_S = (0.2, 1.2)
RESUME_WITHIN_S = 1.0
EPS = 1e-4


def overlap_weights(edges_s: Sequence[float], start_s: float, end_s: float) -> Float:
    """Seconds of each bin that fall inside [start_s, end_s)."""
    lo, hi = np.asarray(edges_s[:-1]), np.asarray(edges_s[1:])
    return np.clip(np.minimum(hi, end_s) - np.maximum(lo, start_s), 0.0, None).astype(np.float32)


def expected_speech_s(future: Float, edges_s: Sequence[float]) -> Float:
    """Projected seconds of speech over the horizon, per frame: future (n, bins) -> (n,)."""
    return (future @ np.diff(np.asarray(edges_s, dtype=np.float32))).astype(np.float32)


def p_next(own_future: Float, other_future: Float, edges_s: Sequence[float]) -> Float:
    """Probability that the owner of ``own_future`` is the one who speaks next."""
    own = expected_speech_s(own_future, edges_s)
    other = expected_speech_s(other_future, edges_s)
    return ((own + EPS) / (own + other + 2 * EPS)).astype(np.float32)


def p_continues(future: Float, edges_s: Sequence[float]) -> Float:
    """Projected fraction of ``CONTINUE_WINDOW_S`` (ahead of each frame) the party speaks in."""
    w = overlap_weights(edges_s, *CONTINUE_WINDOW_S)
    return (future @ w / w.sum()).astype(np.float32)


def p_resumes(future: Float, edges_s: Sequence[float]) -> Float:
    """The most the party is projected to speak in any bin starting within ``RESUME_WITHIN_S``."""
    starts = np.asarray(edges_s[:-1])
    return future[:, starts < RESUME_WITHIN_S].max(axis=1).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Outlook:
    """The calibrated decisions for every frame, per party (index 0 rep, 1 customer)."""

    p_shift: tuple[Float, Float]  # in a pause by that party: the other speaks next
    p_continues: tuple[Float, Float]  # that party, having just come in, keeps going (not a backchannel)
    p_resumes: tuple[Float, Float]  # that party speaks again within a second


class Outlooker:
    """:func:`outlook` with its constant vectors prepared once: it runs for every block of live audio."""

    def __init__(self, edges_s: Sequence[float], thresholds: tuple[float, float, float] = (0.5, 0.5, 0.5)) -> None:
        nb = len(edges_s) - 1
        widths = np.diff(np.asarray(edges_s, dtype=np.float32))
        cont = overlap_weights(edges_s, *CONTINUE_WINDOW_S)
        # raw outputs (frames, 2 + 2 nb) @ this -> rep speech s, customer speech s, rep continues, customer continues
        self.project = np.zeros((2 + 2 * nb, 4), dtype=np.float32)
        for party in (0, 1):
            rows = slice(2 + party * nb, 2 + (party + 1) * nb)
            self.project[rows, party] = widths
            self.project[rows, 2 + party] = cont / cont.sum()
        self.resume_bins = np.flatnonzero(np.asarray(edges_s[:-1]) < RESUME_WITHIN_S)
        self.n_bins = nb
        shift_t, continue_t, resume_t = thresholds
        t = np.array([shift_t, shift_t, continue_t, continue_t, resume_t, resume_t], dtype=np.float32)
        self.odds = (t / (1 - t))[:, None]

    def __call__(self, out: Float) -> Outlook:
        proj = out @ self.project
        rep_next = (proj[:, 0] + EPS) / (proj[:, 0] + proj[:, 1] + 2 * EPS)
        resumes = out[:, 2:].reshape(-1, 2, self.n_bins)[:, :, self.resume_bins].max(axis=2)
        raw = np.stack([1.0 - rep_next, rep_next, proj[:, 2], proj[:, 3], resumes[:, 0], resumes[:, 1]])
        q = np.clip(raw, 1e-6, 1 - 1e-6)
        cal = (1.0 / (1.0 + (1 - q) / q * self.odds)).astype(np.float32)  # logit(q) - logit(threshold)
        return Outlook(p_shift=(cal[0], cal[1]), p_continues=(cal[2], cal[3]), p_resumes=(cal[4], cal[5]))


def outlook(out: Float, edges_s: Sequence[float], thresholds: tuple[float, float, float] = (0.5, 0.5, 0.5)) -> Outlook:
    """From raw model outputs (frames, 2 + 2 * bins): activity now, then each party's projection.

    The same arithmetic as the functions above, for both parties at once.
    """
    return Outlooker(edges_s, thresholds)(out)
