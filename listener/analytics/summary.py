"""Figures of one span of conversation from its speech and its decided events.

A pure function: the stage uses it for each session's :class:`SessionSummary`,
``listener analyze`` for the recording's totals (``metrics``: the same figures
over all its sessions at once, so the rep talking on after a session, to
nobody, is no monologue there either), and the tests to check one against the
other. Events count when their onset lies in the span; speech is clipped to it.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from listener.analytics.intervals import Interval, overlap_length, total_length, union
from listener.config.schema import AnalyticsConfig
from listener.events import (
    Backchannel,
    DominanceChanged,
    Event,
    FloorHeld,
    Interruption,
    LongSilence,
    Party,
    Pause,
    PrematureStart,
    Question,
    Reported,
    ResponseGap,
    SessionEnded,
    SessionStarted,
    SessionSummary,
    SpeechSegment,
    rep_share_of,
)
from listener.frames import at_least

EPS_S = 1e-6


# Each helper computes a group of SessionSummary's fields, passed on to it as keywords; typed, so
# mypy checks each name and type against SessionSummary's


class TalkFields(TypedDict):
    rep_talk_s: float
    customer_talk_s: float
    overlap_s: float
    silence_s: float
    unheard_s: float
    rep_share: float


class SwitchFields(TypedDict):
    floor_changes: int
    switches_per_min: float


class FloorFields(TypedDict):
    monologues: int
    longest_monologue_s: float
    stories: int
    longest_story_s: float
    response_gaps: int
    patient_gaps: int
    response_gap_median_s: float | None
    response_gap_p10_s: float | None
    response_gap_p90_s: float | None
    patient_gap_fraction: float | None
    pauses: int
    long_silences: int
    longest_silence_s: float


class OverlapFields(TypedDict):
    interruptions_by_rep: int
    interruptions_by_customer: int
    successful_interruptions_by_rep: int
    successful_interruptions_by_customer: int
    backchannels_by_rep: int
    backchannels_by_customer: int
    rep_backchannels_per_min: float | None
    premature_starts: int


@dataclass(frozen=True, slots=True)
class Window:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    def holds(self, t_s: float) -> bool:
        """``t_s`` lies in ``[start_s, end_s)``, both edges moved by the same tolerance: an instant where one
        session ends and the next begins (a cut, a customer starting as the gap runs out) is the next's, so an
        event there counts once; what begins at a session's end (the silence that ended it) is not in it."""
        return self.start_s - EPS_S <= t_s < self.end_s - EPS_S

    def clip(self, start_s: float, end_s: float) -> Interval | None:
        start_s, end_s = max(start_s, self.start_s), min(end_s, self.end_s)
        return (start_s, end_s) if end_s > start_s else None


@dataclass(frozen=True, slots=True)
class Span:
    """Disjoint windows in time order, summarised as one: a session, or all of a recording's."""

    windows: tuple[Window, ...]

    @property
    def start_s(self) -> float:
        return self.windows[0].start_s if self.windows else 0.0

    @property
    def end_s(self) -> float:
        return self.windows[-1].end_s if self.windows else 0.0

    @property
    def duration_s(self) -> float:
        return sum(w.duration_s for w in self.windows)

    def holds(self, t_s: float) -> bool:
        return any(w.holds(t_s) for w in self.windows)

    def clip(self, start_s: float, end_s: float) -> list[Interval]:
        return [c for w in self.windows if (c := w.clip(start_s, end_s)) is not None]

    def ends_at(self, t_s: float) -> bool:
        return any(abs(t_s - w.end_s) <= EPS_S for w in self.windows)


