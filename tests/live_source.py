"""Shared by the live-capture tests: pump a LiveSource on a worker thread and read what it said."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pyaudio
import pytest

from listener.audio.capture_run import CaptureRun
from listener.audio.live import LiveSource
from listener.config import Config, parse_config
from listener.events import AudioBlock, AudioDropped, Event, SourceState
from tests.alsa_device import AlsaConfig, FifoFeeder, TestDevice

SQUARE_MICS = [[0.0457, 0.0, 0.0], [0.0, 0.0457, 0.0], [-0.0457, 0.0, 0.0], [0.0, -0.0457, 0.0]]


def live_config(**array: object) -> Config:
    return parse_config({"array": {"preset": "respeaker-4mic", "device": "listener_test_array", **array}})


def run_source(
    source: LiveSource,
    done: Callable[[Event, list[Event]], bool],
    timeout_s: float = 20.0,
    delay_s: float = 0.0,
) -> list[Event]:
    """Iterate ``source.events()`` on a worker thread until ``done`` says so; never hang the test.

    ``delay_s`` is slept after every event: a slow pipeline.
    """
    events: list[Event] = []
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            for event in source.events():
                events.append(event)
                if done(event, events):
                    source.stop()
                if delay_s:
                    time.sleep(delay_s)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=pump, name="test-pump", daemon=True)
    worker.start()
    worker.join(timeout_s)
    timed_out = worker.is_alive()
    if timed_out:
        source.stop()
        worker.join(5.0)
    assert not worker.is_alive(), "events() did not return within 5 s of stop()"
    if failure:
        raise failure[0]
    assert not timed_out, f"gave up after {timeout_s} s; saw {summary(events)}"
    return events


# (stream number from 0, period number from 0 in that stream) -> None: the period is not delivered (the stream
# is called but brings nothing); else the seconds the driver lost just before it (0.0: none)
DriverScript = Callable[[int, int], float | None]


def script_driver(monkeypatch: pytest.MonkeyPatch, script: DriverScript) -> None:
    """Put the driver's side of each capture period under the test's control, stream by stream.

    A period with time lost before it comes as PortAudio reports an overrun it could measure: the input
    overflow flag, and a capture timestamp that jumps by the time lost.
    """

    deliver = CaptureRun.callback
    streams: dict[CaptureRun, list[float]] = {}  # stream -> [its number, periods delivered, capture clock in s]

    def callback(run: CaptureRun, in_data: bytes | None, frames: int, info: dict[str, float], status: int) -> object:
        state = streams.setdefault(run, [len(streams), 0, 1.0])
        lost_s = script(int(state[0]), int(state[1]))
        if lost_s is None:
            return None, pyaudio.paContinue
        state[2] += lost_s
        times = {**info, "input_buffer_adc_time": state[2]}
        state[1] += 1
        state[2] += frames / run.rate_hz
        return deliver(run, in_data, frames, times, status | (pyaudio.paInputOverflow if lost_s > 0 else 0))

    monkeypatch.setattr(CaptureRun, "callback", callback)


def summary(events: list[Event]) -> str:
    kinds: dict[str, int] = {}
    for e in events:
        key = type(e).__name__ + (f"({e.reason})" if isinstance(e, AudioDropped) else "")
        kinds[key] = kinds.get(key, 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in kinds.items())


def audio_s(events: list[Event]) -> float:
    return sum(e.duration_s for e in events if isinstance(e, AudioBlock))


def until_audio(seconds: float) -> Callable[[Event, list[Event]], bool]:
    return lambda _event, events: audio_s(events) >= seconds


def leading_audio(events: list[Event]) -> np.ndarray:
    """The samples of the blocks before the first gap of any kind."""
    blocks = []
    for e in events:
        if not isinstance(e, AudioBlock):
            break
        blocks.append(e.samples)
    return np.concatenate(blocks)


def assert_clock_continuous(events: list[Event]) -> None:
    """Each event starts where the previous one ended: clock = delivered + dropped."""
    clock = 0.0
    delivered = dropped = 0.0
    for e in events:
        if isinstance(e, AudioBlock):
            assert e.start_s == pytest.approx(clock, abs=1e-9)
            clock, delivered = e.end_s, delivered + e.duration_s
        elif isinstance(e, AudioDropped):
            assert e.start_s == pytest.approx(clock, abs=1e-9)
            assert e.duration_s > 0
            clock, dropped = e.end_s, dropped + e.duration_s
        elif isinstance(e, SourceState):
            assert e.t_s == pytest.approx(clock, abs=1e-9)
    assert clock == pytest.approx(delivered + dropped, abs=1e-6)


class OutageScript:
    """Drives the outage from the event stream: wedge, unplug, replug, then a little audio."""

    def __init__(self, alsa: AlsaConfig, device: TestDevice, feeder: FifoFeeder) -> None:
        self.alsa, self.device, self.feeder = alsa, device, feeder
        self.phase = "streaming"
        self.paused_at = self.back_at = 0.0
        self.back_index = 0
        self.drops_while_gone = 0

    def step(self, event: Event, events: list[Event]) -> bool:
        if self.phase == "streaming" and audio_s(events) >= 0.5:
            self.feeder.pause()  # the capture thread blocks in read(): callbacks stop
            self.paused_at = time.monotonic()
            self.phase = "wedged"
        elif self.phase == "wedged" and isinstance(event, SourceState) and not event.available:
            self.alsa.remove(self.device.name)  # reopening finds no such device now
            self.feeder.resume()  # lets the wedged stream close
            self.phase = "gone"
        elif self.phase == "gone" and isinstance(event, AudioDropped) and event.reason == "device_lost":
            self.drops_while_gone += 1
            if self.drops_while_gone >= 2:
                self.alsa.restore(self.device)
                self.phase = "replugged"
        elif self.phase == "replugged" and isinstance(event, SourceState) and event.available:
            self.back_at = time.monotonic()
            self.back_index = len(events)
            self.phase = "back"
        elif self.phase == "back":
            return audio_s(events[self.back_index :]) >= 0.3
        return False

    def outage_wall_s(self) -> float:
        return self.back_at - self.paused_at


def silenceable(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """While the returned event is set, the array's stream is called but delivers nothing (an outage)."""

    silent = threading.Event()
    deliver = CaptureRun.callback

    def callback(run: CaptureRun, in_data: bytes | None, frames: int, info: dict[str, float], status: int) -> object:
        if silent.is_set():
            return None, pyaudio.paContinue
        return deliver(run, in_data, frames, info, status)

    monkeypatch.setattr(CaptureRun, "callback", callback)
    return silent
