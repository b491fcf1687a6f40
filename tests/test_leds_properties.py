"""Properties of the LED stage on generated event streams (hypothesis), read from gpiozero's mock pins.

tests/led_streams.py draws well-formed streams (speech, dominance, interruptions, pauses, faults, the array
lost and back, audio as the clock); tests/led_model.py drives the stage through them, reads every pin after
each delivered event and keeps beside it what the docs say the lights follow then. Each check quotes the
sentence of README.md ("## LEDs") or docs/for-reps.md it holds the pins to. The preset, pins without PWM,
fade_s, calm_level, active-low wiring and a stop at any moment are drawn too.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener.config import Config, parse_config
from listener.events import Party
from listener.outputs import leds
from tests.led_model import Run, Sample, drive, settled
from tests.led_streams import SECONDS, TAIL_S, Stream, streams

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EPS = 1e-6


@pytest.fixture(autouse=True, scope="module")
def no_self_test_pause() -> Iterator[None]:
    """The start-up self-test sleeps 50 ms a lamp at self_test_s = 0: hundreds of stages here, none about it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leds, "SELF_TEST_BLINK_S", 0.0)
        yield


@dataclasses.dataclass(frozen=True)
class Setup:
    leds: tuple[tuple[str, object], ...]  # [leds] keys drawn: a failing example prints them, not a whole config
    pwm: bool
    stop_at: float | None

    @functools.cached_property
    def config(self) -> Config:
        return parse_config({"leds": dict(self.leds)})

    @property
    def rgb(self) -> bool:
        return self.config.leds.preset == "rgb"

    @property
    def settle_s(self) -> float:
        return settled(self.pwm, self.config.leds.fade_s)

    def lit(self, level: float) -> float:
        """A steady level as the pins show it: without PWM "the calm light is on however low calm_level is"."""
        if self.pwm:
            return level
        return 1.0 if level >= min(0.2, self.config.leds.calm_level) else 0.0


@st.composite
def setups(draw: st.DrawFn, presets: tuple[str, ...], red_after_s: tuple[float, ...]) -> Setup:
    leds = {
        "preset": draw(st.sampled_from(presets)),
        "fade_s": draw(st.sampled_from([0.0, 0.3, 0.8, 2.0])),
        "calm_level": draw(st.sampled_from([0.05, 0.3, 1.0])),
        "active_high": draw(st.booleans()),
        "red_after_s": draw(st.sampled_from(red_after_s)),
        "self_test_s": 0.0,
    }
    stop_at = draw(st.none() | st.integers(0, round((SECONDS + TAIL_S) * 10)).map(lambda k: k / 10))
    return Setup(tuple(leds.items()), draw(st.booleans()), stop_at)


def listening(run: Run) -> list[Sample]:
    return [s for s in run.samples if not s.stopped]


def check_ranges(setup: Setup, run: Run) -> None:
    """docs/config.md: values 0.0–1.0; README: "where the pins cannot do PWM the LEDs are switched on and off"."""
    for s in run.samples:
        assert all(0.0 <= v <= 1.0 for v in s.values.values()), s
        assert setup.pwm or set(s.values.values()) <= {0.0, 1.0}, s


def check_pause(setup: Setup, run: Run) -> None:
    """README: paused, "all three breathe together, 3 s cycles — the only state with all three lit | blue
    breathes"; "On the lights a pause outranks everything, a fault included"."""
    top = 1.0 if not setup.pwm else 0.7 if setup.rgb else 0.6
    for s in listening(run):
        v = s.values
        if setup.rgb and s.paused:
            assert v["red"] == v["green"] == 0.0 and v["blue"] <= top, s
        elif s.paused:
            assert v["green"] == v["amber"] == v["red"] <= top, s
        elif not setup.rgb and s.t_s > s.model.pause_end_s + setup.settle_s:
            assert min(v.values()) == 0.0, ("all three lit outside a pause", s)