def summarize(
    session_id: str,
    window: Window | Span,
    decided_s: float,
    segments: Iterable[SpeechSegment],
    events: Iterable[Event],
    config: AnalyticsConfig,
    unheard: Sequence[Interval] = (),
) -> SessionSummary:
    """The session's figures; ``unheard``: stretches of it with no audio, counted apart from silence."""
    span = window if isinstance(window, Span) else Span((window,))
    events = list(events)
    speech = _speech(span, segments)
    inside = [e for e in events if isinstance(e, Reported) and counted(e, span)]
    talk = _talk(span, speech, _unheard_s(span, unheard, speech))
    gaps = union(list(unheard))
    dominance_s, episodes = _dominance(span, [e for e in events if isinstance(e, DominanceChanged)], gaps)
    waits_s, stacked = _questions(inside, speech[Party.CUSTOMER], config.stacked_question_s, span, gaps)
    return SessionSummary(
        session_id=session_id,
        onset_s=span.start_s,
        end_s=span.end_s,
        decided_s=decided_s,
        duration_s=span.duration_s,
        **talk,
        **_floors(inside, _held(span, events, gaps)),
        **_switches(span, [e for e in events if isinstance(e, FloorHeld)], config.session_gap_s, talk["unheard_s"]),
        **_overlap_events(inside, talk["customer_talk_s"]),
        dominance_s=dominance_s,
        dominance_episodes=episodes,
        questions=sum(1 for e in inside if isinstance(e, Question) and e.by is Party.REP),
        question_wait_median_s=_percentile(waits_s, 50),
        stacked_questions=stacked,
    )


def counted(event: Reported, span: Span) -> bool:
    """Whether ``span``'s summary counts ``event``: begun in it. A pause begun at the session's last speech,
    its end, is the silence that ended it, not one in it: the window's end is outside it."""
    return span.holds(event.onset_s)


def _switches(window: Span, floors: list[FloorHeld], lapse_s: float, unheard_s: float) -> SwitchFields:
    """Floor changes by when they happen: the taker's floor starts in the window.

    Counting the floors that were taken would miss the change at the start of a
    session whose previous holder's floor began before it (the rep's greeting). But a
    floor whose holder last spoke more than ``lapse_s`` (``session_gap_s``, the device's
    "no conversation going on") before the session began had lapsed: the customer's first
    floor is then the session's first taking, as when nobody held it.
    """
    ordered = sorted(floors, key=lambda f: f.onset_s)
    switches = 0
    for a, b in itertools.pairwise(ordered):
        w = next((w for w in window.windows if w.holds(b.onset_s)), None)
        switches += a.taken and b.by is not a.by and w is not None and a.end_s >= w.start_s - lapse_s - EPS_S
    # per minute heard: a change made while the device heard nothing is no switch it could count
    minutes = (window.duration_s - unheard_s) / 60.0
    return {"floor_changes": switches, "switches_per_min": switches / minutes if minutes > 0 else 0.0}


def _unheard_s(window: Span, unheard: Sequence[Interval], speech: dict[Party, list[Interval]]) -> float:
    """Unheard time in the window, less what counts as talk (a gap inside one's speech is bridged)."""
    gaps = union([c for a, b in unheard for c in window.clip(a, b)])
    return total_length(gaps) - overlap_length(gaps, union(speech[Party.REP] + speech[Party.CUSTOMER]))


def _talk(window: Span, speech: dict[Party, list[Interval]], unheard_s: float) -> TalkFields:
    rep_s, customer_s = total_length(speech[Party.REP]), total_length(speech[Party.CUSTOMER])
    overlap_s = overlap_length(speech[Party.REP], speech[Party.CUSTOMER])
    return {
        "rep_talk_s": rep_s,
        "customer_talk_s": customer_s,
        "overlap_s": overlap_s,
        "silence_s": max(0.0, window.duration_s - (rep_s + customer_s - overlap_s) - unheard_s),
        "unheard_s": unheard_s,
        "rep_share": rep_share_of(rep_s, customer_s) or 0.0,
    }


def _held(window: Span, events: list[Event], unheard: list[Interval]) -> list[tuple[Party, float]]:
    """(holder, seconds heard) of the floors held in the window: one begun before the session counts from its start.

    A floor outside every window (the rep talking on after the session ended) is nobody's monologue.
    """
    out: list[tuple[Party, float]] = []
    for e in events:
        if isinstance(e, FloorHeld):
            out.extend((e.by, _heard([c], unheard)) for c in window.clip(e.onset_s, e.end_s))
    return out


