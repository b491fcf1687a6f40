"""Where one look gives way to another: the interruption pulse and the fault blink never lit together with
calm green, a pulse that a new interruption continues, on/off pins blinking evenly from the first flash.
gpiozero's MockFactory as in test_leds.py; times are audio seconds."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.config import parse_config
from listener.events import DeviceMode, DeviceState, Event, Interruption, Party, SpeechSegment, SpeechStarted
from listener.outputs.led_patterns import PULSE_PERIOD_S, TRAFFIC_LIGHT, Animator, Channel, Pulse, traffic_light
from listener.outputs.led_status import Look, Status
from tests import led_script
from tests.led_script import BLOCK_S, dominance, make_stage, play, speech, traced, value_at

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
    if pwm:  # red fades out rather than snapping off, and green follows at once, fading in as softly
        assert 0.0 < value_at(trace, "red", 9.3) < value_at(trace, "red", 9.05)
        assert 0.0 < value_at(trace, "green", 9.8) < value_at(trace, "green", 10.1) < 0.3


@pytest.mark.parametrize(("dominating", "coming"), [(False, "green"), (True, "amber")])
@pytest.mark.parametrize("at_s", [14.0, 14.2, 14.5])
def test_a_look_that_changes_while_the_pulse_fades_waits_for_it_too(dominating: bool, coming: str, at_s: float) -> None:
    """The pulse ends at 14.0 s and its red fades out until 14.7 s. Dominance ending then (the rep was dominating
    under the pulse) lit calm green at once beside the fading red, all three lamps lit outside a pause; dominance
    starting then (the pulse over calm green) lit amber beside it. The light coming on waits for red's dark."""
    before = [*speech(Party.REP, 1.0, 8.0), dominance(True, 5.0)] if not dominating else []
    script = [
        *before,
        *speech(Party.CUSTOMER, 8.5, 20.0),
        *speech(Party.REP, 9.0, 11.0),
        Interruption(by=Party.REP, onset_s=9.0, decided_s=10.0, successful=None),
        dominance(dominating, at_s),
    ]
    trace = run(True, script, 16.0)
    lit = [(t, s) for t, s in states(trace) if 13.9 < t < 15.0 and s.get(coming, 0.0) > 0.0]
    assert lit and all(s.get("red", 0.0) == 0.0 for _, s in lit), lit  # it does come on, after red is dark
    assert value_at(trace, "red", 14.5) > 0.0  # red still fading then: the case itself


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


def rep_cuts_in_twice(second_s: float, second_decided: bool) -> list[Event]:
    """The customer talks from 0.5 s to 15 s; the rep cuts in at 3.0 s (decided at 4.0, shown until 8.0 s) and
    again at ``second_s``, inside that display; the second is decided an interruption 1 s later or not at all."""
    script: list[Event] = [
        *speech(Party.CUSTOMER, 0.5, 15.0),
        *speech(Party.REP, 3.0, 4.5),
        Interruption(by=Party.REP, onset_s=3.0, decided_s=4.0, successful=None),
        *speech(Party.REP, second_s, second_s + (2.0 if second_decided else 0.3)),
    ]
    if second_decided:
        script.append(Interruption(by=Party.REP, onset_s=second_s, decided_s=second_s + 1.0, successful=None))
    return script


@PWM
def test_an_interruption_begun_in_the_pulses_last_second_continues_it_in_phase(pwm: bool) -> None:
    """The second interruption began at 7.6 s, inside the first's display, but was decided at 8.6 s: calm
    green came back for the 0.6 s between (0.1 s on pins without PWM, the PWM fade-out hiding the rest) and
    the pulse started over. The pulse now holds on until the decision is due and goes on from it."""
    trace = run(pwm, rep_cuts_in_twice(7.6, True), 14.0)
    blocks = [round(k * BLOCK_S, 1) for k in range(40, 126)]  # 4.0 s to 12.5 s: both displays, end to end
    assert all(value_at(trace, "green", t) == 0.0 for t in blocks)
    red = [value_at(trace, "red", t) for t in blocks]
    if pwm:  # one pulse, in phase from its start at 4.0 s: no seam at 8.0 s or 8.6 s
        assert red == [round(Pulse(PULSE_PERIOD_S, 0.0, 1.0).at(t - 4.0), 2) for t in blocks]
    else:  # lit and dark half a second each, throughout
        spells = [len(list(g)) for _, g in itertools.groupby(red)]
        assert spells[:-1] == [5] * (len(spells) - 1) and len(spells) == 18, red
    assert value_at(trace, "red", 13.5) == 0.0 and value_at(trace, "green", 13.9) > 0.0


