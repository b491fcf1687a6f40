"""The LED stage behind the whole pipeline, fed recordings: a fast replay lights the LEDs as a paced one
does, a conversation where the rep takes over turns amber within a second of the crossing, and the file's
end darkens them before the recogniser's last words.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
import soundfile as sf
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.audio.wav import WavSource
from listener.config import geometry, load_config, parse_config
from listener.events import (
    AudioBlock,
    EndOfStream,
    Event,
    Party,
    SessionStarted,
    SpeechSegment,
)
from listener.outputs import gpio
from listener.outputs.leds import LedStage
from listener.pipeline import EventLog, Pipeline, Stage
from listener.service import runner
from listener.service.build import analysis_stages
from listener.service.runner import RunOptions, run, sample_conversation
from tests.alsa_device import AlsaConfig, alsa_config  # noqa: F401  (fixture)
from tests.led_script import traced, value_at


def test_led_trace_of_a_fast_replay_equals_the_live_paced_one(
    dialogue_4ch: tuple[Path, list[dict[str, object]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    samples, rate = sf.read(dialogue_4ch[0], frames=3 * 16000, dtype="float32", always_2d=True)
    clip = tmp_path / "clip.wav"
    sf.write(clip, samples, rate)
    config = tmp_path / "leds.toml"
    config.write_text("[leds]\nself_test_s = 0.0\n")
    env = {**os.environ, gpio.ENV: "mock"}
    cmd = [sys.executable, "-m", "listener", "run", "--config", str(config), "--input", str(clip), "--fast"]
    fast = subprocess.run([*cmd, "--led-trace"], env=env, capture_output=True, text=True, check=True, timeout=300)
    lines = [json.loads(line) for line in fast.stdout.splitlines()]
    assert lines and all(set(d) == {"t", "led", "value"} and 0.0 <= d["value"] <= 1.0 for d in lines)
    assert [d["t"] for d in lines] == sorted(d["t"] for d in lines)
    assert {d["led"] for d in lines} == {"green", "amber", "red"}

    monkeypatch.setenv(gpio.ENV, "mock")
    monkeypatch.setattr(gpio, "_shared", None)
    capsys.readouterr()
    run(load_config(config), RunOptions(input=clip, fast=False, led_trace=True))  # paced like the live array
    live = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert live == lines


Segments = list[tuple[Party, float, float]]


def first_crossing_s(segments: Segments, start_s: float, on_share: float, min_s: float) -> float:
    """First 10 ms step where the rep share since ``start_s`` is >= on_share with >= min_s of speech."""
    for k in range(round(start_s * 100), 100_000):
        t = k / 100
        talk = {p: sum(max(0.0, min(b, t) - max(a, start_s)) for q, a, b in segments if q == p) for p in Party}
        total = talk[Party.REP] + talk[Party.CUSTOMER]
        if total >= min_s and talk[Party.REP] / total >= on_share:
            return t
    raise AssertionError("the rep share never crossed the threshold")


def test_replay_where_the_rep_dominates_lights_amber_within_a_second_of_the_crossing(tmp_path: Path) -> None:
    from bench.leds import render_conversation

    config = parse_config({"leds": {"self_test_s": 0.0}})
    stages = analysis_stages(config, geometry(config))
    assert any(stage.name == "analytics" for stage in stages), "the analytics stage (DominanceChanged) is missing"
    duration_s = 50.0  # by the truth (speech runs, not whole sentences) the rep crosses at ~41.5 s
    wav, truth = render_conversation(tmp_path / "dominating.wav", duration_s)  # customer opens, then the rep takes over
    decided, trace = EventLog(), io.StringIO()
    leds = LedStage(config, factory=MockFactory(pin_class=MockPWMPin), trace=trace)
    with WavSource(wav, geometry(config)) as source, Pipeline([*stages, decided, leds]) as pipe:
        pipe.run(source)

    a = config.analytics
    session_s = decided.of(SessionStarted)[0].onset_s
    measured = [(e.party, e.start_s, e.end_s) for e in decided.of(SpeechSegment)]
    crossing_s = first_crossing_s(measured, session_s, a.dominance_on_share, a.dominance_min_speech_s)
    amber_on_s = next(t for t, v in traced(trace, "amber") if t > 0.0 and v > 0.0)
    assert abs(amber_on_s - crossing_s) <= 1.0, (amber_on_s, crossing_s)
    assert value_at(trace, "amber", amber_on_s + 1.0) == 1.0
    # the recording does what it says: by its truth the rep crosses the threshold too. (The device's talk
    # times run ahead of the truth by its voice-activity hangover, so it decides seconds earlier: that is
    # the analysis' accuracy, measured by bench/accuracy.py, not the LEDs' latency.)
    true_segments = [(Party(str(s["party"])), float(s["start"]), float(s["end"])) for s in truth]  # type: ignore[arg-type]
    assert first_crossing_s(true_segments, session_s, a.dominance_on_share, a.dominance_min_speech_s) < duration_s - 1.0


def test_a_trace_reader_that_goes_away_stops_the_run_quietly(tmp_path: Path) -> None:
    """``listener run --led-trace | head``: the lights' trace ends the run, without an error or a traceback."""
    config = tmp_path / "leds.toml"
    config.write_text("[leds]\nself_test_s = 0.0\n")
    run_cmd = f"{sys.executable} -m listener run --config {config} --input {sample_conversation()} --fast --led-trace"
    env = {**os.environ, gpio.ENV: "mock"}
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{run_cmd} | head -n 5"], env=env, capture_output=True, text=True, timeout=120
    )
    assert len(result.stdout.splitlines()) == 5 and result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "ERROR" not in result.stderr, result.stderr
    assert "output closed" in result.stderr  # the stages were flushed: what was measured is kept


