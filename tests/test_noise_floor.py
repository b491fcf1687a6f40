"""The tracked noise floors (front end per bin, turn features per mel band) from their first frame."""

from __future__ import annotations

import numpy as np

from listener.spatial.noise import BIAS_DB, NoiseFloor
from listener.turns.features import FLOOR_BIAS_DB, BandFloor

BINS = 257
MEAN_POWER = 1e-4  # steady background, linear power per bin


def periodograms(frames: int, seed: int = 0) -> np.ndarray:
    """Steady noise as an FFT sees it: each bin's power is exponentially distributed about its mean."""
    rng = np.random.default_rng(seed)
    return rng.exponential(MEAN_POWER, size=(frames, BINS)).astype(np.float32)


def within_db(floor: np.ndarray, db: float) -> float:
    """Fraction of bins whose floor is within ``db`` of the background's mean."""
    return float(np.mean(np.abs(10.0 * np.log10(floor / MEAN_POWER)) <= db))


def test_the_floor_starts_near_the_background_not_at_one_scattered_frame() -> None:
    # One periodogram frame scatters each bin's power by many dB (exponentially); a floor started
    # there leaves bins far below the background, and every later frame of them looks like signal
    # until the floor creeps back up. The running mean of the first frames does not.
    first = periodograms(1)[0]
    assert within_db(first * 10 ** (BIAS_DB / 10), 4.0) < 0.5
    floor = NoiseFloor(BINS, hop_s=0.01).update(periodograms(10), np.ones(10, bool))
    assert within_db(floor[4], 4.0) > 0.9
    assert within_db(floor[9], 4.0) > 0.9


def test_the_floor_does_not_depend_on_how_frames_are_blocked() -> None:
    power = periodograms(40, seed=1)
    whole = NoiseFloor(BINS, hop_s=0.01).update(power, np.ones(40, bool))
    streamed = NoiseFloor(BINS, hop_s=0.01)
    parts = [streamed.update(power[i : i + 3], np.ones(len(power[i : i + 3]), bool)) for i in range(0, 40, 3)]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-5)


def test_band_floor_starts_from_its_first_steps_and_streams_alike() -> None:
    rng = np.random.default_rng(2)
    # a mel band sums many bins: its power scatters far less than one bin's (gamma, shape 10)
    level_db = (10.0 * np.log10(rng.gamma(10.0, 0.8, size=(30, 20)))).astype(np.float32)
    heard = np.ones(30, dtype=bool)
    whole = BandFloor(20).update(level_db, heard)
    streamed = BandFloor(20)
    parts = np.concatenate([streamed.update(level_db[i : i + 2], heard[i : i + 2]) for i in range(0, 30, 2)])
    np.testing.assert_allclose(parts, whole, rtol=1e-5)
    # after three steps the floor plus its bias (the background's mean) is near 10 log10(8) dB,
    # where the first step alone is not
    assert np.mean(np.abs(whole[2] - 10.0 * np.log10(8.0)) <= 1.5) > 0.85
    assert np.mean(np.abs(level_db[0] - 10.0 * np.log10(8.0)) <= 1.5) < 0.8
    # after one step the floor plus bias is that step's level (not FLOOR_BIAS_DB above it)
    np.testing.assert_allclose(whole[0], level_db[0], atol=1e-3)
    assert FLOOR_BIAS_DB > 1.0
