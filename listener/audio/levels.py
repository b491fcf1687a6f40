"""Per-channel levels with the DC removed, and the rules for a channel that carries no sound and for
two channels that carry one signal.

``listener doctor`` measures a few seconds at install time; the running service's channel watch
measures its first seconds after each start of capture. Both apply the same rules, and say a party's
mic in channel-map mode in the same words, so the journal and doctor never disagree about the same mic.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from listener.config import ArrayGeometry

# Below this a channel carries no sound: digital silence, or a stuck level (a constant offset is
# removed first). A live mic in the quietest room sits near -70 dBFS, its own noise.
DEAD_DBFS = -90.0
FLOOR_DBFS = -200.0  # what an exact zero is shown as
# Two channels whose difference stays this far under the quieter one carry one signal, copied (an ALSA
# plug fanning a smaller card out, a mono mic on a stereo input). Two real mics never come near: each
# has its own noise, and a few centimetres of path make their difference tens of dB, not 60, down.
TWIN_DB = 60.0
# ... or whose difference is under TWIN_FLOOR_DBFS and TWIN_FLOOR_DB under the quieter one: PortAudio dithers a
# 24- or 32-bit card's samples to the 16 bits the listener captures, separately per channel, so two copies
# differ by the dither, about -95 dBFS (a reviewer's 24-bit card: -95.3), and a quiet copied mic (-53 dBFS)
# passed the 60 dB rule. Two real mics stay above that: each has its own noise, and a few centimetres make
# even a low rumble differ (80-120 Hz across 4.6 cm: about 20 dB down). A low-noise pair (-100 dBFS each)
# hearing only a -75 to -80 dBFS rumble differs by about -93.5 dBFS, but only 14-19 dB under it, hence the
# second bound. Copies are caught from about -66 dBFS up, a mic in a quiet shop included.
TWIN_FLOOR_DBFS = -91.0
TWIN_FLOOR_DB = 25.0


class LevelMeter:
    """Running per-channel (and per-pair) sums, so a long look keeps a few numbers per channel, not the audio."""

    def __init__(self, n_channels: int, pairs: bool = True) -> None:
        """``pairs``: keep the per-pair sums :meth:`twins` needs (a live look past its first judgement does not)."""
        self.n_samples = 0
        self._sum = np.zeros(n_channels, dtype=np.float64)
        self._squares = np.zeros(n_channels, dtype=np.float64)
        # every pair i < j, in row order
        self._firsts, self._seconds = np.triu_indices(n_channels if pairs else 0, k=1)
        self._pairs = [(int(i), int(j)) for i, j in zip(self._firsts, self._seconds, strict=True)]
        self._pair_squares = np.zeros(len(self._pairs), dtype=np.float64)  # of each pair's difference

    def add(self, samples: npt.NDArray[np.floating]) -> None:
        block = samples.astype(np.float64)
        self.n_samples += block.shape[0]
        self._sum += block.sum(axis=0)
        self._squares += np.square(block).sum(axis=0)
        if self._pairs:
            self._pair_squares += np.square(block[:, self._firsts] - block[:, self._seconds]).sum(axis=0)

    def dbfs(self) -> list[float]:
        """RMS about each channel's mean, in dB full scale; FLOOR_DBFS before any audio."""
        if self.n_samples == 0:
            return [FLOOR_DBFS] * len(self._sum)
        mean = self._sum / self.n_samples
        variance = np.maximum(self._squares / self.n_samples - mean**2, 0.0)
        return [_db(float(v)) for v in variance]

    def twins(self, channels: list[int]) -> list[tuple[int, int]]:
        """Pairs of ``channels`` (neither dead) that carry one signal, by TWIN_DB and TWIN_FLOOR_DBFS; none before
        any audio."""
        if self.n_samples == 0:
            return []
        levels_dbfs, mean = self.dbfs(), self._sum / self.n_samples
        found = []
        for k, (i, j) in enumerate(self._pairs):
            variance = max(float(self._pair_squares[k] / self.n_samples - (mean[i] - mean[j]) ** 2), 0.0)
            quieter_dbfs = min(levels_dbfs[i], levels_dbfs[j])
            if quieter_dbfs >= DEAD_DBFS and _db(variance) < max(
                quieter_dbfs - TWIN_DB, min(TWIN_FLOOR_DBFS, quieter_dbfs - TWIN_FLOOR_DB)
            ):
                found.append((channels[i], channels[j]))
        return found


def twin_channels(samples: npt.NDArray[np.floating], channels: list[int]) -> list[tuple[int, int]]:
    """:meth:`LevelMeter.twins` of ``samples`` (frames, channels) read at once, as doctor reads them."""
    meter = LevelMeter(samples.shape[1])
    meter.add(samples)
    return meter.twins(channels)


def describe_twins(twins: list[tuple[int, int]]) -> str:
    """``channels 0 and 1`` / ``channel pairs 0 and 1, 2 and 3``: for messages."""
    listed = ", ".join(f"{a} and {b}" for a, b in twins)
    return f"channel pairs {listed}" if len(twins) > 1 else f"channels {listed}"


def dead_channels(levels_dbfs: list[float], channels: list[int]) -> list[int]:
    """The ``channels`` whose level is under DEAD_DBFS: they carry no sound."""
    return [c for c, level_dbfs in zip(channels, levels_dbfs, strict=True) if level_dbfs < DEAD_DBFS]


def rms_dbfs(samples: npt.NDArray[np.floating]) -> list[float]:
    """Level per channel of ``samples`` (frames, channels), DC removed."""
    ac = samples.astype(np.float64) - samples.mean(axis=0, dtype=np.float64)
    return [_db(float(v)) for v in np.mean(ac**2, axis=0)]


def _db(variance: float) -> float:
    return 10.0 * math.log10(max(variance, 10.0 ** (FLOOR_DBFS / 10.0)))


def parties_of(geo: ArrayGeometry, channel: int) -> tuple[str, str]:
    """Channel-map mode: the party whose mic ``channel`` is, and the other one (``("customer", "rep")``)."""
    return ("rep", "customer") if channel == geo.rep_channel else ("customer", "rep")


def dead_party(geo: ArrayGeometry, channel: int, where: str = "") -> str:
    """Channel-map mode: a party's dead mic, as the watch and doctor say it."""
    party, other = parties_of(geo, channel)
    return (
        f"the {party}'s mic (channel {channel}){where} carries no sound (under {DEAD_DBFS:.0f} dBFS) while the "
        f"{other}'s hears it"
    )


def dead_party_fix(geo: ArrayGeometry, channel: int) -> str:
    return (
        f"check its cable, plug and mute (`alsamixer -c <card>`), and [parties] {party_key(geo, channel)} against "
        "`arecord -l`"
    )


def party_key(geo: ArrayGeometry, channel: int) -> str:
    """The [parties] setting that names ``channel``."""
    return "rep_channel" if channel == geo.rep_channel else "customer_channel"


def histogram_quantiles(
    counts: npt.NDArray[np.int64], centres: npt.NDArray[np.floating], shares: tuple[float, ...]
) -> npt.NDArray[np.float64]:
    """The bin centres at which a histogram's running count first reaches each share of its total."""
    cumulative = np.cumsum(counts)
    ranks = np.asarray(shares, dtype=np.float64) * cumulative[-1]
    return np.asarray(centres[np.searchsorted(cumulative, ranks, side="left")], dtype=np.float64)
