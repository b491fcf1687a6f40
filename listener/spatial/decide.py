"""Per-party activity from spatial evidence: the heuristic decision.

This is the seam the turn-taking model plugs into: it also consumes
:class:`SpatialFrames` and emits :class:`ActivityFrames`, and replaces this
stage when its model file is available.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from listener.config import Config, channel_map_mode
from listener.config.schema import CHANNEL_MAP_RATIO_DB
from listener.events import ActivityFrames, EndOfStream, Event, SpatialFrames
from listener.pipeline import Stage
from listener.spatial.doa import window_sum
from listener.spatial.frontend import SILENT_SNR_DB

Float = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]

SMOOTH_FRAMES = 5
HYSTERESIS_DB = 3.0
PROB_SLOPE_PER_DB = 0.5
ONSET_WINDOW_FRAMES = 8
ONSET_FRAMES = 4
ONSET_MASK = (1 << ONSET_WINDOW_FRAMES) - 1


class ActivityDecider(Stage):
    """SpatialFrames -> ActivityFrames, with smoothing and hysteresis."""

    name = "activity"

    def __init__(self, config: Config) -> None:
        self.on_db = config.activity.speech_snr_db
        self.off_db = self.on_db - HYSTERESIS_DB
        self.ratio_db = config.activity.party_ratio_db
        if channel_map_mode(config.parties):
            self.ratio_db = min(self.ratio_db, CHANNEL_MAP_RATIO_DB)
        self._hangover_s = config.activity.hangover_s
        self._hang_frames = 0
        self._start_stream()

    def _start_stream(self) -> None:
        self._history = silent_history()
        self._active = np.zeros(2, dtype=bool)
        self._hold = np.zeros(2, dtype=np.int32)
        self._recent = [0, 0]  # evidence of the last ONSET_WINDOW_FRAMES, as bits

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, EndOfStream):
            self._start_stream()
        if not isinstance(event, SpatialFrames) or event.n_frames == 0:
            return
        self._hang_frames = round(self._hangover_s / event.hop_s)
        snr_db = np.stack([event.rep_snr_db, event.customer_snr_db], axis=1)
        smooth = self._smooth(snr_db)
        active = self._decide(smooth)
        prob = (1.0 / (1.0 + np.exp(-PROB_SLOPE_PER_DB * (smooth - self.on_db)))).astype(np.float32)
        yield ActivityFrames(
            start_s=event.start_s,
            hop_s=event.hop_s,
            rep_active=active[:, 0],
            customer_active=active[:, 1],
            rep_prob=prob[:, 0],
            customer_prob=prob[:, 1],
            doa_deg=event.doa_deg,
        )

    def _smooth(self, snr_db: Float) -> Float:
        smooth, self._history = smooth_levels(self._history, snr_db)
        return smooth

    def _decide(self, smooth: Float) -> Bool:
        """Onset needs several frames of evidence; a hangover bridges short dips.

        Sequential, so plain Python floats: numpy on two values per frame is slower.
        """
        out = np.zeros(smooth.shape, dtype=bool)
        active = [bool(a) for a in self._active]
        hold = [int(h) for h in self._hold]
        recent = self._recent
        on_db, off_db, ratio_db, hang_frames = self.on_db, self.off_db, self.ratio_db, self._hang_frames
        for i, (rep_db, cust_db) in enumerate(smooth.tolist()):
            floor_db = echo_floor_db(rep_db, cust_db, ratio_db)
            for p, level_db in ((0, rep_db), (1, cust_db)):
                evidence = level_db >= (off_db if active[p] else on_db) and level_db >= floor_db
                recent[p] = (recent[p] << 1 | evidence) & ONSET_MASK
                if evidence and (active[p] or recent[p].bit_count() >= ONSET_FRAMES):
                    active[p], hold[p] = True, hang_frames
                elif hold[p] > 0:  # on for the hangover's frames past the evidence, the last one included
                    hold[p] -= 1
                else:  # no hangover left (or none configured): the evidence is gone, so is the party
                    active[p] = False
            out[i] = active
        self._active = np.array(active)
        self._hold = np.array(hold, dtype=np.int32)
        return out


def silent_history() -> Float:
    """The smoothing history a stream starts with: silence, (SMOOTH_FRAMES - 1, 2) as (rep, customer)."""
    return np.full((SMOOTH_FRAMES - 1, 2), SILENT_SNR_DB, dtype=np.float32)


def smooth_levels(history: Float, snr_db: Float) -> tuple[Float, Float]:
    """Causal moving average in dB over the last few frames, the same however the stream is blocked.

    ``snr_db`` (n, 2) as (rep, customer) -> the smoothed levels (n, 2), and the history for the next block.
    """
    padded = np.concatenate([history, snr_db], axis=0)
    return (window_sum(padded, SMOOTH_FRAMES) / SMOOTH_FRAMES).astype(np.float32), padded[-(SMOOTH_FRAMES - 1) :]


def echo_floor_db(rep_db: float, customer_db: float, ratio_db: float) -> float:
    """The least level a party needs to count as speaking: the quieter party must not be the louder one's echo."""
    return max(rep_db, customer_db) - ratio_db
