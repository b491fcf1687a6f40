"""Helpers on per-frame masks, shared by the stages, the benchmark and model training."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[start, stop)`` index pairs of the True runs of a 1-D mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def span_frames(start_s: float, end_s: float, hop_s: float, n_frames: int) -> tuple[int, int]:
    """``[first, stop)`` of the frames whose centres lie in ``[start_s, end_s)``, within ``n_frames``.

    The centre rule gives a segment round(duration / hop) frames whatever its
    phase against the frame grid, so truth and system are measured alike.
    """
    first = max(0, int(np.ceil(start_s / hop_s - 0.5 - 1e-9)))
    stop = min(n_frames, int(np.ceil(end_s / hop_s - 0.5 - 1e-9)))
    return first, max(first, stop)


# frame times are sums of hops: a value of exactly a threshold must not read as below it
THRESHOLD_TOLERANCE_S = 1e-9


def at_least(value_s: float, threshold_s: float) -> bool:
    """``value_s >= threshold_s`` for times summed from hops: exactly the threshold must not read as below it."""
    return value_s >= threshold_s - THRESHOLD_TOLERANCE_S
