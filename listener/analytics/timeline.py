"""Per-party speech segments from frame activity, decided as they close.

Gaps shorter than ``bridge_gap_s`` inside one party's speech are bridged,
bursts shorter than ``min_speech_s`` are dropped. A segment is announced
(:class:`SpeechStarted`) once it has lasted ``min_speech_s``, and closed
(:class:`SpeechSegment`) once the party has been quiet for ``bridge_gap_s``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from listener.analytics.context import at_least
from listener.config import Config
from listener.events import ActivityFrames, EndOfStream, Event, Party, SpeechSegment, SpeechStarted, TalkTotals
from listener.pipeline import Stage


@dataclass
class _Run:
    start_s: float
    last_active_end_s: float
    announced: bool = False


class _PartyTrack:
    def __init__(self, party: Party, bridge_gap_s: float, min_speech_s: float) -> None:
        self.party = party
        self.bridge_gap_s = bridge_gap_s
        self.min_speech_s = min_speech_s
        self.run: _Run | None = None

    def step(self, t_s: float, hop_s: float, active: bool, lag_s: float = 0.0) -> Iterator[Event]:
        run = self.run
        if active:
            if run is None:
                run = self.run = _Run(start_s=t_s, last_active_end_s=t_s + hop_s)
            run.last_active_end_s = t_s + hop_s
            if not run.announced and at_least(run.last_active_end_s - run.start_s, self.min_speech_s):
                run.announced = True
                yield SpeechStarted(party=self.party, onset_s=run.start_s)
        elif run is not None and at_least(t_s + hop_s - run.last_active_end_s, self.bridge_gap_s):
            yield from self.close(t_s + hop_s + lag_s)

    def close(self, decided_s: float) -> Iterator[Event]:
        run, self.run = self.run, None
        if run is not None and run.announced:
            yield SpeechSegment(party=self.party, start_s=run.start_s, end_s=run.last_active_end_s, decided_s=decided_s)


class Timeline(Stage):
    """ActivityFrames -> SpeechStarted / SpeechSegment / TalkTotals."""

    name = "timeline"

    def __init__(self, config: Config) -> None:
        act = config.activity
        self.tracks = {p: _PartyTrack(p, act.bridge_gap_s, act.min_speech_s) for p in Party}
        self.talk_s = dict.fromkeys(Party, 0.0)

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, ActivityFrames):
            yield from self._frames(event)
        elif isinstance(event, EndOfStream):
            for track in self.tracks.values():
                yield from self._account(track.close(event.t_s), event.t_s)

    def _frames(self, frames: ActivityFrames) -> Iterator[Event]:
        for i in range(frames.n_frames):
            t_s = frames.start_s + i * frames.hop_s
            for party, track in self.tracks.items():
                step = track.step(t_s, frames.hop_s, bool(frames.active(party)[i]), frames.lag_s)
                yield from self._account(step, t_s + frames.hop_s + frames.lag_s)

    def _account(self, events: Iterable[Event], t_s: float) -> Iterator[Event]:
        for event in events:
            yield event
            if isinstance(event, SpeechSegment):
                self.talk_s[event.party] += event.duration_s
                yield TalkTotals(
                    t_s=t_s, rep_talk_s=self.talk_s[Party.REP], customer_talk_s=self.talk_s[Party.CUSTOMER]
                )