def test_a_rep_sound_at_the_pulses_end_holds_it_only_until_its_decision_was_due(factory: MockFactory) -> None:
    """A rep stretch begun over the customer in the display's last second that is not an interruption holds
    the pulse until 1.1 s after its onset at most (this 0.3 s one until it is closed at 8.1 s); then calm green."""
    stage, trace = make_stage(factory)
    with stage:
        play(stage, 12.0, rep_cuts_in_twice(7.6, False))
    assert value_at(trace, "red", 8.6) > 0.0 and value_at(trace, "green", 8.6) == 0.0  # held past 8.0 s
    assert value_at(trace, "red", 9.6) == 0.0 and value_at(trace, "green", 10.5) == pytest.approx(0.3)


def test_the_hold_ends_a_tenth_of_a_second_after_the_decision_was_due() -> None:
    """The same, on the status at exact audio times: the decision is due interruption_min_s (1 s) after the
    onset at 7.6 s, delivered with the block holding it; the pulse shows to 8.7 s, not a block longer."""
    status = Status.from_config(parse_config({}))
    rep_started, rep_closed = speech(Party.REP, 3.0, 4.5)
    for event in [
        SpeechStarted(party=Party.CUSTOMER, onset_s=0.5),  # and talking on to 15 s
        rep_started,
        Interruption(by=Party.REP, onset_s=3.0, decided_s=4.0, successful=None),  # shown until 8.0 s
        rep_closed,
        SpeechStarted(party=Party.REP, onset_s=7.6),
    ]:
        status.update(event)
    assert status.shown(8.69)[1] and not status.shown(8.71)[1]


@PWM
def test_mm_hmms_in_a_row_over_the_customer_do_not_hold_the_pulse_on(pwm: bool) -> None:
    """Each rep "mm" begun over the customer while the pulse showed held it 1.1 s, in which the next "mm" began:
    a rep saying "mm" every 0.9 s kept red pulsing to 16 s, 8 s past its display, for listening. A "mm" that has
    ended (learnt 0.2 s later) can no longer be decided an interruption, and holds the pulse no longer."""
    mms = [event for k in range(1, 9) for event in speech(Party.REP, 7.6 + 0.9 * k, 7.9 + 0.9 * k)]
    trace = run(pwm, [*rep_cuts_in_twice(7.6, False), *mms], 16.0)
    assert value_at(trace, "red", 8.05) > 0.0  # held while the first "mm" may yet be an interruption
    late = [round(k * BLOCK_S, 1) for k in range(90, 160)]  # 9.0 s to 15.9 s
    assert [t for t in late if value_at(trace, "red", t) > 0.0] == []
    assert all(value_at(trace, "green", t) == (0.3 if pwm else 1.0) for t in late if t >= 10.0)


def test_without_pwm_calm_green_is_back_as_the_pulse_ends() -> None:
    """On/off pins switched a fading light somewhere along its fade: green, fading in from dark, came on only
    0.5 s after the pulse's end, which followed its last dark half: a second with nothing lit. A steady
    level is switched at once there now."""
    trace = run(False, [Interruption(by=Party.REP, onset_s=4.2, decided_s=5.0, successful=None)], 11.0)
    assert [(t, v) for t, v in traced(trace, "red") if t >= 8.0] == [(8.0, 1.0), (8.5, 0.0)]  # its last blink
    assert value_at(trace, "green", 8.95) == 0.0 and value_at(trace, "green", 9.0) == 1.0


def test_without_pwm_the_pulses_first_flash_is_as_long_as_the_others() -> None:
    """The pulse started at its top, so on/off pins lit it for a quarter cycle first (0.3 s, then 0.5 s each)."""
    trace = run(False, [Interruption(by=Party.REP, onset_s=4.2, decided_s=5.0, successful=None)], 10.0)
    red = [(t, v) for t, v in traced(trace, "red") if 5.0 <= t <= 9.0]
    ons = [b[0] - a[0] for a, b in itertools.pairwise(red) if a[1] == 1.0]
    offs = [b[0] - a[0] for a, b in itertools.pairwise(red) if a[1] == 0.0]
    assert red[0] == (5.0, 1.0) and ons == pytest.approx([0.5] * 4) and offs == pytest.approx([0.5] * 3), red


