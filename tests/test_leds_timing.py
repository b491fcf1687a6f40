"""When the lights change: red only while the rep holds the word (talks on, or stopped 5 s ago or less), calm
after ten quiet seconds, a clock that never goes back. gpiozero's MockFactory as in test_leds.py; times are
audio seconds.
"""

from __future__ import annotations

import functools
import itertools

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.config import parse_config
from listener.events import DeviceMode, DeviceState, Interruption, Party
from listener.outputs.led_patterns import Channel, Palette, Pulse, Steady, rgb, traffic_light
from listener.outputs.led_status import Look, Status
from tests import led_script
from tests.led_script import (
    BLOCK_S,
    dominance,
    heard,
    lit_at,
    make_stage,
    play,
    speech,
    traced,
    value_at,
)

factory = led_script.factory  # fixture


def test_red_needs_the_rep_talking_and_a_silent_counter_calms_down(factory: MockFactory) -> None:
    """Dominance is decided over two minutes and stays on through silences. The lights speak of the
    conversation going on: red only while the rep talks on past red_after_s of their own talk, amber
    as soon as the customer has the word, calm once nobody has spoken for 10 s, and amber again when the
    rep talks again, red once the rep has talked red_after_s since the quiet (as after a pause)."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    script = [
        *speech(Party.REP, 0.5, 20.0),
        dominance(True, 5.0),  # and never off in this script
        *speech(Party.CUSTOMER, 21.0, 40.0),
        *speech(Party.REP, 55.0, 70.0),
    ]
    with stage:
        play(stage, 72.0, script)

    lit = functools.partial(lit_at, trace)
    assert lit(10.0) == "a"  # 5 s of the rep's talk since dominance began
    assert lit(14.0) == "a" and lit(15.5) == "r"  # 10 s of it: red
    # the rep stopped at 20 s; the customer, from 21 s, has the word once past a backchannel's length (1 s)
    assert lit(20.5) == "r" and lit(21.5) == "r" and lit(22.5) == "a"
    assert lit(49.0) == "a" and lit(50.5) == "g"  # nobody since 40 s: calm at 50 s, dominance still decided on
    # the rep talks again: amber once it is more than a backchannel (1 s), not red at once (it was: the rep had
    # talked their 10 s before the quiet); red after 10 s of talk since the quiet
    assert lit(55.5) == "g" and lit(56.5) == "a" and lit(64.5) == "a" and lit(65.5) == "r"


def test_red_gives_way_to_amber_five_seconds_after_the_rep_stops(factory: MockFactory) -> None:
    """README: red while the rep holds the word, which includes having stopped 5 s ago or less with the
    customer silent since; then amber (dominance is still decided on), and calm green 10 s after anyone spoke."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    with stage:
        play(stage, 31.0, [*speech(Party.REP, 0.5, 20.0), dominance(True, 5.0)])

    lit = functools.partial(lit_at, trace)
    assert lit(19.0) == "r"  # red since 15 s: 10 s of the rep's talk while dominating
    assert lit(24.9) == "r"  # the rep stopped at 20 s: 4.9 s of silence still shows red
    assert lit(25.1) == "a"  # 5.1 s: a silent rep is not shown red
    assert lit(29.9) == "a" and lit(30.1) == "g"


