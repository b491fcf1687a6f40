"""Run the timeline and analytics stages on per-party segments instead of audio.

The benchmark's ground truth, the tests and the documentation figures all go
through here: segments become 10 ms activity frames (a frame is active when
its centre lies in a segment: ``listener.frames.span_frames``, as for the
benchmark's truth), and the frames go
through the same :class:`Timeline` and :class:`ConversationAnalytics` that
``listener analyze`` runs behind the microphone array.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from listener.analytics.report import ReportCollector
from listener.analytics.stage import ConversationAnalytics
from listener.analytics.timeline import Timeline
from listener.config import Config
from listener.events import ActivityFrames, BoolArray, EndOfStream, FloatArray, Party, Reported, TurnPredictions
from listener.frames import span_frames
from listener.pipeline import Pipeline

HOP_S = 0.01
Segment = tuple[Party | str, float, float]


def activity(segments: Iterable[Segment], duration_s: float, hop_s: float = HOP_S) -> dict[Party, BoolArray]:
    """Per-party frame activity of ``segments`` over ``duration_s``."""
    n = round(duration_s / hop_s)
    out = {p: np.zeros(n, dtype=bool) for p in Party}
    for party, start_s, end_s in segments:
        first, stop = span_frames(start_s, end_s, hop_s, n)
        out[Party(party)][first:stop] = True
    return out


def frame_blocks(
    active: dict[Party, BoolArray], hop_s: float = HOP_S, bounds: Sequence[int] | None = None
) -> Iterator[ActivityFrames]:
    """ActivityFrames split at ``bounds`` (frame indices; default: one block)."""
    n = len(active[Party.REP])
    cuts = sorted({0, n, *(b for b in (bounds or ()) if 0 < b < n)})
    for a, b in itertools.pairwise(cuts):
        rep, customer = active[Party.REP][a:b], active[Party.CUSTOMER][a:b]
        yield ActivityFrames(
            start_s=a * hop_s,
            hop_s=hop_s,
            rep_active=rep,
            customer_active=customer,
            rep_prob=rep.astype(np.float32),
            customer_prob=customer.astype(np.float32),
            doa_deg=np.full(b - a, np.nan, dtype=np.float32),
        )


def replay(
    segments: Iterable[Segment],
    duration_s: float,
    config: Config,
    bounds: Sequence[int] | None = None,
    model: tuple[FloatArray, FloatArray] | None = None,
    extra: Sequence[Reported] = (),
    exact: bool = False,
) -> ReportCollector:
    """Everything the analytics decide on ``segments``; ``model`` = per-frame (p_hold, p_backchannel).

    ``extra`` (cue events, say) are fed in as they are decided; ``exact``: see :class:`ConversationAnalytics`.
    """
    collector = ReportCollector()
    hop_s = HOP_S
    pending = sorted(extra, key=lambda e: e.decided_s)
    with Pipeline([Timeline(config), ConversationAnalytics(config, exact), collector]) as pipe:
        for block in frame_blocks(activity(segments, duration_s, hop_s), hop_s, bounds):
            while pending and pending[0].decided_s <= block.start_s:
                pipe.feed(pending.pop(0))
            if model is not None:
                first = round(block.start_s / hop_s)
                hold, backchannel = (m[first : first + block.n_frames] for m in model)
                pipe.feed(TurnPredictions(block.start_s, hop_s, hold, backchannel))
            pipe.feed(block)
        for event in pending:
            pipe.feed(event)
        pipe.feed(EndOfStream(t_s=duration_s))
    collector.end_s = duration_s
    return collector
