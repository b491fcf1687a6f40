"""The floor: whose speech is the conversation's content, and when it changes hands.

A party takes the floor once one stretch of its speech has lasted
``floor_take_s`` while the holder is not speaking (the holder's own stretch
has closed, and nothing it began since may yet turn out to be speech); a
backchannel is too short to take it. The holder keeps the
floor through its own pauses. A taking decides a :class:`FloorChange`
(onset: the stretch that took it), a :class:`FloorHeld` for the previous
holder, and, customer to rep, a :class:`ResponseGap`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from listener.analytics.context import Context
from listener.analytics.tracks import Span
from listener.events import Event, FloorChange, FloorHeld, Party, ResponseGap
from listener.frames import at_least

HISTORY = 256  # floor changes remembered for look-backs (rules look back a few seconds)
PARTIES = tuple(Party)  # iterating the enum itself costs more, every frame


@dataclass(frozen=True, slots=True)
class Take:
    decided: int  # frame index at which the change was known
    holder: Party | None
    onset: int


class Floor:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.holder: Party | None = None
        self.onset = 0
        self.history: deque[Take] = deque(maxlen=HISTORY)
        self.free_since = 0  # after a release, speech counts towards the floor from here on

    def holder_at(self, f: int) -> Party | None:
        """The holder as known at the start of frame ``f``."""
        return next((take.holder for take in reversed(self.history) if take.decided <= f), None)

    def holder_from_onsets(self, f: int) -> Party | None:
        """The holder at frame ``f`` as the floors' onsets place it: a floor counts from the stretch that took it."""
        return next((take.holder for take in reversed(self.history) if take.onset <= f), None)

    def onset_of(self, party: Party, f: int) -> int | None:
        """The onset of ``party``'s latest floor begun by frame ``f``, whoever holds the floor since; None when
        the floor was released (a session ended) after it, or ``party`` had none the history remembers."""
        # newest first: a party's floors begin in the order it takes them, and none before a release
        for take in reversed(self.history):
            if take.onset <= f and take.holder is not party.other:
                return None if take.holder is None else take.onset
        return None

    def taken_by(self, party: Party, first: int, last: int) -> Take | None:
        """``party``'s taking of the floor with a stretch begun in frames ``[first, last]``, if it did."""
        return next((k for k in self.history if k.holder is party and first <= k.onset <= last), None)

    def released_between(self, first: int, last: int) -> bool:
        """The floor was released (a session ended) at a frame in ``(first, last]``."""
        return any(k.holder is None and first < k.decided <= last for k in self.history)

    def step(self, frame: int) -> tuple[Event, ...]:
        # a tuple, not a generator: stepped every frame here and in the transcription stage, and most frames
        # hand nothing over
        ready = [(onset, p) for p in PARTIES if p is not self.holder and (onset := self._ready(p)) is not None]
        if not ready:
            return ()
        # the earlier start takes it; a tie goes to the customer, whose talk the device is there to make room for
        onset, party = min(ready, key=lambda onset_party: (onset_party[0], onset_party[1] is Party.REP))
        return tuple(self._hand_over(party, onset, frame))

    def _ready(self, party: Party) -> int | None:
        """The onset ``party``'s stretch would take the floor from, if it can take it now."""
        run = self.ctx.tracks[party].run
        if run is None or not run.announced:
            return None
        take_frames = self.ctx.limits.floor_take_frames
        # a stretch still going on when the floor was released counts from the release: a rep talking through
        # a session's end takes the floor again, but never reaches back into the session that ended
        onset = max(run.start_frame, self.free_since)
        if run.last_end_frame - onset < take_frames:
            return None
        if self.holder is None:
            return onset
        # a holder who began again moments ago (not yet known as speech) may be talking on: wait and see
        holder = self.ctx.tracks[self.holder]
        return None if holder.speaking or holder.pending is not None else onset

    def _hand_over(self, taker: Party, onset: int, frame: int) -> Iterator[Event]:
        previous = self.holder
        if previous is not None:
            yield self.held(frame, frame, taker_onset=onset)
        yield FloorChange(by=taker, onset_s=self.ctx.s(onset), decided_s=self.ctx.decided_s(frame))
        if previous is Party.CUSTOMER and taker is Party.REP:
            yield from self._response_gap(onset, frame)
        self.holder, self.onset = taker, onset
        self.history.append(Take(frame, taker, onset))

    def held(self, frame: int, end_cap_frame: int, taker_onset: int | None = None) -> FloorHeld:
        """The current holder's floor, from its onset to its latest speech (at most ``end_cap_frame``); taken by
        a party whose speech began at ``taker_onset``, or released (None)."""
        assert self.holder is not None
        if taker_onset is None:
            latest = self.ctx.tracks[self.holder].latest_end()
        else:
            last = self.turn_end(self.holder, taker_onset, frame)
            latest = last.end_frame if last is not None else None
        end = max(self.onset, min(end_cap_frame, latest if latest is not None else self.onset))
        s = self.ctx.s
        return FloorHeld(
            by=self.holder,
            onset_s=s(self.onset),
            end_s=s(end),
            decided_s=self.ctx.decided_s(frame),
            duration_s=s(end - self.onset),
            taken=taker_onset is not None,
        )

    def release(self, frame: int, end_cap_frame: int) -> Iterator[Event]:
        """Nobody holds the floor any more (the session or the stream ended)."""
        if self.holder is not None:
            yield self.held(frame, end_cap_frame)
            self.holder = None
            self.history.append(Take(frame, None, frame))
        self.free_since = frame

    def turn_end(self, party: Party, taker_onset: int, before: int) -> Span | None:
        """``party``'s last speech begun before frame ``before``, even if it went on over the taker's
        start; but not a sound of ``party``'s :meth:`listening` to the taker."""
        track = self.ctx.tracks[party]
        for span in reversed(track.spans):
            if span.start_frame < before and not self.listening(party, span, taker_onset):
                return span
        return None

    def listening(self, party: Party, sound: Span, taker_onset: int) -> bool:
        """When the taker began in ``party``'s silence, a sound of ``party``'s after that no longer than a
        backchannel ("mm") is listening to the taker, not ``party``'s turn going on."""
        if sound.start_frame < taker_onset or sound.length_frames > self.ctx.limits.backchannel_max_frames:
            return False
        return self.ctx.tracks[party].covering(taker_onset) is None

    def _response_gap(self, rep_onset: int, frame: int) -> Iterator[Event]:
        last = self.turn_end(Party.CUSTOMER, rep_onset, frame)
        # unheard time between the two: the customer may have spoken on, or the rep begun, unheard; no gap is known
        if last is not None and not self._unheard_between(last.end_frame, rep_onset):
            gap_s = self.ctx.s(rep_onset - last.end_frame)
            patient = at_least(gap_s, self.ctx.config.patient_gap_s)
            onset_s, decided_s = self.ctx.s(rep_onset), self.ctx.decided_s(frame)
            yield ResponseGap(onset_s=onset_s, decided_s=decided_s, gap_s=gap_s, patient=patient)

    def _unheard_between(self, start_frame: int, end_frame: int) -> bool:
        s = self.ctx.s
        return bool(self.ctx.unheard.within(s(start_frame), s(end_frame)))