def check_fault(setup: Setup, run: Run) -> None:
    """README: fault, "amber alone blinks slowly, 2 s cycles, the other lights dark at once (never red: the rep
    is not at fault) | magenta blinks slowly, 2 s cycles, green dark at once"."""
    blinking = "red" if setup.rgb else "amber"
    for s in listening(run):
        if s.fault:
            v = s.values
            assert v["green"] == 0.0 and v[blinking] in (0.0, 1.0), s
            assert v["red"] == v["blue"] if setup.rgb else v["red"] == 0.0, s
    for spell in spells(run, lambda s: s.fault):
        # a blink of 1 s on, 1 s off from the fault's start, drawn at the next block: it changes there and only
        # there, and never stops while the fault lasts
        start_s = spell[0].t_s
        changes = [b.t_s for a, b in itertools.pairwise(spell) if a.values[blinking] != b.values[blinking]]
        for t_s in changes:
            phase_s = (t_s - start_s) - math.floor(t_s - start_s + EPS)
            assert -EPS <= phase_s <= 0.1 + EPS, (t_s, start_s, changes)
        points = [start_s, *changes, spell[-1].t_s]
        assert all(b - a <= 1.1 + EPS for a, b in itertools.pairwise(points)), ("a blink stuck", points)


def check_on_off_breath(setup: Setup, run: Run) -> None:
    """README, pins without PWM: "a pulse or breath is lit for its upper half, so it blinks evenly, the first
    flash too"; the breath is 3 s, so lit and dark 1.5 s each."""
    if setup.pwm:
        return
    led = "blue" if setup.rgb else "green"
    for spell in spells(run, lambda s: s.paused):
        changes = [b.t_s for a, b in itertools.pairwise(spell) if a.values[led] != b.values[led]]
        points = [spell[0].t_s, *changes]
        assert all(1.35 - EPS <= b - a <= 1.65 + EPS for a, b in itertools.pairwise(points)), points
        assert spell[-1].t_s - points[-1] <= 1.65 + EPS, ("a breath stuck", points)


def check_red(setup: Setup, run: Run) -> None:
    """README: "rep interrupts | red pulses smoothly, 1 s cycles, for analytics.interrupting_display_s (4 s); green
    goes dark at once meanwhile, no fade ... (not for an interruption begun before a pause or a fault: it is old
    news once the lights are back)", held at most interruption_min_s "plus one 0.1 s block" past a rep start
    in it. With red_after_s out of reach, red is nothing else (on the RGB LED also amber's red)."""
    for before, s in itertools.pairwise(listening(run)):
        m = s.model
        if s.values["red"] > 0.0 and not s.paused and not s.fault:
            pulse = s.t_s < m.pulse_until_s + setup.settle_s
            aftermath = s.t_s <= m.held_look_since_s + setup.settle_s  # a breath or blink fading out
            amber = setup.rgb and bool(m.dominance_shown(s.t_s, setup.settle_s))
            assert pulse or aftermath or amber, ("red without an interruption", s)
        if m.fresh_pulse:
            # seen at once: from its top, or from its trough where red was lit already (led_patterns: "half-way
            # through if that alone makes the change visible at once")
            seen = s.values["red"] == 1.0 or s.values["red"] != before.values["red"]
            assert seen and s.values["green"] == 0.0, ("the pulse not shown at once", before, s)


def check_green_and_red(setup: Setup, run: Run) -> None:
    """README: "nor the interruption's red with calm green"; on the RGB LED "red and green together read as
    amber", so only amber lights them together."""
    for s in listening(run):
        if s.values["green"] == 0.0 or s.values["red"] == 0.0 or s.paused:
            continue
        if s.t_s <= s.model.pause_end_s + setup.settle_s:
            continue  # the breath fading out (all three lit, a pause's look)
        assert setup.rgb and s.model.dominance_shown(s.t_s, setup.settle_s), ("green and red together", s)


