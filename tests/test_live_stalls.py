"""LiveSource when the whole process stalls (kill -STOP, a starved or throttled CPU): the array was not lost.

Real PortAudio and ALSA as in test_live_outage_clock.py. The stall is played on both of the process's threads
that matter: the pipeline's (the test's consumer sleeps, so the reader is not scheduled) and PortAudio's
capture thread (its callback sleeps), which comes back a little after the reader, as it does after a real
stall: it has to recover the overrun and wait a period before it calls back. The driver measures what it
lost through the capture timestamps, as ALSA's do.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyaudio
import pytest

from listener.audio.capture_run import LOST_AFTER_S, CaptureRun
from listener.audio.live import LiveSource
from listener.events import AudioDropped, Event, SourceState
from tests import alsa_device
from tests.alsa_device import AlsaConfig, PacedFifo, TestDevice, tones
from tests.live_source import assert_clock_continuous, audio_s, live_config, run_source

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array

STALL_S = 3.0  # the process stopped this long
LATE_S = 0.3  # PortAudio's capture thread calls back this long after the reader woke


class StallingDriver:
    """The array's periods at their real pace, with one stall of the capture thread when asked; ``recovers``:
    whether audio comes after it (else the array was lost during the stall, as a pulled cable would be)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, recovers: bool) -> None:
        self.recovers = recovers
        self.stall = threading.Event()
        self.stalled = False
        self.delivered_at_s: list[float] = []  # monotonic time of each period handed to the run
        self._adc_s = 1.0  # the driver's capture clock
        deliver = CaptureRun.callback

        def callback(
            run: CaptureRun, in_data: bytes | None, frames: int, info: dict[str, float], status: int
        ) -> object:
            period_s = frames / run.rate_hz
            lost_s = 0.0
            if self.stall.is_set() and not self.stalled:
                self.stalled = True
                time.sleep(STALL_S + LATE_S)
                lost_s = STALL_S + LATE_S  # what the ALSA buffer could not hold: the overrun, measured
            else:
                time.sleep(period_s)  # a real array delivers a period per period, not as fast as the CPU
            if self.stalled and not self.recovers:
                return None, pyaudio.paContinue
            self._adc_s += lost_s
            times = {**info, "input_buffer_adc_time": self._adc_s}
            self._adc_s += period_s
            self.delivered_at_s.append(time.monotonic())
            flag = pyaudio.paInputOverflow if lost_s > 0 else 0
            return deliver(run, in_data, frames, times, status | flag)

        monkeypatch.setattr(CaptureRun, "callback", callback)

    def step(self, until_audio_s: float) -> tuple[list[float], Callable[[Event, list[Event]], bool]]:
        """A run_source step: stall the process once 0.5 s of audio came, then run to ``until_audio_s``."""
        woke: list[float] = []

        def step(event: Event, events: list[Event]) -> bool:
            if not woke and audio_s(events) >= 0.5:
                self.stall.set()
                time.sleep(STALL_S)  # the pipeline's thread, stopped with the process: the reader waits on it
                woke.append(time.monotonic())
            if isinstance(event, SourceState):
                return True
            return audio_s(events) >= until_audio_s

        return woke, step


def test_a_stall_of_the_whole_process_is_an_overflow_not_a_lost_array(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3 s stall was logged as "audio input lost: no audio from 'listener_test_array' for 3.0 s", the stream
    reopened, and the LEDs and MQTT flashed a fault: the reader woke before PortAudio's thread had called back.
    Now the reader, not scheduled itself for longer than LOST_AFTER_S, gives the callback LOST_AFTER_S more, and
    the stall is the driver's overflow it is, its audio counted in the clock."""
    driver = StallingDriver(monkeypatch, recovers=True)
    woke, step = driver.step(until_audio_s=1.5)
    with LiveSource(live_config(block_ms=100)) as source:
        events = run_source(source, step, timeout_s=20.0)
    assert not [e for e in events if isinstance(e, SourceState)], events
    assert any(t > woke[0] for t in driver.delivered_at_s)  # the callback did come late, after the reader woke
    (gap,) = [e for e in events if isinstance(e, AudioDropped)]
    assert gap.reason == "overflow" and gap.duration_s == pytest.approx(STALL_S + LATE_S, abs=1e-6)
    assert_clock_continuous(events)


def test_an_array_lost_during_a_stall_is_still_found_one_grace_later(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grace is one LOST_AFTER_S from the reader's wake, not a reprieve: an array that died during the stall
    is announced lost, with the whole silence, and the clock counts the time from its last audio."""
    driver = StallingDriver(monkeypatch, recovers=False)
    woke, step = driver.step(until_audio_s=60.0)
    seen: list[float] = []

    def lost(event: Event, events: list[Event]) -> bool:
        if isinstance(event, SourceState):
            seen.append(time.monotonic())
        return step(event, events)

    with LiveSource(live_config(block_ms=100)) as source:
        events = run_source(source, lost, timeout_s=20.0)
    (state,) = [e for e in events if isinstance(e, SourceState)]
    assert not state.available and "no audio from 'listener_test_array' for" in state.detail
    assert LOST_AFTER_S <= seen[0] - woke[0] < LOST_AFTER_S + 0.5, seen[0] - woke[0]
    assert float(state.detail.rsplit(" for ", 1)[1].split()[0]) >= STALL_S + LOST_AFTER_S - 0.2
    assert_clock_continuous(events)


def test_the_process_stopped_for_3_s_with_kill_stop_keeps_its_array(alsa_config: AlsaConfig, tmp_path: Path) -> None:
    """The reviewer's case itself: a helper process stops this one (every thread, PortAudio's too) for 3 s.
    The array is paced on the wall clock by a FIFO, written again once the process runs (a file PCM has no
    overrun: the backlog comes at once); it was announced lost on the wake, "no audio from ... for 3.0 s"."""
    signal = tones(16000, 30.0, 4)
    device = alsa_config.add("listener_test_array", signal, 16000, fifo_channel=0)
    raw = tmp_path / "ch0.raw"
    signal[:, 0].astype("<i2").tofile(raw)
    stopper: list[subprocess.Popen[bytes]] = []

    def step(event: Event, events: list[Event]) -> bool:
        if not stopper and audio_s(events) >= 0.5:
            pid = os.getpid()
            stop = f"sleep 0.2; kill -STOP {pid}; sleep {STALL_S:g}; kill -CONT {pid}"
            stopper.append(subprocess.Popen(["sh", "-c", stop]))
        return isinstance(event, SourceState) or audio_s(events) >= 5.0

    with PacedFifo(device.infiles[0], raw, 16000), LiveSource(live_config(block_ms=100)) as source:
        events = run_source(source, step, timeout_s=30.0)
    assert stopper[0].wait(5.0) == 0  # it did stop and resume this process
    assert not [e for e in events if isinstance(e, SourceState)], events
    assert_clock_continuous(events)
