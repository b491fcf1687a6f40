"""The analysis report (``listener analyze --json``): schema listener.analysis/1.

Other tools read this; the keys ``schema``, ``audio``, ``segments``,
``events``, ``metrics`` (with ``rep_talk_s``, ``customer_talk_s``,
``rep_share``, null while nobody has spoken) and ``sessions`` are a contract;
``listener/data/schemas/analysis.json`` is its JSON Schema. Only numbers, enums and
times go in, every float rounded to 3 decimals. An interruption is listed once: ``decided_s`` is when it was
decided, ``successful`` its outcome, which may have been known later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from listener.analytics.intervals import overlap_length
from listener.analytics.summary import sessions_started
from listener.events import (
    EndOfStream,
    Event,
    Interruption,
    Party,
    Reported,
    RollingShare,
    SessionSummary,
    SpeechSegment,
    rep_share_of,
)
from listener.events.base import DECIMALS
from listener.pipeline import Stage
from listener.strict_json import defined

if TYPE_CHECKING:  # the report names the transcript's types; analyze without [asr] never loads them
    from listener.transcription.summary import CueTally, SessionCues

SCHEMA = "listener.analysis/1"


@dataclass(frozen=True, slots=True)
class AudioInfo:
    duration_s: float
    channels: int
    sample_rate_hz: int


@dataclass
class ReportCollector(Stage):
    """Collects what the report needs; sits last in the pipeline."""

    name = "report"
    segments: list[SpeechSegment] = field(default_factory=list)
    events: list[Reported] = field(default_factory=list)
    sessions: list[SessionSummary] = field(default_factory=list)
    rolling: list[RollingShare] = field(default_factory=list)
    end_s: float = 0.0

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, SpeechSegment):
            self.segments.append(event)
        elif isinstance(event, SessionSummary):
            self.sessions.append(event)
        elif isinstance(event, RollingShare):
            self.rolling.append(event)
        elif isinstance(event, Interruption) and event.successful is not None:
            first = next(
                (e for e in self.events if isinstance(e, Interruption) and _same_interruption(e, event)), event
            )
            self.events = [e for e in self.events if not _same_interruption(e, event)]
            self.events.append(dataclasses.replace(event, decided_s=first.decided_s))
        elif isinstance(event, Reported):
            self.events.append(event)
        elif isinstance(event, EndOfStream):
            self.end_s = event.t_s
        return ()

    def talk_s(self, party: Party) -> float:
        return sum((s.duration_s for s in self.segments if s.party is party), 0.0)  # 0.0, not 0, with no speech

    def rep_share(self) -> float | None:
        """None while nobody has spoken: 0.0 would read as a rep who never spoke, and pull a fleet's average down."""
        return rep_share_of(self.talk_s(Party.REP), self.talk_s(Party.CUSTOMER))

    def overlap_s(self) -> float:
        """Seconds both parties spoke at once."""
        return _overlap_s(self.segments)

    def metrics(self) -> dict[str, object]:
        rep, cust = self.talk_s(Party.REP), self.talk_s(Party.CUSTOMER)
        overlap = self.overlap_s()
        share = defined(self.rep_share())
        return {
            "rep_talk_s": round(rep, DECIMALS),
            "customer_talk_s": round(cust, DECIMALS),
            "rep_share": round(share, DECIMALS) if share is not None else None,
            "overlap_s": round(overlap, DECIMALS),
            "silence_s": round(max(0.0, self.end_s - (rep + cust - overlap)), DECIMALS),
            "rep_segments": sum(1 for s in self.segments if s.party is Party.REP),
            "customer_segments": sum(1 for s in self.segments if s.party is Party.CUSTOMER),
        }

    def report(
        self, audio: AudioInfo, whole: SessionSummary | None = None, cues: CueTally | None = None
    ) -> dict[str, object]:
        """The report; ``whole``: the recording's figures (all_sessions), ``cues``: the transcript's, with [asr]."""
        segments = sorted(self.segments, key=lambda s: (s.start_s, s.party.value))
        metrics = self.metrics()
        if whole is not None:
            metrics |= _totals_record(whole, self.events)
        if cues is not None:
            metrics |= cues.metrics().record() | {
                "cue_sessions": [_cue_session_record(c) for c in cues.session_metrics()]
            }
        return {
            "schema": SCHEMA,
            "audio": {
                "seconds": round(audio.duration_s, DECIMALS),
                "channels": audio.channels,
                "sample_rate": audio.sample_rate_hz,
            },
            "segments": [
                {"party": s.party.value, "start": round(s.start_s, DECIMALS), "end": round(s.end_s, DECIMALS)}
                for s in segments
            ],
            "events": [e.record() for e in sorted(self.events, key=lambda e: e.onset_s)],
            "metrics": metrics,
            "sessions": [s.record() for s in self.sessions],
            "rolling_share": [_rolling_record(r) for r in self.rolling],
        }


def _totals_record(whole: SessionSummary, events: Sequence[Event]) -> dict[str, object]:
    """``whole``'s figures as ``metrics`` adds them to the timeline's."""
    record = whole.record()
    # identity and span are the recording's; talk times are already in the report from the timeline
    drop = ("type", "session_id", "t", "end_s", "decided_s", "duration_s")
    for key in (*drop, "rep_talk_s", "customer_talk_s", "overlap_s", "silence_s", "unheard_s", "rep_share"):
        record.pop(key, None)
    record["sessions"] = sessions_started(events)
    return record


def _cue_session_record(cues: SessionCues) -> dict[str, object]:
    start, end = round(cues.start_s, DECIMALS), round(cues.end_s, DECIMALS)
    return {"session_id": cues.session_id, "start": start, "end": end} | cues.figures.record()


def _rolling_record(r: RollingShare) -> dict[str, object]:
    """The rolling share as MQTT's ``rep_share_rolling`` has it: ``null`` when the window holds no speech."""
    share = defined(r.shown_share)
    return {
        "t": round(r.t_s, DECIMALS),
        "window_s": round(r.window_s, DECIMALS),
        "rep_talk_s": round(r.rep_talk_s, DECIMALS),
        "customer_talk_s": round(r.customer_talk_s, DECIMALS),
        "rep_share": round(share, DECIMALS) if share is not None else None,
    }


def _same_interruption(old: Reported, new: Interruption) -> bool:
    return isinstance(old, Interruption) and old.by is new.by and old.onset_s == new.onset_s


def _overlap_s(segments: list[SpeechSegment]) -> float:
    rep = sorted((s.start_s, s.end_s) for s in segments if s.party is Party.REP)
    cust = sorted((s.start_s, s.end_s) for s in segments if s.party is Party.CUSTOMER)
    return overlap_length(rep, cust)
