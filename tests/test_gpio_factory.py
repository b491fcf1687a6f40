"""The pin factory the LEDs and the button share (listener.outputs.gpio): the one the environment names, a
simulated one said so where there is no GPIO (this machine, CI), gpiozero's own choice on a Pi."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import pytest
from gpiozero import PWMLED, Button, Device
from gpiozero.exc import BadPinFactory
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from listener.config import parse_config
from listener.errors import OutputError
from listener.outputs import gpio
from listener.service import doctor


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """No factory made yet in this process, and no pin class asked for: each test sets its own environment."""
    monkeypatch.setattr(gpio, "_shared", None)
    monkeypatch.delenv("GPIOZERO_MOCK_PIN_CLASS", raising=False)


def _gpiozero_finds_gpio() -> bool:
    """Whether gpiozero's own default search loads a pin library on this machine (it does on a Pi)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = Device._default_pin_factory()
        except BadPinFactory:
            return False
    found.close()
    return True


def test_pin_factory_is_the_mock_when_the_environment_asks(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(gpio.ENV, "mock")
    with caplog.at_level(logging.INFO, logger=gpio.__name__):
        factory = gpio.pin_factory()
    assert isinstance(factory, MockFactory) and factory.pin_class is MockPWMPin
    assert gpio.pin_factory() is factory  # LEDs and button share it
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # asked for: nothing to warn about


def test_the_mock_pin_class_gpiozero_is_told_of_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    """GPIOZERO_MOCK_PIN_CLASS (gpiozero's own variable) picks the simulated pins' class over the PWM default."""
    monkeypatch.setenv(gpio.ENV, "mock")
    monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpin")
    factory = gpio.pin_factory()
    assert isinstance(factory, MockFactory) and factory.pin_class is MockPin
    factory.close()


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("no-such-factory", "name one of gpiozero's: lgpio, rpigpio, pigpio, native, or set"),
        ("lgpio", "install that pin library, or set"),  # not installed off a Pi
        ("native", "use it on the board it is for, or set"),  # gpiozero's own: there, but no Pi here
    ],
)
def test_a_pin_factory_the_environment_names_that_cannot_load_is_named_with_its_own_fix(
    monkeypatch: pytest.MonkeyPatch, name: str, fix: str
) -> None:
    """ "install that pin library" was said of gpiozero's built-in native factory on a machine that is no Pi, and
    of a misspelt name."""
    if name != "no-such-factory" and _gpiozero_finds_gpio():
        pytest.skip("a Pi: the pin libraries load here")
    monkeypatch.setenv(gpio.ENV, name)
    with pytest.raises(OutputError) as err:
        gpio.pin_factory()
    assert str(err.value).startswith(f"GPIOZERO_PIN_FACTORY={name} cannot be loaded ("), err.value
    assert str(err.value).endswith(f"): {fix} GPIOZERO_PIN_FACTORY=mock to simulate the pins"), err.value


