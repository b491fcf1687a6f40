"""The turn model's input: per-party log-mel frames at 50 Hz from :class:`SpatialFrames`.

The front end gives, per 10 ms frame, the power spectrum and how much of
each bin came from the rep and from the customer. Masking the spectrum
with those weights is a cheap stand-in for a beam toward each party;
folding it to mel bands and pairing frames gives one 20 ms model frame.
Levels are taken against a tracked per-band noise floor of the whole
spectrum, so the features do not depend on the microphone gain.

This module *is* the feature specification: training (``models/``) runs it
over the front end's output of simulated rooms, and the device runs it
live. ``FEATURE_VERSION`` changes whenever the numbers it gives change.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from listener.events import SpatialFrames
from listener.spatial.noise import StartingMean

# 2: per-bin direction weights from the front end; 3: floors start from the mean of the first frames;
# 4: ... less INITIAL_SPREAD_DB, where they settle
FEATURE_VERSION = 4
N_MELS = 20
MEL_LOW_HZ = 100.0
MEL_HIGH_HZ = 7600.0
FRAMES_PER_STEP = 2  # 10 ms front-end frames per 20 ms model frame
N_FEATURES = 2 * N_MELS + 3  # rep mel, customer mel, rep SNR, customer SNR, total level
FEATURE_UNIT_DB = 20.0  # one unit of a feature (what the model was trained on) is this many dB
MEL_DB_RANGE = (-10.0, 40.0)
SNR_DB_RANGE = (-20.0, 40.0)
# Floor tracking per 20 ms step: quick to fall, slow to rise, settling near the 20th percentile.
FLOOR_DOWN_DB = 0.24
FLOOR_UP_DB = 0.06
FLOOR_BIAS_DB = 6.5  # the 20th percentile of a periodogram sits this far below its mean
STARTUP_STEPS = 100
STARTUP_BOOST = 8.0
INITIAL_STEPS = 3  # the floor starts as the running mean of the first steps (one step scatters by dB)
# A band sums many bins over two frames, so its level scatters far less than one bin's: its 20th
# percentile sits about 2 dB below its mean (median over the simulated rooms' noise bands), not a
# periodogram's 6.5 dB. Started from the mean less a periodogram's spread, the floor sat 4-5 dB
# under where it settles, and the first half second of every stream read as speech to the model.
INITIAL_SPREAD_DB = 2.0

Float = npt.NDArray[np.float32]


def mel_filterbank(sample_rate_hz: int, fft_size: int, n_mels: int = N_MELS) -> Float:
    """Triangular filters on the HTK mel scale, (n_bins, n_mels), each summing power."""

    def mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    edges_mel = np.linspace(mel(np.array(MEL_LOW_HZ)), mel(np.array(MEL_HIGH_HZ)), n_mels + 2)
    edges_hz = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    freqs_hz = np.fft.rfftfreq(fft_size, 1.0 / sample_rate_hz)
    fb = np.zeros((freqs_hz.size, n_mels))
    for m in range(n_mels):
        lo_hz, mid_hz, hi_hz = edges_hz[m], edges_hz[m + 1], edges_hz[m + 2]
        rise = (freqs_hz - lo_hz) / (mid_hz - lo_hz)
        fall = (hi_hz - freqs_hz) / (hi_hz - mid_hz)
        fb[:, m] = np.clip(np.minimum(rise, fall), 0.0, None)
    return fb.astype(np.float32)


class BandFloor:
    """A per-band noise floor in dB that follows a low quantile of the level."""

    level_db: Float | None
    steps: int
    _initial: StartingMean

    def __init__(self, n_bands: int) -> None:
        self.n_bands = n_bands
        self.reset()

    def reset(self) -> None:
        self.level_db, self.steps = None, 0
        self._initial = StartingMean(INITIAL_STEPS, INITIAL_SPREAD_DB)

    def update(self, level_db: Float, heard: npt.NDArray[np.bool_]) -> Float:
        """Advance over (n, bands) levels; returns the floor (dB) in force at each step.

        Steps that were not ``heard`` (audio that never arrived: exact zeros)
        leave the floor where it was, as the front end does with its own.
        """
        out = np.empty_like(level_db)
        floor_db = self.level_db
        for i in range(level_db.shape[0]):
            row_db = level_db[i]
            if not heard[i]:
                out[i] = row_db if floor_db is None else floor_db
                continue
            if floor_db is None or self._initial.active:
                floor_db = self._initial.add(10.0 ** (row_db / 10.0))
            else:
                boost = STARTUP_BOOST if self.steps < STARTUP_STEPS else 1.0
                floor_db = floor_db + np.where(row_db < floor_db, -boost * FLOOR_DOWN_DB, boost * FLOOR_UP_DB).astype(
                    np.float32
                )
            self.steps += 1
            out[i] = floor_db
        self.level_db = floor_db
        return out + np.float32(FLOOR_BIAS_DB)


class FeatureExtractor:
    """Streaming: pairs of 10 ms frames in, one feature row per 20 ms out.

    The caller hands over whole pairs (the stage buffers odd frames); the
    only state is the noise floor, which :meth:`reset` clears.
    """

    def __init__(self, sample_rate_hz: int, fft_size: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.fft_size = fft_size
        self.fb = mel_filterbank(sample_rate_hz, fft_size)
        self.floor = BandFloor(N_MELS)

    def reset(self) -> None:
        self.floor.reset()

    def __call__(
        self, power: Float, rep_weight: Float, customer_weight: Float, rep_snr_db: Float, customer_snr_db: Float
    ) -> Float:
        """Arrays of 2k frames (as in SpatialFrames) -> (k, N_FEATURES) float32."""
        n = power.shape[0] // FRAMES_PER_STEP * FRAMES_PER_STEP
        k = n // FRAMES_PER_STEP
        if k == 0:
            return np.zeros((0, N_FEATURES), dtype=np.float32)
        spectra = np.stack([power[:n], power[:n] * rep_weight[:n], power[:n] * customer_weight[:n]], axis=1)
        total, rep, cust = self._mel(spectra.reshape(k, FRAMES_PER_STEP * 3, -1))
        level_total = total.sum(axis=1)
        floor = 10.0 ** (self.floor.update(_db(total), level_total > 0) / 10.0)
        # every column in dB, then one clip to its range: few array operations per block
        ratio = np.ones((k, N_FEATURES), dtype=np.float32)
        ratio[:, :N_MELS] = rep / floor
        ratio[:, N_MELS : 2 * N_MELS] = cust / floor
        ratio[:, 2 * N_MELS + 2] = level_total / floor.sum(axis=1)
        db = _db(ratio)
        snr_db = np.stack([rep_snr_db[:n], customer_snr_db[:n]], axis=1).reshape(k, FRAMES_PER_STEP, 2)
        db[:, 2 * N_MELS : 2 * N_MELS + 2] = snr_db.sum(axis=1) / FRAMES_PER_STEP
        return (np.clip(db, _LOW_DB, _HIGH_DB) / FEATURE_UNIT_DB).astype(np.float32)

    def extract(self, frames: SpatialFrames) -> Float:
        """:meth:`__call__` on the front end's frames."""
        return self(frames.power, frames.rep_weight, frames.customer_weight, frames.rep_snr_db, frames.customer_snr_db)

    def _mel(self, spectra: npt.NDArray[np.floating]) -> tuple[Float, Float, Float]:
        """Mel power of (steps, 2 frames x [total, rep, customer], bins) -> three (steps, mels), frames summed.

        One small matrix product per step, always of the same shape: a step's
        result must not depend on how many steps came with it in the block,
        or the stream would differ with the block size (one big product
        rounds differently).
        """
        mel = np.matmul(spectra, self.fb).reshape(spectra.shape[0], FRAMES_PER_STEP, 3, -1).sum(axis=1)
        mel = mel.astype(np.float32, copy=False)
        return mel[:, 0], mel[:, 1], mel[:, 2]


