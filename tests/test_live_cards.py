"""Live capture from cards that behave as sound cards do (tests/alsa_card.py): what an installer's USB array
with the wrong firmware, or a provisioned device whose card cannot feed it, is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.audio.live import LiveSource
from listener.config import parse_config
from listener.errors import ListenerError
from listener.service import doctor
from tests import alsa_card
from tests.alsa_card import CardSet

cards, card_plugin = alsa_card.cards, alsa_card.card_plugin  # fixtures

USB_NAME = "ReSpeaker_4_Mic_Array_UAC1_0"  # the array's card as ALSA may name it (an ALSA id has no spaces)
# firmware/asound.conf.in's chain, with a plug standing in for dsnoop over the raw card (dsnoop needs a hw card)
PROVISIONED = """
pcm.listener_array_snoop { type plug; slave { pcm "listener_array_hw"; channels 6; rate 16000 } hint.show off }
pcm.listener_array { type plug; slave.pcm "listener_array_snoop"; hint { show on; description "listener" } }
"""


def open_error(tmp_path: Path, array: dict[str, object]) -> str:
    config = parse_config({"array": array, "service": {"state_dir": str(tmp_path / "state")}})
    with pytest.raises(ListenerError) as raised, LiveSource(config) as source:
        source.open()
    return str(raised.value)


def test_a_usb_array_with_its_1_channel_firmware_is_told_to_flash_the_6_channel_one(
    tmp_path: Path, cards: CardSet
) -> None:
    """It was told to pick another input with [array] device, which no input would have answered."""
    cards.set({USB_NAME: "rate 16000; channels 1; format S16_LE"})
    said = open_error(tmp_path, {"preset": "respeaker-usb-v2"})
    assert f"input device '{USB_NAME}' has 1 input channel but" in said, said
    assert "6-channel firmware: flash it" in said and "6_channels_firmware.bin" in said, said


def test_a_provisioned_device_that_cannot_open_is_not_swapped_for_the_raw_card_under_it(
    tmp_path: Path, cards: CardSet
) -> None:
    """listener_array over a card that cannot give its 6 channels does not open, and PortAudio leaves it out of
    its list; the name search then took listener_array_hw by a partial match: the raw card, held alone."""
    cards.set({"listener_array_hw": "rate 16000; channels 1; format S16_LE; hint.show off"}, PROVISIONED)
    said = open_error(tmp_path, {"preset": "respeaker-usb-v2", "device": "listener_array"})
    assert "no audio input device matching 'listener_array'" in said, said
    assert "listener_array_hw' has" not in said and "firmware/provision.sh's name for that card" in said, said


def test_a_respeaker_with_its_6_channels_under_a_preset_that_wants_more_is_not_told_to_flash_it(
    tmp_path: Path, cards: CardSet
) -> None:
    """The USB array already on its 6-channel firmware, configured as the 6-mic HAT (8 channels): the fix is the
    preset, and the firmware advice would have sent the installer to flash what is already there."""
    cards.set({USB_NAME: "rate 16000; channels 6; format S16_LE"})
    said = open_error(tmp_path, {"preset": "respeaker-6mic", "device": "ReSpeaker"})
    assert "has 6 input channel(s) but the array configuration captures 8" in said, said
    assert "firmware" not in said and "set [array] preset" in said, said


def test_doctor_does_not_say_a_card_captures_at_a_rate_it_lacks(tmp_path: Path, cards: CardSet) -> None:
    """A 48 kHz-only USB mic left at 16 kHz: the audio line said "captured at 16000 Hz", then the levels line
    failed with the fix; the first line now says what the service asks for, and the second whether it can."""
    cards.set({"usbmic48": "rate 48000; rate2 44100; channels 2; format S16_LE"})
    array = {"preset": "generic", "device": "usbmic48", "channels": 2}
    data = {"array": array, "parties": {"rep_channel": 0, "customer_channel": 1}}
    config = parse_config({**data, "service": {"state_dir": str(tmp_path / "state")}})
    checks = {c.name: c for c in doctor.check_audio(config)}
    assert "captured at" not in checks["audio"].detail and "to capture at 16000 Hz" in checks["audio"].detail
    assert checks["levels"].status == "FAIL" and "sample_rate" in checks["levels"].fix, checks["levels"].line()


def test_a_card_without_16_bit_samples_is_told_to_capture_through_a_plug(tmp_path: Path, cards: CardSet) -> None:
    """A 24-bit-only card opened raw: PortAudio's 'Sample format not supported' was told to change the rate or
    stop another program, neither of which changes the card's format."""
    cards.set({"usb24bit": "rate 16000; channels 2; format S24_LE"})
    array = {"preset": "generic", "device": "usb24bit", "channels": 2}
    said = open_error(tmp_path, {**array, "mics": [[0.05, 0.0, 0.0], [-0.05, 0.0, 0.0]]})
    assert "Sample format not supported" in said, said
    assert "does not give 16-bit samples" in said and "plug" in said, said
    assert "sample_rate" not in said.split("Fix:")[1] and "fuser" not in said, said
