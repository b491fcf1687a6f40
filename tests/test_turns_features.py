"""The turn model's feature specification (``listener/turns/features.py``), on hand-made spectra."""

from __future__ import annotations

import numpy as np

from listener.turns.features import (
    FEATURE_VERSION,
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


# Per step of golden_frames(): mean rep mel band, mean customer mel band, rep SNR, customer SNR, total level,
# in feature units, as FEATURE_VERSION 4 computes them
VERSION_4 = [
    [-0.3937, -0.3402, -1.0, 2.0, -0.225],
    [-0.3874, -0.3449, -0.8696, 1.8696, -0.2247],
    [-0.3945, -0.35, -0.5652, 1.5652, -0.2351],
    [-0.3959, -0.363, -0.2609, 1.2609, -0.2509],
    [-0.4087, -0.3805, 0.0435, 0.9565, -0.2804],
    [-0.4048, -0.3844, 0.3478, 0.6522, -0.2851],
    [0.1786, -0.033, 0.6522, 0.3478, 0.6151],
    [0.1658, -0.0429, 0.9565, 0.0435, 0.5905],
    [0.1709, -0.0268, 1.2609, -0.2609, 0.6453],
    [0.1426, -0.0531, 1.5652, -0.5652, 0.6097],
    [0.1217, -0.0868, 1.8696, -0.8696, 0.5684],
    [0.1139, -0.1059, 2.0, -1.0, 0.5529],
]


def golden_frames() -> tuple[np.ndarray, ...]:
    """Quiet room noise for six steps, then a rep's voice over 300-1900 Hz; levels sweeping past both clips."""
    rng = np.random.default_rng(43)
    power = rng.gamma(2.0, 1e-6, size=(24, FFT_SIZE // 2 + 1)).astype(np.float32)
    power[12:, 10:60] *= 300.0
    rep_w = np.full(power.shape, 0.002, np.float32)
    rep_w[:, 10:60] = 0.95
    rep_snr = np.linspace(-25.0, 45.0, 24).astype(np.float32)
    return power, rep_w, (1.0 - rep_w).astype(np.float32), rep_snr, rep_snr[::-1].copy()


def test_the_numbers_are_those_of_the_feature_version_the_shipped_model_was_trained_on() -> None:
    """features.py: FEATURE_VERSION changes whenever the numbers it gives change (a sidecar names the version its
    model was trained on). A change here needs a new FEATURE_VERSION, a retrained model and a new table."""
    features = FeatureExtractor(RATE_HZ, FFT_SIZE)(*golden_frames())
    rep, cust = features[:, :N_MELS].mean(axis=1), features[:, N_MELS : 2 * N_MELS].mean(axis=1)
    got = np.stack([rep, cust, *features[:, 2 * N_MELS :].T], axis=1)
    assert FEATURE_VERSION == 4
    np.testing.assert_allclose(got, VERSION_4, atol=1e-3)
