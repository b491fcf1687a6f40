"""A live array that hears nothing, or hears on some channels only, is a fault on the lights and the MQTT state.

The journal alone left the LEDs calm green and MQTT `state` at `listening` while nothing could be heard. The
watch's own rule is tests/test_channel_watch.py's; here is what it shows, down to the real service pipeline:
`listener run` over a paced ALSA test array, gpiozero's MockFactory pins, a real mosquitto.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.audio import channel_watch
from listener.audio.channel_watch import WATCH_S, ChannelWatch
from listener.config import geometry, parse_config
from listener.events import AudioBlock, DeviceMode, DeviceState, Event, SourceState
from listener.outputs import gpio
from listener.pipeline import EventLog
from listener.service.runner import RunOptions
from tests import led_script
from tests.alsa_device import AlsaConfig, PacedFifo, add_paced, alsa_config
from tests.live_source import live_config
from tests.mqtt_broker import BASE, Mosquitto, Recorder, validate
from tests.service_stop import StopsAt, run_with_rescue

__all__ = ["alsa_config"]  # fixture
RATE_HZ = 16000


def _block(start_s: float, dead: list[int]) -> AudioBlock:
    samples = np.random.default_rng(round(start_s * 10)).normal(0.0, 0.01, (1600, 4)).astype(np.float32)
    samples[:, dead] = 0.0
    return AudioBlock(start_s=start_s, sample_rate_hz=RATE_HZ, samples=samples)


def _shown(watch: ChannelWatch, dead_at: dict[tuple[float, float], list[int]], until_s: float) -> list[Event]:
    """What the watch hands on over ``until_s`` of 0.1 s blocks, the channels of ``dead_at``'s spans dead in them."""
    shown: list[Event] = []
    for k in range(round(until_s / 0.1)):
        start_s = 0.1 * k
        dead = next((d for (a, b), d in dead_at.items() if a <= start_s < b - 1e-9), [])
        shown += watch.process(_block(start_s, dead))
    return shown


def test_dead_channels_and_a_muted_array_are_a_fault_until_they_hear_again() -> None:
    """Channel 1 dead from 28 to 55 s, every channel from 62 to 85 s: each shown as a fault (cause
    "microphones") after the WATCH_S that holds it whole, and listening once a WATCH_S hears on every channel."""
    watch = ChannelWatch(geometry(live_config()))
    shown = _shown(watch, {(28.0, 55.0): [1], (62.0, 85.0): [0, 1, 2, 3]}, 100.0)
    assert all(isinstance(e, DeviceState) and e.cause == "microphones" for e in shown)
    states = [e for e in shown if isinstance(e, DeviceState)]
    assert [(round(e.t_s, 1), e.mode) for e in states] == [
        (40.0, DeviceMode.FAULT),
        (60.0, DeviceMode.LISTENING),
        (80.0, DeviceMode.FAULT),
        (90.0, DeviceMode.LISTENING),
    ]
    assert states[0].detail.startswith("captured channel(s) [1] carry no sound") and "arecord -l" in states[0].detail
    assert states[1].detail == "captured channel(s) [1] hear sound again"
    assert states[2].detail.startswith("the array carries no sound on any channel") and "alsamixer" in states[2].detail


def test_after_an_outage_a_healthy_array_clears_the_fault_at_its_first_look() -> None:
    """The array muted when it was lost comes back hearing (another one, or unmuted meanwhile): its first WATCH_S
    ends the fault; one that comes back still muted shows it again."""
    watch = ChannelWatch(geometry(live_config()))
    muted = {(0.0, 100.0): [0, 1, 2, 3]}
    shown = _shown(watch, muted, WATCH_S)
    shown += watch.process(SourceState(t_s=10.0, available=True, detail="'listener_test_array' is back"))
    shown += _shown(watch, muted, WATCH_S)
    shown += watch.process(SourceState(t_s=20.0, available=True, detail="'listener_test_array' is back"))
    shown += _shown(watch, {}, WATCH_S)
    assert [e.mode for e in shown if isinstance(e, DeviceState)] == [
        DeviceMode.FAULT,
        DeviceMode.FAULT,
        DeviceMode.LISTENING,
    ]


def test_a_recordings_dead_channel_is_no_fault_of_the_device(caplog: pytest.LogCaptureFixture) -> None:
    """analyze and run --input: the file's channels are not the device's; said in the journal, never on the lights."""
    watch = ChannelWatch(geometry(live_config()), recording=Path("made wrong.wav"))
    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"):
        assert _shown(watch, {(0.0, 40.0): [2]}, 40.0) == []
    assert len(caplog.records) == 1 and "made wrong.wav" in caplog.records[0].getMessage()


# --- the service: `listener run` on a live array muted for a while -----------------------------------------


# mid-second: the capture's audio clock may start a little after the array's first frame
MUTED_FROM_S, MUTED_TO_S = 2.5, 6.5
LOOK_S = 1.0  # the watch's WATCH_S here: the same rule, judged every second, so the run lasts seconds
STOP_AT_S = 9.0
FAULT_STAMP_SLACK_S = 0.5  # under the next whole second the watch judges: still this fault's change


Trace = list[tuple[float, str, float]]  # the LED stage's trace lines: audio time, LED, value