def check_amber(setup: Setup, run: Run) -> None:
    """README: "the lights follow DominanceChanged, not the share"; "rep dominates talk time | green fades out,
    amber fades in (fade_s)", for-reps.md: "it comes on as you talk"; "the visit ends ... calm green again
    (dominance ends with its session), but not before amber has shown 4 s"."""
    bc_s = setup.config.analytics.backchannel_max_s
    for s in listening(run):
        m, v = s.model, s.values
        if s.paused or s.fault:
            continue
        shown = m.dominance_shown(s.t_s, setup.settle_s)
        if not setup.rgb and v["amber"] > 0.0 and s.t_s > m.held_look_since_s + setup.settle_s:
            assert shown, ("amber without dominance", s)
        rep_since_s = m.speaking.get(Party.REP)
        if not (m.dominating or s.t_s < m.amber_kept_until_s - EPS) or rep_since_s is None:
            continue
        # dominating, the rep holding forth: amber, once the fade (and a pulse's fade-out before it) is over
        on_s = max(m.dominating_since_s, m.plain_since_s, rep_since_s + bc_s + 0.01)
        if s.t_s < on_s + 2 * setup.settle_s:
            continue
        if not setup.rgb:
            assert v["amber"] == 1.0, ("no amber for a dominating rep", s)
        elif s.t_s > m.pulse_until_s + setup.settle_s:
            assert (v["red"], v["green"], v["blue"]) == (1.0, setup.lit(0.35), 0.0), ("no amber", s)


def check_soft_fades(setup: Setup, run: Run) -> None:
    """README: "Between steady looks the lights cross-fade (fade_s)": amber, never set aside on the traffic
    light, moves at most fade_s's pace outside a pause or a fault (the first frame shown at once, 0.1 s of it);
    green comes on at that pace too."""
    fade_s = setup.config.leds.fade_s
    if setup.rgb or not setup.pwm or fade_s == 0.0:
        return
    calm = setup.config.leds.calm_level
    for a, b in itertools.pairwise(listening(run)):
        if a.paused or a.fault or b.paused or b.fault:
            continue
        pace = (b.t_s - a.t_s + 0.1) / fade_s
        assert abs(b.values["amber"] - a.values["amber"]) <= pace + 0.011, ("amber jumped", a, b)
        assert b.values["green"] - a.values["green"] <= calm * pace + 0.011, ("green jumped on", a, b)


def check_the_end(setup: Setup, run: Run) -> None:
    """After TAIL_S with nothing new: what the latest reports say, never stuck. README: "nobody has spoken for
    10 s while the device listened | calm green again"; paused, all breathe; a fault blinks."""
    if setup.stop_at is not None:
        return
    last = run.samples[-1]
    recent = [s for s in run.samples if s.t_s >= last.t_s - 3.1]
    led = "blue" if setup.rgb else "green"
    if last.paused:
        assert max(s.values[led] for s in recent) - min(s.values[led] for s in recent) >= 0.3, "the breath stuck"
    elif last.fault:
        blinking = "red" if setup.rgb else "amber"
        assert {s.values[blinking] for s in recent} == {0.0, 1.0}, "the blink stuck"
    else:
        calm = setup.lit(setup.config.leds.calm_level)
        expected = {"green": calm, "amber": 0.0, "red": 0.0, "blue": 0.0}
        assert last.values == {led: expected[led] for led in last.values}, last


def check_dark_when_stopped(setup: Setup, run: Run) -> None:
    """README: "service stopped | all off, from the stop's request (not when the recogniser and the broker are
    done)"; the stage's close leaves every pin driven dark, then released (gpiozero's close)."""
    assert all(set(s.values.values()) == {0.0} for s in run.samples if s.stopped)
    off = 0.0 if setup.config.leds.active_high else 1.0
    for led, (function, states) in run.released.items():
        history = run.histories[led]
        closing = states[len(history) :]
        assert function == "input", led  # released, as gpiozero's close does
        # driven dark if it was lit, never lit on the way; the release (an input, no pull) drives nothing after it
        last_off = max((i for i, level in enumerate(closing) if level == off), default=-1)
        assert history[-1] == off or last_off >= 0, (led, history[-3:], closing)
        assert all(level == off for level in closing[: last_off + 1]), (led, closing)


