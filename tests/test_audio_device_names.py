"""Choosing the array by name among devices PortAudio lists as it lists sound cards: 'card: device (hw:N,M)'.

The names come from real PortAudio and ALSA reading a private configuration (as in tests/alsa_device.py).
snd_pcm_open reads a name 'card: device (hw:1,0)' as the PCM 'card' given the arguments 'device (hw:1' and
'0)'; so each card name is a PCM that takes two arguments, and capturing from the folder they name, and an
empty node of each full name puts that name in PortAudio's list. The card's PCM on its own (no arguments)
names no folder: it cannot open, and PortAudio leaves it out, as it leaves out a card's bare name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from listener.audio import card_missing, device_names
from listener.audio.devices import find_array, list_input_devices
from listener.audio.live import LiveSource
from listener.config import geometry, parse_config
from listener.errors import AudioFormatError, AudioInputError
from listener.events import AudioBlock
from tests.alsa_device import Int16Array, tones
from tests.live_source import run_source, until_audio


class Cards:
    """Input devices listed under card-style names, each playing its own signal (files, not paced)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "asound.conf"
        self.listed: dict[str, Int16Array] = {}

    def set(self, listed: dict[str, Int16Array]) -> None:
        self.listed = listed
        for name, signal in listed.items():
            folder = self.directory / name.replace(": ", "/", 1)
            folder.mkdir(parents=True, exist_ok=True)
            for channel in range(signal.shape[1]):
                np.ascontiguousarray(signal[:, channel]).astype("<i2").tofile(folder / f"ch{channel}.raw")
        self.path.write_text(self._render())

    def _render(self) -> str:
        bases: dict[str, int] = {}
        for name, signal in self.listed.items():
            bases[name.partition(": ")[0]] = signal.shape[1]  # one channel count per card name here
        parts = [self._base(base, channels) for base, channels in bases.items()]
        parts += [f'pcm."{name}" {{ type null }}\n' for name in self.listed]
        parts.append('pcm.default { type plug; slave.pcm "listener_no_such_pcm" }\n')
        return "".join(parts)

    def _base(self, base: str, channels: int) -> str:
        slaves = []
        for channel in range(channels):
            infile = f'infile {{ @func concat strings [ "{self.directory}/{base}/" $A "," $B "/ch{channel}.raw" ] }}'
            slaves.append(
                f"  slaves.c{channel} {{ pcm {{ type copy; slave.pcm {{ type file; slave.pcm {{ type null }};"
                f' file "/dev/null"; {infile}; format "raw" }} }} channels 1 }}\n'
                f"  bindings.{channel} {{ slave c{channel}; channel 0 }}\n"
            )
        args = '  @args [ A B ]\n  @args.A { type string default "" }\n  @args.B { type string default "" }\n'
        return f'pcm."{base}" {{\n{args}  type multi\n{"".join(slaves)}}}\n'


@pytest.fixture
def cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cards:
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(tmp_path / "asound.conf"))
    return Cards(tmp_path)


def stereo(amplitude: float = 0.5) -> Int16Array:
    return tones(16000, 0.5, 2, amplitude)


LAPELS = {"preset": "generic", "channels": 2}
PARTIES = {"rep_channel": 0, "customer_channel": 1}


def chosen(array: dict[str, object]) -> str:
    return find_array(geometry(parse_config({"array": array, "parties": PARTIES}))).name


def test_hw_1_is_card_1_never_card_10(cards: Cards) -> None:
    """'hw:1' was looked for as part of the names, and '(hw:10,0)' holds it: with card 1 unplugged, card 10 was
    captured (with both there, the name 'fitted two devices')."""
    one, ten = "USB Audio Device: USB Audio (hw:1,0)", "USB Audio Device: USB Audio (hw:10,0)"
    cards.set({ten: stereo(0.0)})
    assert [d.name for d in list_input_devices()] == [ten]  # a card's bare name is not listed: see the docstring
    with pytest.raises(AudioInputError, match=r"no audio input device matching 'hw:1'; inputs found: 'USB Audio"):
        chosen({**LAPELS, "device": "hw:1"})
    cards.set({one: stereo(), ten: stereo(0.0)})
    assert chosen({**LAPELS, "device": "hw:1"}) == one
    assert chosen({**LAPELS, "device": "hw:1,0"}) == one
    assert chosen({**LAPELS, "device": "(HW:10,0)"}) == ten  # copied with its brackets, in any case
    config = parse_config({"array": {**LAPELS, "device": "hw:1"}, "parties": PARTIES})
    with LiveSource(config) as source:  # and the stream is card 1's: its tones, not card 10's silence
        assert source.device is not None and source.device.name == one
        events = run_source(source, until_audio(0.2))
    samples = np.concatenate([e.samples for e in events if isinstance(e, AudioBlock)])
    assert float(np.abs(samples).max()) > 0.4