class EveryEvent(LedStage):
    """The lights drawn again at every event, as the stage did before it skipped the ones that change nothing."""

    def process(self, event: Event) -> Iterable[Event]:
        super().process(event)
        with self._lock:
            if self._bank is not None:
                self._render(self.now_s)
        return ()


def test_frames_that_change_nothing_draw_nothing_and_the_lights_are_the_same() -> None:
    """The stage drew the lights at every event: four a block (the audio, the front end's and the turn model's
    frames, the activity), two of them at a time and status the lights already showed. Those are skipped; the
    lights are what drawing at every event gave, value for value."""
    config = parse_config({"leds": {"self_test_s": 0.0}})
    traces = io.StringIO(), io.StringIO()
    leds = LedStage(config, factory=MockFactory(pin_class=MockPWMPin), trace=traces[0])
    every = EveryEvent(config, factory=MockFactory(pin_class=MockPWMPin), trace=traces[1])
    drawn: Counter[str] = Counter()
    render = leds._render

    def counted(t_s: float) -> None:
        drawn[type(current[0]).__name__] += 1
        render(t_s)

    current: list[Event] = []
    leds._render = counted  # type: ignore[method-assign]
    process = leds.process

    def noted(event: Event) -> Iterable[Event]:
        current[:] = [event]
        return process(event)

    leds.process = noted  # type: ignore[method-assign]
    stages = [*analysis_stages(config, geometry(config)), leds, every]
    with WavSource(sample_conversation(), geometry(config), block_ms=50) as source, Pipeline(stages) as pipe:
        pipe.run(source)
    # the front end's first frames are the first event the stage sees (a stage's events reach the later stages
    # before the block that caused them): the lights come on there
    assert drawn["AudioBlock"] > 500 and drawn["SpatialFrames"] == 1 and "TurnPredictions" not in drawn, drawn
    assert traces[0].getvalue() == traces[1].getvalue() and traces[0].getvalue().count("\n") > 20


class LastWords(Stage):
    """Where the recogniser sits: at a file's end it finishes its last words (up to asr.finish_wait_s) before
    the stages after it see the end. Notes which lights were on meanwhile."""

    name = "last_words"

    def __init__(self, leds: LedStage) -> None:
        self.leds = leds
        self.lit_meanwhile: list[str] | None = None

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, EndOfStream):
            self.lit_meanwhile = [str(name) for name, value in self.leds.values().items() if value > 0.0]
        return ()


def test_the_end_of_a_file_darkens_the_lights_before_the_recogniser_finishes(tmp_path: Path) -> None:
    """As a stop does: they stayed lit until the recogniser was done (a second or more; up to 30 s)."""
    samples, rate = sf.read(sample_conversation(), frames=3 * 16000, dtype="float32", always_2d=True)
    clip = tmp_path / "clip.wav"
    sf.write(clip, samples, rate)
    config = parse_config({"leds": {"self_test_s": 0.0}})
    trace, ended = io.StringIO(), EventLog(EndOfStream)
    leds = LedStage(config, factory=MockFactory(pin_class=MockPWMPin), trace=trace)
    last_words = LastWords(leds)
    with WavSource(clip, geometry(config)) as source, Pipeline([last_words, leds, ended]) as pipe:
        pipe.run(source)
    assert value_at(trace, "green", 2.0) > 0.0  # listening, until the end
    assert last_words.lit_meanwhile == []
    assert len(ended.events) == 1  # the stages after the LEDs still see the end, and flush


@pytest.mark.parametrize(("leds", "why"), [({"enabled": False}, "leds.enabled = false"), ({"preset": "none"}, "none")])
def test_a_trace_of_no_leds_says_so(leds: dict[str, object], why: str, caplog: pytest.LogCaptureFixture) -> None:
    """An empty trace would read as lights that never changed: a tool reading it is told there are none."""
    from listener.service.runner import output_stages

    stages = output_stages(parse_config({"leds": leds}), RunOptions(led_trace=True), live=True)
    assert not any(isinstance(stage, LedStage) for stage in stages)
    assert "--led-trace prints nothing: this config drives no LEDs" in caplog.text and why in caplog.text


class Stall(Stage):
    """Holds the pipeline's thread once, at the block ending ``at_s``, as a slow stage does (the recogniser's
    flush at a session end)."""

    name = "stall"

    def __init__(self, at_s: float, wall_s: float) -> None:
        self.at_s, self.wall_s, self.done = at_s, wall_s, False

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, AudioBlock) and not self.done and event.end_s >= self.at_s - 1e-9:
            self.done = True
            time.sleep(self.wall_s)
        return ()


def test_the_demos_replay_lights_by_the_audio_clock_alone_when_a_stage_stalls(
    alsa_config: AlsaConfig,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo's replay (no array) got the live array's LEDs, which carry the lights on at wall time once no
    audio has come for 0.1 s: a stage holding the pipeline's thread 0.5 s drew the calm green's fade-in on the
    wall clock and held back the blocks after it, a trace unlike the same replay's unstalled. A file, the demo's
    too, is all audio time, as README says of a replay."""
    monkeypatch.setattr(runner, "DEMO_PLAYS", 1)
    monkeypatch.setenv(gpio.ENV, "mock")
    leds = {"self_test_s": 0.0, "button_pin": ""}
    config = parse_config({"array": {"device": "no_such_array"}, "leds": leds, "asr": {"enabled": False}})
    traces = []
    for stall in ([], [Stall(0.1, 0.5)]):  # at 0.1 s the green is fading in, for 0.8 s
        monkeypatch.setattr(gpio, "_shared", None)
        run(config, RunOptions(demo_fallback=True, fast=True, led_trace=True), extra_stages=stall)
        traces.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    assert traces[0] and traces[1] == traces[0]
