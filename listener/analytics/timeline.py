"""Per-party speech segments from frame activity, decided as they close.

Gaps shorter than ``bridge_gap_s`` inside one party's speech are bridged,
bursts shorter than ``min_speech_s`` are dropped: the rules of
:class:`~listener.analytics.tracks.Track`, which the analytics use too, so
the report's segments and the events decided on them are the same
stretches. A segment is announced (:class:`SpeechStarted`) once it has
lasted ``min_speech_s``, and closed (:class:`SpeechSegment`) once the party
has been quiet for ``bridge_gap_s``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from listener.analytics.context import Limits
from listener.analytics.tracks import Span, Track
from listener.config import Config
from listener.events import ActivityFrames, EndOfStream, Event, Party, SpeechSegment, SpeechStarted, TalkTotals
from listener.pipeline import Stage

KEEP_FRAMES = 0  # the timeline asks nothing about closed stretches: keep none beyond the last two


class Timeline(Stage):
    """ActivityFrames -> SpeechStarted / SpeechSegment / TalkTotals."""

    name = "timeline"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.limits: Limits | None = None  # in frames of the stream's hop: set by the first frames
        self.tracks: dict[Party, Track] = {}
        self.talk_s = dict.fromkeys(Party, 0.0)

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, ActivityFrames):
            yield from self._frames(event)
        elif isinstance(event, EndOfStream) and self.limits is not None:
            for party, track in self.tracks.items():
                yield from self._closed(self.limits, party, track.close(), event.t_s)

    def _frames(self, frames: ActivityFrames) -> Iterator[Event]:
        lim = self.limits or self._start(frames.hop_s)
        first = round(frames.start_s / frames.hop_s)
        active = {p: frames.active(p).tolist() for p in Party}
        for i in range(frames.n_frames):
            f = first + i
            for party, track in self.tracks.items():
                step = track.step(f, active[party][i])
                if step.announced is not None:
                    yield SpeechStarted(party=party, onset_s=lim.s(step.announced.start_frame))
                if step.closed is not None:  # at the end of frame f, which the activity reported lag_s late
                    yield from self._closed(lim, party, step.closed, lim.s(f + 1) + frames.lag_s)

    def _start(self, hop_s: float) -> Limits:
        """The stream's first frames: thresholds in frames of its hop, which stays the same to its end."""
        lim = self.limits = Limits.of(self.config.analytics, self.config.activity, hop_s)
        self.tracks = {p: Track(p, lim.bridge_frames, lim.min_speech_frames, KEEP_FRAMES) for p in Party}
        return lim

    def _closed(self, lim: Limits, party: Party, span: Span | None, t_s: float) -> Iterator[Event]:
        if span is None:
            return
        s = lim.s
        segment = SpeechSegment(party=party, start_s=s(span.start_frame), end_s=s(span.end_frame), decided_s=t_s)
        self.talk_s[party] += segment.duration_s
        yield segment
        yield TalkTotals(t_s=t_s, rep_talk_s=self.talk_s[Party.REP], customer_talk_s=self.talk_s[Party.CUSTOMER])
