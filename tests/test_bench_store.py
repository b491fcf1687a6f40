"""The store-sounds bench's pure helpers (bench.store_audio, and the angles bench.store_diagnose uses)."""

from __future__ import annotations

import numpy as np

from bench.room import Room
from bench.store_audio import at_level, ceiling_speakers, level_dbfs, looped
from listener.config.array_checks import angle_apart_deg


def test_a_programme_loops_round_to_the_recordings_start() -> None:
    x = np.arange(5.0)
    assert looped(x, 7, 3).tolist() == [3.0, 4.0, 0.0, 1.0, 2.0, 3.0, 4.0]


def test_a_level_is_set_over_the_masked_samples_only() -> None:
    x = np.zeros((4, 100))
    x[:, :50] = 0.5
    mask = np.zeros(100, dtype=bool)
    mask[:50] = True
    y = at_level(x, -30.0, mask)
    assert abs(level_dbfs(y, mask) - -30.0) < 1e-9
    assert np.all(y[:, 50:] == 0.0)


def test_angles_wrap_round_the_circle() -> None:  # the store diagnosis's sectors and loudspeakers
    got = angle_apart_deg(np.array([350.0, 10.0, 180.0, -170.0]), 0.0)
    assert np.allclose(got, [10.0, 10.0, 180.0, 170.0])


def test_loudspeakers_hang_under_the_ceiling_inside_the_room() -> None:
    room = Room(size_m=(4.0, 3.0, 2.8), rt60_s=0.4, array_center_m=(2.0, 1.5, 1.0))
    for p in ceiling_speakers(room, np.random.default_rng(1), 20):
        x, y, z = p.position_m(room)
        assert abs(z - 2.6) < 1e-9 and 0.0 < x < 4.0 and 0.0 < y < 3.0
        assert p.distance_m <= 4.0
    wide = Room(size_m=(12.0, 12.0, 2.8), rt60_s=0.4, array_center_m=(6.0, 6.0, 1.0))  # no wall within 4 m
    assert all(1.5 <= p.distance_m <= 4.0 for p in ceiling_speakers(wide, np.random.default_rng(2), 50))
