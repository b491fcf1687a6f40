"""PortAudio's own errors on a capture stream that opened: asked whether it runs, and closing it.

Real PortAudio and ALSA as in test_live_outages.py.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable

import pyaudio
import pytest

from listener.audio import capture_run, live
from listener.audio.capture_run import CaptureRun
from listener.audio.devices import input_devices, list_input_devices, start_portaudio
from listener.audio.live import LiveSource
from listener.audio.ring import FrameRing
from listener.events import Event, SourceState
from tests import alsa_device
from tests.alsa_device import AlsaConfig, TestDevice, tones
from tests.live_source import assert_clock_continuous, audio_s, live_config, run_source

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array


def _first_stream_broken(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, breaking: Callable[[CaptureRun], None]
) -> tuple[list[SourceState], list[str]]:
    """A live source whose first capture run ``breaking`` breaks at 0.3 s of audio, read until it is back (its
    clock continuous across the loss): its states and the messages it logged."""
    runs: list[CaptureRun] = []
    open_stream = live.LiveSource._open_stream

    def keep(source: LiveSource, run: CaptureRun) -> object:
        runs.append(run)
        return open_stream(source, run)

    monkeypatch.setattr(live.LiveSource, "_open_stream", keep)
    broken: list[bool] = []

    def step(event: Event, events: list[Event]) -> bool:
        if not broken and audio_s(events) >= 0.3:
            breaking(runs[0])
            broken.append(True)
        return isinstance(event, SourceState) and event.available

    with (
        caplog.at_level(logging.WARNING, logger=live.__name__),
        LiveSource(live_config(reopen_interval_s=0.1)) as source,
    ):
        events = run_source(source, step, timeout_s=20.0)
    assert_clock_continuous(events)
    states = [e for e in events if isinstance(e, SourceState)]
    return states, [r.getMessage() for r in caplog.records]


def test_a_stream_portaudio_can_no_longer_ask_is_said_failed_and_reopened(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The run's PortAudio is terminated under its open stream: asking whether the stream runs raises
    OSError ("Stream not open"). That is a lost device with PortAudio's reason, not a crash of the reader."""

    def terminate(run: CaptureRun) -> None:
        run.pa.terminate()  # closes the stream in PortAudio; the run still holds it

    states, said = _first_stream_broken(monkeypatch, caplog, terminate)
    assert [s.available for s in states] == [False, True]
    assert states[0].detail == "the stream of 'listener_test_array' failed: Stream not open"
    assert (
        "audio input lost: the stream of 'listener_test_array' failed: Stream not open; reopening every 0.1 s" in said
    ), said


