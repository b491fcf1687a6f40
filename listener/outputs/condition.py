"""The device's mode, folded from every part that reports one.

The privacy button pauses, the broker link and the microphone fail and come
back, each on its own. Folding their reports into one "last one wins" mode
would let the broker's recovery end a privacy pause on the lights, or the
microphone's return hide a broker that is still down. So each cause keeps
its own mode, and the device reports the gravest: a fault outranks a pause, a
pause outranks listening (the lights, which answer the rep, show a held pause first), and a fault that
leaves the measuring going (the lights' own) ranks between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from listener.events import DeviceCause, DeviceMode, DeviceState, Event, SourceState

AUDIO_CAUSE: Final = "audio"  # SourceState: the input device
Cause = DeviceCause | Literal["audio"]
CAUSES: Final[tuple[Cause, ...]] = tuple(sorted((*get_args(DeviceCause), AUDIO_CAUSE)))
RANK = {DeviceMode.LISTENING: 0, DeviceMode.PAUSED: 1, DeviceMode.FAULT: 2}
# Faults that leave the measuring going rank under a pause: a dashboard that showed broken lights' "fault"
# over the rep's privacy pause read the gap in its figures as the lights' doing (mqtt.md: ["leds"] still measures;
# so does a failed turn model's heuristic stand-in, listener.turns.fallback)
STILL_MEASURING: Final[frozenset[Cause]] = frozenset({"leds", "turn_model"})


@dataclass
class DeviceCondition:
    """DeviceState and SourceState events in; the device's mode and why out."""

    _modes: dict[Cause, tuple[DeviceMode, str]] = field(default_factory=dict)  # cause -> (mode, detail)

    def update(self, event: Event) -> bool:
        """Folds ``event`` in; True when the device's mode or its reason changed."""
        cause: Cause
        if isinstance(event, DeviceState):
            cause, mode, detail = event.cause, event.mode, event.detail
        elif isinstance(event, SourceState):
            cause, detail = AUDIO_CAUSE, event.detail
            mode = DeviceMode.LISTENING if event.available else DeviceMode.FAULT
        else:
            return False
        before = (self.mode, self.detail)
        if mode is DeviceMode.LISTENING:
            self._modes.pop(cause, None)
        else:
            self._modes[cause] = (mode, detail)
        return (self.mode, self.detail) != before

    @property
    def mode(self) -> DeviceMode:
        ranked = ((_rank(cause, m), m) for cause, (m, _) in self._modes.items())
        return max(ranked, key=lambda pair: pair[0], default=(0.0, DeviceMode.LISTENING))[1]

    @property
    def paused(self) -> bool:
        """A pause is held, whatever else is wrong (the lights answer the rep's own press first)."""
        return any(m is DeviceMode.PAUSED for m, _ in self._modes.values())

    @property
    def causes(self) -> list[Cause]:
        """The causes behind the shown mode, sorted; [] when listening. Names only: the detail is free text."""
        return sorted(cause for cause, _ in self._shown())

    @property
    def detail(self) -> str:
        """Why: the reasons behind the shown mode, or "" when listening."""
        return "; ".join(detail for _, detail in self._shown())

    def _shown(self) -> list[tuple[Cause, str]]:
        """Each cause holding the shown mode and its detail, in the order they were reported."""
        mode = self.mode
        return [(cause, detail) for cause, (m, detail) in self._modes.items() if m is mode]


def _rank(cause: Cause, mode: DeviceMode) -> float:
    if mode is DeviceMode.FAULT and cause in STILL_MEASURING:
        return (RANK[DeviceMode.LISTENING] + RANK[DeviceMode.PAUSED]) / 2
    return float(RANK[mode])
