"""LiveSource when the array goes away: wedged, unplugged, absent at start, silent or unusable on reopen.

Real PortAudio and ALSA as in test_live_capture.py; a FIFO-backed channel lets a test wedge the
stream, and the private ALSA config lets it unplug and replug the PCM.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from types import SimpleNamespace
from typing import cast

import numpy as np
import pyaudio
import pytest

from listener.audio.devices import InputDevice
from listener.audio.live import LiveSource
from listener.audio.ring import FrameRing
from listener.config import PROCESSING_RATE_HZ
from listener.errors import AudioFormatError, AudioInputError, DeviceOpenError
from listener.events import AudioBlock, AudioDropped, Event, SourceState
from tests import alsa_device
from tests.alsa_device import AlsaConfig, FifoFeeder, TestDevice, signal_as_float, tones
from tests.live_source import (
    OutageScript,
    assert_clock_continuous,
    audio_s,
    leading_audio,
    live_config,
    run_source,
    script_driver,
)

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array


def _silenceable(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """While the returned event is set, the array's stream is called but delivers nothing (an outage)."""
    from listener.audio import live

    silent = threading.Event()
    deliver = live._Run.callback

    def callback(run: live._Run, in_data: bytes | None, frames: int, info: dict[str, float], status: int) -> object:
        if silent.is_set():
            return None, pyaudio.paContinue
        return deliver(run, in_data, frames, info, status)

    monkeypatch.setattr(live._Run, "callback", callback)
    return silent


WRONG_MODE = AudioFormatError("'listener_test_array' has 2 input channels; the array needs 4")  # choose_device
WRONG_RATE = DeviceOpenError("cannot capture 4 channels at 16000 Hz from 'listener_test_array': ...")  # _open_stream


def _unusable_on_reopen(monkeypatch: pytest.MonkeyPatch, error: Exception = WRONG_MODE) -> threading.Event:
    """While the returned event is set, opening the array fails as an array replugged in the wrong mode does."""
    from listener.audio import live

    unusable = threading.Event()
    start_run = live.LiveSource._start_run

    def start(source: LiveSource) -> object:
        if unusable.is_set():
            raise error
        return start_run(source)

    monkeypatch.setattr(live.LiveSource, "_start_run", start)
    return unusable


def test_lost_device_is_announced_reopened_and_time_kept(alsa_config: AlsaConfig) -> None:
    """The FIFO channel stops delivering (a wedged driver) and the PCM vanishes, then comes back."""
    device = alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000, fifo_channel=0)
    config = live_config(reopen_interval_s=0.2)
    with FifoFeeder(device.infiles[0], device.signal[:, :1]) as feeder:
        script = OutageScript(alsa_config, device, feeder)
        with LiveSource(config) as source:
            events = run_source(source, script.step, timeout_s=30.0)
    states = [e for e in events if isinstance(e, SourceState)]
    assert [s.available for s in states] == [False, True]
    assert "no audio from 'listener_test_array'" in states[0].detail
    lost = [e for e in events if isinstance(e, AudioDropped) and e.reason == "device_lost"]
    assert len(lost) >= 2  # at least one reopen attempt failed while the PCM was gone
    lost_s = sum(d.duration_s for d in lost)
    assert 1.0 <= lost_s <= script.outage_wall_s() + 0.5
    lost_at, back_at = events.index(states[0]), events.index(states[1])
    assert all(isinstance(e, AudioDropped) and e.reason == "device_lost" for e in events[lost_at + 1 : back_at])
    assert audio_s(events[back_at:]) >= 0.3
    assert_clock_continuous(events)


def test_stop_during_an_outage_ends_events_promptly(alsa_config: AlsaConfig) -> None:
    device = alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000, fifo_channel=0)
    stopped_at: list[float] = []
    wedged: list[bool] = []

    def step(event: Event, events: list[Event]) -> bool:
        if not wedged and audio_s(events) >= 0.5:
            feeder.pause()
            wedged.append(True)
        if isinstance(event, SourceState) and not event.available:
            alsa_config.remove(device.name)
            feeder.resume()
        if isinstance(event, AudioDropped) and event.reason == "device_lost" and not stopped_at:
            # events() is about to wait reopen_interval_s (10 s) before trying again
            threading.Timer(0.2, source.stop).start()
            stopped_at.append(time.monotonic() + 0.2)
        return False

    with (
        FifoFeeder(device.infiles[0], device.signal[:, :1]) as feeder,
        LiveSource(live_config(reopen_interval_s=10.0)) as source,
    ):
        events = run_source(source, step, timeout_s=8.0)
        returned_at = time.monotonic()
    assert stopped_at and returned_at - stopped_at[0] < 1.0
    assert [e.available for e in events if isinstance(e, SourceState)] == [False]
    assert_clock_continuous(events)