def test_an_alsa_id_names_only_the_kind_it_is(cards: Cards) -> None:
    """Under PA_ALSA_PLUGHW=1 PortAudio names cards '(plughw:N,M)': 'plughw:2,0' finds such a card, 'hw:2'
    does not, and 'hw:2,1' is another device of the card."""
    plug = "Lapel: USB Audio (plughw:2,0)"
    cards.set({plug: stereo()})
    assert chosen({**LAPELS, "device": "plughw:2,0"}) == plug
    for other in ("hw:2", "hw:2,0", "plughw:2,1", "plughw:20"):
        with pytest.raises(AudioInputError, match=f"no audio input device matching '{other}'"):
            chosen({**LAPELS, "device": other})


def test_a_numeric_plughw_id_names_the_card_portaudio_lists_as_hw(cards: Cards) -> None:
    """'plughw:1,0', as vendor guides write it, matched nothing: PortAudio lists the card as '(hw:1,0)' unless
    PA_ALSA_PLUGHW=1. It names card 1 (never card 10), and a device listed as plughw first."""
    one, ten = "Lapel: USB Audio (hw:1,0)", "Other: USB Audio (hw:10,0)"
    cards.set({one: stereo(), ten: stereo(0.0)})
    for setting in ("plughw:1,0", "plughw:1", "(PLUGHW:1,0)"):
        assert chosen({**LAPELS, "device": setting}) == one, setting
    with pytest.raises(AudioInputError, match=r"no audio input device matching 'plughw:1,1'"):
        chosen({**LAPELS, "device": "plughw:1,1"})
    config = parse_config({"array": {**LAPELS, "device": "plughw:1,0"}, "parties": PARTIES})
    with LiveSource(config) as source:  # card 1's tones, not card 10's silence
        events = run_source(source, until_audio(0.2))
    samples = np.concatenate([e.samples for e in events if isinstance(e, AudioBlock)])
    assert float(np.abs(samples).max()) > 0.4
    plug = "Lapel: USB Audio (plughw:1,0)"
    cards.set({one: stereo(), plug: stereo()})  # both kinds listed: each id names its own, not "2 devices"
    assert chosen({**LAPELS, "device": "plughw:1,0"}) == plug
    assert chosen({**LAPELS, "device": "hw:1,0"}) == one


def test_a_card_named_whole_is_chosen_over_one_whose_name_holds_it(cards: Cards) -> None:
    """'USB Mic' is part of 'USB Mic Pro' too: with both plugged in, the name was said to fit two devices."""
    mic, pro = "USB Mic: Audio (hw:1,0)", "USB Mic Pro: Audio (hw:2,0)"
    cards.set({mic: stereo(), pro: stereo()})
    assert chosen({**LAPELS, "device": "usb mic"}) == mic
    assert chosen({**LAPELS, "device": "mic pro"}) == pro  # part of one name: as before
    assert chosen({**LAPELS, "device": "USB Mic Pro: Audio (hw:2,0)"}) == pro
    cards.set({pro: stereo()})
    assert chosen({**LAPELS, "device": "usb mic"}) == pro  # still part of a name, when it is the only one


def test_two_alike_cards_are_both_named_and_told_apart_by_their_id(cards: Cards, card_table: Path) -> None:
    """The kernel's table does not name cards 2 and 3 (no table here): the numbers the names end with."""
    first, second = "ReSpeaker: USB Audio (hw:2,0)", "ReSpeaker: USB Audio (hw:3,0)"
    cards.set({first: stereo(), second: stereo()})
    with pytest.raises(AudioFormatError) as err:
        chosen({**LAPELS, "device": "respeaker"})
    message = str(err.value)
    assert f"matches 2 devices: '{first}' (2 in); '{second}' (2 in)" in message, message
    assert "set [array] device to the whole name of the one to capture from, or to the ALSA id" in message, message
    assert "('hw:2,0')" in message and "\n" not in message, message
    assert chosen({**LAPELS, "device": "hw:3"}) == second
    assert chosen({**LAPELS, "device": second.upper()}) == second


