"""The LED stage driven through a generated stream (tests/led_streams.py) on gpiozero's own MockFactory, every pin
read after each delivered event, beside a model of what the docs say the lights follow at that moment.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.config import Config
from listener.events import (
    AudioBlock,
    AudioDropped,
    DeviceMode,
    DeviceState,
    DominanceChanged,
    Event,
    Interruption,
    Party,
    SourceState,
    SpeechSegment,
    SpeechStarted,
)
from listener.outputs.leds import LedStage
from tests.led_script import BLOCK_S, PINS
from tests.led_streams import SECONDS, TAIL_S, Stream, delivered_at, stamp

SILENT = np.zeros((round(BLOCK_S * 16000), 1), dtype=np.float32)


@dataclass
class Model:
    """What the docs say the lights follow, folded from the delivered events (upper bounds where the stage
    judges more finely: who holds the word, a pulse held over a rep start)."""

    display_s: float
    hold_s: float  # a rep start in the pulse holds it interruption_min_s plus one 0.1 s block
    modes: dict[str, DeviceMode] = field(default_factory=dict)
    plain_since_s: float = -math.inf  # the device last came out of a pause or a fault
    held_look_since_s: float = -math.inf  # the pause or fault look (or neither) last changed
    pause_end_s: float = -math.inf
    dominating: bool = False
    dominating_since_s: float = -math.inf  # the latest the rep can have been dominating since, while dominating
    amber_kept_until_s: float = -math.inf  # a visit's end keeps amber at least until then
    episodes: list[tuple[float, float]] = field(default_factory=list)  # dominance (on, amber dark by) in audio s
    pulse_until_s: float = -math.inf  # no interruption pulse at or after this
    fresh_pulse: bool = False  # the event just delivered starts a pulse over no other
    shown: set[float] = field(default_factory=set)  # rep interruption onsets announced
    speaking: dict[Party, float] = field(default_factory=dict)

    @property
    def paused(self) -> bool:
        return DeviceMode.PAUSED in self.modes.values()

    @property
    def fault(self) -> bool:
        return not self.paused and DeviceMode.FAULT in self.modes.values()

    @property
    def held(self) -> bool:
        return self.paused or self.fault

    def update(self, event: Event, t_s: float, settle_s: float) -> None:
        self.fresh_pulse = False
        if isinstance(event, DeviceState | SourceState):
            self._condition(event, t_s)
        elif isinstance(event, DominanceChanged):
            self._dominance(event)
        elif isinstance(event, Interruption) and event.by is Party.REP and event.onset_s not in self.shown:
            self.shown.add(event.onset_s)
            if event.onset_s >= self.plain_since_s:  # README: not for one begun before a pause or a fault
                self.fresh_pulse = not self.held and event.decided_s > self.pulse_until_s + settle_s
                self.pulse_until_s = max(self.pulse_until_s, event.decided_s + self.display_s)
        elif isinstance(event, SpeechStarted):
            self.speaking[event.party] = event.onset_s
            if event.party is Party.REP and event.onset_s < self.pulse_until_s:
                self.pulse_until_s = max(self.pulse_until_s, event.onset_s + self.hold_s)
        elif isinstance(event, SpeechSegment):
            self.speaking.pop(event.party, None)

    def _condition(self, event: DeviceState | SourceState, t_s: float) -> None:
        was = (self.paused, self.fault)
        if isinstance(event, SourceState):
            cause, mode = "array", DeviceMode.LISTENING if event.available else DeviceMode.FAULT
        else:
            cause, mode = event.cause, event.mode
        if mode is DeviceMode.LISTENING:
            self.modes.pop(cause, None)
        else:
            self.modes[cause] = mode
        if (self.paused, self.fault) != was:
            self.held_look_since_s = t_s
            if was[0] and not self.paused:
                self.pause_end_s = t_s
            if not self.held:
                self.plain_since_s, self.pulse_until_s = event.t_s, -math.inf  # old news once back

    def _dominance(self, event: DominanceChanged) -> None:
        if event.dominating and not self.dominating:
            self.dominating, self.dominating_since_s = True, event.decided_s
            last = self.episodes[-1] if self.episodes else None
            if last is not None and event.decided_s < last[1]:  # a visit's end may still hold amber: one spell
                self.episodes[-1] = (last[0], math.inf)
            else:
                self.episodes.append((event.decided_s, math.inf))
        elif not event.dominating and self.dominating:
            self.dominating = False
            # README: a visit's end clears amber "not before amber has shown 4 s"; it lit no earlier than here
            held_s = 4.0 if event.reason == "session_end" else 0.0
            self.episodes[-1] = (self.episodes[-1][0], event.decided_s + held_s)
            # "not before amber has shown 4 s": lit at its spell's first on at most; any other end clears it at once
            ended = event.reason == "session_end"
            self.amber_kept_until_s = self.episodes[-1][0] + 4.0 if ended else -math.inf

    def dominance_shown(self, t_s: float, settle_s: float) -> list[tuple[float, float]]:
        """The dominance episodes that may still light amber (or red) at ``t_s``, their fade-out included."""
        return [(on_s, off_s) for on_s, off_s in self.episodes if on_s <= t_s <= off_s + settle_s]


@dataclass(frozen=True)
class Sample:
    """Every LED's value read from its pin after one delivered event, with what the model says then."""

    t_s: float
    values: dict[str, float]
    stopped: bool
    paused: bool
    fault: bool
    model: Model

    def __repr__(self) -> str:
        held = " paused" if self.paused else " fault" if self.fault else ""
        return f"Sample({self.t_s:.2f} s{held}{' stopped' if self.stopped else ''}: {self.values})"


