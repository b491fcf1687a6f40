"""Mutual silences: pauses (with the turn model's shift probability) and long silences.

A mutual silence starts at the end of the later party's speech, once both
stretches have closed. It is a :class:`Pause` by that party once it has
lasted ``pause_min_s`` and no sound that could still become speech began
in it (``p_shift`` read 0.2 s in; 0.5, "no opinion", without a model). It
is a :class:`LongSilence` if it lasts ``long_silence_s`` inside a session:
decided when speech resumes, with its full duration (a silence the session
ends in is after the session, not inside it). Audio that went unheard in
it (the microphone lost, an overflow, the privacy pause) is no known silence:
only the silence heard counts, towards the threshold and the duration.
"""

from __future__ import annotations

from collections.abc import Iterator

from listener.analytics.context import Context
from listener.analytics.floors import Floor
from listener.events import Event, LongSilence, Party, Pause
from listener.frames import at_least

PRIOR_P_SHIFT = 0.5  # without a model: no opinion, and no use of the pause's length


class Silences:
    def __init__(self, ctx: Context, floor: Floor) -> None:
        self.ctx = ctx
        self.floor = floor
        self.start_frame: int | None = None  # the current mutual silence began here
        self.by: Party | None = None
        self.paused = False
        # the model read pause_probe_frames into the silence, as soon as it has labelled that frame: a pause
        # decided long after (unheard audio in it) would otherwise ask for an output long since pruned
        self._p_hold: float | None = None
        self._probed = False

    def step(self, frame: int, session_start_frame: int | None) -> Iterator[Event]:
        tracks = self.ctx.tracks
        speaking = [tr.run.start_frame for tr in tracks.values() if tr.speaking and tr.run is not None]
        if speaking:
            if self.start_frame is not None and not self._ends_the_session(min(speaking)):
                yield from self._long(min(speaking), frame, session_start_frame)
            self.start_frame = None
            return
        if self.start_frame is None and not self._begin():
            return
        assert self.start_frame is not None
        at = self.start_frame + self.ctx.limits.pause_probe_frames
        if not self._probed and frame > at:
            self._p_hold, self._probed = self.ctx.predictions.p_hold(at), True
        probe = self.start_frame + self.ctx.limits.pause_min_frames
        if self.paused or frame < probe or any(tr.pending and tr.pending.start_frame < probe for tr in tracks.values()):
            return
        if not at_least(self._heard_s(self.start_frame, frame), self.ctx.config.pause_min_s):
            return  # unheard audio in it: what counts is pause_min_s of silence heard
        self.paused = True
        if self.by is not None:
            p_hold = self._p_hold if self._probed else self.ctx.predictions.p_hold(at)
            p_shift = PRIOR_P_SHIFT if p_hold is None else 1.0 - p_hold
            s = self.ctx.s
            yield Pause(by=self.by, onset_s=s(self.start_frame), decided_s=self.ctx.decided_s(frame), p_shift=p_shift)

    def _begin(self) -> bool:
        ends = {p: e for p, tr in self.ctx.tracks.items() if (e := tr.latest_end()) is not None}
        if not ends:
            return False
        self.start_frame = max(ends.values())
        last = [p for p, e in ends.items() if e == self.start_frame]
        holder = self.floor.holder
        self.by = last[0] if len(last) == 1 else holder
        self.paused = False
        self._p_hold, self._probed = None, False
        return True

    def _ends_the_session(self, resume: int) -> bool:
        """Whether the customer's silence reached the session gap before the speech that ends this silence was
        known as speech: the session ends in it (its end waited only on a sound that proved no speech). A
        customer speaking again is their latest speech, so their own return never ends it."""
        last = self.ctx.tracks[Party.CUSTOMER].latest_end()
        return (
            last is not None
            and resume + self.ctx.tracks[Party.REP].min_frames > last + self.ctx.limits.session_gap_frames
        )

    def _long(self, resume: int, frame: int, session_start_frame: int | None) -> Iterator[Event]:
        assert self.start_frame is not None
        length = resume - self.start_frame
        if (
            session_start_frame is None
            or self.start_frame < session_start_frame
            or length < self.ctx.limits.long_silence_frames
        ):
            return
        heard_s = self._heard_s(self.start_frame, resume)
        if at_least(heard_s, self.ctx.config.long_silence_s):
            s = self.ctx.s
            yield LongSilence(
                onset_s=s(self.start_frame), decided_s=self.ctx.decided_s(frame), duration_s=round(heard_s, 9)
            )

    def _heard_s(self, start_frame: int, end_frame: int) -> float:
        """Seconds of frames start..end the device heard: unheard time is no known silence (a blip costs little).

        Known once the drop has reached the analytics, which it does after the frames made of it: with
        the turn model those frames wait for its next output, so a pause is judged with the drop known.
        """
        s = self.ctx.s
        return s(end_frame - start_frame) - sum(b - a for a, b in self.ctx.unheard.within(s(start_frame), s(end_frame)))
