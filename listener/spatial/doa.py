"""Steering vectors for mic pairs, and direction scores from them.

Far field, sources in the array plane: for unit vector u(theta), mic i hears
the source ``r_i . u / c`` seconds before the array centre, so the ideal
cross-spectrum of pair (i, j) is ``exp(j w (r_i - r_j) . u / c)``. Scores are
the real part of the PHAT-normalised cross-spectrum against that, averaged
over pairs: 1 for a perfect match, about 0 for diffuse sound.
"""

from __future__ import annotations

import itertools
from typing import TypeVar

import numpy as np
import numpy.typing as npt

SPEED_OF_SOUND_M_S = 343.0

Complex = npt.NDArray[np.complex64]
Float = npt.NDArray[np.float32]
Summable = TypeVar("Summable", Complex, Float)


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


class SmoothedCrossSpectra:
    """PHAT-normalised pair cross-spectra, averaged over the last few frames.

    In a reverberant room a single 32 ms frame's phases are dominated by
    reflections; averaging the raw cross-spectra over ~50 ms before
    normalising lets the direct path, which stays put, outweigh them.
    """

    def __init__(self, pairs: list[tuple[int, int]], n_bins: int, frames: int) -> None:
        self.left = [i for i, _ in pairs]
        self.right = [j for _, j in pairs]
        self.frames = frames
        self._history = np.zeros((frames - 1, n_bins, len(pairs)), dtype=np.complex64)

    def reset(self) -> None:
        self._history[:] = 0.0

    def __call__(self, spec: Complex) -> Complex:
        """(n_frames, n_bins, n_pairs) from spec (n_frames, n_mics, n_bins)."""
        spec_t = spec.transpose(0, 2, 1).astype(np.complex128)  # (frames, bins, mics)
        # in double, where a product of two float32 parts is exact: numpy's complex64 product fuses
        # multiply and add in its vector loop but not in the scalar tail, so the same frame would round
        # differently with where the stream was cut into blocks
        raw = (spec_t[:, :, self.left] * np.conj(spec_t[:, :, self.right])).astype(np.complex64)
        padded = np.concatenate([self._history, raw], axis=0)
        self._history = padded[padded.shape[0] - (self.frames - 1) :]
        cross = np.ascontiguousarray(window_sum(padded, self.frames))
        # float32 throughout, one ufunc call per component: mixed complex/real ufuncs, and reductions
        # or broadcasts over a last axis of two, cost several times as much
        parts = cross.view(np.float32).reshape(*cross.shape, 2)
        real, imag = parts[..., 0], parts[..., 1]
        magnitude = np.sqrt(real * real + imag * imag) + np.float32(1e-12)
        real /= magnitude
        imag /= magnitude
        return cross


def window_sum(padded: Summable, n_frames: int) -> Summable:
    """Sums over ``n_frames`` consecutive rows: (n + n_frames - 1, ...) -> (n, ...).

    Each sum is added up in the same order whatever ``n``: a running sum
    (cumsum, then differences) would carry the rounding of everything
    earlier in the block, so a quiet frame after loud speech would differ
    with where the stream was cut into blocks, and its exact zeros would not
    stay zero. Sums of 1, 2, 4, ... rows, doubled each time, keep it to a
    handful of array operations.
    """
    n = padded.shape[0] - (n_frames - 1)
    runs, width, start = padded, 1, 0  # runs[i]: the sum of rows i .. i + width - 1
    total: Summable | None = None
    remaining = n_frames
    while True:
        if remaining & 1:
            part = runs[start : start + n]
            total = part.copy() if total is None else total + part
            start += width
        remaining >>= 1
        if not remaining:
            assert total is not None  # n_frames >= 1
            return total
        runs = runs[:-width] + runs[width:]
        width *= 2


class DirectionScorer:
    """Scores many directions per bin with one batched matrix product.

    Mixed-dtype or strided elementwise numpy is slow on small arrays; a
    contiguous complex matmul is not. Each frame and bin is its own (1 x
    pairs) product: one product over many frames rounds a frame's scores
    by its place among them, so they would change with the block size.
    """

    def __init__(self, steer: Complex) -> None:
        self.n_directions, _, self.n_pairs = steer.shape
        # (bins, pairs, directions), conjugated once
        self._conj = np.ascontiguousarray(np.conj(steer).transpose(1, 2, 0))

    def best_difference(self, cross: Complex, split: int) -> Float:
        """Best mean match over pairs among the first ``split`` directions less the best among the rest.

        (n_frames, n_bins) from cross (n_frames, n_bins, n_pairs). The maxima
        are taken one direction at a time: numpy's reductions over a short last
        axis cost ten times as much. Dividing by the pair count after the
        maximum gives the same float32 values as before it (rounding keeps order).
        """
        per_bin = np.matmul(cross[:, :, None, :], self._conj).real[:, :, 0]  # (frames, bins, dirs)
        pairs = np.float32(self.n_pairs)
        first = _maximum(per_bin, range(split)) / pairs
        rest = _maximum(per_bin, range(split, self.n_directions)) / pairs
        return first - rest


def _maximum(values: Float, directions: range) -> Float:
    """Elementwise maximum of ``values[..., d]`` over ``directions``."""
    best = values[..., directions[0]].copy()
    for d in directions[1:]:
        np.maximum(best, values[..., d], out=best)
    return best


class SrpMap:
    """Steered response power over an azimuth grid, weighted per bin."""

    def __init__(self, steer: Complex, bin_stride: int) -> None:
        self.stride = bin_stride
        self._conj = np.ascontiguousarray(np.conj(steer.reshape(steer.shape[0], -1)).T)  # (bins*pairs, dirs)

    def __call__(self, cross: Complex, weights: Float) -> Float:
        c = np.ascontiguousarray(cross[:, :: self.stride])
        # each bin's weight repeated over its pairs' real and imaginary parts: one flat product, where
        # broadcasting over the short trailing axes costs twice as much
        parts = c.view(np.float32).reshape(c.shape[0], -1)
        parts *= np.repeat(weights[:, :: self.stride], 2 * c.shape[2], axis=1)
        # one (1 x bins*pairs) product per frame, as in DirectionScorer: the same map whatever the block
        return (c.reshape(c.shape[0], 1, -1) @ self._conj).real[:, 0].astype(np.float32)
