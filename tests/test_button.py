"""The privacy button on gpiozero's MockFactory: the test drives the button's mock pin.

The gate wraps a real WavSource and feeds the real analysis stages, so
"paused audio is never analysed" is checked on what the pipeline decides.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import threading
import time
from pathlib import Path
from typing import cast

import pytest
from gpiozero import Button
from gpiozero.pins.mock import MockFactory

from listener.audio.live import LiveSource
from listener.audio.wav import WavSource
from listener.config import geometry, parse_config
from listener.errors import OutputError
from listener.events import (
    AudioBlock,
    AudioDropped,
    DeviceMode,
    DeviceState,
    Event,
    RecalibrateRequested,
    SourceState,
    SpeechSegment,
)
from listener.outputs.button import PrivacyButton, PrivacyGate
from listener.outputs.leds import LedStage
from listener.pipeline import EventLog, Pipeline, Stage
from listener.service.build import analysis_stages
from tests import alsa_device, led_script
from tests.alsa_device import AlsaConfig
from tests.folders import folder_syncs, held_open, open_on
from tests.live_source import live_config
from tests.waiting import wait_until

BUTTON = "GPIO17"
factory = led_script.factory  # fixture
alsa_config = alsa_device.alsa_config  # fixture


def press(factory: MockFactory, hold_s: float = 0.0) -> None:
    pin = factory.pin(BUTTON)
    pin.drive_low()  # wired to ground, internal pull-up: pressed is low
    time.sleep(hold_s)
    pin.drive_high()


def run_gate(
    wav: Path,
    factory: MockFactory,
    presses: dict[float, float],
    stages: list[Stage],
    directions: bool = True,
    **leds: object,
) -> list[Event]:
    """Replay ``wav`` through the gate; at audio time t (key) the button is pressed for the value's seconds."""
    config = parse_config({"leds": {"self_test_s": 0.0, "long_press_s": 0.5, **leds}})
    gate = PrivacyGate(WavSource(wav, geometry(config)), PrivacyButton(config.leds, factory), directions=directions)
    seen: list[Event] = []
    with gate, Pipeline(stages) as pipe:
        for event in gate.events():
            seen.append(event)
            pipe.feed(event)
            if isinstance(event, (AudioBlock, AudioDropped)):
                for t_s, hold_s in presses.items():
                    if abs(event.end_s - t_s) < 1e-6:
                        press(factory, hold_s)
    return seen


def test_press_pauses_and_paused_audio_never_reaches_analysis(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], factory: MockFactory
) -> None:
    wav, _ = dialogue_4ch
    config = parse_config({"leds": {"self_test_s": 0.0}})
    log, trace = EventLog(), io.StringIO()
    leds = LedStage(config, factory=factory, trace=trace)
    stages = [*analysis_stages(config, geometry(config)), log, leds]
    seen = run_gate(wav, factory, {4.0: 0.0, 9.0: 0.0}, stages)

    states = [e for e in seen if isinstance(e, DeviceState)]
    assert [(round(s.t_s, 3), s.mode) for s in states] == [(4.0, DeviceMode.PAUSED), (9.0, DeviceMode.LISTENING)]
    blocks = [e for e in seen if isinstance(e, AudioBlock)]
    dropped = [e for e in seen if isinstance(e, AudioDropped)]
    assert all(b.end_s <= 4.0 + 1e-6 or b.start_s >= 9.1 - 1e-6 for b in blocks)  # one guard block after resume
    assert sum(d.duration_s for d in dropped) == pytest.approx(5.1)
    assert {d.reason for d in dropped} == {"paused"}
    # the customer spoke 4.3-8.2 s: paused, so no speech was found there; before and after, it was
    segments = log.of(SpeechSegment)
    assert not [s for s in segments if s.end_s > 4.1 and s.start_s < 9.0]
    assert any(s.start_s < 3.0 for s in segments) and any(s.start_s > 11.0 for s in segments)
    # the lights: breathing while paused, the calm green after
    lines = [json.loads(line) for line in trace.getvalue().splitlines()]
    paused = [d["value"] for d in lines if d["led"] == "amber" and 4.0 <= d["t"] < 9.0]
    assert max(paused) == pytest.approx(0.6) and len(set(paused)) > 5
    assert factory.pin("GPIO22").state == 0.0  # closed at the end: dark
    green_after = [d["value"] for d in lines if d["led"] == "green" and 9.0 <= d["t"] < 16.0]
    assert green_after[-1] == pytest.approx(0.3)