def test_two_alike_usb_cards_are_told_apart_by_their_cards_alsa_id(cards: Cards, card_table: Path) -> None:
    """The error suggested 'hw:2,0', which names the other array once the two swap numbers at a boot; the
    kernel tells alike cards apart by their ids ('ArrayUAC10', then 'ArrayUAC10_1'), which stay."""
    first, second = "ReSpeaker: USB Audio (hw:2,0)", "ReSpeaker: USB Audio (hw:3,0)"
    kernel_cards(card_table, {0: "Headphones", 2: "ArrayUAC10", 3: "ArrayUAC10_1"})
    cards.set({first: stereo(), second: stereo()})
    with pytest.raises(AudioFormatError) as err:
        chosen({**LAPELS, "device": "respeaker"})
    message = str(err.value)
    assert "or to its card's ALSA id ('hw:CARD=ArrayUAC10,DEV=0'), which a USB card keeps across boots" in message
    assert "hw:2,0'" not in message.partition("Fix:")[2], message
    assert chosen({**LAPELS, "device": "hw:CARD=ArrayUAC10,DEV=0"}) == first  # the suggestion works as written
    assert chosen({**LAPELS, "device": "hw:CARD=ArrayUAC10_1,DEV=0"}) == second


V2 = "seeed-2mic-voicecard: bcm2835-i2s-tlv320aic3x-hifi (hw:1,0)"
V1 = "wm8960-soundcard: bcm2835-i2s-wm8960-hifi wm8960-hifi-0 (hw:2,0)"


def test_a_presets_later_name_is_tried_when_the_first_has_too_few_channels(cards: Cards) -> None:
    """The 2-mic preset names its card 'seeed2micvoicec', then 'wm8960soundcard': only the first found was tried,
    so a one-channel card of the first name hid the HAT under the second."""
    cards.set({V2: tones(16000, 0.5, 1), V1: stereo()})
    assert find_array(geometry(parse_config({"array": {"preset": "respeaker-2mic"}}))).name == V1


def test_when_no_named_device_has_the_channels_the_error_names_each_with_its_count(cards: Cards) -> None:
    cards.set({V2: tones(16000, 0.5, 1), V1: tones(16000, 0.5, 1)})
    with pytest.raises(AudioFormatError) as err:
        find_array(geometry(parse_config({"array": {"preset": "respeaker-2mic"}})))
    message = str(err.value)
    assert message.startswith(
        f"no input device matching 'seeed2micvoicec' or 'wm8960soundcard' has enough input channels: '{V2}' (1 in);"
        f" '{V1}' (1 in); input device '{V2}' has 1 input channel but the array configuration captures 2: "
    ), message
    assert "[array] device" in message and "\n" not in message, message


FOUR_MIC = "seeed-4mic-voicecard: ac10x-codec0 (hw:{card},{device})"
USB_MIC = "USB Audio Device: USB Audio (hw:{card},0)"
BY_CARD_ID = (
    "hw:CARD=seeed4micvoicec,DEV=0",  # as `arecord -L` lists it
    "plughw:CARD=seeed4micvoicec,DEV=0",  # as vendor guides write it
    "sysdefault:CARD=seeed4micvoicec",
    "hw:seeed4micvoicec",
    "hw:Seeed4micVoicec,0",
)


def kernel_cards(path: Path, cards: dict[int, str]) -> None:
    """/proc/asound/cards as the kernel writes it ('%2i [%-15s]: driver - short name', then the long name)."""
    path.write_text(
        "".join(
            f"{i:2d} [{card:<15}]: driver - {card}\n                      {card} at bus\n" for i, card in cards.items()
        )
    )


@pytest.fixture
def card_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    table = tmp_path / "proc-asound-cards"
    monkeypatch.setattr(device_names, "ASOUND_CARDS", table)
    # and no reboot flagged, whatever this machine's /run holds: the fixes asserted here come without one
    monkeypatch.setattr(card_missing, "REBOOT_DUE", tmp_path / "listener-reboot-due")
    return table