def check_red_for_a_rep_holding_forth(setup: Setup, run: Run, stream: Stream) -> None:
    """for-reps.md: red, steady, is "still amber, and you have talked for 45 s in all since it turned amber ...;
    back to amber once the customer takes a turn or about 5 s after you stop talking"; README: "then amber,
    never straight to red"."""
    settle_s, red_after_s = setup.settle_s, setup.config.leds.red_after_s
    for before, s in itertools.pairwise(listening(run)):
        m = s.model
        if s.values["red"] == 0.0 or s.paused or s.fault or s.t_s <= m.held_look_since_s + settle_s:
            continue  # a breath or a blink, or its fade-out
        if s.t_s < m.pulse_until_s + 2 * settle_s:
            continue  # the interruption pulse, its fade-out, and what waited for it
        talk_s = [stream.rep_talk_s(on_s, min(off_s, s.t_s)) for on_s, off_s in m.dominance_shown(s.t_s, settle_s)]
        assert max(talk_s, default=0.0) >= red_after_s - EPS, ("red before red_after_s of the rep's talk", s)
        rep_heard_s = s.t_s if Party.REP in m.speaking else stream.rep_end_before_s(s.t_s)
        assert s.t_s <= rep_heard_s + 5.0 + settle_s, ("red at a rep silent for over 5 s", s)
        assert before.values["red"] > 0.0 or before.values["amber"] > 0.0, ("straight to red", before, s)


def check_the_trace(setup: Setup, run: Run) -> None:
    """README: "--led-trace prints one JSON line per LED change, the value read back from the gpiozero device"."""
    if not setup.config.leds.active_high:
        return  # the pins are driven inverted; the values are checked through the pins themselves above
    lines = [json.loads(line) for line in run.trace.splitlines()]
    for led, (_, states) in run.released.items():  # the close's drives too; gpiozero's first state is the pin's own
        assert [d["value"] for d in lines if d["led"] == led] == states[1:], led


def spells(run: Run, holds: Callable[[Sample], bool]) -> list[list[Sample]]:
    """Runs of consecutive samples (before any stop) for which ``holds`` is true."""
    return [list(group) for key, group in itertools.groupby(listening(run), key=holds) if key]


def check_everything(setup: Setup, run: Run, stream: Stream) -> None:
    check_ranges(setup, run)
    check_pause(setup, run)
    check_fault(setup, run)
    check_on_off_breath(setup, run)
    check_red(setup, run)
    check_green_and_red(setup, run)
    check_amber(setup, run)
    check_soft_fades(setup, run)
    check_the_end(setup, run)
    check_dark_when_stopped(setup, run)


@PROPERTY
@given(streams(), setups(("traffic-light", "rgb"), (3600.0,)))
def test_the_lights_show_what_the_docs_say(stream: Stream, setup: Setup) -> None:
    check_everything(setup, drive(setup.config, setup.pwm, stream, setup.stop_at, setup.settle_s), stream)


@PROPERTY
@given(streams(around_a_pulse=True), setups(("traffic-light", "rgb"), (3600.0,)))
def test_the_interruption_pulse_yields_to_a_pause_or_a_fault(stream: Stream, setup: Setup) -> None:
    """README: "On the lights a pause outranks everything, a fault included"; the pulse shows "not for an
    interruption begun before a pause or a fault: it is old news once the lights are back"."""
    check_everything(setup, drive(setup.config, setup.pwm, stream, setup.stop_at, setup.settle_s), stream)


@PROPERTY
@given(streams(), setups(("traffic-light",), (2.0, 6.0)))
def test_red_is_for_a_rep_holding_forth(stream: Stream, setup: Setup) -> None:
    """red_after_s within these 40 s streams; not under backchannel_max_s (1 s), where README says red comes
    straight after a quiet spell's calm green."""
    run = drive(setup.config, setup.pwm, stream, setup.stop_at, setup.settle_s)
    check_red_for_a_rep_holding_forth(setup, run, stream)
    check_green_and_red(setup, run)
    check_pause(setup, run)
    check_fault(setup, run)
    check_the_end(setup, run)


@settings(PROPERTY, max_examples=25)
@given(streams(), setups(("traffic-light", "rgb"), (3600.0, 2.0)))
def test_the_same_stream_lights_the_same(stream: Stream, setup: Setup) -> None:
    """README: "Every light is a function of *audio* time, so a replay gives exactly the lights the live device
    would have shown"."""
    first = drive(setup.config, setup.pwm, stream, setup.stop_at, setup.settle_s)
    again = drive(setup.config, setup.pwm, stream, setup.stop_at, setup.settle_s)
    assert first.histories == again.histories and first.released == again.released
    assert first.trace == again.trace and [s.values for s in first.samples] == [s.values for s in again.samples]
    check_the_trace(setup, first)
