"""The conversation analytics stage: per-party activity in, decided events out.

:class:`Conversation` is a pure state machine stepped once per activity
frame; every event is emitted in the frame it is decided, stamped with the
onset of the behaviour and the decision time on the audio clock. The same
machine runs live, on a whole file, and on a truth timeline (see
:mod:`listener.analytics.replay`), so block boundaries never change a
result. Definitions: ``shared/metrics.md``; readings: ``docs/metrics.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from listener.analytics.context import PREDICTIONS_KEEP_S, UNHEARD_KEEP_S, Context, Unheard, last_frame
from listener.analytics.dominance import Dominance
from listener.analytics.floors import Floor
from listener.analytics.overlaps import Backchannels, Interruptions, PrematureStarts
from listener.analytics.sessions import Sessions
from listener.analytics.silences import Silences
from listener.analytics.tracks import Step
from listener.config import Config
from listener.events import (
    ActivityFrames,
    AudioDropped,
    EndOfStream,
    Event,
    Party,
    Question,
    Reported,
    TurnPredictions,
)
from listener.pipeline import Stage

log = logging.getLogger(__name__)

PRUNE_EVERY_FRAMES = 1000  # old model outputs are dropped in batches, not on every frame


class Conversation:
    """All the rules, stepped frame by frame from frame ``first``."""

    def __init__(
        self, config: Config, hop_s: float, first: int = 0, exact: bool = False, unheard: Unheard | None = None
    ) -> None:
        self.ctx = ctx = Context(config.analytics, config.activity, hop_s, unheard)
        self.frame = first
        self.floor = Floor(ctx)
        self.interruptions = Interruptions(ctx, self.floor, exact)
        self.backchannels = Backchannels(ctx, self.floor, self.interruptions)
        self.premature = PrematureStarts(ctx, self.floor)
        self.silences = Silences(ctx, self.floor)
        self.sessions = Sessions(ctx)
        self.dominance = Dominance(ctx, self.floor)
        self._held: list[Event] = []  # decided while an ended session's summary waits, not begun in it: after it

    def step(self, rep: bool, customer: bool) -> list[Event]:
        f = self.frame
        frame = self.frame = f + 1
        tracks = self.ctx.tracks
        steps = {Party.REP: tracks[Party.REP].step(f, rep), Party.CUSTOMER: tracks[Party.CUSTOMER].step(f, customer)}
        out: list[Event] = []
        self._closed(steps, frame)
        self._emit(out, self.silences.step(frame, self.sessions.start_frame))
        if (onset := self.sessions.onset(steps[Party.CUSTOMER].announced, frame)) is not None:
            self._emit(out, self._begin_session(onset, frame))
        self._emit(out, self.floor.step(frame))
        for party, st in steps.items():
            if st.announced is not None:
                self.interruptions.onset(party, st.announced)
                self.premature.onset(party, st.announced)
        self._emit(out, self.interruptions.step(frame))
        self._backchannels(out, steps, frame)
        self._emit(out, self.premature.step(frame))
        if (ending := self.sessions.ending(frame)) is not None:
            end, capped = ending
            # one session closing at a time: a wait (22 s at extreme settings) can outlast session_gap_s (5 s)
            self._settle(out, frame, force=True)
            if capped:
                self._warn_capped()
            self._end_session(out, frame, end)
        self._settle(out, frame)
        self._emit(out, self.dominance.step(frame))
        if frame % PRUNE_EVERY_FRAMES == 0:
            self.ctx.predictions.prune(frame - round(PREDICTIONS_KEEP_S / self.ctx.limits.hop_s))
        return out

    def idle(self, n: int) -> list[Event]:
        """``n`` frames of nobody speaking (dropped audio)."""
        out: list[Event] = []
        for _ in range(n):
            out.extend(self.step(False, False))
        return out

    def finish(self, frame: int) -> list[Event]:
        """End of stream at ``frame``: close what is open; undecided outcomes resolve as 'no'."""
        frame = max(frame, self.frame)
        self.ctx.lag_frames = 0  # the stream has ended: nothing is left to hear, these are decided now
        out: list[Event] = []
        spans: dict[Party, Step] = {p: Step(closed=tr.close()) for p, tr in self.ctx.tracks.items()}
        self._closed(spans, frame)
        self._emit(out, self.interruptions.flush(frame))
        self._backchannels(out, spans, frame)  # an "mm" ended in the last bridge gap: the holder may have gone on
        self.backchannels.flush()
        self._settle(out, frame, force=True)
        if self.sessions.current is not None:  # _end_session flushes the rep starts still waiting
            self._end_session(out, frame, self.sessions.end_frame(frame))
            self._settle(out, frame, force=True)
        else:
            self.premature.flush()
        self._emit(out, self.floor.release(frame, frame))
        return out

    def predictions(self, event: TurnPredictions) -> None:
        first = round(event.start_s / self.ctx.limits.hop_s)
        self.ctx.predictions.add(first, event.p_hold, event.p_backchannel)

    def note(self, event: Event) -> None:
        """An event from an earlier stage that a session summary counts (the transcript's questions)."""
        self.sessions.log(event)

    def _closed(self, steps: dict[Party, Step], frame: int) -> None:
        for party, st in steps.items():
            if st.closed is not None:
                self.sessions.log_span(party, st.closed, frame)
                self.dominance.add(party, st.closed)

    def _backchannels(self, out: list[Event], steps: dict[Party, Step], frame: int) -> None:
        """Stretches just closed are backchannel candidates; those whose holder went on are decided."""
        for party, st in steps.items():
            if st.closed is not None:
                self.backchannels.closed(party, st.closed)
        self._emit(out, self.backchannels.step(frame))

    def _end_session(self, out: list[Event], frame: int, end_frame: int) -> None:
        # the floor goes with the session: a rep start still waiting to hear whether the customer resumes
        # jumped into no pause of this customer's (decided later, it would count in the totals, not the summary)
        self.premature.flush()
        self._emit(out, self.floor.release(frame, end_frame))
        self._emit(out, self.dominance.end(frame, end_frame))
        self.sessions.finish(frame, end_frame)

    def _settle(self, out: list[Event], frame: int, force: bool = False) -> None:
        """The ended session's SessionEnded and summary, once no rule may still decide an event begun in it (or
        its wait is over: what is open then is settled as at the end of a stream). After the events begun in it
        (out as they were decided) and before those of what followed, held meanwhile: every consumer sees the
        session end with all its events, then the next one start, as if the end had been decided now."""
        closing = self.sessions.closing
        if closing is None:
            return
        end = closing.end_frame
        if not force and frame < closing.due_frame and self._deciding(end):
            return
        self._emit(out, self.interruptions.flush(frame, before=end))
        self.backchannels.flush(before=end)
        out.append(closing.ended)
        out.extend(self.sessions.summary(frame))
        held, self._held = self._held, []
        out.extend(held)

    def _deciding(self, end: int) -> bool:
        """Whether a rule may still decide an event begun before frame ``end``: an interruption or its outcome, a
        backchannel waiting for the holder to go on, or a stretch too short yet to be neither (it may still be
        known as speech over the holder, or close as a backchannel); or whether a stretch begun before it is in a
        pause there, which is speech if the party goes on within the bridge."""
        short = self.ctx.limits.backchannel_max_frames
        runs = [tr.run for tr in self.ctx.tracks.values()]
        return (
            self.interruptions.open_before(end)
            or self.backchannels.open_before(end)
            or any(
                run is not None and run.start_frame < end and (run.length_frames <= short or run.last_end_frame < end)
                for run in runs
            )
        )

    def _warn_capped(self) -> None:
        """The session has lasted session_max_s: it ends now, as at a session gap, at the last speech known
        (Sessions.cut). A customer speaking through the cut begins the next one at it (a stretch going on is cut
        in two, one part in each), so that none of their speech falls outside a session; one in a pause shorter
        than the bridge ends it at their last speech and begins the next there, if they go on (Sessions.onset):
        a session begun without them would be all rep's if they never went on."""
        assert self.sessions.current is not None
        cfg = self.ctx.config
        log.warning(
            "session %s reached [analytics] session_max_s (%s): the customer side never fell silent for"
            " session_gap_s (%g s), so it ends here (the next begins as the customer goes on); a radio, TV or"
            " machine on the customer's side heard as their speech? Switch it off or move it (`listener calibrate`"
            " counts the talkers it hears), or raise [analytics] session_max_s if consultations really last this long",
            self.sessions.current.session_id,
            _duration(cfg.session_max_s),
            cfg.session_gap_s,
        )

    def _begin_session(self, onset: int, frame: int) -> Iterator[Event]:
        yield self.sessions.begin(onset, frame)
        assert self.sessions.current is not None
        self.dominance.begin(self.sessions.current.start_frame)  # never inside the session before: see Sessions.ended

    def _emit(self, out: list[Event], events: Iterable[Event]) -> None:
        """Out now, but for what an ended session's summary must come before: an event begun in that session
        goes out as it is decided, before its end whenever that comes (the LEDs show an interruption within the
        block it is decided in: held with the session's end, one was up to settle_frames late, 3.2 s at defaults,
        past its display at long interruption_yield_s); anything else waits in ``_held`` for its end."""
        closing = self.sessions.closing
        for event in events:
            self.sessions.log(event)
            begun = closing is None or (isinstance(event, Reported) and closing.window.holds(event.onset_s))
            (out if begun else self._held).append(event)


def _duration(length_s: float) -> str:
    """A length for a log line: 14400 s as "4 h", 5400 s as "1.5 h", 900 s as "15 min"."""
    return f"{length_s / 3600:g} h" if length_s >= 3600 else f"{length_s / 60:g} min"


class ConversationAnalytics(Stage):
    """ActivityFrames (+ TurnPredictions, Question) -> the analytics events of ``shared/metrics.md``.

    A turn-model stage yields each block's TurnPredictions before its
    ActivityFrames (so even the first block is read with the model). Once predictions have been seen, a
    block is still processed only when the next one arrives (or at the end of the stream): the decisions
    keep their audio times, only the wall clock waits one block (50 ms by default). That wait is what
    makes a gap's AudioDropped, which reaches this stage after the silent frames it caused, known before
    a pause in it is judged (tests/test_analytics_sessions.py). Releasing the frames within the same
    block instead was tried (2026-12-03): a live run then published a session summary, at a session
    end, without words the recogniser had already returned (tests/test_privacy_live.py, 2 of 10 runs
    under load), so the wait stays until that is understood.

    ``exact`` is for reference timelines only (the benchmark's truth): an
    interrupter in a short gap at ``interruption_min_s`` is waited for, up to
    ``bridge_gap_s`` past the 1.0 s a device is allowed, instead of decided then.
    """

    name = "analytics"

    def __init__(self, config: Config, exact: bool = False) -> None:
        self.config = config
        self.exact = exact
        self.conversation: Conversation | None = None
        self._held: ActivityFrames | None = None  # waiting for its TurnPredictions
        # predictions before the first frames: the rules start where the frames do, which may be earlier
        self._early: list[TurnPredictions] = []
        self._model = False
        self.unheard = Unheard()  # before the first frames too: a stream may begin without its array

    def _machine(self, start_s: float, hop_s: float) -> Conversation:
        if self.conversation is None:
            self.conversation = Conversation(self.config, hop_s, round(start_s / hop_s), self.exact, self.unheard)
            for early in self._early:
                self.conversation.predictions(early)
            self._early.clear()
        return self.conversation

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, ActivityFrames):
            out = self._release()
            if self._model:
                self._held = event
                return out
            return out + self._frames(event)
        if isinstance(event, AudioDropped):
            self.unheard.add(event.start_s, event.end_s)
            sessions = None if self.conversation is None else self.conversation.sessions
            # days of overflows, no visitor; not while an ended session waits for its summary, which counts its own
            if sessions is None or (sessions.current is None and sessions.closing is None):
                self.unheard.forget_before(event.start_s - UNHEARD_KEEP_S)
        elif isinstance(event, TurnPredictions):
            self._model = True
            if self.conversation is None:
                self._early.append(event)  # the frames they label (or earlier ones) start the rules
            else:
                self.conversation.predictions(event)
        elif isinstance(event, Question) and self.conversation is not None:
            self.conversation.note(event)
        elif isinstance(event, EndOfStream):
            out = self._release()
            if self.conversation is None:
                return out
            return out + self.conversation.finish(last_frame(event.t_s, self.conversation.ctx.limits.hop_s))
        return ()

    def _release(self) -> list[Event]:
        held, self._held = self._held, None
        return self._frames(held) if held is not None else []

    def _frames(self, frames: ActivityFrames) -> list[Event]:
        machine = self._machine(frames.start_s, frames.hop_s)
        machine.ctx.lag_frames = round(frames.lag_s / frames.hop_s)
        first = round(frames.start_s / frames.hop_s)
        out = machine.idle(first - machine.frame) if first > machine.frame else []
        skip = max(0, machine.frame - first)
        rep, customer = frames.rep_active.tolist(), frames.customer_active.tolist()
        for i in range(skip, frames.n_frames):
            out.extend(machine.step(rep[i], customer[i]))
        return out