def _lit(trace: Trace, led: str, from_s: float, to_s: float) -> list[float]:
    """The values ``led`` was set to in [from_s, to_s) of audio time."""
    return [value for t_s, name, value in trace if name == led and from_s <= t_s < to_s]


def _value_at(trace: Trace, led: str, t_s: float) -> float:
    values = _lit(trace, led, -1.0, t_s + 1e-9)
    return values[-1] if values else 0.0


def _muted_array(alsa_config: AlsaConfig) -> list[PacedFifo]:
    """The live array's feeders: its room at about -40 dBFS, digital silence on every channel while muted."""
    room = np.random.default_rng(1).normal(0.0, 300.0, (round(RATE_HZ * STOP_AT_S) + RATE_HZ, 4))
    room[round(RATE_HZ * MUTED_FROM_S) : round(RATE_HZ * MUTED_TO_S)] = 0.0
    return add_paced(alsa_config, "listener_test_array", room.astype(np.int16), RATE_HZ)


def _run_muted(
    alsa_config: AlsaConfig, broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> tuple[float, EventLog, list[str]]:
    """`listener run` with its LEDs and MQTT over the muted array: the audio seconds it ran, the device states
    it showed, and the modes of the retained state MQTT received."""
    feeders = _muted_array(alsa_config)
    config = parse_config({
        "array": {"preset": "respeaker-4mic", "device": "listener_test_array"},
        "leds": {"enabled": True, "button_pin": "", "self_test_s": 0.0},
        "mqtt": broker.mqtt_config(),
        "asr": {"enabled": False},
        "service": {"state_dir": str(tmp_path / "state")},
    })  # fmt: skip
    states = EventLog(DeviceState)
    with (
        contextlib.ExitStack() as stack,
        Recorder(broker, topics=(f"{BASE}/state",)) as rec,
        caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"),
    ):
        for feeder in feeders:
            stack.enter_context(feeder)
        audio_s = run_with_rescue(config, RunOptions(led_trace=True), [states, StopsAt(STOP_AT_S)], rescue_s=60.0)
        rec.wait_for(lambda ms: len(ms) >= 3, 5.0)
    modes = [str(validate(m.topic, m.payload)["mode"]) for m in rec.on("/state")]
    return audio_s, states, modes


def _check_the_lights(trace: Trace, factory: MockFactory) -> None:
    """Calm green while the array heard its room, the amber blink alone while muted, calm green once it hears."""
    # (at 0 s the start-up's test lights each one in turn)
    assert max(_lit(trace, "green", 0.01, 4.0)) > 0.0  # calm green while it heard its room
    assert _lit(trace, "amber", 0.01, 4.0) == [] and _lit(trace, "red", 0.01, STOP_AT_S + 1) == []
    # the fault's look: amber alone, blinking (lit at once, dark a second later), green dark at once
    blink = _lit(trace, "amber", 4.0, 7.0)
    assert blink[0] == 1.0 and 0.0 in blink, blink
    # green's next change is to dark, at the fault: the live ticker may stamp it a little after 4.0 s when the
    # test process is starved (it carries audio time on at wall time), never as a fade through other values
    green = [(t_s, value) for t_s, name, value in trace if name == "green" and t_s >= 4.0]
    assert green[0][1] == 0.0 and green[0][0] < 4.0 + FAULT_STAMP_SLACK_S, green[:3]
    # listening again: amber dark, calm green back
    back_s = STOP_AT_S - 0.5  # the stop turns the lights off
    assert _value_at(trace, "amber", back_s) == 0.0 and _value_at(trace, "green", back_s) > 0.0
    amber = led_script.history(factory, "amber")  # the pin itself went through the blink
    assert 1.0 in amber and amber[-1] == 0.0, amber


def test_a_muted_capture_shows_the_fault_on_the_leds_and_mqtt_and_listening_once_it_hears(
    alsa_config: AlsaConfig,
    broker: Mosquitto,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The service's own pipeline (the watch ahead of the analysis, the MQTT and the LED stages): a live array
    hearing its room, then digital silence on every channel from 2.5 to 6.5 s (the capture muted), then its room
    again. The fault is shown after the first whole muted second (at 4 s), the amber blink on the pins and `fault`
    in the retained state, and listening once a second hears again (at 7 s)."""
    monkeypatch.setattr(channel_watch, "WATCH_S", LOOK_S)
    factory = MockFactory(pin_class=MockPWMPin)
    monkeypatch.setattr(gpio, "_shared", factory)  # the pins the service's LED stage drives
    audio_s, states, modes = _run_muted(alsa_config, broker, tmp_path, caplog)
    assert audio_s >= STOP_AT_S
    shown = [(round(e.t_s, 1), e.mode, e.cause) for e in states.of(DeviceState)]
    assert shown == [(4.0, DeviceMode.FAULT, "microphones"), (7.0, DeviceMode.LISTENING, "microphones")]
    said = [r.getMessage() for r in caplog.records if r.name == "listener.audio.channel_watch"]
    assert [line[:27] for line in said] == ["the array carries no sound ", "the array hears sound again"]

    assert [m for k, m in enumerate(modes) if k == 0 or modes[k - 1] != m] == ["listening", "fault", "listening"]

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    trace: Trace = [(float(d["t"]), str(d["led"]), float(d["value"])) for d in lines]
    _check_the_lights(trace, factory)
