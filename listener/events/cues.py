"""Transcription cues (listener/transcription): counts, kinds and times, never words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from listener.events.base import Event, Party, Reported

# Counts, kinds and times only: the words they are decided from never leave
# the transcription stage (see ../shared/metrics.md, "Content cues").


@dataclass(frozen=True, slots=True)
class WordsRecognized(Event):
    """``party`` said ``n_words`` words (fillers and the unknown token excluded) between ``start_s`` and ``end_s``."""

    party: Party
    start_s: float
    end_s: float
    decided_s: float
    n_words: int


@dataclass(frozen=True, slots=True)
class TranscriptionSkipped(Event):
    """Audio whose words never came: skipped to keep up (CPU pressure), or lost when the recogniser failed
    or a stop cut it short. Cues over it are partial."""

    start_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class Question(Reported):
    """A question by ``by``; ``open_ended`` (what / how / tell me ...) or closed (do / is / can ...).

    ``followup``: it reuses a content word of the other party's last floor.
    Question wait runs from ``end_s``.
    """

    kind: ClassVar[str] = "question"
    by: Party
    onset_s: float
    end_s: float
    decided_s: float
    open_ended: bool
    followup: bool


@dataclass(frozen=True, slots=True)
class Echo(Reported):
    """A turn by ``by`` that repeats the other party's content words, or summarises (``summary``)."""

    kind: ClassVar[str] = "echo"
    by: Party
    onset_s: float
    decided_s: float
    summary: bool


@dataclass(frozen=True, slots=True)
class Acknowledgement(Reported):
    """An acknowledgement or empathy phrase ("I understand", "sorry to hear")."""

    kind: ClassVar[str] = "acknowledgement"
    by: Party
    onset_s: float
    decided_s: float


@dataclass(frozen=True, slots=True)
class ActionPlan(Reported):
    """An action-plan phrase ("the next step", "I'll follow up")."""

    kind: ClassVar[str] = "action_plan"
    by: Party
    onset_s: float
    decided_s: float


@dataclass(frozen=True, slots=True)
class Filler(Reported):
    """A filler ("um", "uh", "er") where the recogniser emits one."""

    kind: ClassVar[str] = "filler"
    by: Party
    onset_s: float
    decided_s: float
