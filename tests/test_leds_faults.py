"""Fault and pause lights on gpiozero's MockFactory: amber blinks alone, all three breathe, nothing hides them."""

from __future__ import annotations

import contextlib
import errno
import io
import threading
import time
from pathlib import Path
from typing import TextIO, cast

import pytest
from gpiozero.pins.mock import MockFactory

from listener.audio.live import OUTAGE_TICK_S
from listener.config import parse_config
from listener.console import Stdout
from listener.events import (
    AudioDropped,
    DeviceMode,
    DeviceState,
    Event,
    Interruption,
    Party,
    SourceState,
)
from listener.outputs import leds
from listener.outputs.leds import LedStage
from tests import led_script
from tests.led_script import (
    BLOCK_S,
    PINS,
    dominance,
    history,
    make_stage,
    play,
    speech,
    traced,
    value_at,
)
from tests.waiting import wait_until

factory = led_script.factory  # fixture


def test_fault_blinks_until_the_input_is_back(factory: MockFactory) -> None:
    stage, trace = make_stage(factory, fade_s=0.0)
    script: list[Event] = [
        DeviceState(t_s=3.0, mode=DeviceMode.FAULT, detail="model error"),
        DeviceState(t_s=6.0, mode=DeviceMode.LISTENING, detail="model back"),
        SourceState(t_s=8.0, available=False, detail="no audio from the array"),
        SourceState(t_s=11.0, available=True, detail="back"),
    ]
    with stage:
        play(stage, 14.0, script)
    amber, red = traced(trace, "amber"), traced(trace, "red")
    for start, end in ((3.0, 6.0), (8.0, 11.0)):
        a = [(round(t, 1), v) for t, v in amber if start <= t < end]
        # amber alone, a slow blink (1 s on, 1 s off): not steady amber, and no red, for the rep is not at fault
        assert a[:3] == [(start, 1.0), (start + 1.0, 0.0), (start + 2.0, 1.0)]
        assert [v for t, v in red if start <= t < end] == []
        assert value_at(trace, "green", start + 0.05) == 0.0
        assert value_at(trace, "amber", end + 0.05) == 0.0 and value_at(trace, "red", end + 0.05) == 0.0
        assert value_at(trace, "green", end + 0.05) == pytest.approx(0.3)
    assert history(factory, "amber")[2:] == [v for t, v in amber[2:]]


def test_a_fault_while_amber_is_on_shows_at_once_as_a_blink(factory: MockFactory) -> None:
    stage, trace = make_stage(factory, fade_s=0.0)
    fault = DeviceState(t_s=3.0, mode=DeviceMode.FAULT, detail="model error")
    script = [*speech(Party.REP, 0.5, 5.0), dominance(True, 1.0), fault]
    with stage:
        play(stage, 6.0, script)
    assert value_at(trace, "amber", 2.9) == 1.0 and value_at(trace, "red", 2.9) == 0.0
    # steady amber was on: the blink starts half-way, dark, so the change shows at once
    assert [value_at(trace, "amber", t) for t in (3.0, 3.5, 4.0, 5.0)] == [0.0, 0.0, 1.0, 0.0]
    assert value_at(trace, "red", 5.5) == 0.0


@pytest.mark.parametrize("mode", [DeviceMode.FAULT, DeviceMode.PAUSED])
def test_a_fault_or_a_pause_outranks_the_interruption_pulse(factory: MockFactory, mode: DeviceMode) -> None:
    # the pulse would run until 8.0 s; from 4.5 s the lights must say fault (amber blinking alone)
    # or pause (all three alike) unmistakably, not a red pulse that reads as "you interrupted"
    stage, trace = make_stage(factory, fade_s=0.0)
    script = [Interruption(by=Party.REP, onset_s=3.0, decided_s=4.0, successful=None)]
    with stage:
        play(stage, 9.0, [*script, DeviceState(t_s=4.5, mode=mode, detail="test")])
    assert value_at(trace, "red", 4.05) == 1.0  # the pulse was shown
    lights = [
        (value_at(trace, "green", t), value_at(trace, "amber", t), value_at(trace, "red", t))
        for t in (5.0, 5.25, 5.5, 5.75, 6.0, 6.25)
    ]
    if mode is DeviceMode.FAULT:
        assert all(g == 0.0 and r == 0.0 for g, a, r in lights), lights
        assert {a for g, a, r in lights} == {0.0, 1.0}, lights
    else:
        assert all(g == a == r for g, a, r in lights), lights


