"""LiveSource through real PortAudio and ALSA, fed by file-backed PCMs (see tests/alsa_device.py).

The test PCMs are not paced (capture runs far faster than real time), so
every test reads from the start of a stream and bounds itself with
timeouts; a source that ignores stop() fails the test instead of hanging it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import pyaudio
import pytest

from listener.audio.devices import choose_device, format_devices, list_input_devices
from listener.audio.live import LiveSource
from listener.audio.ring import FrameRing, Gap
from listener.config import PROCESSING_RATE_HZ, Config, parse_config
from listener.errors import AudioFormatError, AudioInputError
from listener.events import AudioBlock, AudioDropped, Event, SourceState
from tests import alsa_device
from tests.alsa_device import AlsaConfig, FifoFeeder, TestDevice, signal_as_float, tones

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array

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


# --- devices -------------------------------------------------------------------


def test_devices_are_listed_by_name_with_their_channel_counts(alsa_config: AlsaConfig, test_array: TestDevice) -> None:
    alsa_config.add("listener_two_mics", tones(16000, 0.5, 2), 16000)
    devices = {d.name: d for d in list_input_devices()}
    assert devices["listener_test_array"].max_input_channels == 4
    assert devices["listener_two_mics"].max_input_channels == 2
    table = format_devices(list(devices.values()))
    assert "listener_test_array" in table and "listener_two_mics" in table


def test_portaudio_start_up_noise_stays_off_stderr(alsa_config: AlsaConfig, capfd: pytest.CaptureFixture[str]) -> None:
    # The private config's "default" PCM points nowhere (an ALSA error) and no JACK server runs.
    alsa_config.add("listener_two_mics", tones(16000, 0.5, 2), 16000)
    assert [d.name for d in list_input_devices()] == ["listener_two_mics"]
    assert capfd.readouterr().err == ""


def test_missing_device_error_lists_the_inputs_and_the_fix(test_array: TestDevice) -> None:
    config = parse_config({"array": {"preset": "respeaker-4mic"}})  # hint 'seeed4micvoicec': not here
    with pytest.raises(AudioInputError) as err:
        LiveSource(config).open()
    message = str(err.value)
    assert "seeed4micvoicec" in message
    assert "'listener_test_array' (4 in)" in message
    assert "[array] device" in message and "arecord -l" in message and "overlay" in message
    assert "\n" not in message


def test_device_with_too_few_channels_names_both_counts(alsa_config: AlsaConfig) -> None:
    alsa_config.add("listener_two_mics", tones(16000, 0.5, 2), 16000)
    with pytest.raises(AudioFormatError, match=r"'listener_two_mics' has 2 input channel\(s\).* captures 4"):
        LiveSource(live_config(device="listener_two_mics")).open()


def test_card_ids_match_card_names_without_punctuation() -> None:
    from listener.audio.devices import InputDevice

    hw = InputDevice(2, "seeed-4mic-voicecard: bcm2835-i2s-ac10x-codec0 ac10x-codec.1-003b-0 (hw:1,0)", 4, 48000)
    other = InputDevice(0, "bcm2835 Headphones: - (hw:0,0)", 0, 48000)
    assert choose_device([other, hw], ("seeed4micvoicec",), 4, None) is hw
    assert choose_device([other, hw], ("SEEED-4MIC",), 4, None) is hw


# --- capture -------------------------------------------------------------------


def test_captures_the_recording_exactly_in_geometry_order(test_array: TestDevice) -> None:
    config = parse_config(
        {
            "array": {
                "preset": "generic",
                "mics": SQUARE_MICS[:3],
                "mic_channels": [3, 1, 0],
                "channels": 4,
                "device": "listener_test_array",
                "block_ms": 100,
            }
        }
    )
    with LiveSource(config) as source:
        assert source.device is not None and source.device.name == "listener_test_array"
        events = run_source(source, until_audio(2.0))
    blocks = [e for e in events if isinstance(e, AudioBlock)]
    first = blocks[: len(test_array.signal) // 1600]
    assert len(first) == 20
    for k, block in enumerate(first):
        assert block.samples.shape == (1600, 3) and block.samples.dtype == np.float32
        assert block.sample_rate_hz == PROCESSING_RATE_HZ
        assert block.start_s == pytest.approx(k * 0.1, abs=1e-9)
    got = leading_audio(events)[: len(test_array.signal)]
    np.testing.assert_array_equal(got, signal_as_float(test_array.signal, [3, 1, 0]))
    assert_clock_continuous(events)


def test_empty_device_name_uses_the_default_input(test_array: TestDevice) -> None:
    config = parse_config({"array": {"preset": "generic", "mics": SQUARE_MICS, "device": ""}})
    with LiveSource(config) as source:
        assert source.device is not None and source.device.name == "default"
        events = run_source(source, until_audio(1.0))
    got = leading_audio(events)[:16000]
    np.testing.assert_array_equal(got, signal_as_float(test_array.signal[:16000], [0, 1, 2, 3]))


def test_48k_capture_is_resampled_to_16k(alsa_config: AlsaConfig) -> None:
    alsa_config.add("listener_test_array", tones(48000, 2.0, 4), 48000)
    with LiveSource(live_config(sample_rate=48000)) as source:
        events = run_source(source, until_audio(2.0))
    got = leading_audio(events)
    assert got.shape[0] >= 31000 and got.shape[1] == 4
    expected = signal_as_float(tones(16000, 2.0, 4), [0, 1, 2, 3])
    inner = slice(160, 31000)  # the resampler's edges are not the tone
    for ch in range(4):
        corr = np.corrcoef(got[inner, ch], expected[inner, ch])[0, 1]
        assert corr > 0.999, f"channel {ch}: correlation {corr:.4f}"
    assert np.abs(got[inner] - expected[inner]).max() < 2e-3
    assert all(e.sample_rate_hz == 16000 for e in events if isinstance(e, AudioBlock))


def test_slow_consumer_gets_overflows_announced_and_the_clock_kept(test_array: TestDevice) -> None:
    def enough(_event: Event, events: list[Event]) -> bool:
        return sum(isinstance(e, AudioDropped) for e in events) >= 3

    with LiveSource(live_config(buffer_s=0.5)) as source:
        events = run_source(source, enough, delay_s=0.02)
        overflows = source.overflow_count
    drops = [e for e in events if isinstance(e, AudioDropped)]
    assert len(drops) >= 3 and all(d.reason == "overflow" for d in drops)
    assert overflows >= len(drops)
    assert_clock_continuous(events)
    # What the ring held before it filled is the recording's first half second, intact.
    got = leading_audio(events)
    assert got.shape[0] >= 8000
    np.testing.assert_array_equal(got[:8000], signal_as_float(test_array.signal[:8000], [0, 1, 2, 3]))


def test_stop_from_another_thread_ends_events_promptly(test_array: TestDevice) -> None:
    with LiveSource(live_config()) as source:
        timer = threading.Timer(0.5, source.stop)
        timer.start()
        started = time.monotonic()
        events = run_source(source, lambda _e, _all: False, timeout_s=10.0, delay_s=0.01)
        took = time.monotonic() - started
        timer.cancel()
    assert took < 2.0
    assert any(isinstance(e, AudioBlock) for e in events)


def test_events_before_open_is_an_error() -> None:
    with pytest.raises(AudioInputError, match="not open"):
        next(LiveSource(live_config()).events())


# --- device loss -----------------------------------------------------------------


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


# --- ring --------------------------------------------------------------------------


def test_ring_keeps_order_across_wraparound_and_gaps() -> None:
    ring = FrameRing(capacity_frames=10, channels=2)
    frames = np.arange(40, dtype=np.int16).reshape(20, 2)
    assert ring.write(frames[:6]) == 0
    first = ring.read(4, timeout_s=0.0)
    assert isinstance(first, np.ndarray)
    np.testing.assert_array_equal(first, frames[:4])
    assert ring.write(frames[6:14]) == 0  # wraps around the end of the buffer
    assert ring.write(frames[14:20]) == 6  # full: all six dropped as one overflow
    assert ring.write(frames[:3]) == 3  # still full: merged into the same gap
    assert ring.overflow_count == 1 and ring.dropped_frames == 9
    rest = ring.read(100, timeout_s=0.0)
    assert isinstance(rest, np.ndarray)
    np.testing.assert_array_equal(rest, frames[4:14])
    assert ring.read(100, timeout_s=0.0) == Gap(start=14, frames=9, reason="overflow")
    assert ring.read(100, timeout_s=0.0) is None


def test_ring_reports_portaudio_losses_in_stream_order() -> None:
    ring = FrameRing(capacity_frames=8, channels=1)
    ring.write(np.ones((3, 1), dtype=np.int16))
    ring.lose(5, "overflow")
    ring.write(np.full((2, 1), 7, dtype=np.int16))
    a, gap, b = (ring.read(100, timeout_s=0.0) for _ in range(3))
    assert isinstance(a, np.ndarray) and a.shape == (3, 1)
    assert gap == Gap(start=3, frames=5, reason="overflow")
    assert isinstance(b, np.ndarray) and b[:, 0].tolist() == [7, 7]
    assert ring.overflow_count == 1


def test_ring_read_returns_when_woken() -> None:
    ring = FrameRing(capacity_frames=4, channels=1)
    threading.Timer(0.1, ring.wake).start()
    started = time.monotonic()
    assert ring.read(4, timeout_s=5.0) is None
    assert time.monotonic() - started < 2.0


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


def test_a_device_that_opens_but_stays_silent_is_not_announced_back(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reopened stream that delivers nothing (an I2S HAT without its clock) must not flap lost/back."""
    from listener.audio import live

    silent = threading.Event()
    deliver = live._Run.callback

    def callback(run: live._Run, in_data: bytes | None, frames: int, info: dict[str, float], status: int) -> object:
        if silent.is_set():
            return None, pyaudio.paContinue  # called, but nothing arrives
        return deliver(run, in_data, frames, info, status)

    monkeypatch.setattr(live._Run, "callback", callback)
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


