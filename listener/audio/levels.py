"""Per-channel levels with the DC removed, and the one rule for a channel that carries no sound.

``listener doctor`` measures a few seconds at install time; the running service's channel watch
measures its first seconds after each start of capture. Both call a channel dead by the same rule,
so the journal and doctor never disagree about the same mic.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

# Below this a channel carries no sound: digital silence, or a stuck level (a constant offset is
# removed first). A live mic in the quietest room sits near -70 dBFS, its own noise.
DEAD_DBFS = -90.0
FLOOR_DBFS = -200.0  # what an exact zero is shown as


class LevelMeter:
    """Running per-channel sums, so a long look keeps three numbers per channel, not the audio."""

    def __init__(self, n_channels: int) -> None:
        self.n = 0
        self._sum = np.zeros(n_channels, dtype=np.float64)
        self._squares = np.zeros(n_channels, dtype=np.float64)

    def add(self, samples: npt.NDArray[np.floating]) -> None:
        block = samples.astype(np.float64)
        self.n += block.shape[0]
        self._sum += block.sum(axis=0)
        self._squares += np.square(block).sum(axis=0)

    def dbfs(self) -> list[float]:
        """RMS about each channel's mean, in dB full scale; FLOOR_DBFS before any audio."""
        if self.n == 0:
            return [FLOOR_DBFS] * len(self._sum)
        mean = self._sum / self.n
        variance = np.maximum(self._squares / self.n - mean**2, 0.0)
        return [_db(float(v)) for v in variance]


def dead_channels(levels_dbfs: list[float], channels: list[int]) -> list[int]:
    """The ``channels`` whose level is under DEAD_DBFS: they carry no sound."""
    return [c for c, level in zip(channels, levels_dbfs, strict=True) if level < DEAD_DBFS]


def rms_dbfs(samples: npt.NDArray[np.floating]) -> list[float]:
    """Level per channel of ``samples`` (frames, channels), DC removed."""
    ac = samples.astype(np.float64) - samples.mean(axis=0, dtype=np.float64)
    return [_db(float(v)) for v in np.mean(ac**2, axis=0)]


def _db(variance: float) -> float:
    return 10.0 * math.log10(max(variance, 10.0 ** (FLOOR_DBFS / 10.0)))
