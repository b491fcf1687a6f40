"""The spans the conversation figure draws, worked out from the typed segments and events: no matplotlib."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from listener.analytics.summary import Span, session_span
from listener.events import DominanceChanged, Party, Reported, SpeechSegment

HOP_S = 0.01
PARTIES = (Party.REP, Party.CUSTOMER)


def rolling_share(
    segments: Sequence[SpeechSegment], sessions: Sequence[tuple[float, float]], duration_s: float, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rep share over the last ``window_s`` of the current session, every 10 ms (NaN outside sessions)."""
    n = max(1, round(duration_s / HOP_S))
    cum = {}
    for party in PARTIES:
        active = np.zeros(n, dtype=np.int64)
        for s in segments:
            if s.party is party:
                active[round(s.start_s / HOP_S) : round(s.end_s / HOP_S)] = 1
        cum[party] = np.concatenate([[0], np.cumsum(active)])
    t = np.arange(1, n + 1)
    since = np.full(n, -1)
    for start, end in sessions:
        since[round(start / HOP_S) : round(end / HOP_S)] = round(start / HOP_S)
    lo = np.maximum(t - round(window_s / HOP_S), since)
    ok = since >= 0
    lo = np.where(ok, lo, 0)
    rep = cum[Party.REP][t] - cum[Party.REP][lo]
    total = rep + cum[Party.CUSTOMER][t] - cum[Party.CUSTOMER][lo]
    share = np.where(ok & (total > 0), rep / np.maximum(total, 1), np.nan)
    return t * HOP_S, share


def overlaps(segments: Sequence[SpeechSegment]) -> list[tuple[float, float]]:
    """Where both parties speak, as (start, length) bars, in the customer's time order.

    Each customer segment meets only the rep segments around it: one party's segments never overlap one
    another (the timeline's union), so their ends ascend with their starts and one sweep finds them, where
    trying every pair took minutes and gigabytes on hours of audio.
    """
    rep = sorted((s.start_s, s.end_s) for s in segments if s.party is Party.REP)
    out, j = [], 0
    for start, end in sorted((s.start_s, s.end_s) for s in segments if s.party is Party.CUSTOMER):
        while j < len(rep) and rep[j][1] <= start:
            j += 1
        k = j
        while k < len(rep) and rep[k][0] < end:
            lo, hi = max(rep[k][0], start), min(rep[k][1], end)
            if hi > lo:
                out.append((lo, hi - lo))
            k += 1
    return out


def in_row(spans: Sequence[tuple[float, float]], lo: float, hi: float, bars: bool = False) -> list[tuple[float, float]]:
    """The (start, end) spans (``bars``: (start, length)) that reach into the row ``[lo, hi]``: every row drawing
    every span of a long recording made the figure quadratic in its length."""
    return [(a, b) for a, b in spans if (a + b if bars else b) >= lo and a <= hi]


@dataclass(frozen=True)
class Drawn:
    """What the figure draws, worked out once for all its rows."""

    overlaps: list[tuple[float, float]]  # (start, length) bars
    span: Span  # the sessions, as the summaries count events in them
    sessions: list[tuple[float, float]]
    dominance: list[tuple[float, float]]
    t_s: np.ndarray  # the rolling share's times
    share: np.ndarray

    @classmethod
    def of(
        cls, segments: Sequence[SpeechSegment], events: Sequence[Reported], duration_s: float, window_s: float
    ) -> Drawn:
        span = session_span(events, duration_s)
        spans = [(w.start_s, w.end_s) for w in span.windows]
        t_s, share = rolling_share(segments, spans, duration_s, window_s)
        return cls(overlaps(segments), span, spans, dominance_spans(events, duration_s), t_s, share)


def dominance_spans(events: Sequence[Reported], duration_s: float) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    since = None
    changes = sorted((e for e in events if isinstance(e, DominanceChanged)), key=lambda e: (e.decided_s, e.onset_s))
    for e in changes:
        if e.dominating and since is None:
            since = e.onset_s
        elif not e.dominating and since is not None:
            spans.append((since, e.onset_s))
            since = None
    if since is not None:
        spans.append((since, duration_s))
    return spans
