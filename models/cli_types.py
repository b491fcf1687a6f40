"""argparse types of the training and evaluation commands: checked before minutes of work, not after."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}-{high}")
        return value

    return whole


def share(text: str) -> float:
    """An argparse type: a share in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is outside 0-1")
    return value


def seeds(text: str) -> tuple[int, ...]:
    """The ensemble's members: at least two different seeds (one averaged with itself is no ensemble)."""
    try:
        found = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers separated by commas") from None
    if len(set(found)) < 2 or len(set(found)) != len(found):
        raise argparse.ArgumentTypeError(f"{text!r}: an ensemble needs two or more different seeds (or use --seed)")
    return found
