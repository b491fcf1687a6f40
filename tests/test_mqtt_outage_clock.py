"""A broker outage in a replay faster than real time is counted on the audio clock: the fault shows at the
audio time ``outage_fault_s`` elapsed, in every run, however fast the machine reads the file. Against a real
localhost port that nothing listens on (no mosquitto), as a broker that is down."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from listener.config import load_config, parse_config
from listener.events import DeviceMode, DeviceState
from listener.outputs import gpio
from listener.outputs.mqtt import MqttStage
from listener.service.runner import RunOptions, run, sample_conversation
from tests.mqtt_broker import free_port
from tests.mqtt_feed import block

OUTAGE_FAULT_S = 5.0


def test_a_fast_stage_counts_the_outage_in_audio_seconds(tmp_path: Path) -> None:
    """Wall time was counted: blocks read as fast as the disk gives them never reached the fault, however
    much audio went by (and a slow machine reached it sooner)."""
    mqtt = {"enabled": True, "port": free_port(), "outage_fault_s": OUTAGE_FAULT_S}
    config = parse_config({"mqtt": mqtt, "service": {"state_dir": str(tmp_path)}})
    with MqttStage(config) as stage:  # follow_wall_clock=False: a --fast replay
        started = time.monotonic()
        faults = [(k, e) for k in range(8) for e in stage.process(block(float(k))) if isinstance(e, DeviceState)]
        assert time.monotonic() - started < OUTAGE_FAULT_S  # well within: the wall clock cannot be what counted
    # the block ending at 5.0 s of audio is the first with 5 s of outage
    assert [(k, e.mode, e.t_s) for k, e in faults] == [(4, DeviceMode.FAULT, 5.0)]


def _fast_run(clip: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'[leds]\nself_test_s = 0.0\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {free_port()}\n'
        f'outage_fault_s = {OUTAGE_FAULT_S}\n[service]\nstate_dir = "{tmp_path / name}"\n'
    )
    capsys.readouterr()
    run(load_config(config), RunOptions(input=clip, fast=True, led_trace=True))
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_two_fast_replays_show_the_broker_fault_at_the_same_audio_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``listener run --fast --led-trace`` with an unreachable broker: the fault's amber blink started at
    82.8 s in one run of a 10-minute file and 105.2 s in the next, and never in the 28 s sample."""
    monkeypatch.setenv(gpio.ENV, "mock")
    samples, rate = sf.read(sample_conversation(), frames=9 * 16000, dtype="float32", always_2d=True)
    clip = tmp_path / "clip.wav"
    sf.write(clip, samples, rate)
    traces = []
    for name in ("first", "second"):
        monkeypatch.setattr(gpio, "_shared", None)
        traces.append(_fast_run(clip, tmp_path, name, capsys))
    first, second = traces
    amber_on = [d["t"] for d in first if d["led"] == "amber" and d["value"] == 1.0 and d["t"] > 0.0]
    assert amber_on[:1] == [OUTAGE_FAULT_S]  # the slow blink, from the audio time the outage reached 5 s
    assert second == first
