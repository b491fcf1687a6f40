"""LiveSource through real PortAudio and ALSA, fed by file-backed PCMs (see tests/alsa_device.py).

The test PCMs are not paced (capture runs far faster than real time), so
every test reads from the start of a stream and bounds itself with
timeouts; a source that ignores stop() fails the test instead of hanging it.
Device outages are in test_live_outages.py.
"""

from __future__ import annotations

import logging
import re
import threading
import time

import numpy as np
import pyaudio
import pytest

from listener import cli
from listener.audio import live
from listener.audio.capture_run import CaptureRun
from listener.audio.devices import choose_device, format_devices, list_input_devices
from listener.audio.live import LiveSource
from listener.config import PROCESSING_RATE_HZ, parse_config
from listener.errors import AudioFormatError, AudioInputError, DeviceOpenError
from listener.events import AudioBlock, AudioDropped, Event
from tests import alsa_device
from tests.alsa_device import AlsaConfig, TestDevice, signal_as_float, tones
from tests.live_source import (
    SQUARE_MICS,
    assert_clock_continuous,
    audio_s,
    leading_audio,
    live_config,
    run_source,
    script_driver,
    until_audio,
)
from tests.waiting import wait_until

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array


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


def test_devices_with_no_input_fails_and_says_why(alsa_config: AlsaConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["devices"]) == 1  # a script checking for the array can tell
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("listener: no audio input devices found") and "arecord -l" in err
    alsa_config.add("listener_two_mics", tones(16000, 0.5, 2), 16000)
    assert cli.main(["devices"]) == 0 and "listener_two_mics" in capsys.readouterr().out


def test_missing_device_error_lists_the_inputs_and_the_fix(test_array: TestDevice) -> None:
    config = parse_config({"array": {"preset": "respeaker-4mic"}})  # hint 'seeed4micvoicec': not here
    with pytest.raises(AudioInputError) as err:
        LiveSource(config).open()
    message = str(err.value)
    assert "seeed4micvoicec" in message
    assert "'listener_test_array' (4 in)" in message
    assert "[array] device" in message and "arecord -l" in message and "overlay" in message
    assert "no other program holds its card (`fuser -v /dev/snd/*`" in message  # PortAudio skips a busy card
    assert "\n" not in message


def test_device_with_too_few_channels_names_both_counts(alsa_config: AlsaConfig) -> None:
    alsa_config.add("listener_two_mics", tones(16000, 0.5, 2), 16000)
    with pytest.raises(AudioFormatError, match=r"'listener_two_mics' has 2 input channel\(s\).* captures 4") as err:
        LiveSource(live_config(device="listener_two_mics")).open()
    # two lapel mics on a stereo interface, the channel keys forgotten: told as a 2-channel file's analysis tells it
    assert str(err.value).endswith(
        ", or, for one mic per party, set [parties] rep_channel = 0 and customer_channel = 1"
    )


RATE_FIX = "set [array] sample_rate to a rate the device supports (it defaults to {rate} Hz)"
BUSY_FIX = "stop the program holding it (`fuser -v /dev/snd/*` names it)"


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (OSError(pyaudio.paDeviceUnavailable, "Device unavailable"), f"the device is busy: {BUSY_FIX}; leave [array]"
         " sample_rate as it is"),
        (OSError(pyaudio.paInvalidSampleRate, "Invalid sample rate"), RATE_FIX),
        (OSError(pyaudio.paUnanticipatedHostError, "Unanticipated host error"), f"{RATE_FIX}, or {BUSY_FIX}"),
    ],
    ids=["busy", "rate", "other"],
)  # fmt: skip
def test_a_device_that_will_not_open_gets_the_fix_for_portaudios_error_code(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, error: OSError, fix: str
) -> None:
    """Every open failure used to get both fixes: told to change the rate of a device that was merely
    busy, an installer could break a working configuration; and a rate the device lacks is not cured by
    stopping another program. An error code without its own advice keeps both."""
    [device] = [d for d in list_input_devices() if d.name == "listener_test_array"]

    def refuse(_pa: pyaudio.PyAudio, *_args: object, **_kwargs: object) -> pyaudio.Stream:
        raise error

    monkeypatch.setattr(pyaudio.PyAudio, "open", refuse)
    with pytest.raises(DeviceOpenError) as err:
        LiveSource(live_config()).open()
    assert str(err.value) == (
        f"cannot capture 4 channels at 16000 Hz from 'listener_test_array': {error}. "
        f"Fix: {fix.format(rate=device.default_rate_hz)}"
    )


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


def test_lapel_mics_on_a_two_channel_interface_that_keeps_the_default_preset_are_captured(
    alsa_config: AlsaConfig,
) -> None:
    """Channel-map mode on another device than the preset's card, as check-config and its warnings allow: the
    start asked the stereo interface for the 4-mic board's 4 channels and stopped ("captures 4: pick the array's
    own device"). Both parties' channels are captured, the customer's first."""
    signal = tones(16000, 1.0, 2)
    alsa_config.add("listener_usb_lapels", signal, 16000)
    parties = {"rep_channel": 1, "customer_channel": 0}
    config = parse_config({"array": {"device": "listener_usb_lapels"}, "parties": parties})
    with LiveSource(config) as source:
        events = run_source(source, until_audio(1.0))
    np.testing.assert_array_equal(leading_audio(events)[:16000], signal_as_float(signal, [1, 0]))


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


