"""The turn model's feature specification (``listener/turns/features.py``), on hand-made spectra."""

from __future__ import annotations

import numpy as np

from listener.turns.features import (
    MEL_HIGH_HZ,
    MEL_LOW_HZ,
    N_FEATURES,
    N_MELS,
    FeatureExtractor,
    mel_filterbank,
    swap_parties,
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


def random_frames(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    power = rng.gamma(2.0, 1e-4, size=(n, FFT_SIZE // 2 + 1)).astype(np.float32)
    rep_w = rng.uniform(0.0, 1.0, size=power.shape).astype(np.float32)
    cust_w = rng.uniform(0.0, 1.0, size=power.shape).astype(np.float32)
    rep_snr, cust_snr = rng.uniform(-10.0, 30.0, size=(2, n)).astype(np.float32)
    return power, rep_w, cust_w, rep_snr, cust_snr


def test_swapping_the_parties_is_the_features_of_the_frames_with_rep_and_customer_exchanged() -> None:
    """swap_parties is training's mirror augmentation: its rows must be what the device would compute."""
    power, rep_w, cust_w, rep_snr, cust_snr = random_frames(40, seed=4)
    features = FeatureExtractor(RATE_HZ, FFT_SIZE)(power, rep_w, cust_w, rep_snr, cust_snr)
    exchanged = FeatureExtractor(RATE_HZ, FFT_SIZE)(power, cust_w, rep_w, cust_snr, rep_snr)
    assert features.shape == (20, N_FEATURES) and not np.array_equal(features, exchanged)
    np.testing.assert_array_equal(swap_parties(features), exchanged)
    np.testing.assert_array_equal(swap_parties(exchanged), features)


def test_a_lone_frame_is_no_model_step_and_leaves_the_floor_alone() -> None:
    """Rows come per pair of 10 ms frames; the stage holds an odd one back for the next block."""
    extractor = FeatureExtractor(RATE_HZ, FFT_SIZE)
    assert extractor(*random_frames(1, seed=5)).shape == (0, N_FEATURES)
    assert extractor.floor.steps == 0 and extractor.floor.level_db is None
    assert extractor(*random_frames(3, seed=5)).shape == (1, N_FEATURES)
