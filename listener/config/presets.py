"""Microphone array geometries the installer can name instead of measuring.

Coordinates are metres in the array's own frame: x-y is the board plane,
azimuth 0 deg is +x and grows counter-clockwise. Figures come from the
vendors' drawings; boards vary by a millimetre or so, which moves a
direction estimate by well under a degree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from listener.config.schema import Mic

PROVISIONED_DEVICE = "listener_array"  # the ALSA device firmware/provision.sh sets up over the array's card


@dataclass(frozen=True, slots=True)
class ArrayPreset:
    name: str
    description: str
    mics_m: tuple[Mic, ...]
    capture_channels: int
    mic_channels: tuple[int, ...]
    # ALSA card names the board shows up as, by driver (tried in order; `listener devices` lists them)
    device_hints: tuple[str, ...]
    max_rate_hz: int
    # GPIOs the board itself drives or listens on (BCM number -> what for): no LED or button there
    reserved_pins: dict[int, str] = field(default_factory=dict)


def _circle(n: int, radius_m: float, start_deg: float = 0.0) -> tuple[Mic, ...]:
    out = []
    for i in range(n):
        a_rad = math.radians(start_deg + 360.0 * i / n)
        out.append((round(radius_m * math.cos(a_rad), 6), round(radius_m * math.sin(a_rad), 6), 0.0))
    return tuple(out)


# every ReSpeaker Pi HAT: its ID EEPROM, the codec's control bus, its audio, its LEDs on SPI
_HAT_PINS = {
    0: "its ID EEPROM",
    1: "its ID EEPROM",
    2: "its codec's I2C control",
    3: "its codec's I2C control",
    10: "its LEDs (SPI)",
    11: "its LEDs (SPI)",
    18: "its I2S audio",
    19: "its I2S audio",
    20: "its I2S audio",
    21: "its I2S audio",
}
_LED_RING_POWER = {5: "its LED ring's power switch"}

PRESETS: dict[str, ArrayPreset] = {
    "respeaker-2mic": ArrayPreset(
        name="respeaker-2mic",
        description="ReSpeaker 2-Mics Pi HAT (v1 WM8960 or v2 TLV320AIC3104); a line array: "
        "it tells left from right along x but cannot tell front from back",
        mics_m=((0.029, 0.0, 0.0), (-0.029, 0.0, 0.0)),
        capture_channels=2,
        mic_channels=(0, 1),
        device_hints=("seeed2micvoicec", "wm8960soundcard"),  # v2 and Seeed's v1 driver; v1 on the kernel's overlay
        max_rate_hz=48000,
        reserved_pins=_HAT_PINS,  # its own button is GPIO17: the default privacy button
    ),
    "respeaker-4mic": ArrayPreset(
        name="respeaker-4mic",
        description="ReSpeaker 4-Mic Array for Raspberry Pi (square, 64.6 mm side)",
        mics_m=_circle(4, radius_m=0.0457),
        capture_channels=4,
        mic_channels=(0, 1, 2, 3),
        device_hints=("seeed4micvoicec",),
        max_rate_hz=48000,
        reserved_pins=_HAT_PINS | _LED_RING_POWER,
    ),
    "respeaker-6mic": ArrayPreset(
        name="respeaker-6mic",
        description="ReSpeaker 6-Mic Circular Array kit for Raspberry Pi (radius 46.3 mm); "
        "captured as 8 channels, the last two are playback loopback",
        mics_m=_circle(6, radius_m=0.0463),
        capture_channels=8,
        mic_channels=(0, 1, 2, 3, 4, 5),
        device_hints=("seeed8micvoicec",),
        max_rate_hz=48000,
        reserved_pins=_HAT_PINS | _LED_RING_POWER,
    ),
    "respeaker-usb-v2": ArrayPreset(
        name="respeaker-usb-v2",
        description="ReSpeaker USB Mic Array v2.0 with the 6-channel firmware: channel 0 is the "
        "on-board processed beam, 1-4 the raw mics, 5 the playback reference",
        mics_m=_circle(4, radius_m=0.032, start_deg=45.0),
        capture_channels=6,
        mic_channels=(1, 2, 3, 4),
        device_hints=("ReSpeaker 4 Mic Array",),
        max_rate_hz=16000,
    ),
}

PRESET_NAMES = (*PRESETS, "generic")