@dataclass
class Run:
    samples: list[Sample]
    trace: str
    histories: dict[str, list[float]]  # each pin's states (gpiozero's record) up to the close
    released: dict[str, tuple[str, list[float]]]  # each pin's function after the close, and the states it went through


def led_value(factory: MockFactory, led: str, active_high: bool) -> float:
    state = float(factory.pin(PINS[led]).state)
    return round(state if active_high else 1.0 - state, 2)


def deliveries(stream: Stream, model: Model) -> Iterator[Event]:
    """The stream with its audio clock, as led_script.play delivers a script: each event before the block
    holding its time; audio dropped while paused or while the array is lost (by what was delivered so far)."""
    pending = list(stream.events)
    for k in range(round((SECONDS + TAIL_S) / BLOCK_S)):
        start_s = k * BLOCK_S
        while pending and delivered_at(pending[0]) < start_s + BLOCK_S - 1e-9:
            yield pending.pop(0)
        if model.paused or model.modes.get("array") is DeviceMode.FAULT:
            yield AudioDropped(start_s, BLOCK_S, "paused" if model.paused else "device_lost")
        else:
            yield AudioBlock(start_s, 16000, SILENT)


def drive(config: Config, pwm: bool, stream: Stream, stop_at: float | None = None, settle_s: float = 0.0) -> Run:
    """The stream through a LedStage on mock pins; ``stop_at``: the stop is asked for at that audio time."""
    factory = MockFactory(pin_class=MockPWMPin) if pwm else MockFactory()
    leds = config.leds
    names = ("red", "green", "blue") if leds.preset == "rgb" else ("green", "amber", "red")
    a = config.analytics
    model = Model(a.interrupting_display_s, a.interruption_min_s + BLOCK_S)
    samples: list[Sample] = []
    clock_s, stopped = 0.0, False
    try:
        trace = io.StringIO()
        stage = LedStage(config, factory=factory, trace=trace)
        stage.open()
        for event in deliveries(stream, model):
            at_s = stamp(event)
            at_s = clock_s if at_s is None else max(clock_s, at_s)  # the stage's clock: never back
            if stop_at is not None and not stopped and at_s >= stop_at:
                stage.stopping()
                stopped = True
            stage.process(event)
            clock_s = at_s
            model.update(event, clock_s, settle_s)
            values = {led: led_value(factory, led, leds.active_high) for led in names}
            samples.append(Sample(clock_s, values, stopped, model.paused, model.fault, _copy(model)))
        histories = {led: [float(s.state) for s in factory.pin(PINS[led]).states] for led in names}
        stage.close()
        released = {
            led: (factory.pin(PINS[led]).function, [float(s.state) for s in factory.pin(PINS[led]).states])
            for led in names
        }
    finally:
        factory.reset()
    return Run(samples, trace.getvalue(), histories, released)


def _copy(model: Model) -> Model:
    """What a sample keeps of the model (not the onsets shown)."""
    return replace(
        model, modes=dict(model.modes), episodes=list(model.episodes), shown=set(), speaking=dict(model.speaking)
    )


def settled(pwm: bool, fade_s: float) -> float:
    """How long after its cause a light may still be fading out: fade_s, drawn at the next 0.1 s block
    (pins without PWM switch at once)."""
    return (fade_s if pwm else 0.0) + BLOCK_S + 0.05