def test_slow_consumer_gets_overflows_announced_and_the_clock_kept(
    test_array: TestDevice, caplog: pytest.LogCaptureFixture
) -> None:
    def enough(_event: Event, events: list[Event]) -> bool:
        return sum(isinstance(e, AudioDropped) for e in events) >= 3

    source = LiveSource(live_config(buffer_s=0.5))
    assert source.overflow_count == 0  # the incidents so far: none before it has captured
    with caplog.at_level(logging.WARNING, logger=live.__name__), source:
        events = run_source(source, enough, delay_s=0.02)
        overflows = source.overflow_count
    drops = [e for e in events if isinstance(e, AudioDropped)]
    assert len(drops) >= 3 and all(d.reason == "overflow" for d in drops)
    assert overflows >= len(drops)
    # the journal blames the pipeline, names the ring's size and says where to look
    said = _overflows_said(caplog)
    assert said and re.match(r"audio overflow: \d+\.\d\d s of audio lost \(\d+ overflows? so far\): ", said[0]), said
    assert "the ring ([array] buffer_s = 0.5 s) filled up because the pipeline is falling behind" in said[0]
    assert "Fix: find what takes the CPU (`top`; `listener doctor` times the turn model's step)" in said[0]
    assert_clock_continuous(events)
    # What the ring held before it filled is the recording's first half second, intact.
    got = leading_audio(events)
    assert got.shape[0] >= 8000
    np.testing.assert_array_equal(got[:8000], signal_as_float(test_array.signal[:8000], [0, 1, 2, 3]))


def test_audio_captured_before_an_overrun_is_handed_on_before_the_gap(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 ms blocks from 100 ms periods: when the driver loses 0.25 s after the fifth period, the half block
    captured before the loss must come out before the gap, at its place in the stream. Held back, it would
    come out after the gap as if captured 0.25 s later, and the gap would seem to start at 0.4 s."""
    script_driver(monkeypatch, lambda _stream, period: 0.25 if period == 5 else 0.0)

    def past_the_gap(_event: Event, events: list[Event]) -> bool:
        return any(isinstance(e, AudioDropped) for e in events) and audio_s(events) >= 1.0

    with LiveSource(live_config(block_ms=200)) as source:
        events = run_source(source, past_the_gap)
    gap = next(i for i, e in enumerate(events) if isinstance(e, AudioDropped))
    assert events[gap] == AudioDropped(start_s=0.5, duration_s=0.25, reason="overflow")
    signal = signal_as_float(test_array.signal, [0, 1, 2, 3])
    np.testing.assert_array_equal(leading_audio(events), signal[:8000])
    after = events[gap + 1]
    assert isinstance(after, AudioBlock) and after.start_s == pytest.approx(0.75, abs=1e-9)
    np.testing.assert_array_equal(after.samples, signal[8000:11200])  # the audio after the loss, and only it
    assert_clock_continuous(events)


@pytest.mark.parametrize(("block_ms", "period_advice"), [(50, True), (100, False)], ids=["short-period", "longest"])
def test_a_driver_overrun_is_logged_as_the_drivers_not_the_pipelines(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, block_ms: int,
    period_advice: bool,
) -> None:  # fmt: skip
    """PortAudio flags an overrun (its capture thread came late) while the pipeline keeps up, the ring
    far from full: the journal used to say "the pipeline is falling behind the input", sending the
    installer to the pipeline's CPU use instead of system load, throttling, the USB hub or the period.
    A longer period is advised only while block_ms can still lengthen it."""
    script_driver(monkeypatch, lambda _stream, period: 0.25 if period == 5 else 0.0)
    with caplog.at_level(logging.WARNING, logger=live.__name__), LiveSource(live_config(block_ms=block_ms)) as source:
        events = run_source(source, lambda _event, events: audio_s(events) >= 1.0)
    first = next(e for e in events if isinstance(e, AudioDropped))
    assert (first.reason, first.duration_s) == ("overflow", 0.25)  # the event's vocabulary is unchanged
    # a loaded machine may let the ring overflow later on (the file PCM plays far faster than real time):
    # those are the ring's own, said in their own words
    said = [m for m in _overflows_said(caplog) if "in the driver" in m]
    assert len(said) == 1, _overflows_said(caplog)
    # the count is of the overflows read so far: the ring may have overflowed before this gap was read
    assert re.sub(r"\(\d+ overflows?", "(N overflows", said[0]).startswith(
        "audio overflow in the driver: 0.25 s of audio lost before it reached the ring (N overflows so far):"
        " PortAudio's capture thread was late, not the pipeline. Fix: find what loads the system (`top`) or"
        " throttles it (`vcgencmd get_throttled` other than 0x0: undervoltage or heat), plug the array into"
        " the Pi rather than a USB hub"
    ), said[0]
    assert "falling behind" not in said[0]
    assert (f"raise [array] block_ms (now {block_ms} ms;" in said[0]) == period_advice, said[0]


def test_an_overflows_count_is_of_those_up_to_it_not_of_those_still_in_the_ring(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Three driver overruns are in the ring before the pipeline reads the first: the first warning said
    "(3 overflows so far)", counting the two still ahead of it."""
    periods = [0]

    def overruns(_stream: int, period: int) -> float:
        periods[0] = max(periods[0], period + 1)
        return 0.1 if period in (5, 8, 11) else 0.0

    def behind(_event: Event, events: list[Event]) -> bool:
        wait_until(lambda: periods[0] >= 13, 5.0)  # a pipeline held up: the ring takes all three
        return audio_s(events) >= 1.5

    script_driver(monkeypatch, overruns)
    with (
        caplog.at_level(logging.WARNING, logger=live.__name__),
        LiveSource(live_config(block_ms=100, buffer_s=10.0)) as source,
    ):
        run_source(source, behind)
        assert source.overflow_count >= 3
    counts = [re.findall(r"\((\d+ overflows?) so far\)", m) for m in _overflows_said(caplog)]
    assert counts[:2] == [["1 overflow"], ["2 overflows"]], _overflows_said(caplog)  # the 3rd: not a power of 2


def _overflows_said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("audio overflow")]


