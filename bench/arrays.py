"""The counters the benchmark can render: the listener's own array presets, recorded as the board
does, and the side of the counter the customers stand on.

A case is rendered at each preset's mic positions, then laid out in the
channels the board captures (``capture_channels``): the mics in their
``mic_channels``, the rest as the board fills them (the 6-mic kit's two
playback loopback channels and the USB array's playback reference stay
silent when nothing plays; the USB array's channel 0, its own processed
beam, is stood in for by the mics' mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from listener.config.presets import PRESETS, ArrayPreset

FloatArray = npt.NDArray[np.float64]

DEFAULT_ARRAY = "respeaker-4mic"  # the benchmark's array since the first session, and the turn model's
ARRAYS = ("respeaker-4mic", "respeaker-6mic", "respeaker-2mic", "respeaker-usb-v2")
BEAM_CHANNEL = {"respeaker-usb-v2": 0}  # a board's own processed output channel


def preset(name: str) -> ArrayPreset:
    if name not in ARRAYS:
        raise ValueError(f"array {name!r}: the benchmark renders {', '.join(ARRAYS)}")
    return PRESETS[name]


def mics_of(name: str) -> FloatArray:
    """(mics, 3) positions in metres, in the array's frame."""
    return np.array(preset(name).mics_m, dtype=np.float64)


def captured(mics: FloatArray, name: str) -> FloatArray:
    """(capture_channels, samples): the rendered ``mics`` (one row each) where the board records them."""
    board = preset(name)
    out = np.zeros((board.capture_channels, mics.shape[1]))
    out[list(board.mic_channels)] = mics
    if name in BEAM_CHANNEL:
        out[BEAM_CHANNEL[name]] = mics.mean(axis=0)
    return out


@dataclass(frozen=True, slots=True)
class Layout:
    """The board that records and where the customers stand (the rep stands within ±15° of azimuth 0)."""

    array: str = DEFAULT_ARRAY
    customer_side_deg: float = 180.0  # customers stand within ±25° of this azimuth

    def __post_init__(self) -> None:
        preset(self.array)
        if not 30.0 <= self.customer_side_deg <= 180.0:
            raise ValueError(f"customer side {self.customer_side_deg:g} deg: choose 30-180 (the rep is at 0)")

    def keys(self) -> dict[str, object]:
        """What sets these cases apart from the default ones (nothing for the default: older caches stay valid)."""
        out: dict[str, object] = {}
        if self.array != DEFAULT_ARRAY:
            out["array"] = self.array
        if self.customer_side_deg != 180.0:
            out["customer_side_deg"] = self.customer_side_deg
        return out

    def suffix(self) -> str:
        """For a case folder's name: empty for the default layout."""
        keys = self.keys()
        side = f"-side{self.customer_side_deg:g}" if "customer_side_deg" in keys else ""
        return (f"-{self.array}" if "array" in keys else "") + side

    def config_text(self) -> str:
        """A listener config for these cases: the preset, and the parties where the bench puts them."""
        parties = f"rep_azimuth_deg = 0\ncustomer_azimuth_deg = {self.customer_side_deg:g}\n"
        return f'[array]\npreset = "{self.array}"\n[parties]\n{parties}'


DEFAULT_LAYOUT = Layout()