@PWM
def test_a_start_learnt_after_the_pulse_ended_still_holds_it_when_it_began_inside(pwm: bool) -> None:
    """The timeline learns of a start 0.15-0.2 s after it begins: a rep start at 7.9 s, in the display's last
    0.1 s, was learnt at 8.1 s, after the display ended, and did not hold the pulse: 0.9 s of full green on
    pins without PWM (a dim green on PWM) before the second interruption's pulse. It holds it now, judged
    by when the start began."""
    factory = pins(pwm)
    script: list[Event] = [
        *speech(Party.CUSTOMER, 0.5, 15.0),
        *speech(Party.REP, 3.0, 4.5),
        Interruption(by=Party.REP, onset_s=3.0, decided_s=4.0, successful=None),
    ]
    later: list[Event] = [
        SpeechSegment(Party.REP, 7.9, 9.9, 10.1),
        Interruption(by=Party.REP, onset_s=7.9, decided_s=8.9, successful=None),
    ]
    try:
        stage, trace = make_stage(factory)
        with stage:
            play(stage, 8.1, script)
            stage.process(SpeechStarted(party=Party.REP, onset_s=7.9))  # learnt 0.2 s after it began
            play(stage, 14.0, later, first_s=8.1)
    finally:
        factory.reset()
    shown = [round(k * BLOCK_S, 1) for k in range(40, 125)]  # 4.0 s to 12.4 s: both displays, end to end
    green = [t for t in shown if value_at(trace, "green", t) > 0.0]
    # without PWM the pins switched to green for the 0.1 s before the start was learnt; with PWM the pulse's
    # fade-out covers it and green never lights
    assert green == ([] if pwm else [8.0]), green
    assert any(value_at(trace, "red", t) > 0.0 for t in shown if 8.1 <= t <= 9.0)  # the pulse goes on


def test_a_pulse_that_ends_at_its_trough_leaves_nothing_to_wait_for() -> None:
    """Green waits for a pulse's red to fade out; a pulse that ends dark (a held one ends at any phase) has
    nothing to fade, so green starts fading in at once, not after fade_s of nothing lit."""
    palette, animator = traffic_light(0.3), Animator(TRAFFIC_LIGHT, fade_s=0.8)
    animator.show({**palette.looks[Look.LISTENING], **palette.interrupting}, 0.0)  # red from its top at 0.0 s
    assert animator.values(0.5)[Channel.RED] == 0.0  # its trough, half a period in
    animator.show(palette.looks[Look.LISTENING], 0.5)
    assert 0.0 < animator.values(0.5)[Channel.GREEN] < animator.values(0.7)[Channel.GREEN] < 0.3


@PRESETS
def test_calm_green_waits_for_red_to_fade_out_when_dominance_ends_under_it(preset: str) -> None:
    """What test_leds_properties.py's test_red_is_for_a_rep_holding_forth found, shrunk: red since 20.41 s (2 s
    of the rep's talk), the customer takes a turn at 20.3 s and dominance ends at 20.8 s (as a monologue's does).
    Calm green faded in at once under red fading out: both lit for 0.3 s at fade_s 0.3 (0.7 s at the shipped
    0.8 s), all three where amber was still fading out too, and amber between on the RGB LED. Green now comes
    on once red is dark."""
    script = [
        *speech(Party.REP, 17.78, 22.82),
        dominance(True, 18.41),
        *speech(Party.CUSTOMER, 20.3, 21.31),
        dataclasses.replace(dominance(False, 20.8, share=0.0), reason="monologue"),
    ]
    trace = run(True, script, 24.0, preset=preset, fade_s=0.3, red_after_s=2.0)
    assert value_at(trace, "red", 20.75) == 1.0 and value_at(trace, "green", 20.75) == 0.0  # red, as it ends
    both = [t / 100 for t in range(2080, 2400) if value_at(trace, "green", t / 100) * value_at(trace, "red", t / 100)]
    assert both == [], both
    assert value_at(trace, "green", 23.5) == pytest.approx(0.3) and value_at(trace, "red", 23.5) == 0.0