def test_a_card_named_by_its_alsa_id_is_that_card_whatever_number_it_has(cards: Cards, card_table: Path) -> None:
    """'hw:CARD=seeed4micvoicec,DEV=0' and the like, copied from `arecord -L`, matched no device: PortAudio's
    names end in the card's number, which the kernel's table gives for the id, and which changes between boots."""
    kernel_cards(card_table, {0: "Device", 1: "seeed4micvoicec"})
    cards.set({USB_MIC.format(card=0): stereo(0.0), FOUR_MIC.format(card=1, device=0): stereo()})
    for setting in BY_CARD_ID:
        assert chosen({**LAPELS, "device": setting}) == FOUR_MIC.format(card=1, device=0), setting
    kernel_cards(card_table, {0: "seeed4micvoicec", 1: "Device"})  # the next boot, the USB card found later
    cards.set({FOUR_MIC.format(card=0, device=0): stereo(), USB_MIC.format(card=1): stereo(0.0)})
    for setting in BY_CARD_ID:
        assert chosen({**LAPELS, "device": setting}) == FOUR_MIC.format(card=0, device=0), setting
    config = parse_config({"array": {**LAPELS, "device": BY_CARD_ID[0]}, "parties": PARTIES})
    with LiveSource(config) as source:  # the array's tones, not the USB card's silence
        events = run_source(source, until_audio(0.2))
    samples = np.concatenate([e.samples for e in events if isinstance(e, AudioBlock)])
    assert float(np.abs(samples).max()) > 0.4


def test_dev_names_the_cards_device_and_is_0_unsaid(cards: Cards, card_table: Path) -> None:
    kernel_cards(card_table, {0: "Device", 2: "seeed4micvoicec"})
    first, second = FOUR_MIC.format(card=2, device=0), FOUR_MIC.format(card=2, device=1)
    cards.set({first: stereo(), second: stereo(), USB_MIC.format(card=0): stereo()})
    assert chosen({**LAPELS, "device": "hw:CARD=seeed4micvoicec,DEV=1"}) == second
    assert chosen({**LAPELS, "device": "hw:seeed4micvoicec,1"}) == second
    assert chosen({**LAPELS, "device": "hw:CARD=seeed4micvoicec"}) == first
    assert chosen({**LAPELS, "device": "sysdefault:CARD=seeed4micvoicec"}) == first
    assert chosen({**LAPELS, "device": "hw:CARD=0,DEV=0"}) == USB_MIC.format(card=0)  # a number for CARD= too
    plug = "seeed-4mic-voicecard: ac10x-codec0 (plughw:2,0)"  # PortAudio's name under PA_ALSA_PLUGHW=1
    cards.set({plug: stereo()})
    assert chosen({**LAPELS, "device": "hw:CARD=seeed4micvoicec,DEV=0"}) == plug


def test_an_unknown_card_id_is_refused_naming_the_cards_there(cards: Cards, card_table: Path) -> None:
    kernel_cards(card_table, {0: "Device", 10: "wm8960soundcard"})
    cards.set({USB_MIC.format(card=0): stereo(), "wm8960-soundcard: wm8960-hifi (hw:10,0)": stereo()})
    with pytest.raises(AudioInputError) as err:
        chosen({**LAPELS, "device": "hw:CARD=seeed4micvoicec,DEV=0"})
    message = str(err.value)
    assert message.startswith(
        "no sound card has the id 'seeed4micvoicec' that [array] device 'hw:CARD=seeed4micvoicec,DEV=0' names; the "
        "cards are 'Device' (card 0), 'wm8960soundcard' (card 10). Fix: name one of those in [array] device"
    ), message
    assert "`arecord -l` lists its card" in message and "\n" not in message, message
    card_table.unlink()  # a kernel without ALSA: no table
    with pytest.raises(AudioInputError, match=r"names: there are no sound cards \(.* lists none\)\. Fix: check"):
        chosen({**LAPELS, "device": "plughw:seeed4micvoicec"})


def test_an_unknown_card_id_while_a_boot_config_change_waits_says_reboot_first(cards: Cards, card_table: Path) -> None:
    """Provisioned for a HAT and checked before the reboot that loads its overlay: its id is on no card yet, and
    the fix is the reboot, not another name."""
    card_missing.REBOOT_DUE.write_text("/boot/firmware/config.txt changed; the audio overlay loads at the next boot\n")
    cards.set({USB_MIC.format(card=0): stereo()})
    reboot = "Fix: reboot first: firmware/provision.sh changed the boot config since this boot began"
    for table in ({0: "Headphones"}, {}):
        kernel_cards(card_table, table)
        with pytest.raises(AudioInputError) as err:
            chosen({**LAPELS, "device": "hw:CARD=seeed4micvoicec,DEV=0"})
        message = str(err.value)
        assert reboot in message and "if it is still missing after that, " in message, message
        assert "(dtoverlay in /boot/firmware/config.txt)" in message and "\n" not in message, message