def test_red_stays_off_once_the_customer_has_answered_even_from_just_before_the_reps_last_word(
    factory: MockFactory,
) -> None:
    """An ordinary overlapping handover: the customer's answer begins 0.5 s before the rep's last word. Once the
    customer has spoken (past a backchannel) beyond the rep's last word, the rep no longer holds the word: no red
    at the silent rep afterwards (it came back at 22.7 s, when the customer's onset was compared with the rep's end)."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    script = [
        *speech(Party.REP, 0.5, 20.0),
        *heard(Party.REP, 0.5, 20.0, 30.0),
        dominance(True, 5.0),
        *speech(Party.CUSTOMER, 19.5, 22.5),
    ]
    with stage:
        play(stage, 30.0, script)

    lit = functools.partial(lit_at, trace)
    assert lit(19.0) == "r"  # 10 s of the rep's talk while dominating
    assert lit(21.0) == "a"  # the customer has the word (past a backchannel since 20.5 s)
    assert all(lit(t_s / 10) == "a" for t_s in range(210, 300))  # and nobody speaking since 22.5 s brings no red


def test_the_lights_calm_down_exactly_ten_seconds_after_anyone_last_spoke() -> None:
    """QUIET_CALM_S: dominance stays decided through a silence, but once nobody has spoken for 10 s the
    lights show calm green; 0.01 s before that they still show amber. (The pattern itself, at exact audio
    times: the 100 ms blocks that clock the stage end a few ulps off 50.0, never on the edge.)"""
    status = Status.from_config(parse_config({}))
    rep_started, rep_closed = speech(Party.REP, 0.5, 20.0)
    for event in [rep_started, dominance(True, 5.0), rep_closed, *speech(Party.CUSTOMER, 21.0, 40.0)]:
        status.update(event)
    palette = traffic_light(calm_level=0.3)
    assert status.look(49.99) is Look.DOMINATING
    assert palette.scene(status, 49.99) == {
        Channel.GREEN: Steady(0.0),
        Channel.AMBER: Steady(1.0),
        Channel.RED: Steady(0.0),
    }
    assert status.look(50.0) is Look.LISTENING  # 40.0 + 10.0: calm from that instant on
    assert palette.scene(status, 50.0) == {
        Channel.GREEN: Steady(0.3),
        Channel.AMBER: Steady(0.0),
        Channel.RED: Steady(0.0),
    }


def test_red_comes_on_exactly_when_the_rep_has_talked_red_after_s_since_amber() -> None:
    """docs/for-reps.md: red once "you have talked for 45 s in all since it turned amber", at that instant, not
    one ulp of talk later (the pattern itself, at exact audio times, as for the ten quiet seconds above)."""
    status = Status.from_config(parse_config({}))  # red_after_s = 45
    status.update(speech(Party.REP, 0.5, 80.0)[0])  # still talking
    status.update(dominance(True, 5.0))
    assert status.look(49.99) is Look.DOMINATING
    assert status.look(50.0) is Look.PERSISTING  # 5.0 + 45.0


def test_red_stays_five_seconds_after_the_rep_stops_and_no_longer() -> None:
    """README: red while the rep holds the word, "or stopped 5 s ago or less and the customer has not spoken
    since": a rep who has stopped is still red at exactly 5 s, at an exact audio time, and amber just after."""
    status = Status.from_config(parse_config({}))  # red_after_s = 45
    rep_started, rep_closed = speech(Party.REP, 0.5, 60.0)
    for event in [rep_started, dominance(True, 5.0), rep_closed]:
        status.update(event)
    assert status.look(65.0) is Look.PERSISTING  # 60.0 + 5.0
    assert status.look(65.01) is Look.DOMINATING


def test_a_stretch_just_begun_counts_only_the_talk_heard_so_far_towards_red() -> None:
    """44.5 s of the rep's talk since amber, a pause of half a second, and the rep talks on: red at 45 s of talk,
    half a second in, not at the first instant of the new stretch (as if it had counted for a second already)."""
    status = Status.from_config(parse_config({}))  # red_after_s = 45
    rep_started, rep_closed = speech(Party.REP, 0.5, 49.5)
    for event in [rep_started, dominance(True, 5.0), rep_closed, speech(Party.REP, 50.0, 80.0)[0]]:
        status.update(event)
    assert status.look(50.05) is Look.DOMINATING and status.look(50.45) is Look.DOMINATING
    assert status.look(50.55) is Look.PERSISTING


@pytest.mark.parametrize("palette", [traffic_light(0.3), rgb(0.3)], ids=["traffic-light", "rgb"])
def test_every_level_a_palette_sets_is_within_what_an_led_shows(palette: Palette) -> None:
    """0.0 to 1.0, gpiozero's range: above it a value is clipped, so a breath would sit flat at its top for
    part of each cycle, and a fade to it would rush to full brightness in a fraction of fade_s."""
    for scene in [*palette.looks.values(), palette.interrupting]:
        for wave in scene.values():
            levels = (wave.low, wave.high) if isinstance(wave, Pulse) else (wave.level,)
            assert all(0.0 <= level <= 1.0 for level in levels), wave


