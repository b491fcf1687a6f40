"""One party's speech, frame by frame, with what is already known about it.

Frames are counted in integers (frame ``f`` covers ``[f, f + 1)`` hops) so
that thresholds compare exactly. The rules are the timeline's: gaps shorter
than the bridge are bridged, runs shorter than the minimum are not speech.
A run is *announced* (known to be speech) once it spans the minimum; it is
*closed* once the party has been quiet for the bridge. Until then its end
is open: the analytics above ask :meth:`Track.covering` or
:meth:`Track.spoke_within` and get "not known yet" instead of a guess.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from listener.events import Party


@dataclass
class Run:
    """The party's current stretch of speech (possibly not yet speech); its times are frame indices."""

    start_frame: int
    last_end_frame: int  # one past the last active frame
    announced: bool = False

    @property
    def length_frames(self) -> int:
        return self.last_end_frame - self.start_frame


@dataclass(frozen=True, slots=True)
class Span:
    """A closed stretch of speech, frames ``[start_frame, end_frame)``."""

    start_frame: int
    end_frame: int

    @property
    def length_frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True, slots=True)
class Step:
    """What one frame changed: a run became speech, and/or a stretch closed."""

    announced: Run | None = None
    closed: Span | None = None


NOTHING = Step()  # most frames change nothing: one shared answer instead of a new one per frame


class Track:
    """The stretches of speech of one party, decided as frames arrive."""

    def __init__(self, party: Party, bridge_frames: int, min_frames: int, keep_frames: int) -> None:
        self.party = party
        self.bridge_frames = max(1, bridge_frames)
        self.min_frames = max(1, min_frames)
        self.keep_frames = keep_frames
        self.run: Run | None = None
        self.spans: deque[Span] = deque()
        self.now_frame = 0  # frames seen so far: the next frame's index

    def step(self, f: int, active: bool) -> Step:
        self.now_frame = f + 1
        run = self.run
        if active:
            if run is None:
                run = self.run = Run(start_frame=f, last_end_frame=f + 1)
            run.last_end_frame = f + 1
            if not run.announced and run.length_frames >= self.min_frames:
                run.announced = True
                return Step(announced=run)
            return NOTHING
        if run is not None and f + 1 - run.last_end_frame >= self.bridge_frames:
            return Step(closed=self.close())
        return NOTHING

    def close(self) -> Span | None:
        """End the current run now (a gap or the end of the stream)."""
        run, self.run = self.run, None
        if run is None or not run.announced:
            return None
        span = Span(run.start_frame, run.last_end_frame)
        self.spans.append(span)
        # the newest stretch older than the window stays, however many short ones follow it: a floor held
        # through a long silence ends at it, past the "mm"s that follow (floors' turn end looks back to it)
        while len(self.spans) > 2 and self.spans[1].end_frame < span.end_frame - self.keep_frames:
            self.spans.popleft()
        return span

    @property
    def speaking(self) -> bool:
        """In a stretch that is known to be speech (its pauses shorter than the bridge)."""
        return self.run is not None and self.run.announced

    @property
    def pending(self) -> Run | None:
        """A run that may still become speech."""
        return self.run if self.run is not None and not self.run.announced else None

    def newest_first(self) -> Iterator[Span]:
        """The party's speech, latest first: the stretch going on (as far as it has gone), then the closed ones."""
        if self.speaking:
            assert self.run is not None
            yield Span(self.run.start_frame, self.run.last_end_frame)
        yield from reversed(self.spans)

    def latest_end(self) -> int | None:
        """End of the party's latest known speech (an open stretch: as far as it has gone)."""
        if self.speaking:
            assert self.run is not None
            return self.run.last_end_frame
        return self.spans[-1].end_frame if self.spans else None

    def known_end(self, limit_frame: int) -> int | None:
        """``latest_end`` as it stood at frame ``limit_frame``: of speech already known as speech by then."""
        run = self.run
        if run is not None and run.announced and run.start_frame + self.min_frames <= limit_frame:
            return min(run.last_end_frame, limit_frame)
        return next(
            (
                min(s.end_frame, limit_frame)
                for s in reversed(self.spans)
                if s.start_frame + self.min_frames <= limit_frame
            ),
            None,
        )

    def covering(self, f: int) -> Span | bool | None:
        """The speech covering frame ``f``: a Span, None (silent), or False (not known yet)."""
        for span in reversed(self.spans):
            if span.start_frame <= f < span.end_frame:
                return span
            if span.end_frame <= f:
                break
        run = self.run
        if run is None or f < run.start_frame:
            return None
        if f < run.last_end_frame and run.announced:
            return Span(run.start_frame, run.last_end_frame)
        return False

    def span_starting(self, start_frame: int) -> Span | Run | None:
        """The stretch that began at ``start_frame``: closed (Span), still open (Run), or forgotten."""
        if self.run is not None and self.run.start_frame == start_frame:
            return self.run
        for span in reversed(self.spans):
            if span.start_frame == start_frame:
                return span
            if span.start_frame < start_frame:
                break
        return None

    def spoke_within(self, first: int, stop: int) -> bool | None:
        """Whether the party has speech in frames ``[first, stop)``; None while that may still change."""
        for span in reversed(self.spans):
            if span.start_frame < stop and span.end_frame > first:
                return True
            if span.end_frame <= first:
                break
        run = self.run
        if run is not None and run.start_frame < stop:
            if run.announced and run.last_end_frame > first:
                return True
            return None
        return None if self.now_frame < stop else False
