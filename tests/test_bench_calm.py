"""bench.calm for real on the bundled sample: the looks read back from the LED values, as episodes."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from bench.calm import episodes_of, led_states, main, report, together_s, trace_of
from bench.leds import render_conversation
from listener.config import parse_config
from listener.service.runner import sample_conversation


def test_the_sample_shows_calm_and_one_interruption_pulse(capsys: pytest.CaptureFixture[str]) -> None:
    config = parse_config({"leds": {"self_test_s": 0.0}})
    states = led_states(trace_of(sample_conversation(), config))
    episodes = [e for e in episodes_of(states) if not e.crossfade]
    # the sample is 28 s: too short for dominance (30 s of speech), so calm green throughout, and the
    # rep's one interruption pulses for interrupting_display_s, then fades out before green comes back
    assert [e.look for e in episodes] == ["green", "red pulsing", "green"]
    pulse_s = config.analytics.interrupting_display_s + config.leds.fade_s
    assert episodes[1].duration_s == pytest.approx(pulse_s, abs=0.2)
    assert together_s(states, "green", "red") == []
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(episodes_of(states)))  # they tile the file
    assert report("x", states)[0].startswith("x: 28 s, 2 changes of look")
    assert main([str(sample_conversation())]) == 0
    out = capsys.readouterr().out
    assert re.search(r"red pulsing +1 times", out) and "green and red lit together: never" in out


def test_green_and_red_together_is_seen_in_the_values() -> None:
    """What the bench exists to catch: the LED values, not the status behind them (a fade that lit green
    under a fading red, before the pulse ended cleanly, was invisible to a bench asking the status)."""
    states = [
        (0.0, {"green": 0.3, "amber": 0.0, "red": 0.0}),
        (1.0, {"green": 0.0, "amber": 0.0, "red": 1.0}),
        (1.5, {"green": 0.0, "amber": 0.0, "red": 0.0}),  # the pulse's trough: part of it
        (1.6, {"green": 0.0, "amber": 0.0, "red": 0.5}),
        (1.7, {"green": 0.0, "amber": 0.0, "red": 1.0}),
        (1.8, {"green": 0.0, "amber": 0.0, "red": 0.5}),
        (2.0, {"green": 0.1, "amber": 0.0, "red": 0.4}),
        (2.6, {"green": 0.3, "amber": 0.0, "red": 0.0}),
        (5.0, {"green": 0.0, "amber": 0.0, "red": 0.0}),
    ]
    (both,) = together_s(states, "green", "red")
    assert both == pytest.approx((2.0, 0.6))
    assert [(e.look, e.crossfade) for e in episodes_of(states)] == [
        ("green", False),
        ("red pulsing", False),
        ("green+red", True),
        ("green", False),
    ]


def test_a_pulse_over_a_steady_light_is_one_look(tmp_path: Path) -> None:
    """A rep who dominates and then interrupts: red pulses over the amber that stays lit. Red's dark moments
    leave amber alone lit; they belong to the pulse, not to dozens of looks (23 were counted for this
    conversation, changing every 0.1 s, where the rep saw 7)."""
    path, _ = render_conversation(tmp_path / "dominating.wav", 80.0)
    config = parse_config({"leds": {"self_test_s": 0.0}})
    for pwm in (True, False):
        looks = [e.look for e in episodes_of(led_states(trace_of(path, config, pwm=pwm))) if not e.crossfade]
        looks = [look for look, _ in itertools.groupby(looks)]
        pulse_over_amber = ["amber+red pulsing", "amber"]
        assert looks == ["green", "red pulsing", "green", "amber", *pulse_over_amber, *pulse_over_amber]
