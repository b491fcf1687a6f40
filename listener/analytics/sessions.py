"""Sessions: one consultation each, opened and closed by customer speech.

A session starts with customer speech when none is open (the first customer
speech of a stream, or speech after ``session_gap_s`` without any). It ends
once the customer has been silent for ``session_gap_s`` (or the stream
ends); its span runs from that first customer onset to the last speech of
either party before the end was decided, so the rep's closing words count.
Its id is random (uuid4), never derived from audio. A session with less
than ``session_min_speech_s`` of speech (rep + customer) still has its
SessionStarted and SessionEnded, but publishes no SessionSummary.

The device's addition (``docs/metrics.md``, Sessions): a session that has
lasted ``session_max_s`` ends then. If the customer is speaking at that
frame, the next begins there; if they are in a pause shorter than the
bridge, it ends at their last speech and the next begins there, if they
go on within the bridge (the pause, bridged, is theirs); else it ends as
at a session gap. So every session starts with customer speech and none
of theirs falls outside one, nor counts in two.
Customer-side sound that never pauses for the gap (a radio) would otherwise
keep one session open for good: no summary, and a log that only grows.

A session's summary counts every event whose onset falls in it, decided when it may (an interruption
begun just before a cut is decided up to 1.0 s after it): once ended, a session is :class:`Closing` until
the rules hold nothing begun in it, or for at most ``settle_frames`` (what is open then is settled as
at the end of a stream), and its SessionEnded and summary wait with it (:class:`Conversation`).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from listener.analytics.context import Context, last_frame
from listener.analytics.floors import Floor
from listener.analytics.summary import Window, summarize
from listener.analytics.tracks import Run, Span
from listener.config import Config
from listener.events import (
    ActivityFrames,
    Event,
    Party,
    Reported,
    SessionEnded,
    SessionStarted,
    SessionSummary,
    SpeechSegment,
)
from listener.frames import at_least


@dataclass
class SessionLog:
    """What a session's summary is made from (kept only while the session is open)."""

    session_id: str
    start_frame: int
    segments: list[SpeechSegment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass
class Closing:
    """An ended session whose summary waits for what is still being decided about its last moments."""

    log: SessionLog
    ended: SessionEnded
    end_frame: int
    due_frame: int  # whatever is still open then is settled as at the end of a stream

    @property
    def window(self) -> Window:
        return Window(self.ended.onset_s, self.ended.end_s)


def settle_frames(ctx: Context) -> int:
    """How long an ended session waits for its events at most (3.2 s by default). Begun before its end, an
    interruption is decided ``interruption_min_s`` after its onset and has its outcome ``interruption_yield_s``
    after it, a backchannel is at most ``backchannel_max_s`` long and its holder heard within
    ``backchannel_proximity_s``; each known ``bridge_gap_s`` later, or once a party takes the floor the end
    released (``floor_take_s`` after it)."""
    lim = ctx.limits
    horizon = max(
        lim.interruption_min_frames,
        lim.interruption_yield_frames,
        lim.backchannel_max_frames + lim.backchannel_proximity_frames,
    )
    return horizon + lim.floor_take_frames + lim.bridge_frames


class Sessions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.current: SessionLog | None = None
        self.closing: Closing | None = None
        # the latest session's end: no session begins before it (one cut at session_max_s ends no later than
        # what of the customer's was not yet known as speech, so the next begins there if it proves speech)
        self.ended = 0
        # the customer's stretch in a pause at the latest cut: if it goes on, the next session begins at its end
        self.resume: Run | None = None

    @property
    def start_frame(self) -> int | None:
        return None if self.current is None else self.current.start_frame

    def onset(self, announced: Run | None, frame: int) -> int | None:
        """Where a session begins at ``frame``, if one does: at customer speech just announced when none is
        open, or at the end of the session cut (their last speech before it) when a customer found in a pause
        at the cut goes on within the bridge: the pause, bridged, is speech of theirs."""
        if self.current is not None:
            return None
        if announced is not None:
            return announced.start_frame
        run = self.ctx.tracks[Party.CUSTOMER].run
        if run is not self.resume:
            self.resume = None  # the pause outlasted the bridge: their next speech begins the next session
            return None
        return self.ended if run is not None and run.last_end_frame == frame else None

    def begin(self, onset: int, frame: int) -> SessionStarted:
        self.resume = None
        self.current = SessionLog(uuid.uuid4().hex, max(onset, self.ended))
        s = self.ctx.s
        start_s = s(self.current.start_frame)
        return SessionStarted(session_id=self.current.session_id, onset_s=start_s, decided_s=self.ctx.decided_s(frame))

    def log(self, event: Event) -> None:
        """Keep ``event`` for the open session's summary, and for the closing one's if it began in it."""
        if not isinstance(event, Reported):
            return
        if self.current is not None:
            self.current.events.append(event)
        if self.closing is not None and self.closing.window.holds(event.onset_s):
            self.closing.log.events.append(event)

    def log_span(self, party: Party, span: Span, frame: int) -> None:
        """Keep a stretch just closed for the open session, and for the closing one if it began in it: a pause
        shorter than the bridge at its end, the party going on, was speech (its summary clips it to its end)."""
        s = self.ctx.s
        segment = SpeechSegment(party, s(span.start_frame), s(span.end_frame), self.ctx.decided_s(frame))
        if self.current is not None:
            self.current.segments.append(segment)
        if self.closing is not None and span.start_frame < self.closing.end_frame:
            self.closing.log.segments.append(segment)

    def due(self, frame: int) -> bool:
        """The customer has been silent for the session gap (and nothing pending could be speech)."""
        customer = self.ctx.tracks[Party.CUSTOMER]
        if self.current is None or customer.run is not None:
            return False
        last = customer.latest_end()
        return last is None or frame - last >= self.ctx.limits.session_gap_frames

    def ending(self, frame: int) -> tuple[int, bool] | None:
        """The open session's end, if it ends at ``frame``, and whether it was cut at ``session_max_s`` (a
        session gap first): one rule for the analytics and for :class:`SessionBounds`."""
        if self.due(frame):
            return self.end_frame(frame), False
        if self.current is not None and frame - self.current.start_frame >= self.ctx.limits.session_max_frames:
            return self.cut(frame), True
        return None

    def cut(self, frame: int) -> int:
        """The end of a session cut at ``frame`` (capped): as at a gap, the last speech known, but no later than
        the customer's last speech in a stretch of theirs still open, nor than the onset of a sound of theirs
        not yet known as speech. The next session begins at this end if the customer goes on within the bridge
        (:meth:`onset`; at the cut itself when they speak through it), or where that sound begins if it proves
        speech (``begin`` starts no earlier than this end). Whether the customer active in the frame before the
        cut goes on is not known yet, so nothing begins at the cut itself: a customer who stopped exactly there
        would begin a session without their speech."""
        customer = self.ctx.tracks[Party.CUSTOMER]
        run = customer.run
        self.resume = run if customer.speaking else None
        end = self.end_frame(frame)
        # what of theirs is not known as speech at the cut (a pause, bridged if they go on; a sound not yet long
        # enough) is the next session's if it proves speech: the rep's speech across it, ending this session
        # after it, would leave it in neither
        unknown = None if run is None else run.last_end_frame if customer.speaking else run.start_frame
        assert self.current is not None
        return end if unknown is None else max(self.current.start_frame, min(end, unknown))

    def end_frame(self, frame: int) -> int:
        """The session's end: the last speech of either party known as speech when the customer's silence
        reached the session gap, not after ``frame``. A customer sound that kept the decision waiting and
        proved no speech moves nothing: speech begun meanwhile falls after the end, as it would have without it."""
        assert self.current is not None
        last = self.ctx.tracks[Party.CUSTOMER].latest_end()
        limit = frame if last is None else min(frame, last + self.ctx.limits.session_gap_frames)
        ends = [e for tr in self.ctx.tracks.values() if (e := tr.known_end(limit)) is not None]
        return max(self.current.start_frame, min(limit, max(ends, default=limit)))

    def close(self, end_frame: int) -> SessionLog:
        log, self.current = self.current, None
        assert log is not None
        self.ended = end_frame
        return log

    def finish(self, frame: int, end_frame: int) -> Closing:
        """Close the session at frame ``end`` (decided at ``frame``): its SessionEnded, with its summary to come
        (:meth:`summary`) once what began in it is decided."""
        assert self.closing is None, "the previous session's summary is out before the next one ends"
        log = self.close(end_frame)
        s, decided = self.ctx.s, self.ctx.decided_s(frame)
        ended = SessionEnded(
            session_id=log.session_id, onset_s=s(log.start_frame), decided_s=decided, end_s=s(end_frame)
        )
        self.closing = Closing(log, ended, end_frame, frame + settle_frames(self.ctx))
        return self.closing

    def summary(self, frame: int) -> Iterator[SessionSummary]:
        """The closing session's summary (decided at ``frame``), if it had the speech for one."""
        closing, self.closing = self.closing, None
        assert closing is not None
        log, window, decided = closing.log, closing.window, self.ctx.decided_s(frame)
        # the stretches going on: their part before the end (one begun just before it known as speech since)
        s = self.ctx.s
        for party, track in self.ctx.tracks.items():
            run = track.run
            if run is not None and run.announced and run.start_frame < closing.end_frame:
                end_s = s(min(run.last_end_frame, closing.end_frame))
                log.segments.append(SpeechSegment(party, s(run.start_frame), end_s, decided))
        unheard = self.ctx.unheard.within(window.start_s, window.end_s)
        summary = summarize(log.session_id, window, decided, log.segments, log.events, self.ctx.config, unheard)
        self.ctx.unheard.forget_before(window.end_s)
        if at_least(self._speech_s(summary), self.ctx.config.session_min_speech_s):
            yield summary

    def _speech_s(self, summary: SessionSummary) -> float:
        """The session's speech (rep + customer), in the whole frames it is made of. Its seconds are sums of
        differences of audio times, which months into a run are off by nanoseconds (a float's step at 7.9e6 s
        is 1e-9 s): 20 s of speech came to 19.999999998 s, below a session_min_speech_s of 20, on day 91."""
        hop_s = self.ctx.limits.hop_s
        return self.ctx.s(round((summary.rep_talk_s + summary.customer_talk_s) / hop_s))


@dataclass(frozen=True)
class SessionEnd:
    """A session's end as the analytics decide it: the frame's time, whether it was cut at ``session_max_s``,
    and where the next session begins if it does in the same frames (None: not in them)."""

    decided_s: float
    capped: bool
    next_onset_s: float | None = None


class SessionBounds:
    """Where the analytics' sessions begin and end, and who took the floor when, without what they keep: for a
    stage before the analytics that must end each session where they do and read floors as they do (the
    transcription stage). Stepped on the same frames through the same :class:`Sessions` and :class:`Floor`
    rules on tracks of its own, so the two cannot disagree; from counts of speech events at block ends they
    did (the customer stopping after a cut, in the same block)."""

    def __init__(self, config: Config, frames: ActivityFrames) -> None:
        ctx = Context(config.analytics, config.activity, frames.hop_s)
        self.sessions = Sessions(ctx)
        self.floor = Floor(ctx)
        self.frame = round(frames.start_s / frames.hop_s)

    @property
    def open(self) -> bool:
        """A session is open at the last frame stepped."""
        return self.sessions.current is not None

    def floor_onset_s(self, party: Party, t_s: float) -> float | None:
        """The onset of ``party``'s latest floor begun by audio time ``t_s``, as far as the frames stepped tell
        (None: none since the last session ended; :meth:`Floor.onset_of`)."""
        lim = self.sessions.ctx.limits
        onset = self.floor.onset_of(party, last_frame(t_s, lim.hop_s))
        return None if onset is None else lim.s(onset)

    def frames(self, frames: ActivityFrames) -> list[SessionEnd]:
        """Steps through ``frames`` (a gap before them as silence, as the analytics do); the sessions that
        ended in them, in order."""
        first = round(frames.start_s / frames.hop_s)
        ends: list[SessionEnd] = []
        for _ in range(first - self.frame):
            self._step(False, False, ends)
        rep, customer = frames.rep_active.tolist(), frames.customer_active.tolist()
        for i in range(max(0, self.frame - first), frames.n_frames):
            self._step(rep[i], customer[i], ends)
        return ends

    def _step(self, rep: bool, customer: bool, ends: list[SessionEnd]) -> None:
        f, sessions = self.frame, self.sessions
        frame = self.frame = f + 1
        tracks = sessions.ctx.tracks
        tracks[Party.REP].step(f, rep)
        announced = tracks[Party.CUSTOMER].step(f, customer).announced
        if (onset := sessions.onset(announced, frame)) is not None:
            started = sessions.begin(onset, frame)
            if ends:  # begun after an end in these frames: the frames' audio may hold its first words
                ends[-1] = replace(ends[-1], next_onset_s=started.onset_s)
        self.floor.step(frame)  # its events are the analytics' to publish: here only its history is read
        if (ending := sessions.ending(frame)) is not None:
            end, capped = ending
            sessions.close(end)
            deque(self.floor.release(frame, end), maxlen=0)  # the floor goes with the session, as in the analytics
            ends.append(SessionEnd(sessions.ctx.s(frame), capped))