def _heard(parts: list[Interval], unheard: list[Interval]) -> float:
    """Seconds of ``parts`` (disjoint, in time order) with audio: what went on while the device heard
    nothing is unknown, so it lengthens no floor and no dominance. All of it, a capture blip the bridging
    counts as talk included, as the monologue's clock (Dominance) counts it: a blip costs little."""
    return total_length(parts) - overlap_length(parts, unheard)


def _floors(inside: list[Reported], held: list[tuple[Party, float]]) -> FloorFields:
    """Floors, response gaps (each already judged patient or not) and silences."""
    monologues = [s for by, s in held if by is Party.REP]
    stories = [s for by, s in held if by is Party.CUSTOMER]
    responses = [e for e in inside if isinstance(e, ResponseGap)]
    gaps_s = [e.gap_s for e in responses]
    patient = sum(e.patient for e in responses)
    silences = [e.duration_s for e in inside if isinstance(e, LongSilence)]
    return {
        "monologues": len(monologues),
        "longest_monologue_s": max(monologues, default=0.0),
        "stories": len(stories),
        "longest_story_s": max(stories, default=0.0),
        "response_gaps": len(gaps_s),
        "patient_gaps": patient,
        "response_gap_median_s": _percentile(gaps_s, 50),
        "response_gap_p10_s": _percentile(gaps_s, 10),
        "response_gap_p90_s": _percentile(gaps_s, 90),
        "patient_gap_fraction": patient / len(responses) if responses else None,
        "pauses": sum(1 for e in inside if isinstance(e, Pause)),
        "long_silences": len(silences),
        "longest_silence_s": max(silences, default=0.0),
    }


def _overlap_events(inside: list[Reported], customer_s: float) -> OverlapFields:
    """Interruptions (each once, with its latest outcome), backchannels, premature starts."""
    outcome = _interruptions(inside)
    backchannels = [e.by for e in inside if isinstance(e, Backchannel)]
    rep_bc = backchannels.count(Party.REP)

    def interruptions(party: Party, successful_only: bool) -> int:
        return sum(1 for (by, _), ok in outcome.items() if by is party and (ok or not successful_only))

    return {
        "interruptions_by_rep": interruptions(Party.REP, False),
        "interruptions_by_customer": interruptions(Party.CUSTOMER, False),
        "successful_interruptions_by_rep": interruptions(Party.REP, True),
        "successful_interruptions_by_customer": interruptions(Party.CUSTOMER, True),
        "backchannels_by_rep": rep_bc,
        "backchannels_by_customer": len(backchannels) - rep_bc,
        "rep_backchannels_per_min": rep_bc / (customer_s / 60.0) if customer_s > 0 else None,
        "premature_starts": sum(1 for e in inside if isinstance(e, PrematureStart)),
    }


def all_sessions(
    segments: Sequence[SpeechSegment], events: Sequence[Event], end_s: float, config: AnalyticsConfig
) -> SessionSummary:
    """The recording's sessions summarised as if they were one (its id empty), short ones included.

    Floors, gaps, pauses and the rest are defined in a session: the rep talking on after a session has
    ended, or before one begins, is no monologue (``docs/metrics.md``), in a session's summary or here.
    """
    return summarize("", session_span(events, end_s), end_s, segments, events, config)


def session_span(events: Sequence[Event], end_s: float) -> Span:
    """The sessions the events started and ended; one still open runs to ``end_s``."""
    ends = {e.session_id: e.end_s for e in events if isinstance(e, SessionEnded)}
    started = sorted((e for e in events if isinstance(e, SessionStarted)), key=lambda e: e.onset_s)
    return Span(tuple(Window(e.onset_s, ends.get(e.session_id, end_s)) for e in started))


def sessions_started(events: Iterable[Event]) -> int:
    """Sessions begun, summarised or not (a short one publishes no summary)."""
    return sum(1 for e in events if isinstance(e, SessionStarted))