@pytest.mark.parametrize("mode", [DeviceMode.FAULT, DeviceMode.PAUSED])
def test_an_interruption_from_before_a_pause_or_fault_does_not_pulse_after_it(
    factory: MockFactory, mode: DeviceMode
) -> None:
    # back to listening at 5.5 s, before the pulse's 8.0 s: the interruption was before, so calm green
    stage, trace = make_stage(factory, fade_s=0.0)
    script = [
        Interruption(by=Party.REP, onset_s=3.0, decided_s=4.0, successful=None),
        DeviceState(t_s=4.5, mode=mode, detail="test"),
        DeviceState(t_s=5.5, mode=DeviceMode.LISTENING, detail="back"),
    ]
    with stage:
        play(stage, 9.0, script)
    assert [value_at(trace, "red", t) for t in (5.6, 6.0, 6.5, 7.0, 7.5)] == [0.0] * 5
    assert value_at(trace, "green", 6.0) == pytest.approx(0.3)


@pytest.mark.parametrize("mode", [DeviceMode.FAULT, DeviceMode.PAUSED])
@pytest.mark.parametrize("decided_s", [4.8, 5.8])
def test_an_interruption_begun_before_a_pause_or_fault_and_decided_in_or_after_it_does_not_pulse(
    factory: MockFactory, mode: DeviceMode, decided_s: float
) -> None:
    # the analytics hold a block back: an interruption that began at 4.4 s can be announced during the pause
    # (4.8 s) or, with its outcome, after it (5.8 s); either way it is from before, and the rep sees calm green
    stage, trace = make_stage(factory, fade_s=0.0)
    script = [
        DeviceState(t_s=4.5, mode=mode, detail="test"),
        DeviceState(t_s=5.5, mode=DeviceMode.LISTENING, detail="back"),
        Interruption(by=Party.REP, onset_s=4.4, decided_s=decided_s, successful=None),
    ]
    with stage:
        play(stage, 10.0, script)
    assert [value_at(trace, "red", t) for t in (5.6, 6.0, 6.5, 7.0, 8.0, 9.0)] == [0.0] * 6
    # one begun after the device is back pulses as ever
    stage, trace = make_stage(factory, fade_s=0.0)
    script = [*script[:2], Interruption(by=Party.REP, onset_s=5.6, decided_s=6.6, successful=None)]
    with stage:
        play(stage, 10.0, script)
    assert value_at(trace, "red", 6.65) == 1.0


def test_paused_breathes_all_three_and_audio_gaps_move_the_clock(factory: MockFactory) -> None:
    stage, trace = make_stage(factory)
    with stage:
        play(stage, 2.0)
        stage.process(DeviceState(t_s=2.0, mode=DeviceMode.PAUSED, detail="privacy button"))
        for k in range(20, 80):  # paused audio arrives as gaps, not blocks
            stage.process(AudioDropped(start_s=k * BLOCK_S, duration_s=BLOCK_S, reason="paused"))
        stage.process(DeviceState(t_s=8.0, mode=DeviceMode.LISTENING, detail="privacy button"))
        play(stage, 10.0, first_s=8.0)
    for led in ("green", "amber", "red"):
        values = [v for t, v in traced(trace, led) if 2.0 <= t < 8.0]
        assert max(values) == pytest.approx(0.6) and min(values) == 0.0
        assert len(values) > 20  # a slow, smooth breath (3 s) sampled every block
    assert value_at(trace, "green", 9.5) == pytest.approx(0.3) and value_at(trace, "amber", 9.5) == 0.0


def test_live_lights_keep_moving_when_no_audio_arrives(factory: MockFactory) -> None:
    """Live, a lost input stops the audio clock; the fault blink carries on at wall time."""
    config = parse_config({"leds": {"self_test_s": 0.0}})
    stage = LedStage(config, factory=factory, live=True)
    with stage:
        play(stage, 1.0)
        stage.process(SourceState(t_s=1.0, available=False, detail="no audio from the array"))
        amber = factory.pin(PINS["amber"])
        amber.clear_states()
        wait_until(lambda: len(amber.states) >= 4, 10.0)  # no events at all; three changes take about 3 s
        states = [s.state for s in amber.states[1:]]
    assert states[:3] == [0.0, 1.0, 0.0]  # on at the event (before clear_states), then blinking
    assert all(0.9 <= s.timestamp <= 1.2 for s in amber.states[2:4])  # a slow blink: 1 s on, 1 s off


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_trace_whose_disk_is_full_stops_once_and_the_lights_go_on(factory: MockFactory) -> None:
    """`listener run --led-trace > file` on a card that fills up while the input is gone: the ticker drawing the
    fault blink met ENOSPC, caught only for a closed pipe, and died of it (a traceback, the blink frozen). The
    lights go on; the next event stops the run with the error, once, for the command line's one line."""
    stage = LedStage(parse_config({"leds": {"self_test_s": 0.0}}), factory=factory, trace=io.StringIO(), live=True)
    lost = SourceState(t_s=1.0, available=False, detail="no audio from the array")
    full = Path("/dev/full").open("w", buffering=1)  # noqa: SIM115  line-buffered: a line meets the full disk
    try:
        with stage:
            play(stage, 1.0)
            stage.process(lost)
            stdout = Stdout(full)  # the command's stdout (main() makes sys.stdout one), on a card full from now on
            stage.trace = cast(TextIO, stdout)
            amber = factory.pin(PINS["amber"])
            amber.clear_states()
            assert wait_until(lambda: len(amber.states) >= 4, 10.0), amber.states  # still blinking, at wall time
            with pytest.raises(OSError) as err:
                stage.process(lost)
            assert err.value is stdout.error and err.value.errno == errno.ENOSPC  # what main() says in one line
            stage.process(lost)  # said once: the trace is off, the lights go on
    finally:
        with contextlib.suppress(OSError):  # what is still buffered cannot be written either
            full.close()


