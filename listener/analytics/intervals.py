"""Time on sets of intervals (seconds): how long a set covers, and how long two cover together.

The session summary measures talk, overlap, unheard time, floors and dominance with these; the
analysis report its overlap.
"""

from __future__ import annotations

Interval = tuple[float, float]


def union(intervals: list[Interval]) -> list[Interval]:
    """The time ``intervals`` cover, as disjoint intervals in time order (touching ones merged)."""
    merged: list[list[float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def total_length(intervals: list[Interval]) -> float:
    """Seconds in ``intervals``, which must be disjoint (a union) for this to be the time they cover."""
    return sum(b - a for a, b in intervals)


def overlap_length(xs: list[Interval], ys: list[Interval]) -> float:
    """Total time both sorted interval lists cover."""
    total, j = 0.0, 0
    for a, b in xs:
        while j < len(ys) and ys[j][1] <= a:
            j += 1
        k = j
        while k < len(ys) and ys[k][0] < b:
            total += max(0.0, min(b, ys[k][1]) - max(a, ys[k][0]))
            k += 1
    return total