def test_an_overrun_portaudio_cannot_measure_is_counted_and_said_without_a_made_up_gap(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A driver without capture timestamps: PortAudio flags the overrun but nothing says how much was
    lost. The overflow is counted (the dashboards' sign of a device too slow), and no gap is invented;
    the journal says it (it was counted only: no log line, while the docs promise overflows are logged)."""

    deliver = CaptureRun.callback
    periods: list[int] = []
    counted: list[int] = []  # overflows the flagged period added

    def no_timestamps(run: CaptureRun, in_data: bytes | None, frames: int, info: object, status: int) -> object:
        periods.append(frames)
        if len(periods) != 5:
            return deliver(run, in_data, frames, {}, status)
        before = run.ring.overflow_count
        out = deliver(run, in_data, frames, {}, status | pyaudio.paInputOverflow)
        counted.append(run.ring.overflow_count - before)
        return out

    monkeypatch.setattr(CaptureRun, "callback", no_timestamps)
    with caplog.at_level(logging.WARNING, logger=live.__name__), LiveSource(live_config()) as source:
        events = run_source(source, lambda _event, events: audio_s(events) >= 1.0)
    # a loaded machine may let the ring overflow later on (the file PCM plays far faster than real
    # time): those are the ring's own, after the audio checked here
    assert counted == [1]
    said = [m for m in _overflows_said(caplog) if "in the driver" in m]
    assert said and said[0].startswith(
        "audio overflow in the driver: an overrun of unknown length lost audio before it reached the ring"
        " (1 overflow so far): PortAudio's capture thread was late, not the pipeline."
    ), _overflows_said(caplog)
    flagged_s = sum(periods[:5]) / PROCESSING_RATE_HZ
    assert not [e for e in events if isinstance(e, AudioDropped) and e.start_s <= flagged_s]
    np.testing.assert_array_equal(leading_audio(events)[:8000], signal_as_float(test_array.signal[:8000], [0, 1, 2, 3]))


@pytest.mark.parametrize(
    ("lost_s", "dropped_s"),
    [(0.2, 0.2), (60.0, 60.0), (60.0 + 1 / PROCESSING_RATE_HZ, None)],
    ids=["to-the-nearest-sample", "a-minute-is-believed", "a-sample-more-is-not"],
)
def test_a_measured_overrun_becomes_a_gap_of_the_nearest_whole_sample_up_to_a_minute(
    test_array: TestDevice,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    lost_s: float,
    dropped_s: float | None,
) -> None:
    """The capture timestamps say how much an overrun lost, in float seconds: here 0.2 s measures as
    3199.999... samples, a gap of 3200 (truncated, one sample would go missing). A hole longer than
    MAX_OVERRUN_S (60 s) is a driver clock glitch: the overrun is counted and said, and no gap is made up."""
    script_driver(monkeypatch, lambda _stream, period: lost_s if period == 5 else 0.0)
    with caplog.at_level(logging.WARNING, logger=live.__name__), LiveSource(live_config(block_ms=100)) as source:
        events = run_source(source, lambda _event, events: audio_s(events) >= 1.0)
        overflows = source.overflow_count
    first = next((e for e in events if isinstance(e, AudioDropped)), None)
    if dropped_s is not None:
        assert first == AudioDropped(start_s=0.5, duration_s=dropped_s, reason="overflow")
    else:
        # a loaded machine may let the ring overflow later on: those gaps are the ring's own, after 0.5 s
        assert first is None or first.start_s > 0.5, first
        assert overflows >= 1
        assert "in the driver: an overrun of unknown length" in _overflows_said(caplog)[0]
        signal = signal_as_float(test_array.signal, [0, 1, 2, 3])
        np.testing.assert_array_equal(leading_audio(events)[:9600], signal[:9600])  # on across the flagged period
    assert_clock_continuous(events)


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
