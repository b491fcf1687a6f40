"""Where calibrate compares directions: the circle of an area array, or a line array's 0..180 deg from its
axis (a line hears only the angle to it), with the clusters of votes found there and the azimuths they are stored as."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from listener.config import Config, geometry
from listener.config.array_checks import AT_BOUND, MIN_AXIS_COS_APART, angle_apart_deg, check_directions, line_axis_deg
from listener.config.schema import MIN_PARTIES_APART_DEG, PartiesConfig
from listener.errors import ConfigError

BIN_DEG = 10.0  # the front end's direction grid

Float = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Space:
    """Where votes are compared: the circle, or a line array's 0..180 deg from its axis."""

    mics_m: Float
    axis_deg: float | None

    @classmethod
    def of(cls, config: Config) -> Space:
        mics = geometry(config).mics_m
        return cls(mics, line_axis_deg(mics))

    @property
    def grid(self) -> Float:
        top = 360.0 if self.axis_deg is None else 180.0 + BIN_DEG
        return np.arange(0.0, top, BIN_DEG)

    def coordinate(self, azimuth_deg: Float) -> Float:
        if self.axis_deg is None:
            return np.asarray(azimuth_deg % 360.0, dtype=np.float64)
        return angle_apart_deg(azimuth_deg, self.axis_deg)

    def apart(self, a_deg: Float | float, b_deg: Float | float) -> Float:
        diff = np.abs(np.asarray(a_deg, dtype=np.float64) - b_deg)
        return diff if self.axis_deg is not None else angle_apart_deg(diff, 0.0)

    def separable(self, a_deg: float, b_deg: float) -> bool:
        if self.axis_deg is None:
            return float(self.apart(a_deg, b_deg)) >= MIN_PARTIES_APART_DEG - AT_BOUND
        return abs(math.cos(math.radians(a_deg)) - math.cos(math.radians(b_deg))) >= MIN_AXIS_COS_APART - AT_BOUND

    def histogram(self, votes_deg: Float, weight: Float) -> Float:
        n = self.grid.size
        index = np.round(votes_deg / BIN_DEG).astype(int) % n
        hist = np.bincount(index, weights=weight, minlength=n).astype(np.float64)
        # A talker between two grid directions splits its votes; pooling neighbours finds it.
        padded = np.concatenate([hist[-1:], hist, hist[:1]]) if self.axis_deg is None else np.pad(hist, 1)
        return 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]

    def mean(self, votes_deg: Float, weight: Float) -> float:
        if self.axis_deg is not None:
            return float(np.average(votes_deg, weights=weight))
        rad = np.radians(votes_deg)
        return float(np.degrees(np.arctan2((weight * np.sin(rad)).sum(), (weight * np.cos(rad)).sum())) % 360.0)

    def heard(self, coordinate_deg: float) -> float | None:
        """A line array's coordinate, the angle to its axis, as measured (None on an area array)."""
        return None if self.axis_deg is None else round(coordinate_deg, 1)

    def describe(self, coordinate_deg: float) -> str:
        """A coordinate as a talker's place in a message."""
        if self.axis_deg is None:
            return f"at {normal(coordinate_deg):g} deg"
        return f"at {coordinate_deg:.0f} deg to the mic line"

    def acceptable(self, rep_deg: float, customer_deg: float) -> bool:
        """What the config loader accepts: the parties far enough apart, and on a line not mirror images."""
        parties = PartiesConfig(rep_azimuth_deg=rep_deg, customer_azimuth_deg=customer_deg)
        try:
            check_directions(self.mics_m, parties, "the array")
        except ConfigError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Cluster:
    centre_deg: float  # in the space's coordinate
    weight: float
    peak_deg: float  # its votes are those within CLUSTER_HALF_DEG of this (the centre is their mean)
    # far quieter than the first, kept only because it answered the rep at length: the customer, never the rep
    answered: bool = False


def normal(azimuth_deg: float) -> float:
    """Rounded as it will be printed and stored, in [0, 360): never "360.0"."""
    return round(azimuth_deg, 1) % 360.0  # Python's % gives 0.0 for both -0.0 and 360.0


def azimuths(space: Space, rep_deg: float, customer_deg: float) -> tuple[float, float] | None:
    """The azimuths at these coordinates that the config accepts (None if it would refuse them).

    On a line array, the line's two ends: the rep at the one they are nearer than the customer is.
    """
    if space.axis_deg is None:
        pair = (normal(rep_deg), normal(customer_deg))
        return pair if space.acceptable(*pair) else None
    return line_ends(space.axis_deg, math.cos(math.radians(rep_deg)) - math.cos(math.radians(customer_deg)))


def line_ends(axis_deg: float, rep_towards: float) -> tuple[float, float]:
    """(rep, customer) at the line's two ends, the rep at the axis end when ``rep_towards`` >= 0, else the other.

    A line hears the cosine of the angle to it. Height and echoes pull it towards 0 (a rep at 4 deg read
    72 deg), so the angle itself is no place to store; its sign, which end is nearer, survives them.
    """
    ends = (normal(axis_deg), normal(axis_deg + 180.0))
    return ends if rep_towards >= 0.0 else (ends[1], ends[0])
