"""Where one look gives way to another: the interruption pulse and the fault blink never lit together with
calm green, on/off pins blinking evenly from the first flash.
gpiozero's MockFactory as in test_leds.py; times are audio seconds."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.events import DeviceMode, DeviceState, Event, Interruption, Party
from tests import led_script
from tests.led_script import make_stage, play, traced, value_at

factory = led_script.factory  # fixture
PWM = pytest.mark.parametrize("pwm", [True, False], ids=["pwm", "on-off"])
PRESETS = pytest.mark.parametrize("preset", ["traffic-light", "rgb"])


def pins(pwm: bool) -> MockFactory:
    return MockFactory(pin_class=MockPWMPin) if pwm else MockFactory()


def states(trace: io.StringIO) -> Iterator[tuple[float, dict[str, float]]]:
    """Every LED's value after each audio time the trace has lines for (all of that time's lines applied)."""
    state: dict[str, float] = {}
    lines = [json.loads(line) for line in trace.getvalue().splitlines()]
    for t, group in itertools.groupby(lines, key=lambda d: d["t"]):
        state.update({d["led"]: d["value"] for d in group})
        yield t, dict(state)


def run(pwm: bool, script: list[Event], until_s: float, **leds: object) -> io.StringIO:
    factory = pins(pwm)
    try:
        stage, trace = make_stage(factory, **leds)
        with stage:
            play(stage, until_s, script)
    finally:
        factory.reset()
    return trace


@PWM
@PRESETS
def test_calm_green_comes_back_only_once_the_pulse_is_dark(preset: str, pwm: bool) -> None:
    """The pulse's red faded out while green faded in: both lit for 0.7 s (on the RGB LED the dominating amber,
    on pins without PWM both fully on for 0.1 s). Green now waits until red is dark."""
    trace = run(pwm, [Interruption(by=Party.REP, onset_s=4.2, decided_s=5.0, successful=None)], 12.0, preset=preset)
    both = [(t, s) for t, s in states(trace) if t > 0.0 and s.get("green", 0.0) > 0.0 and s.get("red", 0.0) > 0.0]
    assert both == []
    assert value_at(trace, "red", 9.8) == 0.0 and value_at(trace, "green", 11.0) == (0.3 if pwm else 1.0)
    if pwm:  # red fades out rather than snapping off, and green follows at once
        assert 0.0 < value_at(trace, "red", 9.3) < value_at(trace, "red", 9.05)
        assert value_at(trace, "green", 9.8) > 0.0


@PRESETS
def test_a_fault_blinks_alone_from_its_start_and_calm_follows_once_it_is_dark(preset: str) -> None:
    """Green faded out over 0.7 s under the fault's blink (amber alone, by the README); and after the fault the
    blink faded out while green faded in."""
    script: list[Event] = [
        DeviceState(t_s=3.0, mode=DeviceMode.FAULT, detail="model error"),
        DeviceState(t_s=7.5, mode=DeviceMode.LISTENING, detail="back"),  # the blink lit then (7.0 to 8.0)
    ]
    trace = run(True, script, 11.0, preset=preset)
    blink = ("red", "blue") if preset == "rgb" else ("amber",)
    assert value_at(trace, "green", 3.0) == 0.0  # dark at once
    assert all(value_at(trace, led, 3.0) == 1.0 for led in blink)
    mixed = [(t, s) for t, s in states(trace) if t >= 3.0 and s["green"] > 0.0 and any(s[led] > 0.0 for led in blink)]
    assert mixed == []
    assert value_at(trace, "green", 10.0) == pytest.approx(0.3)


def test_without_pwm_the_pulses_first_flash_is_as_long_as_the_others() -> None:
    """The pulse started at its top, so on/off pins lit it for a quarter cycle first (0.3 s, then 0.5 s each)."""
    trace = run(False, [Interruption(by=Party.REP, onset_s=4.2, decided_s=5.0, successful=None)], 10.0)
    red = [(t, v) for t, v in traced(trace, "red") if 5.0 <= t <= 9.0]
    ons = [b[0] - a[0] for a, b in itertools.pairwise(red) if a[1] == 1.0]
    offs = [b[0] - a[0] for a, b in itertools.pairwise(red) if a[1] == 0.0]
    assert red[0] == (5.0, 1.0) and ons == pytest.approx([0.5] * 4) and offs == pytest.approx([0.5] * 3), red
