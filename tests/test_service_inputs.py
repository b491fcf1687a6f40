"""What a run hears by its input: the demo's bundled sample (whatever the configured parties), a file
(exactly what analyze reports), and the live array, the one input that obeys the remembered pause.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from listener.audio.wav import WavSource
from listener.config import geometry, parse_config
from listener.events import (
    AudioBlock,
    AudioDropped,
    DeviceMode,
    DeviceState,
    Event,
    Reported,
    RollingShare,
    SessionSummary,
    SourceState,
    SpatialFrames,
    SpeechSegment,
    SpeechStarted,
    TalkTotals,
    TurnPredictions,
)
from listener.pipeline import EventLog, Pipeline
from listener.service import runner
from listener.service.build import analysis_stages
from listener.service.runner import RunOptions, sample_conversation
from tests.alsa_device import AlsaConfig, TestDevice, alsa_config, test_array  # noqa: F401  (fixtures)
from tests.service_stop import StopsAt, run_with_rescue


def test_the_demo_replays_the_sample_when_no_array_is_attached(alsa_config: AlsaConfig) -> None:  # noqa: F811
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}  # ALSA_CONFIG_PATH: an empty sound system
    result = subprocess.run(
        [sys.executable, "-m", "listener", "run", "--demo-fallback", "--fast", "--led-trace"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "replaying the bundled" in result.stderr and "Traceback" not in result.stderr
    assert '"led": "green"' in result.stdout  # the lights followed the replayed conversation
    # the sample is 28 s and dominance needs 30 s of speech in its window: played once, the demo
    # would never show the amber light it is there to show
    lit = [r for r in map(json.loads, result.stdout.splitlines()) if r["led"] == "amber" and r["t"] > 0]
    assert any(r["value"] > 0.5 for r in lit), lit[:3]


def _demo_summaries(parties: dict[str, object]) -> list[SessionSummary]:
    config = parse_config(
        {"array": {"device": "no_such_array"}, "parties": parties, "leds": {"enabled": False, "button_pin": ""}}
    )
    log = EventLog()
    runner.run(config, RunOptions(demo_fallback=True, fast=True), extra_stages=[log])
    return [dataclasses.replace(s, session_id="") for s in log.of(SessionSummary)]  # ids are random


def test_the_demo_hears_the_sample_as_recorded_whatever_the_configured_parties(
    alsa_config: AlsaConfig,  # noqa: F811
) -> None:
    # the sample's rep stands at 0 deg and its customer at 180 deg on a 4-mic array: a config for lapel mics,
    # or with the parties elsewhere, must not make the demo read its four mics as something they are not
    expected = _demo_summaries({})
    assert expected and expected[0].rep_talk_s > 10.0 and expected[0].customer_talk_s > 5.0
    assert _demo_summaries({"rep_channel": 0, "customer_channel": 1}) == expected
    assert _demo_summaries({"rep_azimuth_deg": 90.0, "customer_azimuth_deg": 270.0}) == expected


def _decided(events: list[Event]) -> Counter[str]:
    """What the analytics decided, as a multiset: stages emit in another order when the blocks differ."""
    kinds = Reported | SpeechStarted | SpeechSegment | TalkTotals | RollingShare
    fields = (dataclasses.asdict(e) for e in events if isinstance(e, kinds))
    return Counter(repr(sorted((k, v) for k, v in f.items() if k != "session_id")) for f in fields)  # ids are random


def test_a_file_run_hears_exactly_what_analyze_reports() -> None:
    """The service's 50 ms blocks and analyze's 1 s blocks: the same decisions, to the last bit of every time."""
    config = parse_config({"leds": {"enabled": False, "button_pin": ""}, "asr": {"enabled": False}})
    assert config.array.block_ms == 50
    service = EventLog()
    runner.run(config, RunOptions(input=sample_conversation(), fast=True), extra_stages=[service])
    geo, analyze = geometry(config), EventLog()
    with (
        WavSource(sample_conversation(), geo, block_ms=1000) as source,
        Pipeline([*analysis_stages(config, geo), analyze]) as pipe,
    ):
        pipe.run(source)
    decided = _decided(analyze.events)
    assert sum(decided.values()) > 20 and analyze.of(SessionSummary)
    assert _decided(service.events) == decided
    # and what they were decided from, where a rounding would show first: the front end's evidence, the model's outlook
    evidence: list[tuple[type[Event], str]] = [
        (SpatialFrames, "rep_weight"), (SpatialFrames, "customer_snr_db"), (TurnPredictions, "p_hold"),
    ]  # fmt: skip
    for kind, name in evidence:
        got, want = (np.concatenate([getattr(e, name) for e in log.of(kind)]) for log in (service, analyze))
        np.testing.assert_array_equal(got, want, err_msg=name)


def _run_after_a_remembered_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: RunOptions, raw: dict[str, object]
) -> EventLog:
    from listener.outputs import gpio

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setattr(gpio, "_shared", None)
    (tmp_path / runner.PAUSE_FILE).touch()  # the live service was paused when it last stopped
    config = parse_config({"service": {"state_dir": str(tmp_path)}, "asr": {"enabled": False}, **raw})
    assert config.leds.button_pin  # the privacy button is in the pipeline
    log = EventLog()
    runner.run(config, options, extra_stages=[log])
    return log


def test_the_demo_does_not_obey_the_services_remembered_pause(
    alsa_config: AlsaConfig,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = RunOptions(demo_fallback=True, fast=True)
    log = _run_after_a_remembered_pause(tmp_path, monkeypatch, options, {"array": {"device": "no_such_array"}})
    assert [d for d in log.of(AudioDropped) if d.reason == "paused"] == []
    assert log.of(SessionSummary) and log.of(SessionSummary)[0].rep_talk_s > 10.0
    assert (tmp_path / runner.PAUSE_FILE).exists()


def test_a_file_run_does_not_obey_the_services_remembered_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _run_after_a_remembered_pause(tmp_path, monkeypatch, RunOptions(input=sample_conversation(), fast=True), {})
    assert [d for d in log.of(AudioDropped) if d.reason == "paused"] == []
    assert log.of(SessionSummary) and log.of(SessionSummary)[0].rep_talk_s > 10.0
    assert (tmp_path / runner.PAUSE_FILE).exists()  # the service's pause is left as it was


def test_a_press_during_the_led_self_test_pauses_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rep pressed while the lights ran through their self-test: the press is answered with the first audio."""
    from gpiozero.pins.mock import MockFactory

    from listener.outputs import gpio
    from listener.outputs.leds import LedStage

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setattr(gpio, "_shared", None)
    config = parse_config({"service": {"state_dir": str(tmp_path)}, "asr": {"enabled": False}})
    self_test = LedStage._self_test

    def pressed_during(stage: LedStage) -> None:  # the self-test as it runs, with a short press around it
        factory = gpio.pin_factory()
        assert isinstance(factory, MockFactory)
        button = factory.pin(config.leds.button_pin)
        button.drive_low()  # wired to ground, internal pull-up: pressed is low
        self_test(stage)
        button.drive_high()

    monkeypatch.setattr(LedStage, "_self_test", pressed_during)
    log = EventLog()
    runner.run(config, RunOptions(input=sample_conversation(), fast=True), extra_stages=[log])
    assert [(s.t_s, s.mode) for s in log.of(DeviceState)] == [(0.0, DeviceMode.PAUSED)]
    assert log.of(AudioBlock) == [] and {d.reason for d in log.of(AudioDropped)} == {"paused"}


