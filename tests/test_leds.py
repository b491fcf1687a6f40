"""The LED stage on gpiozero's own MockFactory (PWM mock pins), driven by scripted event sequences.

Times in these tests are audio seconds: the stage is fed 100 ms audio blocks
as its clock, with each scripted event arriving before the block it falls
in (the order the pipeline delivers them in).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from listener.config import parse_config
from listener.errors import ConfigError, OutputError
from listener.events import (
    DeviceMode,
    DeviceState,
    Event,
    Interruption,
    Party,
    TalkTotals,
)
from listener.outputs.led_patterns import Channel
from listener.outputs.leds import LedStage
from tests import led_script
from tests.led_script import (
    PINS,
    dominance,
    history,
    make_stage,
    play,
    speech,
    traced,
    value_at,
)

factory = led_script.factory  # fixture


@pytest.mark.parametrize(("self_test_s", "on_s"), [(0.0, 0.05), (0.12, 0.12)])  # 0: a 50 ms blink (docs/config.md)
def test_self_test_lights_each_led_in_turn(factory: MockFactory, self_test_s: float, on_s: float) -> None:
    stage, trace = make_stage(factory, self_test_s=self_test_s)
    with stage:
        for led in ("green", "amber", "red"):
            states = factory.pin(PINS[led]).states
            assert [float(s.state) for s in states[1:3]] == [1.0, 0.0]
            assert states[2].timestamp >= on_s  # on for the self-test time, by gpiozero's clock
    order = [(d["led"], d["value"]) for d in map(json.loads, trace.getvalue().splitlines()[:6])]
    assert order == [("green", 1.0), ("green", 0.0), ("amber", 1.0), ("amber", 0.0), ("red", 1.0), ("red", 0.0)]


def test_active_low_inverts_the_pins_not_the_values(factory: MockFactory) -> None:
    stage, trace = make_stage(factory, active_high=False)
    with stage:
        play(stage, 2.0)
        assert factory.pin(PINS["green"]).state == pytest.approx(0.7)  # 0.3 brightness, pulled low
        assert factory.pin(PINS["amber"]).state == 1.0  # off
        assert traced(trace, "green")[-1][1] == 0.3  # the trace reports the LED's value, not the pin's level


def test_listening_is_a_calm_green_reached_by_a_soft_fade(factory: MockFactory) -> None:
    stage, trace = make_stage(factory, calm_level=0.3, fade_s=0.8)
    with stage:
        play(stage, 3.0)
        green = history(factory, "green")[2:]  # after the self-test's on/off
        assert green[-1] == pytest.approx(0.3)
        assert len(green) >= 6 and green == sorted(green)  # several steps, rising only
        assert history(factory, "amber") == [1.0, 0.0] and history(factory, "red") == [1.0, 0.0]
        assert traced(trace, "green")[-1][0] <= 0.8


def test_dominance_amber_then_red_then_calm_again(factory: MockFactory) -> None:
    stage, trace = make_stage(factory, fade_s=0.8, red_after_s=10.0)
    rep = speech(Party.REP, 0.5, 24.0)  # talking throughout
    script = [*rep, dominance(True, 5.0), dominance(True, 9.0), dominance(False, 25.0, share=0.59)]
    with stage:
        play(stage, 30.0, script)
    amber = traced(trace, "amber")
    first_on = next(t for t, v in amber if t > 0 and v > 0)
    assert first_on == pytest.approx(5.0)  # the change is shown with the event, the fade follows
    assert value_at(trace, "amber", 4.95) == 0.0
    assert 0.0 < value_at(trace, "amber", 5.0) < 0.5  # soft: a fade, not a jump
    assert value_at(trace, "amber", 6.0) == 1.0 and value_at(trace, "green", 6.0) == 0.0
    # the rep talks on for red_after_s (counted from the first decision; the repeat at 9 s does not restart it)
    assert value_at(trace, "red", 14.95) == 0.0 and value_at(trace, "red", 16.0) == 1.0
    assert value_at(trace, "amber", 16.0) == 0.0
    # red fades out first (calm green never lit beside it: led_patterns.APART), then green fades in
    assert value_at(trace, "red", 26.0) == 0.0 and value_at(trace, "green", 26.6) == pytest.approx(0.3)
    # gpiozero's pin history went through the same values the trace reports
    assert history(factory, "amber") == [v for t, v in amber]
    assert 1.0 in history(factory, "amber") and history(factory, "amber")[-1] == 0.0


@pytest.mark.parametrize(("ended_s", "green_s"), [(7.4, 9.0), (12.0, 12.0)])
def test_amber_a_visits_end_clears_moments_after_it_lit_is_held_a_few_seconds(
    factory: MockFactory, ended_s: float, green_s: float
) -> None:
    """A rep talking on to a customer gone quiet: amber lit at 5.0 s and the visit ended 2.4 s later, so the rep
    saw amber for 1.7 s (bench.calm's shortest look) and green again mid-sentence. It holds AMBER_AT_LEAST_S
    (4 s) from when it lit; a visit ending later than that clears it at once, as before."""
    stage, trace = make_stage(factory, fade_s=0.8)
    ended = dataclasses.replace(dominance(False, ended_s), reason="session_end")
    with stage:
        play(stage, 16.0, [*speech(Party.REP, 0.5, 15.0), dominance(True, 5.0), ended])
    assert value_at(trace, "amber", ended_s - 0.1) == 1.0 and value_at(trace, "green", ended_s - 0.1) == 0.0
    assert value_at(trace, "amber", green_s - 0.15) > 0.0  # still amber (a fade starts when it ends)
    assert value_at(trace, "amber", green_s + 1.0) == 0.0 and value_at(trace, "green", green_s + 1.0) > 0.0


def test_every_light_goes_dark_when_the_stage_closes(factory: MockFactory) -> None:
    """A stopped service listens no more: a calm green or an amber left lit would tell the rep it does."""
    stage, trace = make_stage(factory, fade_s=0.8)
    with stage:
        play(stage, 8.0, [dominance(True, 5.0)])
        assert stage.values()[Channel.AMBER] == 1.0
    for led in ("green", "amber", "red"):
        assert traced(trace, led)[-1][1] == 0.0, led
        assert history(factory, led)[-1] == 0.0, led


def test_the_lights_follow_the_dominance_decision_not_the_share(factory: MockFactory) -> None:
    """The 0.65 / 0.60 hysteresis is decided upstream; shares between the thresholds change nothing."""
    stage, trace = make_stage(factory)
    shares = [0.64, 0.66, 0.62, 0.63, 0.61]  # would flap if the LEDs thresholded the share themselves
    totals = [TalkTotals(t_s=2.0 + i, rep_talk_s=30 * s, customer_talk_s=30 * (1 - s)) for i, s in enumerate(shares)]
    on_off = [dominance(True, 10.0), dominance(False, 20.0, share=0.59), dominance(True, 30.0)]
    with stage:
        play(stage, 35.0, [*totals, *on_off])
    amber = [0.0, *history(factory, "amber")]
    ups = [i for i in range(1, len(amber)) if amber[i] > 0.0 and amber[i - 1] == 0.0]
    assert len(ups) == 3  # self-test, then the two decided onsets
    assert value_at(trace, "amber", 9.95) == 0.0
    assert value_at(trace, "amber", 19.0) == 1.0 and value_at(trace, "amber", 29.0) == 0.0


def test_rep_interruption_pulses_for_the_display_time(factory: MockFactory) -> None:
    stage, trace = make_stage(factory)
    first = Interruption(by=Party.REP, onset_s=4.2, decided_s=5.0, successful=None)
    outcome = Interruption(by=Party.REP, onset_s=4.2, decided_s=6.5, successful=True)  # same one, not a new pulse
    by_customer = Interruption(by=Party.CUSTOMER, onset_s=11.0, decided_s=12.0, successful=None)
    with stage:
        play(stage, 15.0, [first, outcome, by_customer])
    red = traced(trace, "red")
    during = [(t, v) for t, v in red if 5.0 <= t < 9.0]
    assert during[0] == (5.0, 1.0)  # seen at once
    assert sum(1 for t, v in during if v == 1.0) >= 3 and sum(1 for t, v in during if v == 0.0) >= 3
    assert len({v for t, v in during}) > 4  # smooth, not on/off
    assert value_at(trace, "red", 9.05) > value_at(trace, "red", 9.3) > value_at(trace, "red", 9.6)  # fades out
    assert value_at(trace, "red", 9.8) == 0.0
    assert [t for t, v in red if t > 9.8] == []  # nothing for the outcome or the customer's interruption
    # "calm" and "you interrupted" are never lit together: green steps aside while red pulses
    assert value_at(trace, "green", 4.9) == pytest.approx(0.3) and value_at(trace, "green", 6.0) == 0.0
    assert value_at(trace, "green", 10.5) == pytest.approx(0.3)


def test_without_pwm_a_pulse_is_a_blink_and_the_calm_light_steps_aside() -> None:
    plain = MockFactory()  # pins that can only switch on and off
    try:
        stage, trace = make_stage(plain)
        with stage:
            play(stage, 10.0, [Interruption(by=Party.REP, onset_s=4.2, decided_s=5.0, successful=None)])
        red = [(t, v) for t, v in traced(trace, "red") if 5.0 <= t < 9.0]
        assert {v for _, v in red} == {0.0, 1.0}
        offs = [b[0] - a[0] for a, b in itertools.pairwise(red) if a[1] == 0.0]
        assert len(offs) >= 3 and all(d >= 0.25 for d in offs)  # dark long enough to read as a blink
        assert value_at(trace, "green", 7.0) == 0.0 and value_at(trace, "green", 9.5) == 1.0
    finally:
        plain.reset()


@pytest.mark.parametrize("preset", ["traffic-light", "rgb"])
@pytest.mark.parametrize("calm_level", [0.05, 0.1])
def test_without_pwm_the_interruption_pulse_blinks_at_a_dim_calm_level(preset: str, calm_level: float) -> None:
    """On/off pins lit the pulse from min(0.2, calm_level): at a dim calm level its trough went dark for 0.1 s a
    second, a flicker on a light that read as steady red. It switches half-way up the pulse now: half dark."""
    plain = MockFactory()
    try:
        stage, trace = make_stage(plain, preset=preset, calm_level=calm_level)
        with stage:
            play(stage, 10.0, [Interruption(by=Party.REP, onset_s=4.2, decided_s=5.0, successful=None)])
    finally:
        plain.reset()
    red = [(t, v) for t, v in traced(trace, "red") if 5.0 <= t < 9.0]
    offs = [b[0] - a[0] for a, b in itertools.pairwise(red) if a[1] == 0.0]
    ons = [b[0] - a[0] for a, b in itertools.pairwise(red) if a[1] == 1.0]
    # the first lit spell too: the pulse starts half-way up, not at its top (a quarter cycle lit)
    assert len(offs) >= 3 and all(d >= 0.4 for d in offs) and all(d >= 0.4 for d in ons), red


@pytest.mark.parametrize("calm_level", [0.05, 0.15, 0.3])
def test_without_pwm_a_dim_calm_light_is_still_lit(calm_level: float) -> None:
    # a dark device reads as one switched off: however dim the calm light is set, on/off pins show it on
    plain = MockFactory()
    try:
        stage, trace = make_stage(plain, calm_level=calm_level)
        with stage:
            play(stage, 4.0)
        assert value_at(trace, "green", 3.5) == 1.0
    finally:
        plain.reset()


def test_rgb_preset_colours(factory: MockFactory) -> None:
    stage, trace = make_stage(factory, preset="rgb", fade_s=0.0, red_after_s=5.0)
    script: list[Event] = [
        *speech(Party.REP, 0.5, 9.5),
        dominance(True, 2.0),
        DeviceState(t_s=10.0, mode=DeviceMode.PAUSED, detail="privacy button", cause="button"),
        DeviceState(t_s=14.0, mode=DeviceMode.FAULT, detail="broker unreachable", cause="broker"),
        DeviceState(t_s=15.0, mode=DeviceMode.LISTENING, detail="privacy button", cause="button"),
    ]
    with stage:
        play(stage, 17.0, script)

        def colour(t_s: float) -> tuple[float, float, float]:
            return tuple(value_at(trace, c, t_s) for c in ("red", "green", "blue"))  # type: ignore[return-value]

        assert colour(1.5) == (0.0, 0.3, 0.0)  # calm green
        assert colour(3.0) == (1.0, 0.35, 0.0)  # amber
        assert colour(8.0) == (1.0, 0.0, 0.0)  # red: the rep talked on 5 s
        assert colour(10.0)[:2] == (0.0, 0.0) and colour(10.0)[2] > 0.0  # blue: paused
        # the rep's pause is answered over the broker's fault (blue breathing at 14.1 s; the breath's dark
        # trough is at 14.5 s), which shows once the pause ends: magenta, a slow blink
        assert colour(14.1)[:2] == (0.0, 0.0) and colour(14.1)[2] > 0.0
        assert colour(15.5) == (1.0, 0.0, 1.0) and colour(16.5) == (0.0, 0.0, 0.0)
        assert factory.pin(PINS["blue"]).states[-1].state in (0.0, 1.0)


def test_bad_pins_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"leds\.amber_pin"):
        parse_config({"leds": {"amber_pin": "GPIO99"}})
    with pytest.raises(ConfigError, match="red_pin"):
        parse_config({"leds": {"red_pin": "GPIO22"}})  # the green LED's pin


def test_a_pin_that_cannot_be_opened_is_a_clear_error(factory: MockFactory) -> None:
    # past validation (a pin another program holds, a board without it): the stage still says which
    base = parse_config({"leds": {"self_test_s": 0.0}})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"amber_pin": "GPIO99"}, "amber_pin"),
        ({"red_pin": "GPIO22"}, "each pin used once"),
    ]
    for leds, expected in cases:
        config = dataclasses.replace(base, leds=dataclasses.replace(base.leds, **leds))
        with pytest.raises(OutputError, match=expected):
            LedStage(config, factory=factory, trace=io.StringIO()).open()
