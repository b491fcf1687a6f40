"""LiveSource when the array goes away: wedged, unplugged, absent at start, silent or unusable on reopen.

Real PortAudio and ALSA as in test_live_capture.py; a FIFO-backed channel lets a test wedge the
stream, and the private ALSA config lets it unplug and replug the PCM.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import threading
import time

import pyaudio
import pytest

from listener import cli
from listener.audio.capture_run import CaptureRun, Reaper
from listener.audio.live import LiveSource
from listener.errors import AudioFormatError, AudioInputError, DeviceOpenError, DriverWedgedError
from listener.events import AudioBlock, AudioDropped, Event, SourceState
from tests import alsa_device
from tests.alsa_device import AlsaConfig, FifoFeeder, TestDevice, tones
from tests.live_source import (
    OutageScript,
    assert_clock_continuous,
    audio_s,
    live_config,
    run_source,
    silenceable,
)

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array


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


def test_a_late_callback_of_the_lost_stream_does_not_hide_the_silence_that_made_the_loss(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream being retired can still call back while the consumer handles the loss (its audio is
    never used): the lost time was counted from that callback, 0.000125 s, not from the silence before it
    (a loaded day's flake of the test below, made certain here)."""
    device = alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000, fifo_channel=0)
    retired: list[CaptureRun] = []
    retire = Reaper.retire

    def keep(self: Reaper, run: CaptureRun) -> None:
        retired.append(run)
        retire(self, run)

    monkeypatch.setattr(Reaper, "retire", keep)

    def step(event: Event, events: list[Event]) -> bool:
        if audio_s(events) >= 0.5:
            feeder.pause()
        if isinstance(event, SourceState) and not event.available:
            retired[-1].last_data_s = time.monotonic()  # the late callback
            source.stop()
        return False

    with (
        FifoFeeder(device.infiles[0], device.signal[:, :1]) as feeder,
        LiveSource(live_config(reopen_interval_s=10.0)) as source,
    ):
        events = run_source(source, step, timeout_s=8.0)
    lost_s = sum(e.duration_s for e in events if isinstance(e, AudioDropped) and e.reason == "device_lost")
    assert lost_s >= 0.9, events[-3:]


@pytest.mark.parametrize("stop_at", ["the loss", "the first drop"])
def test_stop_during_an_outage_ends_events_promptly_and_counts_what_was_not_heard(
    alsa_config: AlsaConfig, stop_at: str
) -> None:
    """Stopped as the loss is announced (the service's SIGTERM right after "audio input lost"), the second
    without audio that made the loss was never counted: the stop's line said nothing of it."""
    device = alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000, fifo_channel=0)
    stopped_at: list[float] = []
    wedged: list[bool] = []

    def stop_in(delay_s: float) -> None:
        threading.Timer(delay_s, source.stop).start()
        stopped_at.append(time.monotonic() + delay_s)

    def step(event: Event, events: list[Event]) -> bool:
        if not wedged and audio_s(events) >= 0.5:
            feeder.pause()
            wedged.append(True)
        if isinstance(event, SourceState) and not event.available:
            alsa_config.remove(device.name)
            feeder.resume()
            if stop_at == "the loss":
                stop_in(0.0)
        if isinstance(event, AudioDropped) and event.reason == "device_lost" and not stopped_at:
            stop_in(0.2)  # events() is about to wait reopen_interval_s (10 s) before trying again
        return False

    with (
        FifoFeeder(device.infiles[0], device.signal[:, :1]) as feeder,
        LiveSource(live_config(reopen_interval_s=10.0)) as source,
    ):
        events = run_source(source, step, timeout_s=8.0)
        returned_at = time.monotonic()
    assert stopped_at and returned_at - stopped_at[0] < 1.0
    assert [e.available for e in events if isinstance(e, SourceState)] == [False]
    lost_s = sum(e.duration_s for e in events if isinstance(e, AudioDropped) and e.reason == "device_lost")
    assert lost_s >= 0.9, events[-3:]  # a second without audio is a lost device
    assert_clock_continuous(events)


def test_a_driver_that_never_lets_go_stops_the_source_for_a_restart(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream whose close hangs for good: the service exits with why, and systemd's restart frees the driver."""
    from listener.audio import capture_run

    monkeypatch.setattr(capture_run, "WEDGED_AFTER_S", 1.5)
    device = alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000, fifo_channel=0)
    events: list[Event] = []

    def step(event: Event, seen: list[Event]) -> bool:
        if audio_s(seen) >= 0.3:
            feeder.pause()  # wedged, and never freed while the source runs: its close hangs
        events[:] = seen
        return False

    t0 = time.monotonic()
    with FifoFeeder(device.infiles[0], device.signal[:, :1]) as feeder, LiveSource(live_config()) as source:
        with pytest.raises(DriverWedgedError, match="has not let go of the array for 2 s") as wedged:
            run_source(source, step, timeout_s=20.0)
        feeder.resume()  # lets the test's own close finish
    assert time.monotonic() - t0 < 10.0
    assert [e.available for e in events if isinstance(e, SourceState)] == [False]  # the fault was shown first

    # the command exits with the code the unit restarts on (2, what a person must fix, it does not)
    def wedged_run(args: object) -> int:
        raise wedged.value

    monkeypatch.setattr(cli, "cmd_run", wedged_run)
    assert cli.main(["run"]) == 75