def test_an_unusable_device_is_reported_again_in_the_next_outage(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each outage in which the array comes back unusable says so: the second time is news too.

    The warning is said once per outage, however often the reopen is retried; it used to stay
    silenced for good once said, so an installer reading the journal of a later outage saw nothing.
    """
    from listener.audio import live

    silent, unusable = threading.Event(), threading.Event()
    deliver, start_run = live._Run.callback, live.LiveSource._start_run

    def callback(run: live._Run, in_data: bytes | None, frames: int, info: dict[str, float], status: int) -> object:
        if silent.is_set():
            return None, pyaudio.paContinue  # the array stops delivering: an outage
        return deliver(run, in_data, frames, info, status)

    def start(source: LiveSource) -> object:
        if unusable.is_set():  # what choose_device says of an array replugged in the wrong mode
            raise AudioFormatError("'listener_test_array' has 2 input channels; the array needs 4")
        return start_run(source)

    monkeypatch.setattr(live._Run, "callback", callback)
    monkeypatch.setattr(live.LiveSource, "_start_run", start)
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
    assert [e.available for e in events if isinstance(e, SourceState)] == [False, True, False, True]
    said = [r for r in caplog.records if "still not captured" in r.getMessage()]
    assert len(said) == 2  # once per outage
    assert_clock_continuous(events)


def test_a_silent_reopened_device_is_not_counted_lost_twice(
    alsa_config: AlsaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each silent reopen used to count the time its stream took to open twice: the clock ran ahead of the wall."""
    from listener.audio import live

    silent = threading.Event()
    deliver, open_stream = live._Run.callback, live.LiveSource._open_stream

    def callback(run: live._Run, in_data: bytes | None, frames: int, info: dict[str, float], status: int) -> object:
        if silent.is_set():
            return None, pyaudio.paContinue
        return deliver(run, in_data, frames, info, status)

    def slow_open(source: LiveSource, run: live._Run) -> object:
        time.sleep(0.3)  # a driver that takes a while to open, as ALSA on a Pi can
        return open_stream(source, run)

    monkeypatch.setattr(live._Run, "callback", callback)
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

    with LiveSource(live_config(reopen_interval_s=0.1)) as source:
        run_source(source, step, timeout_s=30.0)
    assert max(ahead_s) < 0.2, [round(a, 2) for a in ahead_s]