def test_long_press_asks_for_recalibration_without_pausing(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    wav, _ = dialogue_4ch
    seen = run_gate(wav, factory, {2.0: 1.5}, [EventLog()])  # 1 s past long_press_s: room for a late hold thread
    asked = [e for e in seen if isinstance(e, RecalibrateRequested)]
    assert [e.t_s for e in asked] == [pytest.approx(2.0)]
    assert not [e for e in seen if isinstance(e, (DeviceState, AudioDropped))]
    # the journal's advice runs as written: the config is root's, the program on sudo's path
    assert "`sudo listener calibrate --config /etc/listener/listener.toml --write`" in caplog.text


def test_long_press_with_one_mic_per_party_has_nothing_to_recalibrate(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """No directions to learn; the journal points to calibrate's check of which lapel mic is whose, not to
    doctor, which cannot tell swapped mics from a conversation."""
    from listener.service.runner import _privacy_gate

    channels = parse_config({"parties": {"rep_channel": 0, "customer_channel": 1}, "leds": {"button_pin": BUTTON}})
    assert not cast(
        PrivacyGate, _privacy_gate(WavSource(dialogue_4ch[0], geometry(channels)), channels, False)[0]
    ).directions
    seen = run_gate(dialogue_4ch[0], factory, {2.0: 1.5}, [EventLog()], directions=False)
    assert not [e for e in seen if isinstance(e, (RecalibrateRequested, DeviceState, AudioDropped))]
    assert "nothing to recalibrate, each party has a mic of their own" in caplog.text
    assert "`sudo listener calibrate --config /etc/listener/listener.toml` checks which mic is whose" in caplog.text
    assert "listener doctor" not in caplog.text


def test_two_quick_presses_between_blocks_change_nothing(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], factory: MockFactory
) -> None:
    wav, _ = dialogue_4ch
    config = parse_config({"leds": {}})
    button = PrivacyButton(config.leds, factory)
    with button:
        press(factory)
        assert button.paused
        press(factory)
        assert not button.paused
    seen = run_gate(wav, factory, {1.0: 0.0, 1.5: 0.0, 3.0: 0.0}, [EventLog()])
    modes = [e.mode for e in seen if isinstance(e, DeviceState)]
    assert modes == [DeviceMode.PAUSED, DeviceMode.LISTENING, DeviceMode.PAUSED]
    assert isinstance(seen[-1], AudioDropped)  # still paused at the end of the file


class ClockedWav(WavSource):
    """A file with a capture clock the test sets: the array had captured up to ``clock_s`` when the button went."""

    clock_s = 0.0

    def captured_s(self) -> float | None:
        return self.clock_s


def presses_while_behind(
    wav: Path, factory: MockFactory, press_clocks_s: tuple[float, ...], until_s: float
) -> list[Event]:
    """The gate's events for ``wav`` read in 50 ms blocks, the button pressed at each of ``press_clocks_s`` on the
    capture clock once the block ending at 0.5 s is read (the array 0.5-1 s ahead of the pipeline), up to the
    first block starting after ``until_s``."""
    config = parse_config({"leds": {"self_test_s": 0.0}})
    source = ClockedWav(wav, geometry(config), block_ms=50)
    gate = PrivacyGate(source, PrivacyButton(config.leds, factory))
    seen: list[Event] = []
    with gate:
        for event in gate.events():
            seen.append(event)
            if isinstance(event, AudioBlock) and abs(event.end_s - 0.5) < 1e-6:
                for clock_s in press_clocks_s:
                    source.clock_s = clock_s
                    press(factory)
            if isinstance(event, (AudioBlock, AudioDropped)) and event.start_s > until_s:
                break
    return seen


def test_the_blocks_a_press_falls_inside_are_dropped_too(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], factory: MockFactory
) -> None:
    """Both presses come while the pipeline is behind, so only the capture times say which audio was paused.
    The block captured across the pause's press holds audio from after it, and the one across the resume's
    audio from before it (README: listening begins with the first audio captured after the release): both
    are dropped, whole."""
    seen = presses_while_behind(dialogue_4ch[0], factory, (1.025, 1.525), until_s=2.0)  # pause, resume
    dropped = [round(e.start_s, 3) for e in seen if isinstance(e, AudioDropped)]
    assert dropped == [round(1.0 + 0.05 * k, 3) for k in range(11)]  # 1.0-1.05 s through 1.5-1.55 s
    assert {e.reason for e in seen if isinstance(e, AudioDropped)} == {"paused"}
    states = [(round(s.t_s, 3), s.mode) for s in seen if isinstance(s, DeviceState)]
    assert states == [(1.0, DeviceMode.PAUSED), (1.55, DeviceMode.LISTENING)]


