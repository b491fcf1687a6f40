"""The privacy button over a live array while the pipeline is behind it.

The array captures on the wall clock; a pipeline that stalls (a loaded Pi, a recogniser that waits) reads
that audio seconds later, from the capture ring. A resume pressed during such a stall used to let through the
audio still waiting in the ring, captured while paused: the gate judged each block by the button's state when
the block was read. Real PortAudio capture through a paced ALSA FIFO device, gpiozero's MockFactory button.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from listener.audio.live import LiveSource
from listener.config import parse_config
from listener.events import AudioBlock, AudioDropped, DeviceMode, DeviceState
from listener.outputs.button import PrivacyButton, PrivacyGate
from tests import led_script
from tests.alsa_device import AlsaConfig, PacedFifo, add_paced, alsa_config, tones

factory = led_script.factory  # fixture
__all__ = ["alsa_config"]  # fixture
CHUNK_S = 0.1  # channel 0 carries the index of the 0.1 s chunk each sample was captured in
PAUSE_AT_S, STALL_AT_S, STALL_S = 1.0, 2.5, 2.0


def press(factory: MockFactory, pressed: list[float], gate: PrivacyGate) -> None:
    pressed.append(gate.source.captured_s() or 0.0)
    pin = factory.pin("GPIO17")
    pin.drive_low()
    time.sleep(0.1)
    pin.drive_high()


def press_in(delay_s: float, factory: MockFactory, pressed: list[float], gate: PrivacyGate) -> None:
    threading.Timer(delay_s, press, args=(factory, pressed, gate)).start()


def _chunk_numbered_array(alsa_config: AlsaConfig) -> list[PacedFifo]:
    """The live array's feeders: channel 0 carries the index of each sample's 0.1 s chunk, times 10."""
    signal = tones(16000, 12.0, 4, amplitude=0.3)
    signal[:, 0] = (np.arange(signal.shape[0]) // round(16000 * CHUNK_S)) * 10
    return add_paced(alsa_config, "listener_test_array", signal, 16000)


def _run_stalling(
    gate: PrivacyGate, factory: MockFactory, in_the_stall: tuple[str, ...]
) -> tuple[list[float], list[float], list[DeviceState]]:
    """The gate read by a pipeline that stalls STALL_S at STALL_AT_S, ``in_the_stall``'s presses coming meanwhile
    (a lone resume's pause pressed at PAUSE_AT_S): the capture times of the presses, and of each block handed on,
    and the device states shown."""
    pressed: list[float] = []
    passed: list[float] = []
    states: list[DeviceState] = []
    stalled = False
    for event in gate.events():
        if isinstance(event, DeviceState):
            states.append(event)
        if not isinstance(event, AudioBlock | AudioDropped):
            continue
        if isinstance(event, AudioBlock):
            passed.append(round(float(event.samples[0, 0]) * 32768 / 10) * CHUNK_S)
        if event.start_s >= PAUSE_AT_S and not pressed and len(in_the_stall) == 1:
            press(factory, pressed, gate)
        if event.start_s >= STALL_AT_S and not stalled:  # the pipeline stalls; the presses come meanwhile
            stalled = True
            for k in range(len(in_the_stall)):
                press_in(STALL_S * (k + 1) / (len(in_the_stall) + 1), factory, pressed, gate)
            time.sleep(STALL_S)
        if (len(pressed) == 2 and event.start_s > pressed[1] + 1.0) or event.start_s > 10.0:
            break
    return pressed, passed, states


@pytest.mark.parametrize("in_the_stall", [("resume",), ("pause", "resume")])
def test_presses_during_a_stall_let_no_audio_captured_while_paused_through(
    alsa_config: AlsaConfig, factory: MockFactory, in_the_stall: tuple[str, ...]
) -> None:
    """A resume pressed while the pipeline stalls let the paused audio still in the ring through; a pause and its
    resume both pressed then were never seen at all, the gate reading the button's state block by block."""
    feeders = _chunk_numbered_array(alsa_config)
    config = parse_config({"array": {"preset": "respeaker-4mic", "device": "listener_test_array"}})
    gate = PrivacyGate(LiveSource(config), PrivacyButton(config.leds, factory))
    with contextlib.ExitStack() as stack:
        for feeder in feeders:
            stack.enter_context(feeder)
        stack.enter_context(gate)
        pressed, passed, states = _run_stalling(gate, factory, in_the_stall)
    paused_s, resumed_s = pressed
    assert resumed_s - paused_s > 0.5  # the case itself: a pause with audio in it
    assert [s.mode for s in states] == [DeviceMode.PAUSED, DeviceMode.LISTENING]
    leaked = [t for t in passed if paused_s + 0.2 < t < resumed_s - CHUNK_S]
    assert leaked == [], f"paused {paused_s:.2f}-{resumed_s:.2f} s, yet blocks captured at {leaked} passed"
    assert any(t > resumed_s for t in passed)  # and it listens again
    assert states[1].t_s >= resumed_s - 0.05  # the resume dated when the audio after it begins, not when read
