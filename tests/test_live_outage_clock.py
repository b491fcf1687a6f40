"""What an outage does to LiveSource's stream clock: the audio before it handed on first, the time the
device was gone (and took to reopen) dropped to the nearest sample and counted once, a second of silence
taken for a lost device. Real PortAudio and ALSA as in test_live_outages.py.
"""

from __future__ import annotations

import logging
import re
import time
from types import SimpleNamespace

import numpy as np
import pytest

from listener.audio.capture_run import LOST_AFTER_S, CaptureRun
from listener.audio.live import LiveSource
from listener.events import AudioBlock, AudioDropped, Event, SourceState
from tests import alsa_device
from tests.alsa_device import AlsaConfig, TestDevice, signal_as_float, tones
from tests.live_source import (
    assert_clock_continuous,
    audio_s,
    leading_audio,
    live_config,
    run_source,
    script_driver,
    silenceable,
)

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array


def test_a_silent_reopened_device_is_not_counted_lost_twice(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each silent reopen used to count the time its stream took to open twice: the clock ran ahead of the wall.

    Nor does each one say "capturing" in the journal: once at the start, then at debug level.
    """
    from listener.audio import live

    silent = silenceable(monkeypatch)
    open_stream = live.LiveSource._open_stream

    def slow_open(source: LiveSource, run: CaptureRun) -> object:
        time.sleep(0.3)  # a driver that takes a while to open, as ALSA on a Pi can
        return open_stream(source, run)

    monkeypatch.setattr(live.LiveSource, "_open_stream", slow_open)
    alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000)
    silent_at: list[float] = []
    ahead_s: list[float] = []  # stream clock minus wall time since the silence, at each device_lost drop

    def step(event: Event, events: list[Event]) -> bool:
        if not silent_at and audio_s(events) >= 0.3:
            silent.set()
            silent_at.append(time.monotonic())
        if isinstance(event, AudioDropped) and event.reason == "device_lost":
            lost_s = sum(e.duration_s for e in events if isinstance(e, AudioDropped) and e.reason == "device_lost")
            ahead_s.append(lost_s - (time.monotonic() - silent_at[0]))
        return len(ahead_s) >= 8  # four silent reopens: two drops each

    with caplog.at_level(logging.DEBUG, logger=live.__name__), LiveSource(live_config(reopen_interval_s=0.1)) as source:
        run_source(source, step, timeout_s=30.0)
    assert max(ahead_s) < 0.2, [round(a, 2) for a in ahead_s]
    capturing = [r for r in caplog.records if r.getMessage().startswith("capturing")]
    assert [r.levelno for r in capturing][:1] == [logging.INFO] and len(capturing) >= 3  # the start, reopens
    assert all(r.levelno == logging.DEBUG for r in capturing[1:])


def test_audio_captured_before_an_outage_is_handed_on_before_the_loss(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 ms blocks from 100 ms periods, and the array falls silent after the fifth: the half block it
    delivered last must come out before the loss is announced; held back, the outage would seem to begin
    0.1 s early and that audio would come out after it, stamped with the time the array was back."""
    script_driver(monkeypatch, lambda _stream, period: 0.0 if period < 5 else None)
    with LiveSource(live_config(block_ms=200)) as source:
        events = run_source(source, lambda event, _events: isinstance(event, SourceState))
    lost = next(i for i, e in enumerate(events) if isinstance(e, SourceState))
    state = events[lost]
    assert isinstance(state, SourceState) and not state.available
    assert state.t_s == 0.5  # where the array's audio ended: five periods in
    assert all(isinstance(e, AudioBlock) for e in events[:lost])
    np.testing.assert_array_equal(leading_audio(events), signal_as_float(test_array.signal[:8000], [0, 1, 2, 3]))
    assert_clock_continuous(events)


def _slow_reopens(monkeypatch: pytest.MonkeyPatch, open_s: float) -> None:
    """Every stream opened after the first takes ``open_s`` to open, as ALSA on a Pi can."""
    from listener.audio import live

    open_stream = live.LiveSource._open_stream
    opened: list[bool] = []

    def slow_reopen(source: LiveSource, run: CaptureRun) -> object:
        if opened:
            time.sleep(open_s)
        opened.append(True)
        return open_stream(source, run)

    monkeypatch.setattr(live.LiveSource, "_open_stream", slow_reopen)


def _silent_after_three_periods(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The array falls silent after three periods, and its reopened stream overruns once (0.25 s, measured) in
    its fourth: the wall time of the last period before the outage ("last") and of the first after ("again")."""
    heard: dict[str, float] = {}

    def script(stream: int, period: int) -> float | None:
        if stream == 0:
            if period >= 3:
                return None  # the array falls silent
            heard["last"] = time.monotonic()
            return 0.0
        heard.setdefault("again", time.monotonic())
        return 0.25 if period == 3 else 0.0  # the reopened stream overruns once, measured

    script_driver(monkeypatch, script)
    return heard


def _after_back(_event: Event, events: list[Event]) -> bool:
    """0.6 s of audio heard since the device came back."""
    back = [i for i, e in enumerate(events) if isinstance(e, SourceState) and e.available]
    return bool(back) and audio_s(events[back[0] :]) >= 0.6


def test_the_time_a_lost_device_takes_to_reopen_counts_as_lost(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outage lasts, on the stream clock, as long as on the wall: until the reopened stream runs, the
    time its slow opening took included. The reopened stream's clock starts after that time, so an overrun
    in it is counted in full (started before it, the overrun's loss would vanish into the reopen's)."""
    open_s = 0.5  # a driver that takes a while to open, as ALSA on a Pi can
    _slow_reopens(monkeypatch, open_s)
    heard = _silent_after_three_periods(monkeypatch)
    with LiveSource(live_config(block_ms=100, reopen_interval_s=0.1)) as source:
        events = run_source(source, _after_back)
    states = [e for e in events if isinstance(e, SourceState)]
    assert [s.available for s in states] == [False, True]
    lost_s = sum(e.duration_s for e in events if isinstance(e, AudioDropped) and e.reason == "device_lost")
    outage_s = heard["again"] - heard["last"]
    # the silence that counts as lost, then the slow open: at least that long on the stream clock too
    # (however loaded the machine); no longer than the wall saw, with room for a period either side
    assert LOST_AFTER_S + open_s <= lost_s <= outage_s + 0.3, (lost_s, outage_s)
    back = events.index(states[1])
    overruns = [e for e in events[back:] if isinstance(e, AudioDropped)]
    assert overruns, "the overrun after the reopen was not announced"
    assert (overruns[0].reason, overruns[0].duration_s) == ("overflow", 0.25)
    assert overruns[0].start_s == pytest.approx(states[1].t_s + 0.3, abs=1e-9)  # after three periods
    assert_clock_continuous(events)


def test_a_stop_while_the_array_reopens_counts_the_opening_as_not_heard(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped (the service's SIGTERM) while a slow reopen opens the array: the new stream is let go unread,
    and all the time since the audio stopped, the opening's included, is dropped as not heard. The opening's
    time was left out: the stop's line said less was not heard than the wall saw (0.5 s less here)."""
    from listener.audio import live

    open_s = 0.5
    open_stream = live.LiveSource._open_stream
    opened: list[bool] = []

    def stopped_while_opening(source: LiveSource, run: CaptureRun) -> object:
        if opened:
            source.stop()
            time.sleep(open_s)
        opened.append(True)
        return open_stream(source, run)

    monkeypatch.setattr(live.LiveSource, "_open_stream", stopped_while_opening)
    heard = _silent_after_three_periods(monkeypatch)
    with LiveSource(live_config(block_ms=100, reopen_interval_s=0.1)) as source:
        events = run_source(source, lambda _event, _events: False)
        ended_s = time.monotonic()
    assert len(opened) == 2  # the start, and the reopen the stop came in
    assert [s.available for s in events if isinstance(s, SourceState)] == [False]
    lost_s = sum(e.duration_s for e in events if isinstance(e, AudioDropped) and e.reason == "device_lost")
    # from the last period heard to the end of the opening, give or take a period
    assert LOST_AFTER_S + open_s <= lost_s <= ended_s - heard["last"] + 0.1, (lost_s, ended_s - heard["last"])
    assert_clock_continuous(events)


def test_a_second_without_audio_is_a_lost_device(test_array: TestDevice, monkeypatch: pytest.MonkeyPatch) -> None:
    """LOST_AFTER_S: a stream that runs on but has brought no audio for 1.0 s is a lost device, announced
    with how long it has been silent: not sooner, and not seconds later."""
    heard: list[float] = []  # wall time of each period delivered

    def script(_stream: int, period: int) -> float | None:
        if period >= 5:
            return None  # the stream is called but brings nothing from here on
        heard.append(time.monotonic())
        return 0.0

    script_driver(monkeypatch, script)
    seen: list[float] = []  # wall time the loss reached the pipeline

    def lost(event: Event, _events: list[Event]) -> bool:
        if isinstance(event, SourceState):
            seen.append(time.monotonic())
        return bool(seen)

    with LiveSource(live_config(block_ms=100)) as source:
        events = run_source(source, lost)
    state = next(e for e in events if isinstance(e, SourceState))
    assert not state.available
    silent_s = seen[0] - heard[-1]
    # the reader looks every POLL_S (0.1 s) once the ring runs dry: room for a loaded machine, not for 2 s
    assert 1.0 < silent_s < 1.5, silent_s
    assert re.fullmatch(r"no audio from 'listener_test_array' for 1\.[0-4] s", state.detail), state.detail


class SteppedClock:
    """time.monotonic for the live module: the scripted readings in turn, then the last one again."""

    def __init__(self, *readings_s: float) -> None:
        self.readings_s = list(readings_s)

    def monotonic(self) -> float:
        return self.readings_s.pop(0) if len(self.readings_s) > 1 else self.readings_s[0]


def test_the_time_a_device_is_gone_is_dropped_to_the_nearest_whole_sample(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every reopen attempt drops the wall time since the last one as lost audio, rounded to the nearest
    sample: monotonic readings are floats, never whole samples apart (1.3 s between these measures as
    20799.999... samples). Truncated, each attempt would lose a sample from the stream clock, and an
    outage of a day, retried every second, would leave the timestamps seconds behind the wall.

    The array is really absent, then really plugged in; only the live module's clock is scripted (the
    capture callback keeps the real one: it imports time itself)."""
    from listener.audio import live

    # seconds since boot: the array is found missing, a reopen fails 1.3 s later, the next one 1.3 s after
    # that finds it, and its stream has opened 0.3 s after that
    clock = SteppedClock(1000.0, 1001.3, 1002.6, 1002.9)
    monkeypatch.setattr(live, "time", SimpleNamespace(monotonic=clock.monotonic))
    attempts: list[Event] = []

    def step(event: Event, _events: list[Event]) -> bool:
        if isinstance(event, AudioDropped):  # told just before each reopen attempt
            attempts.append(event)
            if len(attempts) == 2:  # the first attempt found nothing: plugged in for the second
                alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000)
        return isinstance(event, AudioBlock)

    with LiveSource(live_config(reopen_interval_s=0.1), wait=True) as source:
        events = run_source(source, step)
    drops = [(e.start_s, e.duration_s) for e in events if isinstance(e, AudioDropped)]
    assert drops == [(0.0, 1.3), (1.3, 1.3), (2.6, 0.3)]  # whole samples: 20800, 20800, 4800
    states = [e for e in events if isinstance(e, SourceState)]
    assert [(e.t_s, e.available) for e in states] == [(0.0, False), (2.9, True)]
    assert "no audio input device matching 'listener_test_array'" in states[0].detail  # PortAudio looked
    assert_clock_continuous(events)
