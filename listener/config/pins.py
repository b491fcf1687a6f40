"""LED and button pins, checked at load time rather than when ``run`` opens them.

gpiozero names one GPIO several ways; every spelling it resolves on the
40-pin header is accepted, and pins are compared by their BCM number so that
'GPIO17' and 'BOARD11' are seen to be the same pin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from listener.config.schema import LedsConfig
from listener.errors import ConfigError

BCM_MAX = 27  # GPIO0-27 are the ones on the Pi's 40-pin header

# physical pin on the 40-pin header (J8) -> BCM number; the other pins are power and ground
_HEADER = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10, 21: 9, 22: 25,
    23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21,
}  # fmt: skip
# wiringPi number -> physical pin, as gpiozero maps them
_WIRINGPI = {
    8: 3, 9: 5, 7: 7, 15: 8, 16: 10, 0: 11, 1: 12, 2: 13, 3: 15, 4: 16, 5: 18, 12: 19, 13: 21, 6: 22,
    14: 23, 10: 24, 11: 26, 30: 27, 31: 28, 21: 29, 22: 31, 26: 32, 23: 33, 24: 35, 27: 36, 25: 37, 28: 38, 29: 40,
}  # fmt: skip

_SPELLING = re.compile(r"(GPIO|BCM|BOARD|J8:|WPI)?(0|[1-9][0-9]*)")
_RULE = (
    "must name a GPIO pin of the Pi header: 'GPIO0' to 'GPIO27' by BCM number "
    "('BCM17', '17', 'BOARD11' and 'J8:11' work too)"
)

_LED_PINS = {"traffic-light": ("green_pin", "amber_pin", "red_pin"), "rgb": ("red_pin", "green_pin", "blue_pin")}


def bcm_number(pin: str, path: str) -> int:
    """The BCM number of a pin name gpiozero accepts, or a config error naming ``path``."""
    match = _SPELLING.fullmatch(pin)
    if match is None:
        raise ConfigError(path, pin, _RULE)
    kind, number = match.group(1) or "", int(match.group(2))
    if kind in ("", "GPIO", "BCM"):
        if number > BCM_MAX:
            raise ConfigError(path, pin, f"the Pi header has GPIO0 to GPIO{BCM_MAX} only (BCM numbers)")
        return number
    physical = _WIRINGPI.get(number) if kind == "WPI" else number
    if physical is None or physical not in _HEADER:
        raise ConfigError(path, pin, f"is power, ground or absent on the 40-pin header, not a GPIO; {_RULE}")
    return _HEADER[physical]


def is_pin(pin: str) -> bool:
    try:
        bcm_number(pin, "")
    except ConfigError:
        return False
    return True


def check_pins(leds: LedsConfig, board: str, reserved: Mapping[int, str]) -> None:
    """Every pin name valid; the pins in use (the preset's LEDs, the button) all different and not
    among the ``reserved`` pins of the array ``board`` on the header."""
    keys = ("green_pin", "amber_pin", "red_pin", "blue_pin", *(("button_pin",) if leds.button_pin else ()))
    numbers = {key: bcm_number(getattr(leds, key), f"leds.{key}") for key in keys}
    used = _LED_PINS.get(leds.preset, ()) if leds.enabled else ()
    if leds.button_pin:
        used = (*used, "button_pin")
    seen: dict[int, str] = {}
    for key in used:
        pin, bcm = getattr(leds, key), numbers[key]
        if bcm in reserved:
            raise ConfigError(
                f"leds.{key}",
                pin,
                f"the {board} board (array.preset) uses GPIO{bcm} for {reserved[bcm]}; wire this to a free pin "
                "(the defaults GPIO22-GPIO25 and GPIO17 are free on every supported array)",
            )
        if bcm in seen:
            other = seen[bcm]
            raise ConfigError(
                f"leds.{key}",
                pin,
                f'GPIO{bcm} is already leds.{other} = "{getattr(leds, other)}"; '
                "each LED and the button need a pin of their own",
            )
        seen[bcm] = key