def test_two_pauses_pressed_while_the_pipeline_is_behind_drop_only_their_own_audio(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], factory: MockFactory
) -> None:
    """Pause, resume, pause, resume, all pressed before the gate reads the audio they fall in: each resume ends
    its own pause on the capture clock, so the audio between the two pauses, and after them, is heard."""
    seen = presses_while_behind(dialogue_4ch[0], factory, (1.025, 1.525, 2.025, 2.525), until_s=3.0)
    dropped = [round(e.start_s, 3) for e in seen if isinstance(e, AudioDropped)]
    assert dropped == [round(start_s + 0.05 * k, 3) for start_s in (1.0, 2.0) for k in range(11)]


def test_a_pause_kept_across_a_restart_ends_at_the_capture_time_of_its_release(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], factory: MockFactory, tmp_path: Path
) -> None:
    """Restarted paused, the service drops the audio from the start; the resume is pressed while the pipeline
    is behind: the audio captured before the release (0.5-1.05 s, read after the press) is still dropped, and
    listening begins with the first block captured after it, with no guard block lost."""
    remember = tmp_path / "paused"
    remember.touch()  # paused before the restart
    config = parse_config({"leds": {"self_test_s": 0.0}})
    source = ClockedWav(dialogue_4ch[0], geometry(config), block_ms=50)
    gate = PrivacyGate(source, PrivacyButton(config.leds, factory, remember=remember))
    seen: list[Event] = []
    with gate:
        for event in gate.events():
            seen.append(event)
            if isinstance(event, AudioDropped) and abs(event.end_s - 0.5) < 1e-6:
                source.clock_s = 1.025  # the array has captured up to here when the button is released
                press(factory)
            if isinstance(event, (AudioBlock, AudioDropped)) and event.start_s > 1.5:
                break
    states = [(round(s.t_s, 3), s.mode) for s in seen if isinstance(s, DeviceState)]
    assert states == [(0.0, DeviceMode.PAUSED), (1.05, DeviceMode.LISTENING)]
    dropped = [round(e.start_s, 3) for e in seen if isinstance(e, AudioDropped)]
    assert dropped == [round(0.05 * k, 3) for k in range(21)]  # 0-0.05 s through 1.0-1.05 s
    heard = [round(e.start_s, 3) for e in seen if isinstance(e, AudioBlock)]
    assert heard[:3] == [1.05, 1.1, 1.15]
    assert not remember.exists()


