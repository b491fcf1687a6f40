"""Recent per-frame party activity, kept by the transcription stage to attribute words that arrive late."""

from __future__ import annotations

import bisect
import math

import numpy as np

from listener.events import ActivityFrames, Party

WORD_MIN_SPAN_S = 0.1  # very short words are judged on at least this much activity around their middle
PRUNE_EVERY_S = 10.0


class ActivityHistory:
    """Recent per-frame party activity, to attribute words that arrive late."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self._frames: list[ActivityFrames] = []
        self._starts: list[float] = []  # start_s of each, for bisection

    @property
    def end_s(self) -> float:
        """Activity time reached: 0.1 s or more behind the audio (the turn model's look-ahead)."""
        return self._frames[-1].end_s if self._frames else 0.0

    def add(self, frames: ActivityFrames) -> None:
        self._frames.append(frames)
        self._starts.append(frames.start_s)
        # drop in batches: a list's head is cheap to cut rarely, and lookups stay a bisection
        if self._starts[0] < frames.end_s - self.keep_s - PRUNE_EVERY_S:
            cut = bisect.bisect_left(self._starts, frames.end_s - self.keep_s)
            del self._frames[:cut], self._starts[:cut]

    def party_of(self, start_s: float, end_s: float) -> Party | None:
        """The party active over most of [start_s, end_s]; by speech likelihood when neither or both are."""
        if end_s - start_s < WORD_MIN_SPAN_S:
            mid = 0.5 * (start_s + end_s)
            start_s, end_s = mid - WORD_MIN_SPAN_S / 2, mid + WORD_MIN_SPAN_S / 2
        counts = np.zeros(2)
        probs = np.zeros(2)
        seen = False
        for k in range(max(0, bisect.bisect_right(self._starts, start_s) - 1), len(self._frames)):
            f = self._frames[k]
            if f.start_s >= end_s:
                break
            if f.end_s <= start_s:
                continue
            i0 = max(0, math.floor((start_s - f.start_s) / f.hop_s))
            i1 = min(f.n_frames, math.ceil((end_s - f.start_s) / f.hop_s))
            if i1 <= i0:
                continue
            seen = True
            counts += (f.rep_active[i0:i1].sum(), f.customer_active[i0:i1].sum())
            probs += (f.rep_prob[i0:i1].sum(), f.customer_prob[i0:i1].sum())
        if not seen:
            return None
        if counts[0] != counts[1]:
            return Party.REP if counts[0] > counts[1] else Party.CUSTOMER
        return Party.REP if probs[0] >= probs[1] else Party.CUSTOMER