def _db(x: npt.NDArray[np.floating]) -> Float:
    return (10.0 * np.log10(np.maximum(x, 1e-12))).astype(np.float32)


_LOW_DB = np.full(N_FEATURES, MEL_DB_RANGE[0], dtype=np.float32)
_HIGH_DB = np.full(N_FEATURES, MEL_DB_RANGE[1], dtype=np.float32)
_LOW_DB[2 * N_MELS : 2 * N_MELS + 2], _HIGH_DB[2 * N_MELS : 2 * N_MELS + 2] = SNR_DB_RANGE


def swap_parties(features: Float) -> Float:
    """The same frames with rep and customer exchanged (training augmentation, symmetry checks)."""
    out = features.copy()
    out[..., :N_MELS] = features[..., N_MELS : 2 * N_MELS]
    out[..., N_MELS : 2 * N_MELS] = features[..., :N_MELS]
    out[..., 2 * N_MELS] = features[..., 2 * N_MELS + 1]
    out[..., 2 * N_MELS + 1] = features[..., 2 * N_MELS]
    return out


def features_of(frames: SpatialFrames) -> Float:
    """The feature rows of ``frames`` from a fresh extractor (a whole recording at once)."""
    return FeatureExtractor(frames.sample_rate_hz, frames.fft_size).extract(frames)
