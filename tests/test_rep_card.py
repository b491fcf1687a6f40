"""docs/for-reps.md, the card for the counter, against the device: every look the lights have is on it,
in the colours the palette lights, and every number it quotes is the shipped default; so is every timing and
pin the README's LED table gives the installer.

The card is written for reps, in plain words, so it cannot be generated from the schema as
docs/config.md is; this keeps it from drifting when a default or a look changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from listener.config import parse_config
from listener.outputs.led_patterns import (
    BREATH_PERIOD_S,
    FAULT_PERIOD_S,
    PULSE_PERIOD_S,
    TRAFFIC_LIGHT,
    Blink,
    Pulse,
    Steady,
    traffic_light,
)
from listener.outputs.led_status import AMBER_AT_LEAST_S, HOLD_MARGIN_S, QUIET_CALM_S, RED_REP_WITHIN_S, Look

CARD = Path(__file__).resolve().parents[1] / "docs" / "for-reps.md"
README = Path(__file__).resolve().parents[1] / "README.md"
DEFAULTS = parse_config({})
COLOURS = {channel.value for channel in TRAFFIC_LIGHT}


def rows() -> dict[str, str]:
    """Each table row's first cell (what the rep sees), by the look its marker names."""
    found = {}
    for line in CARD.read_text(encoding="utf-8").splitlines():
        marker = re.search(r"<!-- look: (\w+) -->", line)
        if marker:
            found[marker.group(1)] = line.split("|")[1]
    return found


def test_every_look_of_the_lights_is_on_the_card() -> None:
    assert set(rows()) == {look.value for look in Look} | {"interrupting"}


@pytest.mark.parametrize("look", list(Look))
def test_the_card_names_the_lights_the_palette_lights(look: Look) -> None:
    """A look's row names the traffic light's lit colours (before the RGB LED's, in brackets) and no other."""
    seen = rows()[look.value].split("(")[0]
    scene = traffic_light(DEFAULTS.leds.calm_level).looks[look]
    lit = {ch.value for ch, wave in scene.items() if isinstance(wave, Pulse | Blink) or wave.level > 0.0}
    if lit == COLOURS:
        assert "all three" in seen, seen
    else:
        assert {c for c in COLOURS if c in seen} == lit, seen
    steady = all(isinstance(wave, Steady) for ch, wave in scene.items() if ch.value in lit)
    assert ("steady" in seen) is steady, seen


def test_the_interruption_row_is_the_palettes_pulse() -> None:
    seen = rows()["interrupting"]
    overlay = traffic_light(DEFAULTS.leds.calm_level).interrupting
    pulsed = {ch.value for ch, wave in overlay.items() if isinstance(wave, Pulse)}
    assert pulsed == {"red"} and "red, pulsing" in seen, seen
    assert f"for {DEFAULTS.analytics.interrupting_display_s:g} seconds" in seen, seen


def test_every_number_on_the_card_is_the_shipped_default() -> None:
    text = " ".join(CARD.read_text(encoding="utf-8").split())
    an, leds = DEFAULTS.analytics, DEFAULTS.leds
    quoted = {
        f"over the last {an.rolling_window_s / 60:g} minutes": True,
        f"at least {an.dominance_min_speech_s:g} s of talk": True,
        f"{100 * an.dominance_on_share:g} % or more of the talking": True,
        f"falls under {100 * an.dominance_off_share:g} %": True,
        f"after {QUIET_CALM_S:g} s in which nobody speaks": True,
        f"for {leds.red_after_s:g} s in all since it turned amber": True,
        f"for {leds.long_press_s:g} seconds": True,
        # a session's end clears amber too: the card said only the share and the quiet, and a rep talking on
        # to a customer silent for 30 s saw amber turn green mid-sentence with no reason on the card
        f"made no sound for {an.session_gap_s:g} s": True,
        # red holds only while the rep talks on or has just stopped; past a backchannel's length the rep talks on
        f"about {RED_REP_WITHIN_S:g} s after you stop talking": True,
    }
    for phrase in quoted:
        assert phrase in text, phrase
    assert an.monologue_dominating_s == 60.0 and "for over a minute" in text
    assert an.interruption_min_s == an.premature_resume_s == an.backchannel_max_s == 1.0
    assert "about a second into your next answer" in text
    assert "going on for a second or more" in text and "goes on within a second" in text


def test_every_timing_and_pin_of_the_readmes_led_section_is_the_shipped_one() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split("## LEDs", 1)[1].split("\n## ", 1)[0].split())
    an, leds = DEFAULTS.analytics, DEFAULTS.leds
    quoted = [
        f"(defaults {leds.green_pin}, {leds.amber_pin}, {leds.red_pin}:",
        f"blue defaults to {leds.blue_pin}",
        f"(`button_pin`, default {leds.button_pin},",
        f"the rep has talked `red_after_s` ({leds.red_after_s:g} s)",
        f"stopped {RED_REP_WITHIN_S:g} s ago or less",
        f"the customer silent for `session_gap_s`, {an.session_gap_s:g} s",
        f"not before amber has shown {AMBER_AT_LEAST_S:g} s (`AMBER_AT_LEAST_S`)",
        f"nobody has spoken for {QUIET_CALM_S:g} s",
        f"red pulses smoothly, {PULSE_PERIOD_S:g} s cycles, for `analytics.interrupting_display_s` "
        f"({an.interrupting_display_s:g} s)",
        f"(`analytics.interruption_min_s` after it began, {an.interruption_min_s:g} s, plus one "
        f"{HOLD_MARGIN_S:g} s block)",
        f"all three breathe together, {BREATH_PERIOD_S:g} s cycles",
        f"amber alone blinks slowly, {FAULT_PERIOD_S:g} s cycles",
        f"magenta blinks slowly, {FAULT_PERIOD_S:g} s cycles",
        f"Holding the button for `long_press_s` ({leds.long_press_s:g} s)",
    ]
    for phrase in quoted:
        assert phrase in text, phrase
