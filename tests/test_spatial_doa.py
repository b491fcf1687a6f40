"""Steering vectors (``listener/spatial/doa.py``) against the physics its docstring states, not its own constants."""

from __future__ import annotations

import numpy as np

from listener.spatial.doa import mic_pairs, steering

SOUND_M_S = 343.0  # in air at 20 degrees C


def test_a_pairs_ideal_cross_spectrum_turns_by_its_arrival_time_difference() -> None:
    """Two mics 10 cm apart on the x axis: a source straight along it (0 deg) reaches mic 0 0.1 m / c earlier,
    so at f the pair's ideal cross-spectrum is exp(j 2 pi f 0.1 / c); a source at 90 deg reaches both at once."""
    mics = np.array([[0.05, 0.0, 0.0], [-0.05, 0.0, 0.0]])
    freqs = np.array([500.0, 1000.0, 3000.0])
    steer = steering(mics, mic_pairs(2), freqs, np.array([0.0, 90.0]))
    assert steer.shape == (2, 3, 1)
    np.testing.assert_allclose(steer[0, :, 0], np.exp(2j * np.pi * freqs * 0.1 / SOUND_M_S), atol=1e-5)
    np.testing.assert_allclose(steer[1, :, 0], 1.0, atol=1e-5)
