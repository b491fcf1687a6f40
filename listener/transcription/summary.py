"""Content-cue metrics for reports and session summaries: counts and rates only.

Rates are per minute of the rep's talk time that the recogniser actually
heard: audio it skipped under CPU pressure is taken out of the denominator
as well as the counts, and any skip marks the figures ``asr_partial``. The
speaking rate needs some talk to be a rate at all (``RATE_MIN_TALK_S``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import TypeVar

from listener.events import (
    Acknowledgement,
    ActionPlan,
    Echo,
    EndOfStream,
    Event,
    Filler,
    Party,
    Question,
    SessionEnded,
    SessionStarted,
    SpeechSegment,
    SpeechStarted,
    TranscriptionSkipped,
    WordsRecognized,
)
from listener.events.base import nullable
from listener.frames import at_least
from listener.pipeline import Stage
from listener.strict_json import defined

Span = tuple[float, float]
# heard rep talk below which rep_wpm and rep_fillers_per_min are None: a rate over a few words is noise
# ("yes" in 0.4 s reads 150 wpm), and a session summary of a rep who barely spoke should not read as a pace
RATE_MIN_TALK_S = 10.0
Cue = Question | Echo | Acknowledgement | ActionPlan | Filler
CueT = TypeVar("CueT", bound=Cue)


@dataclass(frozen=True, slots=True)
class CueFigures:
    """The content cues of a stretch of audio: counts and rates, never words."""

    rep_words: int
    customer_words: int
    rep_questions: int
    rep_open_questions: int
    rep_closed_questions: int
    rep_followups: int
    rep_echoes: int
    rep_summaries: int
    rep_acknowledgements: int
    rep_action_plans: int
    rep_fillers: int
    rep_fillers_per_min: float | None  # None under RATE_MIN_TALK_S of heard rep talk, as rep_wpm
    rep_wpm: float | None  # words per minute of the rep's heard talk time; None under RATE_MIN_TALK_S of it
    asr_skipped_s: float  # audio the recogniser skipped under CPU pressure
    asr_partial: bool  # any skipped: the counts miss what was said then

    def record(self) -> dict[str, object]:
        """For the JSON report and the MQTT session summary, in field order; a rate that is not a number is
        undefined (null), as one under RATE_MIN_TALK_S of talk is."""
        out = asdict(self)
        for f in fields(self):
            if nullable(f):
                out[f.name] = defined(out[f.name])
        return out


@dataclass(frozen=True, slots=True)
class SessionCues:
    """One session's content cues (``analyze --json``'s ``cue_sessions``)."""

    session_id: str
    start_s: float
    end_s: float  # a session still open at the stream's end: the stream's end
    figures: CueFigures


@dataclass
class CueTally(Stage):
    """Collects cue events and talk segments; sits after every analysis stage."""

    name = "cue_tally"
    words: list[WordsRecognized] = field(default_factory=list)
    cues: list[Cue] = field(default_factory=list)
    skipped: list[Span] = field(default_factory=list)
    segments: list[SpeechSegment] = field(default_factory=list)
    sessions: dict[str, Span] = field(default_factory=dict)
    end_s: float = 0.0
    # each party's stretch begun and not yet closed: a session's summary comes while the rep still talks on to
    # a customer gone quiet, and its talk up to the session's end is in the summary's rep_talk_s
    talking_since_s: dict[Party, float] = field(default_factory=dict)

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, WordsRecognized):
            self.words.append(event)
        elif isinstance(event, Cue):
            self.cues.append(event)
        elif isinstance(event, TranscriptionSkipped):
            self.skipped.append((event.start_s, event.start_s + event.duration_s))
        elif isinstance(event, SpeechStarted):
            self.talking_since_s[event.party] = event.onset_s
        elif isinstance(event, SpeechSegment):
            self.segments.append(event)
            self.talking_since_s.pop(event.party, None)
        elif isinstance(event, SessionStarted):
            self.sessions[event.session_id] = (event.onset_s, math.inf)
        elif isinstance(event, SessionEnded):
            self.sessions[event.session_id] = (event.onset_s, event.end_s)
        elif isinstance(event, EndOfStream):
            self.end_s = event.t_s
        return ()

    def forget_before(self, t_s: float) -> None:
        """Drop what lies wholly before ``t_s``: a live device tallies session after session."""
        self.words = [w for w in self.words if w.end_s >= t_s]
        self.cues = [c for c in self.cues if c.onset_s >= t_s]
        self.skipped = [(a, b) for a, b in self.skipped if b >= t_s]
        self.segments = [s for s in self.segments if s.end_s >= t_s]
        self.sessions = {k: v for k, v in self.sessions.items() if v[1] >= t_s}

    def metrics(self, start_s: float = 0.0, end_s: float = math.inf) -> CueFigures:
        """Cue metrics over [start_s, end_s) of audio time (events by onset)."""

        def within(t_s: float) -> bool:
            return start_s <= t_s < end_s

        def count(kind: type[CueT], where: Callable[[CueT], bool] = lambda _: True) -> int:
            by_rep = (e for e in self.cues if isinstance(e, kind) and e.by is Party.REP and within(e.onset_s))
            return sum(1 for e in by_rep if where(e))

        # by the middle: a recogniser lets an utterance's first word start in the silence before it
        words = {
            p: sum(w.n_words for w in self.words if w.party is p and within(0.5 * (w.start_s + w.end_s))) for p in Party
        }
        skipped = [(max(a, start_s), min(b, end_s)) for a, b in self.skipped if a < end_s and b > start_s]
        skipped_s = sum((b - a for a, b in skipped), 0.0)
        talk = [*self.segments, *self._open_until(end_s)]
        rep_heard_s = _talk_outside(talk, Party.REP, (start_s, end_s), skipped)
        rep_heard_min = rep_heard_s / 60.0
        rated = at_least(rep_heard_s, RATE_MIN_TALK_S)  # a rate needs some talk: "um" in 0.4 s is no 150 a minute
        fillers = count(Filler)
        return CueFigures(
            rep_words=words[Party.REP],
            customer_words=words[Party.CUSTOMER],
            rep_questions=count(Question),
            rep_open_questions=count(Question, lambda q: q.open_ended),
            rep_closed_questions=count(Question, lambda q: not q.open_ended),
            rep_followups=count(Question, lambda q: q.followup),
            rep_echoes=count(Echo),
            rep_summaries=count(Echo, lambda e: e.summary),
            rep_acknowledgements=count(Acknowledgement),
            rep_action_plans=count(ActionPlan),
            rep_fillers=fillers,
            rep_fillers_per_min=round(fillers / rep_heard_min, 2) if rated else None,
            rep_wpm=round(words[Party.REP] / rep_heard_min, 1) if rated else None,
            asr_skipped_s=round(skipped_s, 3),
            asr_partial=skipped_s > 0,
        )

    def _open_until(self, end_s: float) -> list[SpeechSegment]:
        """The stretches still open, as if closed at ``end_s`` (a session's end; none for an open window)."""
        if not math.isfinite(end_s):
            return []
        return [SpeechSegment(p, a, end_s, decided_s=end_s) for p, a in self.talking_since_s.items() if a < end_s]

    def session_metrics(self) -> list[SessionCues]:
        """The same metrics per session, for sessions the analytics stage announced."""
        out = []
        for session_id, (start_s, end_s) in sorted(self.sessions.items(), key=lambda kv: kv[1]):
            stop_s = end_s if math.isfinite(end_s) else self.end_s
            figures = self.metrics(start_s, stop_s if math.isfinite(end_s) else math.inf)
            out.append(SessionCues(session_id, start_s, stop_s, figures))
        return out


def _talk_outside(segments: list[SpeechSegment], party: Party, window: Span, holes: list[Span]) -> float:
    """Seconds of ``party``'s speech inside ``window`` and outside every hole."""
    total = 0.0
    for s in segments:
        if s.party is not party:
            continue
        a, b = max(s.start_s, window[0]), min(s.end_s, window[1])
        if b <= a:
            continue
        total += (b - a) - sum(max(0.0, min(b, h1) - max(a, h0)) for h0, h1 in holes)
    return total
