"""A per-bin noise floor that follows a shop's changing background.

Each bin's floor tracks a low quantile of its recent log power: it steps
down quickly when a frame is below it and creeps up when above, settling
where ``QUANTILE`` of the frames fall below. Speech rarely fills more than
three quarters of a bin's frames, so the quantile stays on the background,
and a fridge switching on is absorbed within seconds. The quantile of an
exponentially distributed periodogram sits below its mean; ``BIAS_DB``
restores the mean so that "above the floor" means "above the background".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

QUANTILE = 0.2
STEP_DB = 0.15  # per frame: falls at 0.12 dB, rises at 0.03 dB per 10 ms frame
STEP_HOP_S = 0.01  # the hop STEP_DB is stated for: other hops scale it, so the floor moves as fast per second
BIAS_DB = 6.5  # mean / 20th percentile of an exponential distribution
STARTUP_FRAMES = 200
STARTUP_BOOST = 8.0
# Over its first frames the floor is their running mean: one frame's periodogram scatters each
# bin by +-10 dB, and a bin that started low would count as signal for the half second it takes
# to rise. A running mean keeps the result independent of how frames are split into blocks.
INITIAL_FRAMES = 5


class NoiseFloor:
    def __init__(self, n_bins: int, hop_s: float, quantile: float = QUANTILE) -> None:
        self.floor: Float = np.full(n_bins, 1e-10, dtype=np.float32)
        scale = hop_s / STEP_HOP_S
        self._down_db = STEP_DB * (1.0 - quantile) * scale
        self._up_db = STEP_DB * quantile * scale
        self._boost = STARTUP_BOOST
        self._level_db: Float | None = None
        self._seen = 0
        self._initial = StartingMean(INITIAL_FRAMES, BIAS_DB)

    def update(self, power: Float, heard: BoolArray) -> Float:
        """Advance over frames (n, bins); returns the floor at each frame.

        Frames not ``heard`` (digital silence: a codec starting up, a muted
        stretch of a file) leave the floor where it was, as audio that never
        arrived does: the floor would otherwise sink to the 1e-12 guard and take
        half a minute to climb back, counting the room's background as speech.
        """
        power_db = 10.0 * np.log10(power + 1e-12)
        level_db: Float | None
        if self._steady(heard):
            out, level_db = self._track(power_db)
        else:
            out, level_db = self._track_with_gaps(power, power_db, heard)
        self._level_db = level_db
        floor = (10.0 ** ((out + BIAS_DB) / 10.0)).astype(np.float32)
        self.floor = floor[-1].copy() if floor.shape[0] else self.floor
        return floor

    def _steady(self, heard: BoolArray) -> bool:
        """Every frame heard, the start-up over: the usual block, with nothing to decide per frame."""
        return (
            self._level_db is not None
            and not self._initial.active
            and self._seen >= STARTUP_FRAMES
            and bool(heard.all())
        )

    def _track(self, power_db: Float) -> tuple[Float, Float]:
        """The floor per frame of a steady block: the same steps as ``_track_with_gaps``, half the cost."""
        assert self._level_db is not None  # _steady
        out = np.empty_like(power_db)
        level_db, down_db, up_db = self._level_db, -self._down_db, self._up_db
        for i, row_db in enumerate(power_db):
            level_db = level_db + np.where(row_db < level_db, down_db, up_db)
            out[i] = level_db
        self._seen += power_db.shape[0]
        return out, level_db

    def _track_with_gaps(self, power: Float, power_db: Float, heard: BoolArray) -> tuple[Float, Float | None]:
        out = np.empty_like(power)
        level_db = self._level_db
        for i in range(power.shape[0]):
            row_db = power_db[i]
            if not heard[i]:
                out[i] = level_db if level_db is not None else 10.0 * np.log10(self.floor) - BIAS_DB
                continue
            if level_db is None or self._initial.active:
                level_db = self._initial.add(power[i])
            else:
                # faster tracking at start-up, before the floor has seen the room
                boost = self._boost if self._seen < STARTUP_FRAMES else 1.0
                level_db = level_db + np.where(row_db < level_db, -boost * self._down_db, boost * self._up_db)
            self._seen += 1
            out[i] = level_db
        return out, level_db


class StartingMean:
    """A floor's first values: the running mean (dB) of the first ``n`` rows, less ``bias_db``."""

    def __init__(self, n: int, bias_db: float) -> None:
        self.n, self.bias_db = n, bias_db
        self.count = 0
        self._sum: npt.NDArray[np.float64] | None = None

    @property
    def active(self) -> bool:
        return 0 < self.count < self.n

    def add(self, power: Float) -> Float:
        """The next row's linear power in; the floor after it out."""
        self._sum = power.astype(np.float64) if self._sum is None else self._sum + power
        self.count += 1
        return (10.0 * np.log10(self._sum / self.count + 1e-12) - self.bias_db).astype(np.float32)