def test_red_never_flashes_when_the_rep_stops_just_short_of_red_after_s(factory: MockFactory) -> None:
    """The rep's stretch closes bridge_gap_s after the last word; the open stretch counts only as far as the
    rep was heard, so stopping 0.05 s short of red_after_s never lights red, not even for that wait."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    script = [*speech(Party.REP, 0.5, 14.95), dominance(True, 5.0), *heard(Party.REP, 0.5, 14.95, 20.0)]
    with stage:
        play(stage, 20.0, script)
    assert value_at(trace, "amber", 14.0) == 1.0
    assert all(value == 0.0 for _, value in traced(trace, "red")[2:])  # after the self-test's on/off

    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    script = [*speech(Party.REP, 0.5, 15.3), dominance(True, 5.0), *heard(Party.REP, 0.5, 15.3, 20.0)]
    with stage:
        play(stage, 20.0, script)
    assert value_at(trace, "red", 14.9) == 0.0 and value_at(trace, "red", 15.2) == 1.0  # a little more: red


def test_red_counts_the_reps_own_talk_not_the_time_since_dominance_began(factory: MockFactory) -> None:
    """The rep stops soon after dominance is decided and the customer talks for 14 s: that time is not the
    rep's, so red waits until the rep has talked red_after_s since then (elapsed time would light it at once)."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    script = [
        *speech(Party.REP, 0.5, 6.0),  # 1 s of it after dominance began at 5 s
        dominance(True, 5.0),
        *speech(Party.CUSTOMER, 6.5, 20.0),
        *speech(Party.REP, 20.5, 40.0),  # 9 s more by 29.5 s
    ]
    with stage:
        play(stage, 32.0, script)
    assert value_at(trace, "amber", 25.0) == 1.0 and value_at(trace, "red", 25.0) == 0.0
    assert value_at(trace, "red", 29.0) == 0.0 and value_at(trace, "red", 30.0) == 1.0


def test_an_event_stamped_earlier_than_the_clock_does_not_turn_the_lights_back(factory: MockFactory) -> None:
    """Events arrive in pipeline order, not stamp order (dominance is decided from frames the audio ran
    past): the lights' clock only goes forward, so a fade under way is not restarted or replayed."""
    stage, trace = make_stage(factory, fade_s=0.8, red_after_s=60.0)
    with stage:
        play(stage, 10.0, [*speech(Party.REP, 0.5, 20.0)])
        stage.process(dominance(True, 9.6))  # decided from audio the clock has already passed
        play(stage, 12.0, first_s=10.0)
    amber = traced(trace, "amber")[2:]  # after the self-test's on/off
    assert amber[0][0] >= 10.0 and [t for t, _ in amber] == sorted(t for t, _ in amber)  # from the clock, forward
    assert value_at(trace, "amber", 10.9) == 1.0 and value_at(trace, "green", 10.9) == 0.0


def test_dark_until_the_first_event_says_what_the_device_does(factory: MockFactory) -> None:
    """A device paused before a restart: while the array opens, no calm green that says it listens."""
    stage, trace = make_stage(factory, fade_s=0.0)
    with stage:
        assert {name: stage.values().get(name, 0.0) for name in stage.channels} == dict.fromkeys(stage.channels, 0.0)
        play(stage, 3.0, [DeviceState(t_s=0.0, mode=DeviceMode.PAUSED, detail="kept across the restart")])
    assert [v for t, v in traced(trace, "green") if v > 0.0 and t > 0.0] == [
        v for t, v in traced(trace, "amber") if v > 0.0 and t > 0.0
    ]  # green only ever lit with the others: the pause's breath, never listening's green alone
    assert value_at(trace, "green", 1.0) == value_at(trace, "amber", 1.0) == value_at(trace, "red", 1.0) > 0.0


def test_a_stop_turns_the_lights_off_at_once_not_after_the_flush(factory: MockFactory) -> None:
    stage, _ = make_stage(factory, fade_s=0.0, red_after_s=60.0)
    with stage:
        play(stage, 12.0, [*speech(Party.REP, 0.5, 20.0), dominance(True, 9.6)])
        assert stage.values()[Channel.AMBER] == 1.0
        stage.stopping()  # the first Ctrl-C or SIGTERM: the recogniser may take seconds to finish
        assert set(stage.values().values()) == {0.0}
        play(stage, 14.0, first_s=12.0)  # what the flush still hands on does not light them again
        assert set(stage.values().values()) == {0.0}


