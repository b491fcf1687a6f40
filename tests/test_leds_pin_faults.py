"""A pin that cannot be written (gpiozero's pin error: a pin daemon gone) on gpiozero's own mock pins.

The other lights must still go dark at a stop, the live ticker must go on drawing them, and the
device reports the fault: the lights once left on a dark counter, or frozen lit for the rest of a run.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from gpiozero.pins.mock import MockFactory

from listener.config import parse_config
from listener.events import AudioDropped, DeviceMode, DeviceState, Event, SourceState
from listener.outputs.leds import LedStage
from listener.pipeline import Stage
from tests import led_script
from tests.led_script import PINS, dominance, history, make_stage, play, traced, value_at
from tests.waiting import wait_until

breaking_factory = led_script.breaking_factory  # fixture

PAUSE = DeviceState(t_s=0.5, mode=DeviceMode.PAUSED, detail="privacy button", cause="button")


class Said(Stage):
    """The LED stage, keeping what it emits."""

    def __init__(self, stage: LedStage) -> None:
        self.stage = stage
        self.said: list[Event] = []

    def process(self, event: Event) -> Iterable[Event]:
        said = list(self.stage.process(event))
        self.said += said
        return said


def said_of(caplog: pytest.LogCaptureFixture, pin: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if pin in r.getMessage()]


@pytest.mark.parametrize("ends", [("stopping",), ("close",), ("stopping", "close")])
def test_a_pin_that_cannot_be_written_leaves_no_other_light_lit_at_the_stop(
    breaking_factory: MockFactory, caplog: pytest.LogCaptureFixture, ends: tuple[str, ...]
) -> None:
    stage, _ = make_stage(breaking_factory, fade_s=0.0)
    stage.open()
    play(stage, 3.5, [PAUSE])  # all three breathe, at their brightest
    assert all(v > 0.0 for v in stage.values().values()), stage.values()
    breaking_factory.pin(PINS["green"]).broken = True  # the first one darkened
    for end in ends:
        getattr(stage, end)()
    assert history(breaking_factory, "amber")[-1] == 0.0 and history(breaking_factory, "red")[-1] == 0.0
    if "close" in ends:
        assert breaking_factory.pin(PINS["amber"]).function == "input"  # released, as a close does
    said = said_of(caplog, "GPIO22")
    assert len(said) == 1 and "green LED" in said[0] and "pigpiod" in said[0], said  # once, with its fix


def test_the_ticker_goes_on_past_a_pin_that_cannot_be_written(
    breaking_factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Live, with no audio coming: the ticker died of the pin error, and the other lights froze as they were."""
    stage = LedStage(parse_config({"leds": {"self_test_s": 0.0}}), factory=breaking_factory, live=True)
    with stage:
        play(stage, 1.0, [PAUSE])
        breaking_factory.pin(PINS["green"]).broken = True
        amber = breaking_factory.pin(PINS["amber"])
        amber.clear_states()
        assert wait_until(lambda: len(amber.states) >= 20, 10.0), amber.states  # breathing on, every TICK_S
        said = list(stage.process(AudioDropped(start_s=1.0, duration_s=0.1, reason="device_lost")))
    assert len(said) == 1 and isinstance(said[0], DeviceState), said
    assert (said[0].mode, said[0].cause) == (DeviceMode.FAULT, "leds") and "GPIO22" in said[0].detail, said
    assert len(said_of(caplog, "GPIO22")) == 1  # said once, not at every tick


def test_a_pin_failing_mid_run_shows_the_fault_on_the_others_until_it_works_again(
    breaking_factory: MockFactory,
) -> None:
    """The pin error stopped the run at the event whose light it was; the run goes on, the fault reported once."""
    stage, trace = make_stage(breaking_factory, fade_s=0.0)
    said = Said(stage)
    green = breaking_factory.pin(PINS["green"])
    with stage:
        play(said, 2.0)
        green.broken = True
        play(said, 6.0, [dominance(True, 3.0)], first_s=2.0)  # green is put out at 3.0 s: the write that fails
        green.broken = False
        play(said, 8.0, first_s=6.0)
    modes = [(e.mode, e.cause, e.t_s) for e in said.said if isinstance(e, DeviceState)]
    assert [m[:2] for m in modes] == [(DeviceMode.FAULT, "leds"), (DeviceMode.LISTENING, "leds")], modes
    assert 3.0 <= modes[0][2] < 3.2 and 6.0 <= modes[1][2] < 6.2, modes
    # the fault blink (amber alone, 1 s on, 1 s off) on the lights that work, then steady amber again
    blink = [v for t, v in traced(trace, "amber") if 3.05 < t < 6.0]
    assert blink[:3] in ([0.0, 1.0, 0.0], [1.0, 0.0, 1.0]) and value_at(trace, "red", 5.9) == 0.0, blink
    assert value_at(trace, "amber", 7.9) == 1.0 and history(breaking_factory, "green")[-1] == 0.0


def test_a_lost_array_and_a_failing_pin_are_two_faults(breaking_factory: MockFactory) -> None:
    """The pin's fault is the lights' own cause: the array coming back does not end it."""
    stage, trace = make_stage(breaking_factory, fade_s=0.0)
    said = Said(stage)
    with stage:
        play(said, 1.0, [SourceState(t_s=0.5, available=False, detail="array lost")])
        breaking_factory.pin(PINS["amber"]).broken = True  # the blinking one: written at each change
        play(said, 4.0, [SourceState(t_s=2.0, available=True, detail="array back")], first_s=1.0)
    assert value_at(trace, "green", 3.9) == 0.0, traced(trace, "amber")  # still the fault, not calm green
    assert [e.cause for e in said.said if isinstance(e, DeviceState)] == ["leds"]
