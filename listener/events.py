"""The one event vocabulary every stage speaks.

Stages consume and emit these frozen dataclasses; nothing else crosses a
stage boundary. Times are seconds of *audio* time from the start of the
stream (``*_s``), so the same pipeline gives the same answers live and from
a file. Events that are decided some time after the behaviour began carry
both ``onset_s`` (when it began) and ``decided_s`` (when the device knew).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import ClassVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


class Party(StrEnum):
    REP = "rep"
    CUSTOMER = "customer"

    @property
    def other(self) -> Party:
        return Party.CUSTOMER if self is Party.REP else Party.REP


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events."""


@dataclass(frozen=True, slots=True)
class Reported(Event):
    """An event that appears in reports (``analyze --json`` ``events``).

    Subclasses set ``kind`` (the report's ``type``) and have ``onset_s``
    (reported as ``t``); every other field is reported under its own name,
    so a subclass's fields are its report schema.
    """

    kind: ClassVar[str] = "event"

    def record(self) -> dict[str, object]:
        out: dict[str, object] = {"type": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            key = "t" if f.name == "onset_s" else f.name
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, float):
                value = round(value, 3)
            out[key] = value
        return out


# --- audio -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class AudioBlock(Event):
    """Consecutive multi-channel samples at the processing rate.

    ``samples`` has shape (n_samples, n_channels), float32 in [-1, 1].
    """

    start_s: float
    sample_rate_hz: int
    samples: FloatArray

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate_hz

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class AudioDropped(Event):
    """Audio the source could not deliver (overflow, device lost, paused).

    The stream clock still advances by ``duration_s``: a gap is silence to
    the analysis, never a shift of later audio.
    """

    start_s: float
    duration_s: float
    reason: str  # "overflow" | "device_lost" | "paused"


@dataclass(frozen=True, slots=True)
class SourceState(Event):
    """The input device went away or came back."""

    t_s: float
    available: bool
    detail: str


@dataclass(frozen=True, slots=True)
class EndOfStream(Event):
    """The source is exhausted; stages flush and emit what they still hold."""

    t_s: float


# --- spatial attribution ---------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class ActivityFrames(Event):
    """Per-party voice activity for consecutive frames of ``hop_s`` each.

    Both parties may be active in the same frame (overlap). ``*_prob`` are
    the per-party speech likelihoods the decision was taken from;
    ``doa_deg`` is the dominant direction of arrival (NaN when silent or in
    channel-map mode).
    """

    start_s: float
    hop_s: float
    rep_active: BoolArray
    customer_active: BoolArray
    rep_prob: FloatArray
    customer_prob: FloatArray
    doa_deg: FloatArray

    @property
    def n_frames(self) -> int:
        return int(self.rep_active.shape[0])

    @property
    def end_s(self) -> float:
        return self.start_s + self.n_frames * self.hop_s

    def active(self, party: Party) -> BoolArray:
        return self.rep_active if party is Party.REP else self.customer_active


@dataclass(frozen=True, slots=True, eq=False)
class PartyAudio(Event):
    """Mono audio steered toward each party (beam or own channel)."""

    start_s: float
    sample_rate_hz: int
    rep: FloatArray
    customer: FloatArray


# --- speech timeline -------------------------------------------------------


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
        total = self.rep_talk_s + self.customer_talk_s
        return self.rep_talk_s / total if total > 0 else 0.0


@dataclass(frozen=True, slots=True, eq=False)
class SpatialFrames(Event):
    """What the spatial front end knows about consecutive frames.

    ``power`` is the mean power spectrum over mics, (n_frames, n_bins), bins
    spaced ``sample_rate_hz / fft_size`` apart. ``rep_weight`` and
    ``customer_weight`` (same shape, 0..1) say how much of each
    time-frequency bin arrived from that party (direction, or own channel).
    ``noise_power`` (n_bins,) is the tracked noise floor at the block's end.
    ``rep_snr_db`` / ``customer_snr_db`` are per-party speech evidence: the
    party's share of power above the noise floor, relative to that floor.
    The activity decision (heuristic or the turn model) works from these.
    """

    start_s: float
    hop_s: float
    sample_rate_hz: int
    fft_size: int
    power: FloatArray
    rep_weight: FloatArray
    customer_weight: FloatArray
    noise_power: FloatArray
    rep_snr_db: FloatArray
    customer_snr_db: FloatArray
    doa_deg: FloatArray

    @property
    def n_frames(self) -> int:
        return int(self.power.shape[0])

    @property
    def end_s(self) -> float:
        return self.start_s + self.n_frames * self.hop_s


# --- conversation analytics (decided events; see ../shared/metrics.md) -----


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


@dataclass(frozen=True, slots=True)
class DominanceChanged(Reported):
    """Dominance by the rep began (``dominating``) or ended; ``reason`` is "share" or "monologue"."""

    kind: ClassVar[str] = "dominance"
    dominating: bool
    onset_s: float
    decided_s: float
    rep_share: float
    reason: str


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


class DeviceMode(StrEnum):
    LISTENING = "listening"
    PAUSED = "paused"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class DeviceState(Event):
    """What one part of the device reports (``cause``), for the LEDs and the ``state`` topic.

    Each cause is kept apart (:class:`listener.outputs.condition.DeviceCondition`):
    the broker coming back ends the broker's fault, not a privacy pause.
    """

    t_s: float
    mode: DeviceMode
    detail: str
    cause: str = "device"  # "button", "broker", ...


# --- privacy button (listener/outputs/button.py) ---------------------------


@dataclass(frozen=True, slots=True)
class RecalibrateRequested(Event):
    """The privacy button was held long: re-learn the rep's direction (consumed by calibration)."""

    t_s: float


# --- transcription cues (listener/transcription) ---------------------------
# Counts, kinds and times only: the words they are decided from never leave
# the transcription stage (see ../shared/metrics.md, "Content cues").


@dataclass(frozen=True, slots=True)
class WordsRecognized(Event):
    """``party`` said ``n_words`` words (fillers excluded) between ``start_s`` and ``end_s``."""

    party: Party
    start_s: float
    end_s: float
    decided_s: float
    n_words: int


@dataclass(frozen=True, slots=True)
class TranscriptionSkipped(Event):
    """Audio the recogniser skipped to keep up (CPU pressure): cues over it are partial."""

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


# --- conversation analytics, continued (listener/analytics) ----------------


@dataclass(frozen=True, slots=True, eq=False)
class TurnPredictions(Event):
    """The turn-taking model's outlook for consecutive frames (the ActivityFrames hop).

    ``p_hold``: in a mutual silence, the probability that the party who spoke
    last speaks next (``p_shift = 1 - p_hold``). ``p_backchannel``: while a
    party starts speaking over the other, the probability that it only
    backchannels rather than bids for the floor. The analytics read them only
    at those moments; elsewhere they are the model's running outputs.
    """

    start_s: float
    hop_s: float
    p_hold: FloatArray
    p_backchannel: FloatArray

    @property
    def n_frames(self) -> int:
        return int(self.p_hold.shape[0])

    @property
    def end_s(self) -> float:
        return self.start_s + self.n_frames * self.hop_s


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
    """Talk over the last ``window_s`` of the current session; published once a second in a session."""

    t_s: float
    window_s: float
    rep_talk_s: float
    customer_talk_s: float
    rep_share: float


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
