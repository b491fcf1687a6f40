"""Which input devices a name from the configuration ([array] device, a preset's card names) names.

PortAudio lists a sound card's device as 'card name: device name (hw:N,M)' ('(plughw:N,M)' under
PA_ALSA_PLUGHW=1), and a PCM of the ALSA configuration by its own name ('listener_array'). A name is matched
as part of those, case-insensitively, but never so that it picks a different card than the one it names
exactly: 'hw:1' is not part of '(hw:10,0)', and 'USB Audio' is the card of that name before it is part of
'USB Audio Device'.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from listener.config.presets import PROVISIONED_DEVICE
from listener.config.text_checks import plain_name

# a setting that is an ALSA id: 'hw:1', 'hw:1,0', 'plughw:1,0', as written or copied with its brackets
ALSA_ID = re.compile(r"\(?(hw|plughw):(\d+)(?:,(\d+))?\)?")
ID_ENDING = re.compile(r"\((hw|plughw):(\d+),(\d+)\)$")  # how PortAudio's name for a card's device ends


class Named(Protocol):
    @property
    def name(self) -> str: ...


D = TypeVar("D", bound=Named)


def named_by(devices: Sequence[D], hint: str) -> list[D]:
    """The devices ``hint`` names, by the first of these that finds any: the ALSA id the name ends with, for
    an id (only that: its digits are part of other cards' ids); else the whole name, the card's name (before
    ': '), part of the name, part of it ignoring punctuation (ALSA card ids such as 'seeed4micvoicec' drop
    the dashes of the card name 'seeed-4mic-voicecard' PortAudio shows)."""
    wanted = hint.casefold()
    alsa_id = ALSA_ID.fullmatch(wanted.strip())
    if alsa_id is not None:
        return [d for d in devices if _has_id(d.name, alsa_id)]
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


def alsa_id(name: str) -> str | None:
    """The ALSA id ('hw:2,0') PortAudio's name for a card's device ends with, else None."""
    found = ID_ENDING.search(name)
    return None if found is None else f"{found[1]}:{found[2]},{found[3]}"


def _has_id(name: str, wanted: re.Match[str]) -> bool:
    kind, card, device = wanted.groups()
    found = ID_ENDING.search(name.casefold())
    if found is None or found[1] != kind or int(found[2]) != int(card):
        return False
    return device is None or int(found[3]) == int(device)
