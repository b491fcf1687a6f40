"""The tracked noise floors (front end per bin, turn features per mel band) from their first frame."""

from __future__ import annotations

import numpy as np
import pytest

from listener.spatial.noise import BIAS_DB, INITIAL_FRAMES, NoiseFloor
from listener.turns.features import FLOOR_BIAS_DB, FLOOR_UP_DB, INITIAL_SPREAD_DB, STARTUP_STEPS, BandFloor

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


def test_a_steady_block_takes_the_same_steps_as_the_frame_by_frame_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # past start-up (200 frames), a block with every frame heard skips the per-frame checks; a gap
    # (a frame of digital silence) sends its block through them again
    power = periodograms(600, seed=2) * np.linspace(1.0, 4.0, 600, dtype=np.float32)[:, None]
    heard = np.ones(600, bool)
    heard[450] = False
    fast = NoiseFloor(BINS, hop_s=0.01)
    slow = NoiseFloor(BINS, hop_s=0.01)
    monkeypatch.setattr(slow, "_steady", lambda heard: False)
    steady_blocks: list[int] = []
    track = fast._track

    def counted(log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        steady_blocks.append(fast._seen)
        return track(log_p)

    monkeypatch.setattr(fast, "_track", counted)
    for i in range(0, 600, 100):
        block = slice(i, i + 100)
        np.testing.assert_array_equal(fast.update(power[block], heard[block]), slow.update(power[block], heard[block]))
    assert fast._seen == slow._seen == 599
    assert steady_blocks == [200, 300, 499], "the blocks after start-up, except the one with the gap"


def test_band_floor_starts_from_its_first_steps_and_streams_alike() -> None:
    rng = np.random.default_rng(2)
    # a mel band sums many bins: its power scatters far less than one bin's (gamma, shape 10)
    level_db = (10.0 * np.log10(rng.gamma(10.0, 0.8, size=(30, 20)))).astype(np.float32)
    heard = np.ones(30, dtype=bool)
    whole = BandFloor(20).update(level_db, heard)
    streamed = BandFloor(20)
    parts = np.concatenate([streamed.update(level_db[i : i + 2], heard[i : i + 2]) for i in range(0, 30, 2)])
    np.testing.assert_allclose(parts, whole, rtol=1e-5)
    # after one step the floor plus bias is that step's level plus the bias less a band's spread
    np.testing.assert_allclose(whole[0], level_db[0] + FLOOR_BIAS_DB - INITIAL_SPREAD_DB, atol=1e-3)


def test_band_floor_starts_where_it_settles_on_steady_noise() -> None:
    """The model must not hear the first half second of every stream as a few dB above the background."""
    rng = np.random.default_rng(3)
    level_db = (10.0 * np.log10(rng.gamma(10.0, 0.8, size=(600, 20)))).astype(np.float32)
    floor = BandFloor(20).update(level_db, np.ones(600, dtype=bool))
    settled = np.median(floor[300:], axis=0)
    # per step, over the bands (each band's start scatters by a dB): the first 0.2 s, before
    # the tracker could have climbed to where it settles
    offset_db = np.median(floor[:10] - settled, axis=1)
    assert np.abs(offset_db).max() < 1.5


def test_the_floor_follows_the_room_as_fast_per_second_at_a_20_ms_hop() -> None:
    """activity.frame_ms may be 20: a fridge switching on must be absorbed in the same seconds as
    at 10 ms, not twice as slowly (until then its hum counts as signal)."""
    seconds = 6.0
    rises = []
    for hop_s in (0.01, 0.02):
        n = round(seconds / hop_s)
        quiet, loud = periodograms(n, seed=4), periodograms(n, seed=5) * np.float32(100.0)  # +20 dB
        floor = NoiseFloor(BINS, hop_s=hop_s)
        before = floor.update(quiet, np.ones(n, bool))[-1]
        after = floor.update(loud[: n // 3], np.ones(n // 3, bool))[-1]  # two seconds of the fridge
        rises.append(float(np.median(10.0 * np.log10(after / before))))
    assert rises[0] > 3.0
    assert rises[1] == pytest.approx(rises[0], abs=1.0)


def test_digital_silence_before_any_sound_leaves_the_floor_where_it_starts() -> None:
    """Frames not heard leave the floor where it was, also before the first heard frame of a stream."""
    floor = NoiseFloor(BINS, hop_s=0.01)
    start = floor.floor.copy()
    out = floor.update(np.zeros((3, BINS), np.float32), np.zeros(3, bool))
    np.testing.assert_allclose(out, np.repeat(start[None], 3, axis=0), rtol=1e-5)
    np.testing.assert_allclose(floor.floor, start, rtol=1e-5)


def test_the_starting_mean_is_of_the_first_frames_only_then_the_floor_tracks() -> None:
    """After INITIAL_FRAMES frames the floor steps (slowly up, here), instead of averaging a loud frame in."""
    power = np.full((INITIAL_FRAMES + 1, BINS), MEAN_POWER, np.float32)
    power[INITIAL_FRAMES] *= 1000.0  # a frame 30 dB up: a sixth of a running mean would lift the floor 22 dB
    out = NoiseFloor(BINS, hop_s=0.01).update(power, np.ones(INITIAL_FRAMES + 1, bool))
    np.testing.assert_allclose(out[INITIAL_FRAMES - 1], MEAN_POWER, rtol=1e-4)  # the mean, the bias restored
    rise_db = 10.0 * np.log10(out[INITIAL_FRAMES] / out[INITIAL_FRAMES - 1])
    assert np.all((rise_db > 0.0) & (rise_db < 1.0))


def test_a_bin_with_no_power_in_a_heard_frame_keeps_a_finite_floor() -> None:
    """Audio with nothing at some frequency (a band-limited source, a DC bin) is heard, and its empty bins are
    not digital silence: they sink toward the floor's guard, never to -inf or NaN that would poison the SNR."""
    power = periodograms(INITIAL_FRAMES + 20, seed=6)
    power[:, :3] = 0.0
    out = NoiseFloor(BINS, hop_s=0.01).update(power, np.ones(power.shape[0], bool))
    assert np.isfinite(out).all() and (out > 0.0).all()


def test_band_floor_rises_fast_only_for_its_first_two_seconds() -> None:
    """features.py: the floor is quick to fall and slow to rise, STARTUP_BOOST times quicker for the first
    STARTUP_STEPS steps (2 s): under a hum that starts later it rises FLOOR_UP_DB a step (3 dB/s)."""
    band = BandFloor(1)
    steady = np.zeros((STARTUP_STEPS, 1), np.float32)
    heard = np.ones(STARTUP_STEPS, bool)
    band.update(steady, heard)  # start-up spent on a steady 0 dB
    floor = band.update(steady + np.float32(20.0), heard)  # a 20 dB hum from the third second on
    np.testing.assert_allclose(np.diff(floor[:, 0]), FLOOR_UP_DB, atol=1e-4)
