"""Steering vectors for mic pairs, and direction scores from them.

Far field, sources in the array plane: for unit vector u(theta), mic i hears
the source ``r_i . u / c`` seconds before the array centre, so the ideal
cross-spectrum of pair (i, j) is ``exp(j w (r_i - r_j) . u / c)``. Scores are
the real part of the PHAT-normalised cross-spectrum against that, averaged
over pairs: 1 for a perfect match, about 0 for diffuse sound.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

SPEED_OF_SOUND_M_S = 343.0

Complex = npt.NDArray[np.complex64]
Float = npt.NDArray[np.float32]


def mic_pairs(n_mics: int) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(n_mics), 2))


def steering(
    mics_m: npt.NDArray[np.float64],
    pairs: list[tuple[int, int]],
    freqs_hz: npt.NDArray[np.float64],
    azimuths_deg: npt.NDArray[np.float64],
) -> Complex:
    """Ideal pair cross-spectra, shape (n_azimuths, n_bins, n_pairs)."""
    az = np.radians(azimuths_deg)
    units = np.stack([np.cos(az), np.sin(az), np.zeros_like(az)], axis=-1)  # (D, 3)
    baselines = np.stack([mics_m[i] - mics_m[j] for i, j in pairs])  # (P, 3)
    delays_s = units @ baselines.T / SPEED_OF_SOUND_M_S  # (D, P)
    phase = 2j * np.pi * freqs_hz[None, :, None] * delays_s[:, None, :]
    return np.exp(phase).astype(np.complex64)


def phat_cross_spectra(spec: Complex, pairs: list[tuple[int, int]]) -> Complex:
    """PHAT-normalised cross-spectra, (n_frames, n_bins, n_pairs), from spec (n_frames, n_mics, n_bins)."""
    left = spec[:, [i for i, _ in pairs], :]
    right = spec[:, [j for _, j in pairs], :]
    cross = left * np.conj(right)
    cross /= np.abs(cross) + 1e-12
    return np.transpose(cross, (0, 2, 1))


def sector_scores(cross: Complex, steer: Complex) -> Float:
    """Best match over a sector's azimuths, per bin: (n_frames, n_bins)."""
    best: Float | None = None
    for d in range(steer.shape[0]):
        score = np.real(cross * np.conj(steer[d])[None]).mean(axis=-1).astype(np.float32)
        best = score if best is None else np.maximum(best, score)
    assert best is not None
    return best


def srp_map(cross: Complex, steer: Complex, weights: Float) -> Float:
    """Weighted steered response power per frame and azimuth, (n_frames, n_azimuths)."""
    n_frames = cross.shape[0]
    c = (cross * weights[:, :, None]).reshape(n_frames, -1)
    a = steer.reshape(steer.shape[0], -1)
    return (c.real @ a.real.T + c.imag @ a.imag.T).astype(np.float32)