def test_a_stream_portaudio_stopped_is_said_stopped_and_reopened(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The capture stream stops running while still open (PortAudio ends a stream whose host side failed): the
    loss is said as the stream having stopped, at once, not as a silence of LOST_AFTER_S, and it is reopened."""

    def stop(run: CaptureRun) -> None:
        assert run.stream is not None
        run.stream.stop_stream()  # PortAudio's own stop: the stream is no longer active

    states, said = _first_stream_broken(monkeypatch, caplog, stop)
    assert [(s.available, s.detail) for s in states[:1]] == [(False, "the stream of 'listener_test_array' stopped")]
    assert states[-1].available and len(states) == 2
    assert "audio input lost: the stream of 'listener_test_array' stopped; reopening every 0.1 s" in said, said


class CloseRaises(pyaudio.PyAudio.Stream):  # type: ignore[misc]  # pyaudio has no type hints
    """A real capture stream whose close ends in a PortAudio error. pyaudio 0.2.13 drops Pa_CloseStream's
    error (pa_close always returns None), so a real stream cannot raise here: only this call is stood in."""

    def close(self) -> None:
        super().close()
        raise OSError(pyaudio.paUnanticipatedHostError, "Unanticipated host error")


def test_a_stream_whose_close_fails_is_said_at_debug_and_portaudio_still_ends(
    alsa_config: AlsaConfig, test_array: TestDevice, caplog: pytest.LogCaptureFixture
) -> None:
    """The error is only logged (nothing is left to do with the stream), and PortAudio is terminated anyway:
    a PortAudio left running keeps the ALSA configuration it read, so a replugged array would never be seen."""
    pa = start_portaudio()
    [device] = [d for d in input_devices(pa) if d.name == test_array.name]
    run = CaptureRun(pa=pa, device=device, ring=FrameRing(16000, 4), rate_hz=16000, channels=4)
    run.stream = CloseRaises(
        pa, 16000, 4, pyaudio.paInt16, input=True, input_device_index=device.index, stream_callback=run.callback
    )
    with caplog.at_level(logging.DEBUG, logger=capture_run.__name__):
        run.release()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "closing the stream of 'listener_test_array': [Errno -9999] Unanticipated host error")
    ]
    alsa_config.add("listener_replugged", tones(16000, 0.5, 4), 16000)
    assert "listener_replugged" in [d.name for d in list_input_devices()]


def _stopped_streams(monkeypatch: pytest.MonkeyPatch, stopped_from: int) -> tuple[list[float], Callable[[], None]]:
    """When each attempt to start a capture stream began (monotonic s), and a call that stops the latest stream
    as PortAudio ends one whose host side failed. Every stream from the ``stopped_from``-th on (from 0) is
    stopped as soon as it opens."""
    began: list[float] = []
    streams: list[pyaudio.Stream] = []
    start_run, open_stream = live.LiveSource._start_run, live.LiveSource._open_stream

    def start(source: LiveSource) -> object:
        began.append(time.monotonic())
        return start_run(source)

    def open_then_stop(source: LiveSource, run: CaptureRun) -> object:
        stream = open_stream(source, run)
        if len(streams) >= stopped_from:
            stream.stop_stream()
        streams.append(stream)
        return stream

    monkeypatch.setattr(live.LiveSource, "_start_run", start)
    monkeypatch.setattr(live.LiveSource, "_open_stream", open_then_stop)
    return began, lambda: streams[-1].stop_stream()


def test_a_stream_lost_while_its_array_stays_is_reopened_at_once_not_after_reopen_interval_s(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first reopen follows the loss at once, and the array is still there: it is back in a moment. It
    found the lost stream's close (on the reaper's thread, under a millisecond) not yet finished, said the
    driver was not responding, and waited reopen_interval_s: each such loss cost that much audio (5 s here)."""
    _, stop_latest = _stopped_streams(monkeypatch, stopped_from=1000)
    states_at: list[float] = []

    def step(event: Event, events: list[Event]) -> bool:
        if not states_at and audio_s(events) >= 0.3:
            stop_latest()
            states_at.append(time.monotonic())
        if isinstance(event, SourceState):
            states_at.append(time.monotonic())
        return len(states_at) == 3

    with (
        caplog.at_level(logging.DEBUG, logger=live.__name__),
        LiveSource(live_config(reopen_interval_s=5.0)) as source,
    ):
        events = run_source(source, step, timeout_s=20.0)
    assert [e.available for e in events if isinstance(e, SourceState)] == [False, True]
    assert states_at[2] - states_at[0] < 2.0, states_at
    assert not [r.getMessage() for r in caplog.records if "still closing" in r.getMessage()]
    assert_clock_continuous(events)


def test_a_reopened_stream_that_is_lost_again_at_once_is_retried_every_reopen_interval_s(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an outage's first attempt is made at once: a device that opens and fails again (here after a
    period or two of audio, so each stream is back, then lost) is tried again after reopen_interval_s, not at
    every poll, each attempt starting PortAudio afresh and saying the loss in the journal."""
    began, stop_latest = _stopped_streams(monkeypatch, stopped_from=1)
    lost_at: list[float] = []

    def step(event: Event, events: list[Event]) -> bool:
        if not lost_at and audio_s(events) >= 0.3:
            stop_latest()
            lost_at.append(time.monotonic())
        return time.monotonic() - lost_at[0] > 3.5 if lost_at else False

    with LiveSource(live_config(reopen_interval_s=1.0)) as source:
        events = run_source(source, step, timeout_s=20.0)
    retries = [b - a for a, b in itertools.pairwise(began[1:])]
    assert len(retries) >= 2 and min(retries) >= 0.95, retries
    assert_clock_continuous(events)