def test_a_driver_that_never_lets_go_stops_the_source_for_a_restart(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream whose close hangs for good: the service exits with why, and systemd's restart frees the driver."""
    from listener.audio import live

    monkeypatch.setattr(live, "WEDGED_AFTER_S", 1.5)
    device = alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000, fifo_channel=0)
    events: list[Event] = []

    def step(event: Event, seen: list[Event]) -> bool:
        if audio_s(seen) >= 0.3:
            feeder.pause()  # wedged, and never freed while the source runs: its close hangs
        events[:] = seen
        return False

    t0 = time.monotonic()
    with FifoFeeder(device.infiles[0], device.signal[:, :1]) as feeder, LiveSource(live_config()) as source:
        with pytest.raises(AudioInputError, match="has not let go of the array for 2 s"):
            run_source(source, step, timeout_s=20.0)
        feeder.resume()  # lets the test's own close finish
    assert time.monotonic() - t0 < 10.0
    assert [e.available for e in events if isinstance(e, SourceState)] == [False]  # the fault was shown first


def test_an_array_absent_at_start_is_waited_for(alsa_config: AlsaConfig) -> None:
    """The service boots before its USB array: the fault is announced, and capture starts when it appears."""
    signal = tones(16000, 2.0, 4)
    plugged: list[bool] = []

    def step(event: Event, events: list[Event]) -> bool:
        if isinstance(event, AudioDropped) and not plugged:
            alsa_config.add("listener_test_array", signal, 16000)  # plugged in after start
            plugged.append(True)
        return audio_s(events) >= 0.5

    with pytest.raises(AudioInputError):
        LiveSource(live_config()).open()  # without waiting: the clear error, as before
    with LiveSource(live_config(reopen_interval_s=0.2), wait=True) as source:
        events = run_source(source, step, timeout_s=20.0)
    states = [e for e in events if isinstance(e, SourceState)]
    assert [s.available for s in states] == [False, True]
    assert "no audio input device matching 'listener_test_array'" in states[0].detail
    first_audio = next(i for i, e in enumerate(events) if isinstance(e, AudioBlock))
    assert events.index(states[1]) < first_audio
    assert_clock_continuous(events)


def test_an_array_in_the_wrong_mode_at_start_is_waited_for_too(alsa_config: AlsaConfig) -> None:
    """A USB array booted with the wrong firmware (2 channels, not 4): the service shows the fault and waits."""
    alsa_config.add("listener_test_array", tones(16000, 2.0, 2), 16000)
    fixed: list[bool] = []

    def step(event: Event, events: list[Event]) -> bool:
        if isinstance(event, AudioDropped) and not fixed:
            alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000)  # reflashed, replugged
            fixed.append(True)
        return audio_s(events) >= 0.5

    with pytest.raises(AudioFormatError):
        LiveSource(live_config()).open()  # an interactive run: the clear error, exit 2
    with LiveSource(live_config(reopen_interval_s=0.2), wait=True) as source:
        events = run_source(source, step, timeout_s=20.0)
    states = [e for e in events if isinstance(e, SourceState)]
    assert [s.available for s in states] == [False, True]
    assert "has 2 input channel(s) but the array configuration captures 4" in states[0].detail
    assert_clock_continuous(events)


