"""Sanity of the microphone coordinates, and what the resolved geometry can tell apart.

Azimuths are measured in the array's x-y plane, so only the mics' x-y
positions decide which directions the array can separate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from listener.config.schema import (
    LINE_SLOP_M,
    MAX_CHANNELS,
    MAX_COORD_M,
    MIN_PARTIES_APART_DEG,
    MIN_SPACING_M,
    Mic,
    PartiesConfig,
)
from listener.errors import ConfigError

# A line array hears only the delay between its ends: the cosine of the angle to its axis, resolved
# evenly. A difference of 0.5 (a quarter of the cosine's range) is 30 deg broadside (90 vs 60 deg),
# half the 60 deg asked of any array where a line resolves best, and 60 deg off the axis (0 vs 60 deg).
MIN_AXIS_COS_APART = 0.5
# A value exactly at a bound is allowed, as docs/config.md says ("at least"): its decimals computed come out a
# hair under it (cos 60 deg is 0.5000000000000001; 70.2 and 130.2 deg lie 59.99999999999999 apart)
AT_BOUND = 1e-9
# ... and tells them apart *well* only near its two ends. The 2-mic HAT, a rep within ±15 deg of 0
# and customers within ±25 deg of 180 / 150 / 120 deg: attribution 0.96 / 0.90 / 0.63 on the
# held-out conversations (bench.presets). 1.9 is the gap in cosine to the line of two directions
# about 25 deg off its two ends; listener doctor and calibrate warn below it.
LINE_ENDS_COS_APART = 1.9


def check_coordinates(mics: tuple[Mic, ...]) -> None:
    """Each configured coordinate in metres and within reach; no two mics on the same spot."""
    if len(mics) > MAX_CHANNELS:
        # one mic per captured channel, and capture takes at most array.channels' maximum
        raise ConfigError(
            "array.mics",
            [list(m) for m in mics],
            f"has {len(mics)} mics; at most {MAX_CHANNELS}, one per captured channel",
        )
    for i, mic in enumerate(mics):
        for j, value in enumerate(mic):
            if abs(value) > MAX_COORD_M:
                raise ConfigError(f"array.mics[{i}][{j}]", value, _unit_hint(value))
    points = np.asarray(mics, dtype=np.float64).reshape(-1, 3)
    for i in range(1, len(points)):
        gaps_m = np.linalg.norm(points[:i] - points[i], axis=1)
        k = int(np.argmin(gaps_m))
        if gaps_m[k] < MIN_SPACING_M - AT_BOUND:
            raise ConfigError(
                f"array.mics[{i}]",
                list(mics[i]),
                f"is {gaps_m[k] * 1000:.2g} mm from array.mics[{k}] {list(mics[k])}; "
                "mics must be at least 1 mm apart (coordinates are metres)",
            )


def _unit_hint(value: float) -> str:
    """The rule checked (each coordinate on its own, not a distance from the origin), and the unit the value
    was likely written in: only where that is plausible, as 1.2 is no centimetres of a mic's offset."""
    rule = f"each coordinate between {-MAX_COORD_M:g} and {MAX_COORD_M:g} (metres)"
    size = abs(value)
    if 10.0 <= size <= 1000.0:
        return f"{rule}; {value:g} looks like millimetres ({value / 1000:g} m)"
    if size >= 2.0:
        return f"{rule}; {value:g} looks like centimetres ({value / 100:g} m)"
    return rule


def check_aperture(mics_m: npt.NDArray[np.float64]) -> None:
    """Directions need mics spread out in the x-y plane, not only along z."""
    xy = mics_m[:, :2]
    spread = float(np.max(np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)))
    if spread < MIN_SPACING_M - AT_BOUND:
        raise ConfigError(
            "array.mics",
            mics_m.tolist(),
            "all mics are at one x-y point; azimuths are measured in the x-y plane, so spread the mics "
            "along x and/or y (z is height), or use channel-map mode",
        )


