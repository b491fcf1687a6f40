"""Conversation analytics (listener/analytics): decided events and summaries; see ../shared/metrics.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from listener.events.base import Event, Party, Reported


@dataclass(frozen=True, slots=True)
class Interruption(Reported):
    """``by`` started speaking while the other party held the floor and was active.

    ``successful`` is None until known (the holder fell silent within the
    yield window and ``by`` took the floor); a later Interruption with the
    same ``onset_s`` and ``by`` carries the outcome.
    """

    kind: ClassVar[str] = "interruption"
    by: Party
    onset_s: float
    decided_s: float
    successful: bool | None


@dataclass(frozen=True, slots=True)
class Backchannel(Reported):
    kind: ClassVar[str] = "backchannel"
    by: Party
    onset_s: float
    decided_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class PrematureStart(Reported):
    """The rep started in a customer's pause while the customer held the floor."""

    kind: ClassVar[str] = "premature_start"
    by: Party
    onset_s: float
    decided_s: float
    p_hold: float


@dataclass(frozen=True, slots=True)
class Pause(Reported):
    """A mutual silence after ``by``'s speech, with the model's shift probability 0.2 s in."""

    kind: ClassVar[str] = "pause"
    by: Party
    onset_s: float
    decided_s: float
    p_shift: float


@dataclass(frozen=True, slots=True)
class FloorChange(Reported):
    kind: ClassVar[str] = "floor"
    by: Party  # the party taking the floor
    onset_s: float
    decided_s: float


@dataclass(frozen=True, slots=True)
class LongSilence(Reported):
    kind: ClassVar[str] = "long_silence"
    onset_s: float
    decided_s: float
    duration_s: float


DominanceReason = Literal["share", "monologue", "session_end"]


@dataclass(frozen=True, slots=True)
class DominanceChanged(Reported):
    """Dominance by the rep began (``dominating``) or ended; ``reason`` is "share" or "monologue",
    or "session_end" for a dominance that ends because its session did."""

    kind: ClassVar[str] = "dominance"
    dominating: bool
    onset_s: float
    decided_s: float
    rep_share: float
    reason: DominanceReason


@dataclass(frozen=True, slots=True)
class SessionStarted(Reported):
    kind: ClassVar[str] = "session_start"
    session_id: str  # random, never derived from audio
    onset_s: float
    decided_s: float


@dataclass(frozen=True, slots=True)
class SessionEnded(Reported):
    kind: ClassVar[str] = "session_end"
    session_id: str
    onset_s: float  # when the session started
    decided_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class FloorHeld(Reported):
    """``by`` held the floor from ``onset_s`` (the speech that took it) to ``end_s`` (its last speech).

    Decided when the other party takes the floor (``taken``) or the session
    or stream ends. A rep floor is a monologue, a customer floor a story.
    """

    kind: ClassVar[str] = "floor_held"
    by: Party
    onset_s: float
    end_s: float
    decided_s: float
    duration_s: float
    taken: bool


@dataclass(frozen=True, slots=True)
class ResponseGap(Reported):
    """The rep took the floor from the customer ``gap_s`` after the customer's last speech (< 0: overlap)."""

    kind: ClassVar[str] = "response_gap"
    onset_s: float  # the rep's onset
    decided_s: float
    gap_s: float
    patient: bool


@dataclass(frozen=True, slots=True)
class RollingShare(Event):
    """Talk over the last ``window_s`` of the current session, and since its onset; once a second in a session.

    Both count the stretches still going on up to their last active frame,
    so a live dashboard sees a long turn grow instead of jumping when it ends.
    """

    t_s: float
    window_s: float
    rep_talk_s: float
    customer_talk_s: float
    rep_share: float  # what the dominance rule compares: 0.0 when the window holds no speech
    session_rep_talk_s: float
    session_customer_talk_s: float

    @property
    def shown_share(self) -> float | None:
        """The share as a dashboard or report shows it: None, not 0.0, when the window holds no speech."""
        return self.rep_share if self.rep_talk_s + self.customer_talk_s > 0 else None


@dataclass(frozen=True, slots=True)
class SessionSummary(Reported):
    """One session's figures, published after its SessionEnded (numbers only; None = not defined)."""

    kind: ClassVar[str] = "session_summary"
    session_id: str
    onset_s: float
    end_s: float
    decided_s: float
    duration_s: float
    rep_talk_s: float
    customer_talk_s: float
    overlap_s: float
    silence_s: float
    unheard_s: float  # no audio (microphone lost, capture overflow, privacy pause): not silence, not known
    rep_share: float
    floor_changes: int
    switches_per_min: float
    interruptions_by_rep: int
    interruptions_by_customer: int
    successful_interruptions_by_rep: int
    successful_interruptions_by_customer: int
    backchannels_by_rep: int
    backchannels_by_customer: int
    rep_backchannels_per_min: float | None  # per minute of customer speech
    premature_starts: int
    monologues: int
    longest_monologue_s: float
    stories: int
    longest_story_s: float
    response_gaps: int
    patient_gaps: int  # response gaps of at least patient_gap_s: a day's share pools these, not the fractions
    response_gap_median_s: float | None
    response_gap_p10_s: float | None
    response_gap_p90_s: float | None
    patient_gap_fraction: float | None
    pauses: int
    long_silences: int
    longest_silence_s: float
    dominance_s: float
    dominance_episodes: int
    questions: int
    question_wait_median_s: float | None
    stacked_questions: int