def test_the_live_service_starts_paused_when_it_was_paused_before(
    test_array: TestDevice,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from listener.outputs import gpio

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setattr(gpio, "_shared", None)
    (tmp_path / runner.PAUSE_FILE).touch()
    config = parse_config(
        {"array": {"device": test_array.name}, "service": {"state_dir": str(tmp_path)}, "asr": {"enabled": False}}
    )

    log = EventLog()
    run_with_rescue(config, RunOptions(), [log, StopsAt(1.0)])
    assert log.of(AudioBlock) == []  # not one block of audio reached the analysis
    assert log.of(AudioDropped) and all(d.reason == "paused" for d in log.of(AudioDropped))


def test_a_kept_pause_shows_before_the_missing_arrays_fault(
    alsa_config: AlsaConfig,  # noqa: F811  (no device at all)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Restarted paused with the array gone: the source's first word is "unavailable", yet the lights
    must go from the self-test straight to the pause's breathing, never the fault's amber blink first."""
    from gpiozero.pins.mock import MockFactory

    from listener.outputs import gpio

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setattr(gpio, "_shared", None)
    (tmp_path / runner.PAUSE_FILE).touch()
    config = parse_config(
        {
            "array": {"device": "no_such_array", "reopen_interval_s": 0.2},
            "service": {"state_dir": str(tmp_path)},
            "asr": {"enabled": False},
        }
    )

    log = EventLog()
    run_with_rescue(config, RunOptions(wait_for_array=True), [log, StopsAt(1.0, kinds=(AudioDropped,))], rescue_s=30.0)
    kinds = [type(e) for e in log.events if isinstance(e, DeviceState | SourceState)]
    assert kinds[:2] == [DeviceState, SourceState]  # the pause, then the array's absence
    factory = gpio.pin_factory()
    assert isinstance(factory, MockFactory)
    for led in ("green", "amber", "red"):
        states = [float(s.state) for s in factory.pin(getattr(config.leds, f"{led}_pin")).states[1:]]
        # the self-test's on and off, then the breath from its top (0.6), never amber's fault blink (1.0)
        assert states[:3] == [1.0, 0.0, 0.6], (led, states[:6])
        assert max(states[2:]) == 0.6, (led, states)


def test_demo_fast_with_an_array_attached_runs_the_array_in_real_time(
    test_array: TestDevice,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # --fast was meant for the replayed sample; with the array found it still told the outputs to run ahead
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    config = parse_config(
        {"array": {"device": test_array.name}, "service": {"state_dir": str(tmp_path)}, "asr": {"enabled": False}}
    )
    stops = StopsAt(0.5, kinds=(AudioBlock,))  # heard audio only: a dropped block is not the array heard
    with caplog.at_level(logging.WARNING):
        run_with_rescue(config, RunOptions(demo_fallback=True, fast=True), [stops])
    assert stops.seen  # stopped on heard audio; the warning below says it was the array's
    said = [r.getMessage() for r in caplog.records if "--fast" in r.getMessage()]
    assert said == ["--fast applies to the replayed sample only: the microphone array runs in real time"], said


@pytest.mark.parametrize(("live", "fast"), [(True, False), (False, True)])
def test_only_a_replay_runs_fast(live: bool, fast: bool) -> None:
    # the warning alone was checked: the options reaching the outputs must say real time for the array
    assert runner._real_time_if_live(RunOptions(demo_fallback=True, fast=True), live).fast is fast