def test_a_pause_that_cannot_be_kept_on_disk_still_holds_and_is_said(
    factory: MockFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The pause file's folder is gone (or read-only): the press still pauses and resumes; the journal says the
    pause will not survive a restart."""
    remember = tmp_path / "gone" / "paused"
    with PrivacyButton(parse_config({"leds": {}}).leds, factory, remember=remember) as button:
        press(factory)
        assert button.paused
        press(factory)
        assert not button.paused
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 2 and all(f"cannot keep the pause in {remember}" in m for m in said)
    assert all(m.endswith("it holds until a restart") for m in said)


def test_a_button_that_cannot_open_leaves_no_recording_held_open(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], factory: MockFactory
) -> None:
    """The gate's button pin is taken by another device: opening the gate fails with the pin named, and the
    recording its caller opened first is closed, not left held."""
    wav = dialogue_4ch[0]
    config = parse_config({"leds": {}})
    source = WavSource(wav, geometry(config))
    source.open()  # as the service does, to say a bad file before anything else
    assert wav in held_open()
    gate = PrivacyGate(source, PrivacyButton(config.leds, factory))
    taken = Button(BUTTON, pin_factory=factory)
    try:
        with pytest.raises(OutputError, match=f"cannot open the privacy button on {BUTTON}"):
            gate.open()
    finally:
        taken.close()
    assert wav not in held_open()


def test_a_pause_survives_a_restart(factory: MockFactory, tmp_path: Path) -> None:
    config = parse_config({"leds": {}})
    remember = tmp_path / "paused"
    with PrivacyButton(config.leds, factory, remember=remember) as button:
        press(factory)
        assert button.paused and remember.exists()
    factory.reset()
    with PrivacyButton(config.leds, factory, remember=remember) as again:  # the service came back
        assert again.paused
        press(factory)
        assert not again.paused and not remember.exists()


def test_a_pause_and_its_resume_are_on_the_disk_before_a_power_cut(
    factory: MockFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: the pause survives a restart or a power cut. The file made and removed was left to ext4's
    commit, seconds later: unplugged in between, the device came back listening (or paused)."""
    remember = tmp_path / "paused"
    synced = folder_syncs(monkeypatch, tmp_path)
    with PrivacyButton(parse_config({"leds": {}}).leds, factory, remember=remember):
        press(factory)
        assert remember.exists() and len(synced) == 1
        press(factory)
        assert not remember.exists() and len(synced) == 2
    assert open_on(tmp_path) == []  # each sync closed the folder it opened: a day of pauses holds no descriptors


def test_button_wired_to_3v3(factory: MockFactory) -> None:
    config = parse_config({"leds": {"button_pull_up": False}})
    with PrivacyButton(config.leds, factory) as button:
        pin = factory.pin(BUTTON)
        pin.drive_high()
        pin.drive_low()
        assert button.paused


def test_a_pause_kept_across_a_restart_shows_before_a_missing_array(
    alsa_config: AlsaConfig, factory: MockFactory, tmp_path: Path
) -> None:
    """The button is read before the source's state too: a service restarted while paused, its array not yet
    plugged in, shows the pause from the start, not the fault's "no array" blink first."""
    remember = tmp_path / "paused"
    remember.touch()
    config = live_config(reopen_interval_s=0.2)
    gate = PrivacyGate(LiveSource(config, wait=True), PrivacyButton(config.leds, factory, remember=remember))
    with gate:
        events = list(itertools.islice(gate.events(), 3))
    assert isinstance(events[0], DeviceState) and events[0].mode is DeviceMode.PAUSED
    assert isinstance(events[1], SourceState) and not events[1].available


def test_a_button_closed_twice_is_no_error(factory: MockFactory) -> None:
    button = PrivacyButton(parse_config({"leds": {}}).leds, factory)
    with button:
        press(factory)
        assert button.paused
    button.close()  # Managed.close: "safe to call twice"


def test_the_button_keeps_no_thread_while_it_is_not_held(factory: MockFactory) -> None:
    """gpiozero's Button keeps a hold thread that wakes every 0.1 s for as long as the button exists: ten
    wake-ups a second, all day, on a device otherwise asleep between its audio blocks. The hold is timed only
    while the button is held; a long press still asks for recalibration, a short one still pauses."""
    config = parse_config({"leds": {"long_press_s": 0.5}})
    before = set(threading.enumerate())  # an earlier test's threads may end meanwhile: only new ones count

    def new_threads() -> set[threading.Thread]:
        return set(threading.enumerate()) - before

    with PrivacyButton(config.leds, factory) as button:
        assert not new_threads()
        press(factory, 0.8)
        assert button.take_recalibration() and not button.paused
        press(factory)
        assert button.paused and not button.take_recalibration()
        assert wait_until(lambda: not new_threads(), 2.0), new_threads()  # the short press's timer, cancelled, ends
