"""Helpers on per-frame masks, shared by the stages, the benchmark and model training."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[start, stop)`` index pairs of the True runs of a 1-D mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))
