"""Driving the LED stage in tests: scripted events on an audio clock, and what the lights did.

Times are audio seconds: the stage is fed 100 ms audio blocks as its clock, with each scripted
event arriving before the block it falls in (the order the pipeline delivers them in).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from gpiozero.exc import PinError
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.config import parse_config
from listener.events import (
    ActivityFrames,
    AudioBlock,
    DominanceChanged,
    Event,
    Party,
    SpeechSegment,
    SpeechStarted,
)
from listener.outputs.leds import LedStage, event_time_s
from listener.pipeline import Stage

PINS = {"green": "GPIO22", "amber": "GPIO23", "red": "GPIO24", "blue": "GPIO25"}
BLOCK_S = 0.1


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """gpiozero's own mock pins, with PWM: what the LED and button tests drive (a fixture; import it)."""
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


class BreakingPin(MockPWMPin):  # type: ignore[misc]  # gpiozero has no type hints
    """gpiozero's PWM mock pin, whose writes raise gpiozero's pin error once ``broken`` is set (a pin daemon gone)."""

    broken = False

    def _set_state(self, value: float) -> None:
        if self.broken:
            raise PinError(f"cannot write {self!r}: the pin daemon is gone")
        super()._set_state(value)


@pytest.fixture
def breaking_factory() -> Iterator[MockFactory]:
    """Mock pins of :class:`BreakingPin` (a fixture; import it)."""
    f = MockFactory(pin_class=BreakingPin)
    yield f
    f.reset()


def make_stage(factory: MockFactory, **leds: object) -> tuple[LedStage, io.StringIO]:
    trace = io.StringIO()
    config = parse_config({"leds": {"self_test_s": 0.0, **leds}})
    return LedStage(config, factory=factory, trace=trace), trace


def block(start_s: float) -> AudioBlock:
    return AudioBlock(start_s=start_s, sample_rate_hz=16000, samples=np.zeros((1600, 4), dtype=np.float32))


def play(stage: Stage, until_s: float, script: Sequence[Event] = (), *, first_s: float = 0.0) -> None:
    """Feed blocks from ``first_s`` to ``until_s``; a scripted event arrives before the block holding its time."""
    pending = sorted(script, key=_time)
    for k in range(round(first_s / BLOCK_S), round(until_s / BLOCK_S)):
        start_s = k * BLOCK_S
        while pending and _time(pending[0]) < start_s + BLOCK_S - 1e-9:
            stage.process(pending.pop(0))
        stage.process(block(start_s))


def _time(event: Event) -> float:
    if isinstance(event, SpeechStarted):  # decided as its first frame is seen
        return event.onset_s
    if isinstance(event, ActivityFrames):
        return event.start_s + event.lag_s
    return event_time_s(event) or 0.0


def speech(party: Party, start_s: float, end_s: float) -> list[Event]:
    """A stretch of one party's speech as the timeline reports it: started, then closed 0.2 s after it ends."""
    return [SpeechStarted(party=party, onset_s=start_s), SpeechSegment(party, start_s, end_s, end_s + 0.2)]


def heard(party: Party, start_s: float, end_s: float, until_s: float, hop_s: float = 0.02) -> list[Event]:
    """The frames the turn stage emits, one per BLOCK_S from 0 to ``until_s``: ``party`` active in [start_s, end_s)."""
    events: list[Event] = []
    n = round(BLOCK_S / hop_s)
    for k in range(round(until_s / BLOCK_S)):
        times = k * BLOCK_S + hop_s * np.arange(n)
        active = (times >= start_s - 1e-9) & (times < end_s - 1e-9)
        silent, probs = np.zeros(n, dtype=bool), np.where(active, 0.9, 0.1).astype(np.float32)
        rep, customer = (active, silent) if party is Party.REP else (silent, active)
        events.append(
            ActivityFrames(k * BLOCK_S, hop_s, rep, customer, probs, 1 - probs, np.full(n, np.nan, np.float32))
        )
    return events


def history(factory: MockFactory, led: str) -> list[float]:
    """The states the mock pin went through (gpiozero's own record), initial state dropped."""
    return [float(s.state) for s in factory.pin(PINS[led]).states[1:]]


def traced(trace: io.StringIO, led: str) -> list[tuple[float, float]]:
    lines = [json.loads(line) for line in trace.getvalue().splitlines()]
    return [(d["t"], d["value"]) for d in lines if d["led"] == led]


def value_at(trace: io.StringIO, led: str, t_s: float) -> float:
    """The LED's value at audio time ``t_s``, from the trace."""
    value = 0.0
    for t, v in traced(trace, led):
        if t <= t_s + 1e-9:
            value = v
    return value


def lit_at(trace: io.StringIO, t_s: float) -> str:
    """The traffic light's lit lamps at audio time ``t_s``, as their initials in order: "g", "a", "ar", ..."""
    return "".join(c[0] for c in ("green", "amber", "red") if value_at(trace, c, t_s) > 0.0)


def dominance(on: bool, t_s: float, share: float = 0.7) -> DominanceChanged:
    return DominanceChanged(dominating=on, onset_s=t_s - 0.5, decided_s=t_s, rep_share=share, reason="share")