def no_session(segments: Sequence[SpeechSegment]) -> str:
    """Why a recording holds no session, in the words of docs/metrics.md (a session starts with customer speech)."""
    if not segments:
        return "no conversation: nobody spoke"
    if all(s.party is Party.REP for s in segments):
        return "no session: only the rep spoke (a session starts with customer speech)"
    return "no session"


def _speech(window: Span, segments: Iterable[SpeechSegment]) -> dict[Party, list[Interval]]:
    out: dict[Party, list[Interval]] = {p: [] for p in Party}
    for seg in segments:
        out[seg.party].extend(window.clip(seg.start_s, seg.end_s))
    return {p: union(iv) for p, iv in out.items()}


def _interruptions(events: list[Reported]) -> dict[tuple[Party, float], bool | None]:
    """Each interruption once, with its latest outcome."""
    out: dict[tuple[Party, float], bool | None] = {}
    for e in events:
        if isinstance(e, Interruption):
            key = (e.by, round(e.onset_s, 6))
            out[key] = e.successful if e.successful is not None else out.get(key)
    return out


def _dominance(window: Span, changes: list[DominanceChanged], unheard: list[Interval]) -> tuple[float, int]:
    total_s, episodes, since_s = 0.0, 0, None
    for change in sorted(changes, key=lambda c: (c.decided_s, c.onset_s)):
        if change.dominating and since_s is None:
            since_s = change.onset_s
            episodes += window.holds(change.onset_s)
        elif not change.dominating and since_s is not None:
            # begun as the rep's speech ended on a check, where that speech then ended the session: lit and
            # published in it, and closed by its end, so it is its episode though its instant is the end's
            episodes += change.reason == "session_end" and not window.holds(since_s) and window.ends_at(since_s)
            total_s += _heard(window.clip(since_s, change.onset_s), unheard)
            since_s = None
    if since_s is not None:
        total_s += _heard(window.clip(since_s, window.end_s), unheard)
    return total_s, episodes


def _questions(
    events: list[Reported], customer: list[Interval], stacked_s: float, span: Span, unheard: list[Interval]
) -> tuple[list[float], int]:
    """Question waits and stacked questions; time unheard between a question and the next speech (or question) is
    unknown, the customer may have answered then: no wait is measured across it, nor a stack."""
    questions = sorted((e for e in events if isinstance(e, Question) and e.by is Party.REP), key=lambda q: q.onset_s)
    # the customer's speech is a union: disjoint, in time order, so its starts and its ends both ascend
    speech_starts_s, speech_ends_s = [a for a, _ in customer], [b for _, b in customer]
    waits_s = []
    for q in questions:
        # the recogniser's last word may end after the customer has begun to answer: that wait
        # is 0, not the time to the customer's next turn; speech begun before the question is no answer,
        # and neither is an "mm" heard and done while the rep was still asking; nor is the next visit's
        # first word, for a question a whole recording's span left unanswered in its session
        ends_s = min((w.end_s for w in span.windows if w.holds(q.onset_s)), default=span.end_s)
        k = max(bisect.bisect_left(speech_starts_s, q.onset_s), bisect.bisect_right(speech_ends_s, q.end_s))
        if (
            k < len(speech_starts_s)
            and speech_starts_s[k] <= ends_s
            and not _unheard_in(q.end_s, speech_starts_s[k], unheard)
        ):
            waits_s.append(max(0.0, speech_starts_s[k] - q.end_s))
    stacked = 0
    for first, second in itertools.pairwise(questions):
        k = bisect.bisect_right(speech_ends_s, first.end_s)  # the first speech ending after the first question
        between = k < len(speech_starts_s) and speech_starts_s[k] < second.onset_s
        between = between or _unheard_in(first.end_s, second.onset_s, unheard)
        stacked += at_least(stacked_s, second.onset_s - first.end_s) and not between  # 'within': 3.0 s counts
    return waits_s, stacked


def _unheard_in(start_s: float, end_s: float, unheard: list[Interval]) -> bool:
    return end_s > start_s and overlap_length([(start_s, end_s)], unheard) > 0


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None