def test_live_lights_follow_the_audio_clock_alone_while_audio_arrives(
    factory: MockFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wall-time ticker draws only when no event has come for IDLE_S: while audio arrives, every value is
    drawn at an audio block's end, as a replay draws it (led_patterns: a replay gives the live device's trace).
    Paused, so the breath changes at nearly every block; the audio comes faster than real time."""
    # 1 s, not the shipped 0.1 s: on two shared CI cores a 30 ms sleep can overrun by 70 ms, and the ticker
    # would then rightly draw at wall time; the ticker still wakes every TICK_S between the blocks
    monkeypatch.setattr(leds, "IDLE_S", 1.0)
    config = parse_config({"leds": {"self_test_s": 0.0}})
    trace = io.StringIO()
    stage = LedStage(config, factory=factory, trace=trace, live=True)
    with stage:
        stage.process(DeviceState(t_s=0.0, mode=DeviceMode.PAUSED, detail="privacy button"))
        for k in range(100):  # 5 s of audio in about 3 s, each block well within IDLE_S of the last
            stage.process(AudioDropped(start_s=k * 0.05, duration_s=0.05, reason="paused"))
            time.sleep(0.03)
    drawn = [t for t, _ in traced(trace, "amber") if 0.0 < t <= 5.0]
    off_grid = [t for t in drawn if abs(t / 0.05 - round(t / 0.05)) >= 1e-6]
    assert len(drawn) > 50 and not off_grid, drawn  # drawing between arriving blocks put 34 of 117 off the grid


class CountedWaits(threading.Event):
    """The ticker's stop flag, counting how often the ticker slept on it: each wait is a wake-up."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def test_the_ticker_sleeps_while_audio_arrives(factory: MockFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live, the ticker woke every TICK_S (50 ms) to find that an event had come within IDLE_S: twenty wake-ups a
    second, all day, for nothing. It sleeps until the last event is IDLE_S old, so it wakes once in each IDLE_S
    that audio keeps coming."""
    monkeypatch.setattr(leds, "IDLE_S", 1.0)  # as above: a late block on a busy CI core is no idle spell
    stage = LedStage(parse_config({"leds": {"self_test_s": 0.0}}), factory=factory, live=True)
    stage._stop = waits = CountedWaits()
    with stage:
        for k in range(50):  # 2.5 s of audio in 1.5 s, each block well within IDLE_S of the last
            stage.process(AudioDropped(start_s=k * 0.05, duration_s=0.05, reason="overflow"))
            time.sleep(0.03)
    assert waits.waits <= 3, waits.waits  # every TICK_S: 30


def test_a_broker_outage_during_a_pause_never_hides_the_pause(factory: MockFactory) -> None:
    # the rep paused for privacy; the broker went down and came back meanwhile: the lights must
    # say "paused" (all three breathing) all along, never a fault blink or a calm green while audio is discarded
    stage, trace = make_stage(factory, fade_s=0.0)
    script: list[Event] = [
        DeviceState(t_s=2.0, mode=DeviceMode.PAUSED, detail="privacy button", cause="button"),
        DeviceState(t_s=4.0, mode=DeviceMode.FAULT, detail="broker unreachable", cause="broker"),
        DeviceState(t_s=6.0, mode=DeviceMode.LISTENING, detail="broker reachable again", cause="broker"),
        DeviceState(t_s=12.0, mode=DeviceMode.LISTENING, detail="privacy button", cause="button"),
    ]
    with stage:
        play(stage, 14.0, script)
    # the pause is answered throughout: the broker's fault never hides it (the state topic reports the fault)
    for led in ("green", "amber", "red"):
        values = [v for t, v in traced(trace, led) if 2.5 <= t < 12.0]
        assert max(values) == pytest.approx(0.6) and len(values) > 40
    lights = [tuple(value_at(trace, c, t) for c in ("green", "amber", "red")) for t in (4.05, 4.55, 5.05, 5.55)]
    assert all(g == a == r for g, a, r in lights), lights
    assert value_at(trace, "green", 13.5) == pytest.approx(0.3) and value_at(trace, "amber", 13.5) == 0.0


@pytest.mark.parametrize("mode", [DeviceMode.FAULT, DeviceMode.PAUSED])
def test_red_comes_only_after_amber_has_shown_even_when_dominance_began_under_a_fault(
    factory: MockFactory, mode: DeviceMode
) -> None:
    """for-reps.md: red is "still amber, and you have talked for 45 s since it turned amber". Dominance decided
    while a broker fault (or a pause) showed counted the rep's talk from its decision, so the lights went from
    the fault's blink straight to red. The count starts when amber can first show."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    script: list[Event] = [
        DeviceState(t_s=1.0, mode=mode, detail="test"),
        *speech(Party.REP, 2.0, 40.0),
        dominance(True, 5.0),
        DeviceState(t_s=20.0, mode=DeviceMode.LISTENING, detail="back"),
    ]
    with stage:
        play(stage, 40.0, script)
    lit = [led_script.lit_at(trace, t) for t in (20.5, 25.0, 29.5)]
    assert lit == ["a", "a", "a"], lit  # 15 s of the rep's talk under the fault: none of it counts for red
    assert led_script.lit_at(trace, 30.5) == "r"  # 10 s of talk since amber first showed at 20 s