def test_red_steps_aside_for_a_customer_who_talks_and_a_rep_who_only_says_mm_hmm(factory: MockFactory) -> None:
    """Past red_after_s, red is for a rep holding the word. The customer talking, with the rep's backchannels
    every 4 s (each 0.3 s, under backchannel_max_s), is the rep listening: amber, not 40 s of red."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    mm_hmms = [e for k in range(8) for e in speech(Party.REP, 24.0 + 4.0 * k, 24.3 + 4.0 * k)]
    script = [*speech(Party.REP, 0.5, 20.0), dominance(True, 5.0), *speech(Party.CUSTOMER, 21.0, 56.0), *mm_hmms]
    with stage:
        play(stage, 60.0, script)
    assert value_at(trace, "red", 20.5) == 1.0  # the rep held the word until 20 s
    assert all(value_at(trace, "amber", t) == 1.0 and value_at(trace, "red", t) == 0.0 for t in range(22, 56))


def test_a_rep_cutting_into_a_customers_story_does_not_swap_red_and_amber(factory: MockFactory) -> None:
    """Past red_after_s, the customer tells a 12 s story and the rep cuts in with 1.3 s stretches, 0.5 s apart.
    The customer has the word: amber throughout, not red and amber swapping at each stretch. Once the customer
    stops, the rep talking on alone for longer than a backchannel takes the word back: red again."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    cut_ins = [e for k in range(6) for e in speech(Party.REP, 22.0 + 1.8 * k, 23.3 + 1.8 * k)]  # the last 31.0-32.3
    script = [
        *speech(Party.REP, 0.5, 20.0),
        dominance(True, 5.0),
        *speech(Party.CUSTOMER, 21.0, 33.0),
        *cut_ins,
        *speech(Party.REP, 32.8, 40.0),  # begun over the customer's last words, then alone
    ]
    with stage:
        play(stage, 41.0, script)

    lit = functools.partial(lit_at, trace)
    assert lit(21.5) == "r" and lit(22.5) == "a"  # the customer has the word once past a backchannel (1 s)
    assert all(lit(t_s / 10) == "a" for t_s in range(225, 341))  # the story, cut-ins and all, and 1 s after it
    assert lit(34.5) == "r" and lit(39.5) == "r"  # more than 1 s of the rep alone since the customer stopped


def test_after_a_quiet_spell_only_the_rep_talking_again_brings_amber_back(factory: MockFactory) -> None:
    """Calm after 10 quiet seconds; then the customer speaking (and the rep's mm-hmm) keeps it calm: the
    rep is listening. The rep holding forth again lights amber, though dominance was never lifted, and it stays
    lit once the rep stops."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=45.0)
    script = [
        *speech(Party.REP, 0.5, 20.0),
        dominance(True, 5.0),
        *speech(Party.CUSTOMER, 35.0, 45.0),  # 15 s of nobody: calm from 30 s
        *speech(Party.REP, 40.0, 40.4),  # mm-hmm
        *speech(Party.REP, 46.0, 55.0),
    ]
    with stage:
        play(stage, 58.0, script)

    lit = functools.partial(lit_at, trace)
    assert lit(29.5) == "a" and lit(30.5) == "g"
    assert all(lit(t) == "g" for t in (36.0, 40.2, 41.0, 44.0, 46.5))  # the customer, a backchannel, the rep's start
    assert lit(47.5) == "a"  # the rep has held the word for more than backchannel_max_s (1 s)
    # and it stays when the rep stops at 55 s: only another 10 s of quiet calms it, not the rep drawing breath
    assert lit(55.5) == "a" and lit(57.9) == "a"


def test_a_customers_mm_hmm_in_the_reps_pause_does_not_take_red_away(factory: MockFactory) -> None:
    """A backchannel by either party is listening: the customer's "mm-hmm" while the rep draws breath does
    not hand the word over, so red does not flicker to amber and back at each one."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=10.0)
    script = [
        *speech(Party.REP, 0.5, 20.0),
        dominance(True, 5.0),
        *speech(Party.CUSTOMER, 20.5, 20.8),
        *speech(Party.REP, 22.0, 30.0),
        *speech(Party.CUSTOMER, 30.4, 30.7),
        *speech(Party.REP, 31.5, 40.0),
    ]
    with stage:
        play(stage, 42.0, script)
    assert all(value_at(trace, "red", t) == 1.0 for t in (20.6, 21.0, 21.9, 22.5, 30.5, 31.0, 31.8, 35.0))
    assert all(value_at(trace, "amber", t) == 0.0 for t in (20.6, 21.0, 21.9, 22.5, 30.5, 31.0, 31.8, 35.0))


