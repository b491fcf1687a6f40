"""Channel-map mode: how much louder the rep's channel records the same sound, learnt from speech.

With one mic per party, each voice reaches the other party's mic too, attenuated.
In frames where one voice clearly dominates, the level ratio of the two
channels, r = L_rep - L_customer (dB), sits near +m + g while the rep talks and
near -m + g while the customer talks (m: how far the voice drops on its way to
the other mic; g: the gain mismatch between the two channels). The two clusters'
midpoint is g, as far as the leakage is about the same both ways; it also puts
the rep-or-customer decision midway between what each party's speech looks like.

The channels' background levels cannot tell g: a mic's own hiss, or a noise
source nearer one mic, makes one background louder at equal speech gain. Nor can
one party's speech alone: +m + g and -m + g' look the same. So the correction
stays at 0 dB until both clusters hold enough speech, and it then moves towards
their midpoint in bounded steps. Everything counts whole frames into a histogram
and settles every UPDATE_FRAMES frames of the stream, so the result does not
depend on how the stream is cut into blocks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from listener.audio.levels import histogram_quantiles
from listener.spatial.noise import NoiseFloor

Float = npt.NDArray[np.float32]

# A channel's background floor for telling speech from it: a low quantile, so that a party's long
# speech lifts its own mic's floor slowly (0.75 dB/s, once the first 2 s have found the room)
FLOOR_QUANTILE = 0.05
# The floor of a channel's band mean sits about 4 dB above its mean background (NoiseFloor's bias is
# for single bins, whose power scatters far more). A frame counts when one channel is LEAD_DB above its
# own floor, about 14 dB above its background ...
LEAD_DB = 10.0
# ... and the other channel is not in a dip of its background (2 dB under its mean or more): a voice that
# reaches the other mic 12-20 dB down is mostly under that mic's background. At 15 and 0 dB, speech in
# ordinary noise (washing-up 24 dB under the voices) rarely counted: a 20 dB mismatch took 27 s to learn,
# 12 s now (docs/reliability.md has the figures).
QUIET_DB = -6.0
RATIO_MIN_DB, RATIO_MAX_DB, RATIO_STEP_DB = -40.0, 40.0, 0.5  # the histogram of r
MIN_CLUSTER_FRAMES = 30  # 0.3 s of clear speech from each party before any correction
# The two clusters at least this far apart (each voice 5 dB down at the other party's mic: less, and the
# mode hardly works at all), so that one party's voice changing with posture is not taken for two ...
MIN_SEPARATION_DB = 10.0
QUARTILES = (0.25, 0.5, 0.75)
SPREAD_RATIO = 3.0  # ... and this many times either cluster's interquartile range: not one cluster cut in two
# A mismatch up to this is left alone (matched mics whose leakage differs a little either way: what the
# turn model was trained with); a larger one is removed entirely.
GAIN_TOLERANCE_DB = 4.0
UPDATE_FRAMES = 25  # the estimate settles every 250 ms of frames ...
MAX_STEP_DB = 10.0  # ... and moves at most this far each time: 20 dB in half a second
MAX_GAIN_DB = 30.0
HISTORY_FRAMES = 60_000  # past 10 minutes of counted speech, every count is halved: a changed gain is learnt again


class ChannelGain:
    """Per frame of (rep, customer) band levels: the rep channel's gain over the customer's, in dB."""

    def __init__(self, hop_s: float) -> None:
        self._floor = NoiseFloor(2, hop_s, quantile=FLOOR_QUANTILE)
        n_bins = round((RATIO_MAX_DB - RATIO_MIN_DB) / RATIO_STEP_DB)
        self._counts = np.zeros(n_bins, dtype=np.int64)
        self._centres = (RATIO_MIN_DB + RATIO_STEP_DB * (np.arange(n_bins) + 0.5)).astype(np.float64)
        self._since = 0  # frames since the estimate last settled
        self._fresh = False  # speech counted since then
        self.offset_db = 0.0

    def update(self, levels: Float, heard: npt.NDArray[np.bool_]) -> Float:
        """``levels`` (n, 2): each channel's mean band power per frame; the offset (dB) for each frame.

        Frames not ``heard`` (a channel in digital silence: a receiver muted or
        not yet on) say nothing about the gains: they leave floors and counts alone.
        """
        ratio_bin, speech = self._speech_ratios(levels, heard)
        out = np.empty(levels.shape[0], dtype=np.float32)
        start = 0
        while start < out.size:
            stop = min(out.size, start + UPDATE_FRAMES - self._since)
            out[start:stop] = self.offset_db
            counted = ratio_bin[start:stop][speech[start:stop]]
            if counted.size:
                np.add.at(self._counts, counted, 1)
                self._fresh = True
            self._since += stop - start
            if self._since == UPDATE_FRAMES:
                self._since = 0
                self._settle()
            start = stop
        return out

    def _speech_ratios(
        self, levels: Float, heard: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Each frame's histogram bin of r, and whether the frame is clear speech of one party or both."""
        above = levels / self._floor.update(levels, heard)
        speech = heard & (above.max(axis=1) > 10 ** (LEAD_DB / 10)) & (above.min(axis=1) > 10 ** (QUIET_DB / 10))
        ratio_db = 10.0 * np.log10((levels[:, 0] + 1e-12) / (levels[:, 1] + 1e-12))
        ratio_bin = ((ratio_db - RATIO_MIN_DB) / RATIO_STEP_DB).astype(np.intp)
        return np.minimum(np.maximum(ratio_bin, 0), self._counts.size - 1), speech

    def _settle(self) -> None:
        """Every UPDATE_FRAMES frames: towards the clusters' midpoint, if speech came in since the last time."""
        if not self._fresh:
            return
        self._fresh = False
        midpoint = self.midpoint_db()
        if midpoint is not None:
            target = float(np.clip(midpoint, -MAX_GAIN_DB, MAX_GAIN_DB)) if abs(midpoint) > GAIN_TOLERANCE_DB else 0.0
            self.offset_db += float(np.clip(target - self.offset_db, -MAX_STEP_DB, MAX_STEP_DB))
        if self._counts.sum() > HISTORY_FRAMES:
            self._counts //= 2

    def midpoint_db(self) -> float | None:
        """Midway between the two clusters of r, or None while there are not two clear ones yet.

        The histogram is cut where the two sides are best apart (Otsu's
        threshold); each side's median is its cluster's place.
        """
        cut = _otsu_cut(self._counts, self._centres)
        if cut is None:
            return None
        low, high = self._counts[:cut], self._counts[cut:]
        if low.sum() < MIN_CLUSTER_FRAMES or high.sum() < MIN_CLUSTER_FRAMES:
            return None
        q_low = histogram_quantiles(low, self._centres[:cut], QUARTILES)
        q_high = histogram_quantiles(high, self._centres[cut:], QUARTILES)
        separation = q_high[1] - q_low[1]
        spread = max(q_low[2] - q_low[0], q_high[2] - q_high[0])
        if separation < MIN_SEPARATION_DB or separation < SPREAD_RATIO * spread:
            return None
        return float(q_low[1] + q_high[1]) / 2.0


def _otsu_cut(counts: npt.NDArray[np.int64], centres: npt.NDArray[np.float64]) -> int | None:
    """The bin index that splits ``counts`` into two classes with the largest between-class variance."""
    weight = np.cumsum(counts)[:-1].astype(np.float64)
    total = float(counts.sum())
    rest = total - weight
    valid = (weight > 0) & (rest > 0)
    if not valid.any():
        return None
    moment = np.cumsum(counts * centres)[:-1]
    mean_low = moment / np.maximum(weight, 1.0)
    mean_high = (float((counts * centres).sum()) - moment) / np.maximum(rest, 1.0)
    between = np.where(valid, weight * rest * (mean_high - mean_low) ** 2, -1.0)
    return int(np.argmax(between)) + 1
