"""Which gpiozero pin factory the LEDs and the privacy button share.

``GPIOZERO_PIN_FACTORY`` is respected as gpiozero documents it, except that
``mock`` gets PWM-capable mock pins (the LEDs fade). Without that variable
and without any GPIO (a laptop, the README demo) the pins are simulated with
a warning, so the service and its terminal view still run.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable
from typing import TypeVar

from gpiozero import Device
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
    name = os.environ.get(ENV, "").strip()
    if name.lower() == "mock":
        return mock_factory()
    try:
        with warnings.catch_warnings():
            # gpiozero warns once per factory it tries; the outcome is logged below
            warnings.simplefilter("ignore")
            factory: Factory = Device._default_pin_factory()
    except Exception as exc:
        if name:
            raise OutputError(
                f"{ENV}={name} cannot be loaded ({exc}): install that pin library, "
                f"or set {ENV}=mock to simulate the pins"
            ) from exc
        log.warning(
            "no GPIO on this machine (%s): the LEDs and the privacy button are simulated; set %s=mock to say so",
            exc,
            ENV,
        )
        return mock_factory()
    log.info("GPIO through %s", type(factory).__name__)
    return factory


def mock_factory() -> MockFactory:
    """gpiozero's own mock pins; PWM-capable unless GPIOZERO_MOCK_PIN_CLASS says otherwise."""
    if os.environ.get("GPIOZERO_MOCK_PIN_CLASS"):
        return MockFactory()
    return MockFactory(pin_class=MockPWMPin)


def is_mock(factory: Factory) -> bool:
    return isinstance(factory, MockFactory)


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