@pytest.mark.parametrize("pwm", [True, False], ids=["pwm", "on-off"])
@pytest.mark.parametrize("preset", ["traffic-light", "rgb"])
def test_green_steps_aside_the_instant_the_rep_interrupts(preset: str, pwm: bool) -> None:
    """Calm and "you interrupted" are never lit together, not even while green would fade out (on the RGB
    LED red and green together read as the dominating amber)."""
    pins = MockFactory(pin_class=MockPWMPin) if pwm else MockFactory()
    try:
        stage, trace = make_stage(pins, preset=preset)
        with stage:
            play(stage, 7.0, [Interruption(by=Party.REP, onset_s=4.2, decided_s=5.0, successful=None)])
    finally:
        pins.reset()
    assert value_at(trace, "green", 4.95) > 0.0  # calm until the decision
    assert [(t, v) for t, v in traced(trace, "green") if t >= 4.95] == [(5.0, 0.0)]  # dark from it, at once
    assert value_at(trace, "red", 5.0) == 1.0
    blocks = [round(k * BLOCK_S, 1) for k in range(50, 70)]  # the two seconds from the decision, block by block
    lit = [t for t in blocks if value_at(trace, "red", t) > 0.0]
    assert lit[:2] == [5.0, 5.1] and all(value_at(trace, "green", t) == 0.0 for t in lit)


@pytest.mark.parametrize("preset", ["traffic-light", "rgb"])
def test_without_pwm_the_pause_breathes_as_a_blink_at_the_dimmest_calm_level(preset: str) -> None:
    """On/off pins light the calm light from min(0.2, calm_level), so it stays lit however dim; at calm_level
    0.05 (its least) the pause's breath must still go dark between breaths, or it reads as a steady light
    (a breath switches half-way up it: dark half of each, lit half of each, the first too)."""
    pins = MockFactory()  # pins that can only switch on and off
    try:
        stage, trace = make_stage(pins, preset=preset, calm_level=0.05)
        with stage:
            play(stage, 13.0, [DeviceState(t_s=1.0, mode=DeviceMode.PAUSED, detail="privacy button", cause="button")])
    finally:
        pins.reset()
    led = "blue" if preset == "rgb" else "green"
    assert value_at(trace, led, 1.0) == 1.0  # the breath starts lit, at once
    breath = [(1.0, 1.0), *[(t, v) for t, v in traced(trace, led) if 1.0 < t < 12.5]]  # calm green was on already
    offs = [b[0] - a[0] for a, b in itertools.pairwise(breath) if a[1] == 0.0]
    ons = [b[0] - a[0] for a, b in itertools.pairwise(breath) if a[1] == 1.0]
    # once a breath (3 s), lit and dark a half each
    assert offs == pytest.approx([1.5] * 3) and ons == pytest.approx([1.5] * 4), breath


def test_a_rep_starting_in_the_customers_breath_does_not_light_red_while_the_customer_talks_on(
    factory: MockFactory,
) -> None:
    """Past red_after_s, the customer has the word; the rep starts in the customer's breath (0.4 s after they
    stopped) and the customer goes on 0.2 s later, over the rep. The rep's stretch counted whole as holding
    the word: red for 2 s while the customer talked. Only the rep's talk before the customer came in counts."""
    stage, trace = make_stage(factory, fade_s=0.0, red_after_s=45.0)
    script = [
        dominance(True, 10.0),
        *speech(Party.REP, 5.0, 60.0),
        *speech(Party.CUSTOMER, 61.0, 65.0),
        *speech(Party.REP, 65.4, 67.9),
        *speech(Party.CUSTOMER, 65.6, 70.0),
    ]
    with stage:
        play(stage, 75.0, script)

    lit = functools.partial(lit_at, trace)
    assert lit(59.0) == "r" and lit(63.0) == "a"
    assert all(lit(t_s / 10) == "a" for t_s in range(630, 720)), [lit(t_s / 10) for t_s in range(630, 720)]