def test_a_pin_factory_that_loads_but_fails_on_a_pi_points_at_access_not_at_the_board(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a Raspberry Pi a loaded library that cannot open the GPIO (a user outside group gpio, pigpio without
    its daemon) was told to "use it on the board it is for": the board it is on."""
    monkeypatch.setattr(gpio, "board_model", lambda: "Raspberry Pi 4 Model B Rev 1.4")
    monkeypatch.setattr(Device, "_default_pin_factory", _raises(RuntimeError("can not open gpiochip")))
    monkeypatch.setenv(gpio.ENV, "lgpio")
    with pytest.raises(OutputError) as err:
        gpio.pin_factory()
    assert str(err.value) == (
        "GPIOZERO_PIN_FACTORY=lgpio cannot be loaded (can not open gpiochip): check that the service's user is in "
        "group gpio (pigpio: that pigpiod runs), or set GPIOZERO_PIN_FACTORY=mock to simulate the pins"
    )


def _raises(exc: Exception) -> Callable[[], object]:
    def factory() -> object:
        raise exc

    return factory


def test_without_gpio_the_pins_are_simulated_and_said_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the variable nor GPIO (this machine, or CI): simulated, PWM-capable, and said so, once."""
    monkeypatch.delenv(gpio.ENV, raising=False)
    with caplog.at_level(logging.INFO, logger=gpio.__name__):
        factory = gpio.pin_factory()
        assert gpio.pin_factory() is factory  # created once, shared
    said = [r for r in caplog.records if r.name == gpio.__name__]
    if _gpiozero_finds_gpio():  # on a Pi: gpiozero's own choice, named in the log
        assert not isinstance(factory, MockFactory)
        assert [(r.levelno, r.getMessage()) for r in said] == [(logging.INFO, f"GPIO through {type(factory).__name__}")]
        factory.close()
        return
    assert type(factory) is MockFactory and factory.pin_class is gpio.ForgetfulPWMPin
    assert issubclass(gpio.ForgetfulPWMPin, MockPWMPin)
    assert [r.levelno for r in said] == [logging.WARNING]
    warning = said[0].getMessage()
    assert "simulated" in warning and "GPIOZERO_PIN_FACTORY=mock" in warning
    # the simulated pins dim (the LEDs fade, the README's table) and read a button like the real ones
    led = PWMLED("GPIO22", pin_factory=factory)
    led.value = 0.4
    assert factory.pin("GPIO22").state == pytest.approx(0.4)
    button = Button("GPIO17", pin_factory=factory)
    factory.pin("GPIO17").drive_low()
    assert button.is_pressed
    # a service left running on them for months keeps only the pins' last states, not every one
    for step in range(5000):
        led.value = (step % 100) / 100
    states = factory.pin("GPIO22").states
    assert len(states) == gpio.ForgetfulPWMPin.HISTORY
    assert [s.state for s in states][-3:] == pytest.approx([0.97, 0.98, 0.99])
    led.close()
    button.close()
    factory.reset()


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_factory_name_is_gpiozeros_own_search_not_a_factory_named_blank(
    monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    """`GPIOZERO_PIN_FACTORY=` (set to clear it) reached gpiozero as a factory named '': on a Pi whose lgpio works
    the service stopped with "no GPIO pin library works on this Raspberry Pi (Unable to find pin factory '')"."""
    if _gpiozero_finds_gpio():
        pytest.skip("a Pi: the search succeeds here")
    monkeypatch.setattr(gpio, "board_model", lambda: "Raspberry Pi 4 Model B Rev 1.4")
    monkeypatch.setenv(gpio.ENV, blank)
    with pytest.raises(OutputError) as err:
        gpio.pin_factory()
    # off a Pi every library of gpiozero's search fails: its own words for that, not a factory named ''
    assert "(Unable to load any default pin factory!)" in str(err.value), err.value


def test_a_factory_name_with_blanks_around_it_is_the_factory_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """ " native" was looked up as typed: "Unable to find pin factory ' native'", told to "name one of gpiozero's:
    lgpio, rpigpio, pigpio, native" while it did."""
    if _gpiozero_finds_gpio():
        pytest.skip("a Pi: the pin libraries load here")
    monkeypatch.setenv(gpio.ENV, " native\t")
    with pytest.raises(OutputError) as err:
        gpio.pin_factory()
    assert str(err.value).startswith("GPIOZERO_PIN_FACTORY=native cannot be loaded (unable to locate Pi revision")
    assert str(err.value).endswith(
        "): use it on the board it is for, or set GPIOZERO_PIN_FACTORY=mock to simulate the pins"
    )


def test_doctor_reads_a_blank_factory_name_as_the_service_does(monkeypatch: pytest.MonkeyPatch) -> None:
    if _gpiozero_finds_gpio():
        pytest.skip("a Pi: the search succeeds here")
    monkeypatch.setattr(gpio, "board_model", lambda: "Raspberry Pi 4 Model B Rev 1.4")
    monkeypatch.setenv(gpio.ENV, " ")
    check = doctor.check_gpio(parse_config({}))
    assert check.status == "FAIL" and "(Unable to load any default pin factory!)" in check.detail, check