def test_the_magenta_blink_fades_out_whole_before_amber_when_a_fault_ends_under_dominance() -> None:
    """The fault ends at 12.5 s with its magenta lit (red and blue, 12.0 to 13.0 s) and the rep dominating: red
    stayed at full while blue faded out and green waited for blue's dark, so the RGB LED slid from magenta to
    red, "you talked on" (red 1.0, blue 0.13 at 13.1 s), and amber grew out of red at full (green 0.04 at
    13.2 s). Red fades out with blue now, and amber fades in from dark once both are."""
    script: list[Event] = [
        *speech(Party.REP, 1.0, 20.0),
        dominance(True, 5.0),
        DeviceState(t_s=8.0, mode=DeviceMode.FAULT, detail="model error"),
        DeviceState(t_s=12.5, mode=DeviceMode.LISTENING, detail="back"),
    ]
    trace = run(True, script, 16.0, preset="rgb")
    assert value_at(trace, "red", 12.45) == value_at(trace, "blue", 12.45) == 1.0  # magenta, as the fault ends
    frames = [(t, s) for t, s in states(trace) if 12.5 <= t < 15.0]
    # every frame after is magenta fading out or amber fading in (green 0.35 of red, to the 0.01 rounding)
    magenta = [t for t, s in frames if s["red"] == s["blue"] > 0.0 and s["green"] == 0.0]
    amber = [t for t, s in frames if s["blue"] == 0.0 and abs(s["green"] - 0.35 * s["red"]) < 0.01]
    assert sorted(magenta + amber) == [t for t, _ in frames], frames
    assert magenta and max(magenta) < min(amber) and value_at(trace, "red", min(amber)) < 0.2  # amber from dark
    assert (value_at(trace, "red", 15.0), value_at(trace, "green", 15.0), value_at(trace, "blue", 15.0)) == (1, 0.35, 0)


def pulse_ends_mid_cycle_under_dominance(preset: str) -> io.StringIO:
    """The rep dominating, their interruption shown 11.0 to 15.0 s and held by a rep stretch from 14.1 s until 15.2 s,
    its decision due (none came): the pulse ends on its way down (red 0.9 at 15.1 s), into amber."""
    script: list[Event] = [
        *speech(Party.REP, 1.0, 9.5),
        dominance(True, 5.0),
        *speech(Party.CUSTOMER, 9.8, 20.0),
        *speech(Party.REP, 10.0, 11.0),
        Interruption(by=Party.REP, onset_s=10.0, decided_s=11.0, successful=None),
        *speech(Party.REP, 14.1, 15.3),
    ]
    return run(True, script, 18.0, preset=preset)


def test_the_pulse_fades_out_whole_before_amber_on_the_rgb_led() -> None:
    """Green faded in from dark at once while red rose from where the pulse stopped: red 0.7 beside green 0.04
    at 15.2 s, reddish ("you interrupted", "you talked on") until 15.9 s. The pulse's red fades out now, and
    amber fades in from dark once it is, as the fault's magenta does."""
    trace = pulse_ends_mid_cycle_under_dominance("rgb")
    assert value_at(trace, "red", 15.15) == 0.9 and value_at(trace, "green", 15.15) == 0.0  # the pulse, as it ends
    frames = [(t, s) for t, s in states(trace) if 15.2 <= t < 17.5]
    # every frame after is the pulse's red fading out or amber fading in (green 0.35 of red, to the 0.01 rounding)
    pulse = [t for t, s in frames if s["green"] == 0.0 and s["red"] < 0.9]
    amber = [t for t, s in frames if s["green"] > 0.0 and abs(s["green"] - 0.35 * s["red"]) < 0.01]
    assert sorted(pulse + amber) == [t for t, _ in frames], frames
    assert pulse and max(pulse) < min(amber) and value_at(trace, "red", min(amber)) < 0.3  # amber from dark
    assert all(s["blue"] == 0.0 for _, s in frames)
    assert (value_at(trace, "red", 17.5), value_at(trace, "green", 17.5)) == (1.0, 0.35)


def test_amber_stays_lit_under_the_pulses_fade_out_on_the_traffic_light() -> None:
    """The same ending on the traffic light: amber was lit under the pulse and stays so while red fades out."""
    trace = pulse_ends_mid_cycle_under_dominance("traffic-light")
    frames = [(t, s) for t, s in states(trace) if 14.0 <= t < 17.5]
    assert all(s["amber"] == 1.0 and s["green"] == 0.0 for _, s in frames), frames
    red = [s["red"] for t, s in frames if t >= 15.1]
    assert red[0] == 0.9 and red == sorted(red, reverse=True) and red[-1] == 0.0, red
