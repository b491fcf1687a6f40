"""The speech timeline (listener/analytics/timeline.py): segments and talk times."""

from __future__ import annotations

from dataclasses import dataclass

from listener.events.base import Event, Party


def rep_share_of(rep_talk_s: float, customer_talk_s: float) -> float | None:
    """The rep's part of the talk time, overlap counting for both parties; None while nobody has spoken."""
    total = rep_talk_s + customer_talk_s
    return rep_talk_s / total if total > 0 else None


@dataclass(frozen=True, slots=True)
class SpeechStarted(Event):
    """A party started speaking (decided as soon as the frame is seen)."""

    party: Party
    onset_s: float


@dataclass(frozen=True, slots=True)
class SpeechSegment(Event):
    """A closed stretch of one party's speech, short gaps bridged."""

    party: Party
    start_s: float
    end_s: float
    decided_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class TalkTotals(Event):
    """Cumulative talk times, updated whenever a segment closes."""

    t_s: float
    rep_talk_s: float
    customer_talk_s: float

    @property
    def rep_share(self) -> float:
        return rep_share_of(self.rep_talk_s, self.customer_talk_s) or 0.0