def held(kind: str, from_s: float, back_s: float) -> list[Event]:
    """A privacy pause, or the array lost, from ``from_s`` until ``back_s``."""
    if kind == "pause":
        return [
            DeviceState(t_s=from_s, mode=DeviceMode.PAUSED, detail="privacy button", cause="button"),
            DeviceState(t_s=back_s, mode=DeviceMode.LISTENING, detail="privacy button", cause="button"),
        ]
    return [
        SourceState(t_s=from_s, available=False, detail="array lost"),
        SourceState(t_s=back_s, available=True, detail="array back"),
    ]


@pytest.mark.parametrize("kind", ["pause", "array lost"])
@pytest.mark.parametrize("held_s", [8.0, 15.0])
def test_a_pause_or_fault_is_no_quiet_spell_however_long(factory: MockFactory, kind: str, held_s: float) -> None:
    """The rep dominating talks up to a pause (or a lost array) and on again just after it. The time held
    counted as 10 s with nobody speaking, so after one of 10 s or more calm green flashed for about a second,
    then amber; after a shorter one, amber at once. The device heard nothing then: amber at once either way."""
    stage, trace = make_stage(factory, fade_s=0.0)
    back_s = 50.0 + held_s
    script = [
        dominance(True, 20.0),
        *speech(Party.CUSTOMER, 2.0, 6.0),
        *speech(Party.REP, 7.0, 49.9),
        *held(kind, 50.0, back_s),
        *speech(Party.REP, back_s + 0.1, back_s + 20.0),
    ]
    with stage:
        play(stage, back_s + 25.0, script)
    lit = [led_script.lit_at(trace, back_s + k * BLOCK_S) for k in range(1, 50)]
    assert lit == ["a"] * len(lit), lit


def test_the_pause_breathes_smoothly_while_a_lost_array_tells_its_outage(factory: MockFactory) -> None:
    """A lost array's dropped audio arrives every live.OUTAGE_TICK_S (0.25 s); the ticker drew between events
    only after 0.3 s without one, so it never did, and the breath moved in 0.25 s steps of up to a fifth of its
    range. It draws after IDLE_S (0.1 s) now, every TICK_S."""
    stage = LedStage(parse_config({"leds": {"self_test_s": 0.0}}), factory=factory, live=True)
    with stage:
        play(stage, 1.0)
        stage.process(DeviceState(t_s=1.0, mode=DeviceMode.PAUSED, detail="privacy button"))
        green = factory.pin(PINS["green"])
        green.clear_states()
        for k in range(8):
            time.sleep(OUTAGE_TICK_S)
            stage.process(AudioDropped(start_s=1.0 + k * OUTAGE_TICK_S, duration_s=OUTAGE_TICK_S, reason="device_lost"))
        gaps = sorted(s.timestamp for s in green.states[1:])  # gpiozero's mock pin: seconds since the last change
    assert len(gaps) >= 16 and gaps[len(gaps) // 2] <= 0.1, gaps  # mostly every TICK_S, as it breathes