def test_a_device_that_opens_but_stays_silent_is_not_announced_back(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reopened stream that delivers nothing (an I2S HAT without its clock) must not flap lost/back."""
    silent = _silenceable(monkeypatch)
    alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000)
    phase: list[str] = []

    def step(event: Event, events: list[Event]) -> bool:
        if not phase and audio_s(events) >= 0.3:
            silent.set()
            phase.append("silent")
        lost = sum(1 for e in events if isinstance(e, AudioDropped) and e.reason == "device_lost")
        if phase == ["silent"] and lost >= 4:  # several reopen cycles, each silent
            silent.clear()
            phase.append("sound")
        return phase == ["silent", "sound"] and isinstance(event, AudioBlock)

    with LiveSource(live_config(reopen_interval_s=0.1)) as source:
        events = run_source(source, step, timeout_s=30.0)
    assert [e.available for e in events if isinstance(e, SourceState)] == [False, True]
    assert_clock_continuous(events)


@pytest.mark.parametrize("error", [WRONG_MODE, WRONG_RATE], ids=["too-few-channels", "will-not-open"])
def test_an_unusable_device_is_reported_again_in_the_next_outage(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    """Each outage in which the array comes back unusable says so: the second time is news too.

    The warning is said once per outage, however often the reopen is retried; it used to stay
    silenced for good once said, so an installer reading the journal of a later outage saw nothing.
    And the fault shown (LEDs, MQTT, systemd's status) takes the reason on, not only the journal; a
    device that will not open (a rate it lacks) was said only at debug level.
    """
    from listener.audio import live

    silent, unusable = _silenceable(monkeypatch), _unusable_on_reopen(monkeypatch, error)
    alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000)
    backs: list[int] = []  # index of each "back" event

    def step(event: Event, events: list[Event]) -> bool:
        since = events[backs[-1] :] if backs else events
        if not silent.is_set() and audio_s(since) >= 0.3 and len(backs) < 2:
            silent.set()
            unusable.set()
        failed = sum(1 for e in since if isinstance(e, AudioDropped) and e.reason == "device_lost")
        if unusable.is_set() and failed >= 3:  # several reopens found it unusable: now plug it in right
            unusable.clear()
            silent.clear()
        if isinstance(event, SourceState) and event.available:
            backs.append(len(events))
        return len(backs) == 2 and audio_s(events[backs[-1] :]) >= 0.3

    with (
        caplog.at_level(logging.WARNING, logger=live.__name__),
        LiveSource(live_config(reopen_interval_s=0.1)) as source,
    ):
        events = run_source(source, step, timeout_s=30.0)
    states = [e for e in events if isinstance(e, SourceState)]
    assert [e.available for e in states] == [False, False, True, False, False, True]
    assert states[1].detail == states[4].detail == str(error)  # the lost device's reason, then why it is unusable
    said = [r for r in caplog.records if "still not captured" in r.getMessage()]
    assert len(said) == 2  # once per outage
    assert_clock_continuous(events)


def test_a_silent_reopened_device_is_not_counted_lost_twice(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each silent reopen used to count the time its stream took to open twice: the clock ran ahead of the wall.

    Nor does each one say "capturing" in the journal: once at the start, then at debug level.
    """
    from listener.audio import live

    silent = _silenceable(monkeypatch)
    open_stream = live.LiveSource._open_stream

    def slow_open(source: LiveSource, run: live._Run) -> object:
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


def test_the_time_a_lost_device_takes_to_reopen_counts_as_lost(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outage lasts, on the stream clock, as long as on the wall: until the reopened stream runs, the
    time its slow opening took included. The reopened stream's clock starts after that time, so an overrun
    in it is counted in full (started before it, the overrun's loss would vanish into the reopen's)."""
    from listener.audio import live

    open_s = 0.5  # a driver that takes a while to open, as ALSA on a Pi can
    open_stream = live.LiveSource._open_stream
    opened: list[bool] = []

    def slow_reopen(source: LiveSource, run: live._Run) -> object:
        if opened:
            time.sleep(open_s)
        opened.append(True)
        return open_stream(source, run)

    heard: dict[str, float] = {}  # wall time of the last period before the outage, and of the first after

    def script(stream: int, period: int) -> float | None:
        if stream == 0:
            if period >= 3:
                return None  # the array falls silent
            heard["last"] = time.monotonic()
            return 0.0
        heard.setdefault("again", time.monotonic())
        return 0.25 if period == 3 else 0.0  # the reopened stream overruns once, measured

    monkeypatch.setattr(live.LiveSource, "_open_stream", slow_reopen)
    script_driver(monkeypatch, script)

    def after_back(_event: Event, events: list[Event]) -> bool:
        back = [i for i, e in enumerate(events) if isinstance(e, SourceState) and e.available]
        return bool(back) and audio_s(events[back[0] :]) >= 0.6

    with LiveSource(live_config(block_ms=100, reopen_interval_s=0.1)) as source:
        events = run_source(source, after_back)
    states = [e for e in events if isinstance(e, SourceState)]
    assert [s.available for s in states] == [False, True]
    lost_s = sum(e.duration_s for e in events if isinstance(e, AudioDropped) and e.reason == "device_lost")
    outage_s = heard["again"] - heard["last"]
    # the silence that counts as lost, then the slow open: at least that long on the stream clock too
    # (however loaded the machine); no longer than the wall saw, with room for a period either side
    assert live.LOST_AFTER_S + open_s <= lost_s <= outage_s + 0.3, (lost_s, outage_s)
    back = events.index(states[1])
    overruns = [e for e in events[back:] if isinstance(e, AudioDropped)]
    assert overruns, "the overrun after the reopen was not announced"
    assert (overruns[0].reason, overruns[0].duration_s) == ("overflow", 0.25)
    assert overruns[0].start_s == pytest.approx(states[1].t_s + 0.3, abs=1e-9)  # after three periods
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


def test_the_time_a_device_is_gone_is_dropped_to_the_nearest_whole_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reopen attempt drops the wall time since the last one as lost audio, rounded to the nearest
    sample: monotonic readings are floats, never whole samples apart (1.3 s between these measures as
    20799.999... samples). Truncated, each attempt would lose a sample from the stream clock, and an
    outage of a day, retried every second, would leave the timestamps seconds behind the wall.

    The device side is stubbed (PortAudio's callbacks would read the scripted clock from their own thread)."""
    from listener.audio import live

    # seconds since boot: the array is found missing, a reopen fails 1.3 s later, the next one 1.3 s after
    # that finds it, and its stream has opened 0.3 s after that
    clock = SteppedClock(1000.0, 1001.3, 1002.6, 1002.9)
    monkeypatch.setattr(live, "time", SimpleNamespace(monotonic=clock.monotonic))
    source = LiveSource(live_config(reopen_interval_s=0.1), wait=True)
    channels = source.geometry.capture_channels
    ring = FrameRing(PROCESSING_RATE_HZ, channels)
    ring.write(tones(PROCESSING_RATE_HZ, 0.1, channels))  # the reopened array's first audio
    device = InputDevice(index=0, name="listener_test_array", max_input_channels=channels, default_rate_hz=16000)
    pa = cast(pyaudio.PyAudio, SimpleNamespace(terminate=lambda: None))
    run = live._Run(pa=pa, device=device, ring=ring, rate_hz=PROCESSING_RATE_HZ, channels=channels)
    outcomes: list[live._Run | Exception] = [AudioInputError("not there"), AudioInputError("still not there"), run]

    def start_run() -> live._Run:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(source, "_start_run", start_run)
    with source:
        events = run_source(source, lambda event, _events: isinstance(event, AudioBlock))
    drops = [(e.start_s, e.duration_s) for e in events if isinstance(e, AudioDropped)]
    assert drops == [(0.0, 1.3), (1.3, 1.3), (2.6, 0.3)]  # whole samples: 20800, 20800, 4800
    assert [(e.t_s, e.available) for e in events if isinstance(e, SourceState)] == [(0.0, False), (2.9, True)]
    assert_clock_continuous(events)


def test_a_service_waiting_for_its_array_says_once_when_the_name_fits_several(
    alsa_config: AlsaConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """Two fitting arrays appear while the service waits (none at boot): the ambiguity was retried at debug
    level only, under a journal still saying "inputs found: none"; now it is said once, however often retried."""
    plugged: list[bool] = []

    def step(event: Event, events: list[Event]) -> bool:
        if isinstance(event, AudioDropped) and not plugged:
            for name in ("listener_twin_a", "listener_twin_b"):  # two boards the name fits
                alsa_config.add(name, tones(16000, 2.0, 4), 16000)
            plugged.append(True)
        return sum(e.duration_s for e in events if isinstance(e, AudioDropped)) >= 1.5

    with (
        caplog.at_level(logging.WARNING),
        LiveSource(live_config(device="listener_twin", reopen_interval_s=0.1), wait=True) as source,
    ):
        events = run_source(source, step, timeout_s=20.0)
    said = [r.getMessage() for r in caplog.records if "matches 2 devices" in r.getMessage()]
    assert len(said) == 1 and "listener_twin_a" in said[0] and "listener_twin_b" in said[0], said
    assert not [e for e in events if isinstance(e, AudioBlock)]  # a guess would have captured one of them
