"""The turn model's feature specification (``listener/turns/features.py``), on hand-made spectra."""

from __future__ import annotations

import numpy as np

from listener.turns.features import (
    MEL_HIGH_HZ,
    MEL_LOW_HZ,
    N_MELS,
    mel_filterbank,
)

RATE_HZ = 16_000
FFT_SIZE = 512


def htk_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def test_the_mel_bands_are_htk_triangles_from_100_to_7600_hz() -> None:
    """As models/README.md states the input: 20 log-mel bands over 100-7600 Hz, on the HTK mel scale."""
    fb = mel_filterbank(RATE_HZ, FFT_SIZE)
    freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / RATE_HZ)
    assert fb.shape == (freqs.size, N_MELS)
    assert not fb[(freqs <= MEL_LOW_HZ) | (freqs >= MEL_HIGH_HZ)].any()
    # band m rises from edge m to 1 at edge m + 1 and falls to 0 at edge m + 2, the edges evenly spaced in mel
    edges_mel = np.linspace(htk_mel(np.array(MEL_LOW_HZ)), htk_mel(np.array(MEL_HIGH_HZ)), N_MELS + 2)
    pos = np.interp(htk_mel(freqs), edges_mel, np.arange(N_MELS + 2))  # where each bin sits, in edges
    want = np.clip(1.0 - np.abs(pos[:, None] - np.arange(1, N_MELS + 1)[None, :]), 0.0, None)
    np.testing.assert_allclose(fb, want, atol=0.02)
