"""Choosing the array among input devices: by name, channel counts, party channels, the presets' cards."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import numpy as np
import pytest

from listener.audio.base import AudioSource, events_until, lost_detail
from listener.audio.devices import InputDevice, choose_device, party_channels
from listener.config import PROCESSING_RATE_HZ, geometry, parse_config
from listener.errors import AudioFormatError, AudioInputError
from listener.events import AudioBlock, AudioDropped, DropReason, SourceState


def test_a_name_that_fits_several_devices_is_an_error_not_a_guess() -> None:
    a = InputDevice(2, "ReSpeaker 4 Mic Array (UAC1.0): USB Audio (hw:2,0)", 6, 16000)
    b = InputDevice(3, "ReSpeaker 4 Mic Array (UAC1.0): USB Audio (hw:3,0)", 6, 16000)
    webcam = InputDevice(4, "USB Camera: Audio (hw:4,0)", 1, 16000)
    with pytest.raises(AudioFormatError) as err:
        choose_device([a, b, webcam], ("respeaker",), 6, None)
    message = str(err.value)
    assert "matches 2 devices" in message and "(hw:2,0)" in message and "(hw:3,0)" in message
    assert "[array] device" in message and "\n" not in message
    assert choose_device([a, b, webcam], ("respeaker 4 mic array (uac1.0): usb audio (hw:3",), 6, None) is b
    assert choose_device([a, webcam], ("usb",), 6, None) is a  # only one has the channels: no doubt


def test_a_one_channel_input_is_not_told_to_set_the_channels_to_one() -> None:
    """A webcam or a USB lapel mic named by [array] device: "set [array] preset / channels / mic_channels to
    what this device provides" asked for a config check-config refuses (direction mode needs 2 mics, one
    party per channel needs 2 channels). It now says why one channel cannot do and points at the array's input."""
    webcam = InputDevice(4, "USB Camera: Audio (hw:4,0)", 1, 16000)
    with pytest.raises(AudioFormatError) as err:
        choose_device([webcam], ("usb camera",), 4, None)
    message = str(err.value)
    assert "has 1 input channel but the array configuration captures 4" in message, message
    assert "one mic cannot tell the rep from the customer" in message and "[array] device" in message, message
    assert "mic_channels" not in message and "\n" not in message, message
    with pytest.raises(AudioFormatError, match="mic_channels"):  # two channels: another board's count may fit
        choose_device([dataclasses.replace(webcam, max_input_channels=2)], ("usb camera",), 4, None)


def test_a_party_channel_beyond_the_device_names_the_parties_keys() -> None:
    """One mic per party: customer_channel = 3 on a two-channel device made the config "capture 4", a number the
    installer never wrote, and the fix named [array] keys this mode does not read."""
    lapel = InputDevice(2, "lapel2: USB Audio (hw:2,0)", 2, 48000)
    geo = geometry(parse_config({"array": {"device": "lapel2"}, "parties": {"rep_channel": 0, "customer_channel": 3}}))
    with pytest.raises(AudioFormatError) as err:
        choose_device([lapel], geo.device_hints, geo.capture_channels, None, party_channels(geo))
    message = str(err.value)
    assert "[parties] rep_channel = 0 and customer_channel = 3 need 4: set both below 2" in message, message
    assert "mic_channels" not in message, message
    # channels count from 0: channel 2 is the third, which a two-channel device does not have either
    geo = geometry(parse_config({"array": {"device": "lapel2"}, "parties": {"rep_channel": 0, "customer_channel": 2}}))
    with pytest.raises(AudioFormatError, match=r"customer_channel = 2 need 3: set both below 2 \(channels count"):
        choose_device([lapel], geo.device_hints, geo.capture_channels, None, party_channels(geo))
    # the channels the card captures, not the parties', fall short: the array's keys, without mic_channels
    parties = {"rep_channel": 0, "customer_channel": 1}
    geo = geometry(parse_config({"array": {"device": "lapel2", "channels": 4}, "parties": parties}))
    with pytest.raises(AudioFormatError, match=r"set \[array\] preset / channels to") as err:
        choose_device([lapel], geo.device_hints, geo.capture_channels, None, party_channels(geo))


