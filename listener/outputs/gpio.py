"""Which gpiozero pin factory the LEDs and the privacy button share.

``GPIOZERO_PIN_FACTORY`` is respected as gpiozero documents it, except that
``mock`` gets PWM-capable mock pins (the LEDs fade). Without that variable
and without any GPIO (a laptop, the README demo) the pins are simulated with
a warning, so the service and its terminal view still run (those pins keep
only their last states: nobody reads their history); on a Raspberry Pi that
is an installation fault, and an error.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gpiozero import Device
from gpiozero.exc import BadPinFactory
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.errors import OutputError

log = logging.getLogger(__name__)

ENV = "GPIOZERO_PIN_FACTORY"

_lock = threading.Lock()
_shared: Factory | None = None

T = TypeVar("T")


def pin_factory() -> Factory:
    """The process-wide factory (created on first use, never at import)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = _make_factory()
        return _shared


def _make_factory() -> Factory:
    name = factory_name()
    if name.lower() == "mock":
        return mock_factory()
    try:
        with warnings.catch_warnings():
            # gpiozero warns once per factory it tries; the outcome is logged below
            warnings.simplefilter("ignore")
            factory: Factory = Device._default_pin_factory()
    except Exception as exc:
        if name:
            raise OutputError(f"{ENV}={name} cannot be loaded ({exc}): {_factory_fix(exc)}") from exc
        model = board_model()
        if model.startswith("Raspberry Pi"):  # dark LEDs on a counter would go unnoticed: say so and stop
            raise OutputError(f"no GPIO pin library works on this {model} ({exc}): {PI_GPIO_FIX}") from exc
        log.warning(
            "no GPIO on this machine (%s): the LEDs and the privacy button are simulated; set %s=mock to say so",
            exc,
            ENV,
        )
        return mock_factory(ForgetfulPWMPin)
    log.info("GPIO through %s", type(factory).__name__)
    return factory


def factory_name() -> str:
    """The factory the environment names, blanks around it dropped where gpiozero (which reads the variable itself)
    sees them too: it looked up " lgpio" as typed ("Unable to find pin factory ' lgpio'", then "name one of
    gpiozero's: lgpio, ..."), and a blank one (`GPIOZERO_PIN_FACTORY=` to clear it) as a factory named '', which
    stopped a Pi whose lgpio works. Blank, it is unset: gpiozero's own search, as without it."""
    raw = os.environ.get(ENV)
    name = (raw or "").strip()
    if raw is not None and not name:
        del os.environ[ENV]
    elif raw is not None and raw != name:
        os.environ[ENV] = name
    return name


def _factory_fix(exc: Exception) -> str:
    simulate = f"or set {ENV}=mock to simulate the pins"
    if isinstance(exc, BadPinFactory):  # a name gpiozero does not know (an ImportError too)
        return f"name one of gpiozero's: lgpio, rpigpio, pigpio, native, {simulate}"
    if isinstance(exc, ImportError):
        return f"install that pin library, {simulate}"
    if board_model().startswith("Raspberry Pi"):  # loaded, and failing on its own board: access, or its daemon
        return f"check that the service's user is in group gpio (pigpio: that pigpiod runs), {simulate}"
    # a library that is there but finds no GPIO (gpiozero's native one off a Pi) needs no installing
    return f"use it on the board it is for, {simulate}"


PI_GPIO_FIX = (
    "install python3-lgpio (provision.sh does) and check that the service's user is in group gpio; "
    'or set [leds] enabled = false and button_pin = "" to run without lights and button'
)


def board_model() -> str:
    """The board's name from the device tree ("Raspberry Pi 4 Model B Rev 1.4"), or '' elsewhere."""
    try:
        return Path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode(errors="replace")
    except OSError:
        return ""


def mock_factory(pin_class: type[MockPWMPin] = MockPWMPin) -> MockFactory:
    """gpiozero's own mock pins, of ``pin_class``, unless GPIOZERO_MOCK_PIN_CLASS names another."""
    if os.environ.get("GPIOZERO_MOCK_PIN_CLASS"):
        return MockFactory()
    return MockFactory(pin_class=pin_class)


class ForgetfulPWMPin(MockPWMPin):  # type: ignore[misc]  # gpiozero has no type hints
    """gpiozero's PWM mock pin keeping only its last ``HISTORY`` states.

    MockPin appends every value it is set to (about 120 bytes a change, 580
    changes an audio hour), which tests read back; a service left running on
    simulated pins reads none of it and would grow by that for ever.
    """

    HISTORY = 64
    states: deque[object]

    def clear_states(self) -> None:
        super().clear_states()
        self.states = deque(self.states, maxlen=self.HISTORY)


def open_device(make: Callable[[], T], what: str, keys: str) -> T:
    """Build a gpiozero device, turning any failure into an error that names the config keys to fix."""
    try:
        return make()
    except Exception as exc:
        raise OutputError(
            f"cannot open {what} ({type(exc).__name__}: {exc}): check [leds] {keys} "
            "(BCM names such as 'GPIO17', each pin used once and not held by another program), "
            "or set [leds] preset = 'none' / button_pin = ''"
        ) from exc