def test_an_array_absent_at_start_is_waited_for(alsa_config: AlsaConfig, caplog: pytest.LogCaptureFixture) -> None:
    """The service boots before its USB array: the fault is announced, and capture starts when it appears.

    The journal says what it captures, at INFO as at any start (it was at debug level, as if a reopen in an
    outage), and that the array arrived, not that it is "back": it was never there."""
    from listener.audio import live

    signal = tones(16000, 2.0, 4)
    plugged: list[bool] = []

    def step(event: Event, events: list[Event]) -> bool:
        if isinstance(event, AudioDropped) and not plugged:
            alsa_config.add("listener_test_array", signal, 16000)  # plugged in after start
            plugged.append(True)
        return audio_s(events) >= 0.5

    with pytest.raises(AudioInputError):
        LiveSource(live_config()).open()  # without waiting: the clear error, as before
    with (
        caplog.at_level(logging.INFO, logger=live.__name__),
        LiveSource(live_config(reopen_interval_s=0.2), wait=True) as source,
    ):
        events = run_source(source, step, timeout_s=20.0)
    states = [e for e in events if isinstance(e, SourceState)]
    assert [s.available for s in states] == [False, True]
    assert "no audio input device matching 'listener_test_array'" in states[0].detail
    assert states[1].detail == "'listener_test_array' has arrived"
    said = [r.getMessage() for r in caplog.records]
    assert "capturing 4 channels at 16000 Hz from 'listener_test_array'" in said, said
    assert "audio input arrived: 'listener_test_array'" in said and not [m for m in said if "back" in m], said
    first_audio = next(i for i, e in enumerate(events) if isinstance(e, AudioBlock))
    assert events.index(states[1]) < first_audio
    assert_clock_continuous(events)


def test_an_outage_moves_the_clock_every_quarter_second_between_reopens(alsa_config: AlsaConfig) -> None:
    """Reopening every 2 s, the stages after the source still hear the clock move often (the privacy
    button's press is read between these events): every OUTAGE_TICK_S, not every reopen_interval_s."""
    arrived: list[float] = []

    def step(event: Event, events: list[Event]) -> bool:
        if isinstance(event, AudioDropped):
            arrived.append(time.monotonic())
        return len(arrived) >= 12

    with LiveSource(live_config(reopen_interval_s=2.0), wait=True) as source:
        events = run_source(source, step, timeout_s=20.0)
    gaps = [b - a for a, b in itertools.pairwise(arrived[1:])]  # from the first tick on
    assert max(gaps) < 0.6, gaps
    drops = [e for e in events if isinstance(e, AudioDropped)]  # one per arrival, in order
    # each tick tells about a quarter second (reopen_interval_s in steps of OUTAGE_TICK_S): the median, for a
    # late tick on a busy machine tells more, never less
    assert statistics.median(d.duration_s for d in drops[1:]) < 0.375, [d.duration_s for d in drops]
    # the clock still counts it all: what came after the first drop is the time between the first and last
    assert sum(d.duration_s for d in drops[1:]) == pytest.approx(arrived[-1] - arrived[0], abs=0.5)


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
    silent = silenceable(monkeypatch)
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

    silent, unusable = silenceable(monkeypatch), _unusable_on_reopen(monkeypatch, error)
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


def test_an_array_busy_at_start_is_said_once_while_waited_for(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another program holds the array at boot: its stream will not open. The first retry took the same
    DeviceOpenError for news, so the journal said it twice at once and the fault was shown twice."""
    from listener.audio import live

    refusals = [3]  # the open at start and two retries find it busy
    open_stream = pyaudio.PyAudio.open

    def busy(pa: pyaudio.PyAudio, *args: object, **kwargs: object) -> pyaudio.Stream:
        if refusals[0] > 0:
            refusals[0] -= 1
            raise OSError(pyaudio.paDeviceUnavailable, "Device unavailable")
        return open_stream(pa, *args, **kwargs)

    monkeypatch.setattr(pyaudio.PyAudio, "open", busy)
    with (
        caplog.at_level(logging.WARNING, logger=live.__name__),
        LiveSource(live_config(reopen_interval_s=0.1), wait=True) as source,
    ):
        events = run_source(source, lambda _event, events: audio_s(events) >= 0.3)
    assert refusals == [0]
    states = [e for e in events if isinstance(e, SourceState)]
    assert [s.available for s in states] == [False, True]
    assert "Device unavailable" in states[0].detail
    said = [r.getMessage() for r in caplog.records if "Device unavailable" in r.getMessage()]
    assert len(said) == 1, said
    assert_clock_continuous(events)