def line_axis_deg(mics_m: npt.NDArray[np.float64]) -> float | None:
    """Direction of the line the mics lie on (all within LINE_SLOP_M of it) in the x-y plane (0 to 180 deg), or None
    if they span an area."""
    xy = mics_m[:, :2] - mics_m[:, :2].mean(axis=0)
    _, _, axes = np.linalg.svd(xy, full_matrices=True)
    off_line = np.abs(xy @ axes[1])
    if float(off_line.max()) >= LINE_SLOP_M:
        return None
    return round(math.degrees(math.atan2(axes[0][1], axes[0][0])) % 180.0, 1) % 180.0


@overload
def angle_apart_deg(a_deg: float, b_deg: float) -> float: ...
@overload
def angle_apart_deg(a_deg: npt.NDArray[np.float64], b_deg: float) -> npt.NDArray[np.float64]: ...
def angle_apart_deg(a_deg: float | npt.NDArray[np.float64], b_deg: float) -> float | npt.NDArray[np.float64]:
    """The angle between two azimuths, 0-180 deg whichever way round the circle is shorter."""
    wrapped = (a_deg - b_deg + 180.0) % 360.0 - 180.0
    return np.abs(wrapped) if isinstance(wrapped, np.ndarray) else abs(wrapped)


def check_separation(parties: PartiesConfig) -> None:
    """The parties far enough apart for their sectors not to overlap."""
    apart = angle_apart_deg(parties.rep_azimuth_deg, parties.customer_azimuth_deg)
    if apart < MIN_PARTIES_APART_DEG - AT_BOUND:
        raise ConfigError(
            "parties.customer_azimuth_deg",
            parties.customer_azimuth_deg,
            f"must be at least {MIN_PARTIES_APART_DEG:g} deg from parties.rep_azimuth_deg "
            f"({parties.rep_azimuth_deg}); parties this close cannot be told apart by direction",
        )


def check_directions(mics_m: npt.NDArray[np.float64], parties: PartiesConfig, array_name: str) -> None:
    """The party directions the array can tell apart: far enough apart, and not mirror images on a line."""
    check_separation(parties)
    check_mirror(mics_m, parties, array_name)


@dataclass(frozen=True, slots=True)
class LineView:
    """The line's direction and the cosines of the rep's and the customer's angles to it."""

    axis_deg: float
    rep_cos: float
    customer_cos: float

    @property
    def cos_apart(self) -> float:
        return abs(self.rep_cos - self.customer_cos)

    @property
    def ends_deg(self) -> tuple[float, float]:
        """The azimuths of the line's two ends, the rep's (the end nearer the rep) first."""
        return (self.axis_deg, self.axis_deg + 180.0) if self.rep_cos >= 0.0 else (self.axis_deg + 180.0, self.axis_deg)


def line_cosines(mics_m: npt.NDArray[np.float64], rep_deg: float, customer_deg: float) -> LineView | None:
    """How a line of mics sees the two directions (None when the mics span an area)."""
    axis = line_axis_deg(mics_m)
    if axis is None:
        return None
    rep_cos, customer_cos = (math.cos(math.radians(a - axis)) for a in (rep_deg, customer_deg))
    return LineView(axis, rep_cos, customer_cos)


def check_mirror(mics_m: npt.NDArray[np.float64], parties: PartiesConfig, array_name: str) -> None:
    """A line array confuses a direction with its mirror image across the line: the parties must not be."""
    rep, customer = parties.rep_azimuth_deg, parties.customer_azimuth_deg
    line = line_cosines(mics_m, rep, customer)
    if line is None or line.cos_apart >= MIN_AXIS_COS_APART - AT_BOUND:
        return
    axis, rep_cos, customer_cos, ends = line.axis_deg, line.rep_cos, line.customer_cos, line.ends_deg
    raise ConfigError(
        "parties.customer_azimuth_deg",
        customer,
        f"the mics of {array_name} lie on one line (along {axis:g} deg, all within {LINE_SLOP_M * 1000:g} mm of it), "
        "which hears only the angle to it, so "
        f"this direction and parties.rep_azimuth_deg ({rep}) are (nearly) mirror images across it (cosines of "
        f"their angles to the line {customer_cos:.2f} and {rep_cos:.2f}; they must differ by at least "
        f"{MIN_AXIS_COS_APART}): put the parties on either end of the line, e.g. rep_azimuth_deg = {ends[0]:g} "
        f"and customer_azimuth_deg = {ends[1]:g}",
    )
