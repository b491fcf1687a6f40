"""Which input devices a name from the configuration ([array] device, a preset's card names) names.

PortAudio lists a sound card's device as 'card name: device name (hw:N,M)' ('(plughw:N,M)' under
PA_ALSA_PLUGHW=1), and a PCM of the ALSA configuration by its own name ('listener_array'). A name is matched
as part of those, case-insensitively, but never so that it picks a different card than the one it names
exactly: 'hw:1' is not part of '(hw:10,0)', and 'USB Audio' is the card of that name before it is part of
'USB Audio Device'; 'plughw:1,0' is the card listed as '(hw:1,0)' when none is listed as '(plughw:1,0)'. A
name that gives the card by its ALSA id ('hw:CARD=seeed4micvoicec,DEV=0', as `arecord -L` writes it) is that
card's number in the kernel's table when the device is chosen: USB cards change numbers between boots, their
ids stay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from listener.audio.card_missing import CONNECTED, LOADED, reboot_first
from listener.config.presets import PROVISIONED_DEVICE
from listener.config.text_checks import plain_name
from listener.errors import AudioInputError

# a setting that is an ALSA id: 'hw:1', 'hw:1,0', 'plughw:1,0', as written or copied with its brackets
ALSA_ID = re.compile(r"\(?(hw|plughw):(\d+)(?:,(\d+))?\)?")
ID_ENDING = re.compile(r"\((hw|plughw):(\d+),(\d+)\)$")  # how PortAudio's name for a card's device ends
# a setting that names a card by its ALSA id (or number) in a PCM's arguments, as `arecord -L` and vendor guides
# write it: 'hw:CARD=seeed4micvoicec,DEV=0', 'plughw:CARD=…,DEV=0', 'sysdefault:CARD=…', 'hw:seeed4micvoicec'
CARD_PCM = re.compile(r"(?:hw|plughw|sysdefault|default|front|dsnoop):(?:card=)?([^,=:\s]+)(?:,(?:dev=)?(\d+))?", re.I)
ASOUND_CARDS = Path("/proc/asound/cards")  # the kernel's table: ' 1 [seeed4micvoicec]: driver - name', 2 lines each
_CARD_LINE = re.compile(r"^ *(\d+) \[([^\]]+)\]:", re.M)


class Named(Protocol):
    @property
    def name(self) -> str: ...


D = TypeVar("D", bound=Named)


def named_by(devices: Sequence[D], hint: str) -> list[D]:
    """The devices ``hint`` names, by the first of these that finds any: the ALSA id the name ends with, for
    an id (only that: its digits are part of other cards' ids; plughw: is hw: when no name ends in plughw:);
    else the whole name, the card's name (before ': '), part of the name, part of it ignoring punctuation (ALSA
    card ids such as 'seeed4micvoicec' drop the dashes of the card name 'seeed-4mic-voicecard' PortAudio
    shows)."""
    wanted = hint.casefold()
    alsa_id = ALSA_ID.fullmatch(wanted.strip())
    if alsa_id is not None:
        exact = [d for d in devices if _has_id(d.name, alsa_id, alsa_id[1])]
        if exact or alsa_id[1] == "hw":
            return exact
        # 'plughw:1,0' (as vendor guides write it) names card 1, which PortAudio lists as '(hw:1,0)' unless
        # PA_ALSA_PLUGHW=1: as for CARD=, the setting names the card; whether it gives 16-bit samples at the
        # rate and channels is asked when the stream opens (stream_open.py), refused with the fix
        return [d for d in devices if _has_id(d.name, alsa_id, "hw")]
    by_card = CARD_PCM.fullmatch(hint.strip())
    if by_card is not None:  # the card's device whichever PortAudio lists it as (plughw: under PA_ALSA_PLUGHW=1)
        card_device = (card_index(by_card[1], hint), int(by_card[2] or 0))
        return [d for d in devices if _card_device(d.name) == card_device]
    if wanted == PROVISIONED_DEVICE:
        # exactly: PortAudio lists listener_array_hw too (the raw card under it), which a partial match would
        # take when listener_array cannot open, holding the card alone as the README warns against
        return [d for d in devices if d.name.casefold() == wanted]
    tests: list[Callable[[str], bool]] = [
        lambda name: name == wanted,
        lambda name: card_name(name) == wanted,
        lambda name: wanted in name,
    ]
    if plain_name(wanted):  # '' (a hint of punctuation, '-' or '()') is in every name: it names no device
        tests.append(lambda name: plain_name(wanted) in plain_name(name))
    for same in tests:
        found = [d for d in devices if same(d.name.casefold())]
        if found:
            return found
    return []


def card_name(name: str) -> str:
    """The card's part of PortAudio's name for a card's device; a configured PCM's whole name."""
    return name.partition(": ")[0] if ID_ENDING.search(name) else name


def lasting_id(name: str) -> str | None:
    """What to set [array] device to for the device of PortAudio's name: its card's ALSA id
    ('hw:CARD=seeed4micvoicec,DEV=0'), which a USB card keeps across boots, when the kernel's table has the
    card; else the number the name ends with ('hw:2,0'); a PCM's name has neither: None."""
    found = ID_ENDING.search(name)
    if found is None:
        return None
    card_id = sound_cards().get(int(found[2]))
    return f"{found[1]}:{found[2]},{found[3]}" if card_id is None else f"hw:CARD={card_id},DEV={found[3]}"


def _has_id(name: str, wanted: re.Match[str], kind: str) -> bool:
    _, card, device = wanted.groups()
    found = ID_ENDING.search(name.casefold())
    if found is None or found[1] != kind or int(found[2]) != int(card):
        return False
    return device is None or int(found[3]) == int(device)


def card_index(card: str, hint: str) -> int:
    """The number of the sound card whose ALSA id is ``card`` (any case), or the number written; none has it:
    :class:`AudioInputError` naming the cards there, so --wait-for-array waits for a USB array not yet found."""
    if re.fullmatch("[0-9]+", card):
        return int(card)
    cards = sound_cards()
    for index, card_id in cards.items():
        if card_id.casefold() == card.casefold():
            return index
    raise _no_card(card, hint, cards)


def sound_cards() -> dict[int, str]:
    """Each sound card's number and ALSA id, as the kernel lists them now."""
    try:
        table = ASOUND_CARDS.read_text(encoding="utf-8", errors="replace")
    except OSError:  # a kernel without ALSA (a container): no cards
        return {}
    return {int(found[1]): found[2].strip() for found in _CARD_LINE.finditer(table)}


def _no_card(card: str, hint: str, cards: dict[int, str]) -> AudioInputError:
    # a HAT's card appears only at the boot after provision.sh adds its overlay: then the reboot is the fix
    check = f"check that {CONNECTED} and {LOADED}"
    if not cards:
        return AudioInputError(
            f"no sound card has the id '{card}' that [array] device '{hint}' names: there are no "
            f"sound cards ({ASOUND_CARDS} lists none). Fix: {reboot_first()}{check}"
        )
    there = ", ".join(f"'{card_id}' (card {index})" for index, card_id in cards.items())
    return AudioInputError(
        f"no sound card has the id '{card}' that [array] device '{hint}' names; the cards are {there}. Fix: "
        f"{reboot_first()}name one of those in [array] device ('hw:CARD=<id>,DEV=0'; `arecord -L` lists each "
        f"card's), or {check}"
    )


def _card_device(name: str) -> tuple[int, int] | None:
    found = ID_ENDING.search(name)
    return None if found is None else (int(found[2]), int(found[3]))