def test_the_2mic_preset_finds_the_v1_hat_on_the_kernels_wm8960_overlay() -> None:
    """The v1 HAT on Raspberry Pi OS's own overlay is 'wm8960-soundcard', not Seeed's 'seeed-2mic-voicecard'."""
    hdmi = InputDevice(0, "vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)", 2, 48000)
    v1 = InputDevice(1, "wm8960-soundcard: bcm2835-i2s-wm8960-hifi wm8960-hifi-0 (hw:1,0)", 2, 48000)
    seeed = InputDevice(2, "seeed-2mic-voicecard: bcm2835-i2s-tlv320aic3x-hifi (hw:2,0)", 2, 48000)
    geo = geometry(parse_config({"array": {"preset": "respeaker-2mic"}}))
    assert choose_device([hdmi, v1], geo.device_hints, 2, 0) is v1
    assert choose_device([hdmi, seeed, v1], geo.device_hints, 2, 0) is seeed  # the first name that fits wins
    with pytest.raises(AudioInputError) as err:
        choose_device([hdmi], geo.device_hints, 2, 0)
    assert "matching 'seeed2micvoicec' or 'wm8960soundcard'" in str(err.value)
    # a configured name replaces the preset's
    own = geometry(parse_config({"array": {"preset": "respeaker-2mic", "device": "vc4-hdmi"}}))
    assert choose_device([hdmi, v1], own.device_hints, 2, 0) is hdmi


class _UntilStopped(AudioSource):
    """A source whose events() runs until stop(), as a live array's does."""

    stopped = False

    def stop(self) -> None:
        self.stopped = True


@pytest.mark.parametrize("block_ms", [30, 50, 100, 300])
def test_listening_for_a_second_reads_a_second_of_blocks(block_ms: int) -> None:
    # the doctor and calibrate listen for whole seconds; 0.1 s blocks summed as floats fell short of 1.0 s
    class Endless(_UntilStopped):
        def events(self) -> Iterator[AudioBlock]:
            k, n = 0, PROCESSING_RATE_HZ * block_ms // 1000
            while not self.stopped:
                yield AudioBlock(k * n / PROCESSING_RATE_HZ, PROCESSING_RATE_HZ, np.zeros((n, 4), np.float32))
                k += 1

    blocks = [e for e in events_until(Endless(), 1.0, timeout_s=60.0) if isinstance(e, AudioBlock)]
    assert len(blocks) == -(-1000 // block_ms)  # as many as it takes to reach 1.0 s, not one more


def test_listening_ends_at_its_wall_clock_timeout_when_no_audio_comes() -> None:
    # an array in an outage: the source says so now and then, and never a block; doctor and calibrate give up
    class Away(_UntilStopped):
        def events(self) -> Iterator[SourceState]:
            until_s = time.monotonic() + 2.0  # its own end, so that a listening without one fails, not hangs
            while not self.stopped and time.monotonic() < until_s:
                time.sleep(0.01)
                yield SourceState(t_s=0.0, available=False, detail="no audio")

    started_s = time.monotonic()
    said = list(events_until(Away(), 1.0, timeout_s=0.2))
    assert said and 0.2 <= time.monotonic() - started_s < 1.0


def test_no_inputs_at_all_is_not_answered_with_a_list_to_choose_from() -> None:
    # "inputs found: none. Fix: set [array] device to part of one of these names" pointed at nothing
    with pytest.raises(AudioInputError) as err:
        choose_device([], ("seeed4micvoicec",), 4, None)
    message = str(err.value)
    assert message.startswith("no audio input device matching 'seeed4micvoicec'; no audio inputs at all. Fix: ")
    assert "group 'audio'" in message and "arecord -l" in message
    # PortAudio leaves out a card another program holds: the array looks unplugged
    assert "no other program holds its card (`fuser -v /dev/snd/*` names one that does)" in message
    assert "one of these names" not in message and "\n" not in message


@pytest.mark.parametrize("hint", ["()", "--", "микрофон", "麦克风"])
def test_a_name_of_no_ascii_letters_or_digits_matches_no_device(hint: str) -> None:
    # its punctuation-free form was '' (ASCII letters only were kept), and '' is part of every name: the
    # first input found was taken, a webcam as readily as the array
    webcam = InputDevice(4, "USB Camera: Audio (hw:4,0)", 1, 16000)
    with pytest.raises(AudioInputError, match="no audio input device matching"):
        choose_device([webcam], (hint,), 1, None)
    named = InputDevice(5, "Микрофон USB (hw:5,0)", 1, 16000)
    assert choose_device([webcam, named], ("микрофон usb",), 1, None) is named


@pytest.mark.parametrize("reason", ["overflow", "paused"])
def test_audio_dropped_while_the_array_stays_is_not_the_array_lost(reason: DropReason) -> None:
    # doctor's level check and calibrate stop at a lost array; a busy moment's overflow, or a privacy pause, is
    # a gap in audio that goes on flowing
    assert lost_detail(AudioDropped(start_s=1.0, duration_s=0.05, reason=reason)) is None
    lost = AudioDropped(start_s=1.0, duration_s=0.05, reason="device_lost")
    assert lost_detail(lost) == "the audio input was lost"
    assert lost_detail(SourceState(t_s=1.0, available=False, detail="no audio from 'hw:1'")) == "no audio from 'hw:1'"
    assert lost_detail(SourceState(t_s=2.0, available=True, detail="back")) is None
