"""Channel-map mode: the turn model's counterpart of the heuristic decider's echo guard.

With one mic per party, a voice leaks into the other party's mic some dB
down. The front end's channel weights give the other party a share of it
(about 0.18 at a 6 dB lead), and the turn model, which hears that share as
speech, started the quiet party at the louder one's turn starts: leakage
6 dB down gave 9 phantom customer backchannels in a 75 s dialogue. The
heuristic decider never counts a party whose level is more than
``CHANNEL_MAP_RATIO_DB`` below the other's; here the same smoothed levels
and floor keep a party from *starting* while the other speaks that far
louder. A party already speaking is left to the model: a real overlap
starts near the other's level and may then fall below it. So is a party
coming back within ``bridge_gap_s`` of its own speech, a gap the timeline
bridges: the rep cutting into the customer's 0.23 s breath would otherwise
hold the customer's return back 50 ms (the smoothing's lag) and turn the
cut-in into a start in a pause.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from listener.events import SpatialFrames
from listener.frames import at_least
from listener.spatial.decide import echo_floor_db, silent_history, smooth_levels

Float = npt.NDArray[np.float32]


class EchoGuard:
    """Smoothed (rep, customer) levels of the frames not yet decided, and the onset rule on them."""

    def __init__(self, ratio_db: float, frames_per_step: int, bridge_gap_s: float) -> None:
        self.ratio_db = ratio_db
        self._per_step = frames_per_step
        self._bridge_gap_s = bridge_gap_s
        self.reset()

    def reset(self) -> None:
        self._history = silent_history()
        self._quiet_s = [float("inf"), float("inf")]  # how long each party has been off
        self._pending = np.zeros((0, 2), dtype=np.float32)  # one row per frame still waiting for its decision

    def take(self, frames: SpatialFrames) -> None:
        """The stream's next frames, each once and in order (they are then pending until :meth:`done`)."""
        snr_db = np.stack([frames.rep_snr_db, frames.customer_snr_db], axis=1)
        smooth, self._history = smooth_levels(self._history, snr_db)
        self._pending = np.concatenate([self._pending, smooth])

    def step_levels_db(self) -> list[tuple[float, float]]:
        """Per model step of the pending frames (a lone last frame is a step of its own): its mean levels."""
        n = self._pending.shape[0]
        starts = range(0, n, self._per_step)
        return [tuple(self._pending[a : a + self._per_step].mean(axis=0).tolist()) for a in starts]

    def done(self, n_frames: int) -> None:
        """The first ``n_frames`` pending frames are decided."""
        self._pending = self._pending[n_frames:]

    def hold_back(
        self, was: tuple[bool, bool], now: tuple[bool, bool], level_db: tuple[float, float], step_s: float
    ) -> tuple[bool, bool]:
        """``now`` less an onset of a party while the other speaks more than the guard's dB louder."""
        floor_db = echo_floor_db(level_db[0], level_db[1], self.ratio_db)
        out = list(now)
        for p in (0, 1):
            # the quiet time is summed step by step (ten 0.02 s steps make 0.19999999999999998 s): a gap of exactly
            # the bridge, which the timeline does not bridge, is a start
            starts = not was[p] and at_least(self._quiet_s[p], self._bridge_gap_s)
            if now[p] and starts and now[1 - p] and level_db[p] < floor_db:
                out[p] = False
            self._quiet_s[p] = 0.0 if out[p] else self._quiet_s[p] + step_s
        return out[0], out[1]
