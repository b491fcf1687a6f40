"""Interruptions, backchannels and premature starts, decided frame by frame.

Interruption by X: X starts while Y holds the floor and is speaking, and X
is still speaking ``interruption_min_s`` after its onset. That is decided at
exactly onset + ``interruption_min_s`` (X active in the frame that ends
then); if X is in a gap at that frame, then too: on the turn model's guess
that X goes on (``p_backchannel`` < 0.5), or without a model no. With
``exact`` (reference timelines: the benchmark's truth; never on a device) it waits
instead until the gap is bridged (X resumes: yes) or closes X's stretch (no),
at most ``bridge_gap_s`` later. With a look-ahead model the activity
of a frame arrives ``lag_s`` late (ActivityFrames), so the limit falls due
that much earlier on the frame clock: X heard speaking up to there counts
(the model labelled that frame having heard up to the limit), X in a gap
there gets the model's guess. Either way it is still decided at onset +
``interruption_min_s`` of audio. The outcome (Y's speech ends within
``interruption_yield_s`` of X's onset, Y not speaking again before X takes
the floor with speech begun by then, but for Y's "mm" in X's stretch begun in
Y's silence: listening) is usually known then too; otherwise a first
Interruption carries ``successful=None`` and a second one, same onset, the
outcome. With the turn model, a confident ``1 - p_backchannel`` decides it
earlier.

Backchannel by L: a stretch of at most ``backchannel_max_s`` by the party
not holding the floor, not an interruption, during or within
``backchannel_proximity_s`` of the holder's speech, after which the holder
goes on (still speaking when it ends, or speaking again, however much later,
before anyone else takes the floor; a holder's "mm" in a stretch the listener
began since is the holder listening to that stretch, not going on).

Premature start: the rep starts while the customer holds the floor and is
in a pause, speaks longer than a backchannel, and the customer was going
to continue: the model's hold probability at the rep's onset, or without a
model the ground-truth rule (the customer resumes within
``premature_resume_s`` of the rep's onset).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from listener.analytics.context import GAP_GOES_ON_BELOW_P_BACKCHANNEL, Context, prob_at_least
from listener.analytics.floors import Floor
from listener.analytics.tracks import Run, Span
from listener.events import Backchannel, Event, Interruption, Party, PrematureStart

MARKED_KEEP = 64  # decided interruptions kept for the backchannel check, which asks about recent onsets only


@dataclass
class _Bid:
    """A stretch that started over the floor holder's speech."""

    by: Party
    onset: int
    held_start: int | None = None  # start of the holder's stretch covering the onset, once known
    decided: bool = False
    done: bool = False


class Interruptions:
    def __init__(self, ctx: Context, floor: Floor, exact: bool = False) -> None:
        self.ctx = ctx
        self.floor = floor
        self.exact = exact
        self.bids: list[_Bid] = []
        self.marked: deque[tuple[Party, int]] = deque(maxlen=MARKED_KEEP)

    def is_marked(self, party: Party, onset: int) -> bool:
        return (party, onset) in self.marked

    def onset(self, party: Party, run: Run) -> None:
        if self.floor.holder_at(run.start_frame) is party.other:
            self.bids.append(_Bid(party, run.start_frame))

    def open_before(self, end: int) -> bool:
        """A bid begun before frame ``end`` is still being decided, or its outcome is."""
        return any(bid.onset < end and not bid.done for bid in self.bids)

    def flush(self, frame: int, before: int | None = None) -> Iterator[Event]:
        """End of stream (or of the wait for a session's summary: the bids begun ``before`` it ended): an
        outcome still open counts as unsuccessful, a bid not yet decided as none."""
        for bid in self.bids:
            if before is None or bid.onset < before:
                if bid.decided and not bid.done:
                    yield self._event(bid, frame, False)
                bid.done = True
        self.bids = [b for b in self.bids if not b.done]

    def step(self, frame: int) -> Iterator[Event]:
        for bid in self.bids:
            yield from self._advance(bid, frame)
        self.bids = [b for b in self.bids if not b.done]

    def _advance(self, bid: _Bid, frame: int) -> Iterator[Event]:
        if bid.held_start is None:
            covering = self.ctx.tracks[bid.by.other].covering(bid.onset)
            if covering is None:
                bid.done = True  # the holder was in a pause: a turn, maybe premature, not an interruption
                return
            if isinstance(covering, Span):
                bid.held_start = covering.start_frame
        if not bid.decided:
            if not self._decide(bid, frame):
                return
            self.marked.append((bid.by, bid.onset))
            outcome = self._outcome(bid)
            yield self._event(bid, frame, outcome)  # the decision, with its outcome when already known
            bid.done = outcome is not None
            return
        outcome = self._outcome(bid)
        if outcome is not None:
            yield self._event(bid, frame, outcome)
            bid.done = True

    def _decide(self, bid: _Bid, frame: int) -> bool:
        lim = self.ctx.limits
        run = self.ctx.tracks[bid.by].run
        if run is None or run.start_frame != bid.onset:
            bid.done = True  # stopped before the limit
            return False
        # the activity arrives lag_frames late, so the limit is due that much earlier on the frame clock
        due = lim.interruption_min_frames - self.ctx.lag_frames
        p = self.ctx.predictions.p_backchannel(frame - 1)
        if run.length_frames >= due:
            # short of the limit by the model's look-ahead, which has heard that far: it goes on, unless the
            # model is as sure of a backchannel as it must be of an interruption to call one early
            sure = self.ctx.config.model_interruption_prob
            backchannel = run.length_frames < lim.interruption_min_frames and p is not None and prob_at_least(p, sure)
            return _settle(bid, bid.held_start is not None and not backchannel)
        if frame - bid.onset >= due:
            # X is in a gap at the limit, shorter than a bridged one so far
            if self.exact:
                return False  # "yes" if X resumes before the gap closes the run
            # due now: the model's guess that X goes on; without one, no (the heuristic decider's hangover
            # already bridges pauses between words, so a gap in its activity is X having stopped)
            return _settle(bid, bid.held_start is not None and p is not None and p < GAP_GOES_ON_BELOW_P_BACKCHANNEL)
        if (
            p is not None
            and bid.held_start is not None
            and prob_at_least(1.0 - p, self.ctx.config.model_interruption_prob)
        ):
            bid.decided = True
        return bid.decided

    def _outcome(self, bid: _Bid) -> bool | None:
        """Successful: the holder's speech ended within the yield limit, and the interrupter took the floor
        with speech begun by then: the stretch that interrupted, or one after a breath ("I- no, listen").

        All of the holder's speech until the floor changed hands counts, not only the stretch it was in:
        a holder who breathes and talks on over the interrupter has not fallen silent. But an "mm" of the
        holder's in the interrupter's stretch that takes the floor, begun in the holder's silence, is the holder
        listening (``Floor.listening``), not going on. A floor taken after a cut at ``session_max_s`` released
        it proves nothing of the kind: then the holder's speech alone counts.
        """
        limit = bid.onset + self.ctx.limits.interruption_yield_frames
        holder, interrupter = self.ctx.tracks[bid.by.other], self.ctx.tracks[bid.by]
        take = self.floor.taken_by(bid.by, bid.onset, limit)
        taken = None if take is None else take.decided
        if take is not None and not self.floor.released_between(bid.onset, take.decided):
            last = self.floor.turn_end(bid.by.other, take.onset, take.decided)
            return last is None or last.end_frame <= limit
        if self._talks_past(bid, limit):
            return False
        if taken is not None:
            # taken after a session's cut released the floor, which asks nothing of the holder (who may still
            # be talking): the holder's speech alone says whether it fell silent by the limit
            speaking = holder.spoke_within(limit, limit + 1)
            return None if speaking is None else not speaking
        run = interrupter.run
        if (run is None or run.start_frame > limit) and interrupter.now_frame > limit:
            return False  # the interrupter stopped, and began nothing by the limit that could take the floor
        return None

    def _talks_past(self, bid: _Bid, limit_frame: int) -> bool:
        """The holder has speech past ``limit`` that is not (or not yet) an "mm" listening to the interrupter's
        stretch going on: one still no longer than a backchannel may be (it is, if that stretch takes the floor)."""
        holder, run = self.ctx.tracks[bid.by.other], self.ctx.tracks[bid.by].run
        for sound in holder.newest_first():
            if sound.end_frame <= limit_frame:
                return False
            if run is None or not self.floor.listening(bid.by.other, sound, run.start_frame):
                return True
        return False

    def _event(self, bid: _Bid, frame: int, outcome: bool | None) -> Interruption:
        s = self.ctx.s
        return Interruption(by=bid.by, onset_s=s(bid.onset), decided_s=self.ctx.decided_s(frame), successful=outcome)


@dataclass(frozen=True, slots=True)
class _Short:
    by: Party
    span: Span


class Backchannels:
    def __init__(self, ctx: Context, floor: Floor, interruptions: Interruptions) -> None:
        self.ctx = ctx
        self.floor = floor
        self.interruptions = interruptions
        self.pending: list[_Short] = []

    def closed(self, party: Party, span: Span) -> None:
        """``party``'s stretch closed: a backchannel if short, by the listener, and the holder goes on."""
        if span.length_frames > self.ctx.limits.backchannel_max_frames:
            return
        if not self.interruptions.is_marked(party, span.start_frame):
            self.pending.append(_Short(party, span))

    def step(self, frame: int) -> Iterator[Event]:
        keep = []
        for short in self.pending:
            verdict = self._verdict(short)
            if verdict is None:
                keep.append(short)
            elif verdict:
                s, decided_s = self.ctx.s, self.ctx.decided_s(frame)
                yield Backchannel(
                    by=short.by,
                    onset_s=s(short.span.start_frame),
                    decided_s=decided_s,
                    duration_s=s(short.span.length_frames),
                )
        self.pending = keep

    def _verdict(self, short: _Short) -> bool | None:
        """Near the holder's speech, and the holder went on: yes; the floor changed hands: no."""
        listening = self._listening(short)
        if listening is not True:
            return listening
        holder = self.ctx.tracks[short.by.other]
        span, proximity = short.span, self.ctx.limits.backchannel_proximity_frames
        # "within": inclusive on both sides (a gap of exactly the proximity counts)
        near = holder.spoke_within(max(0, span.start_frame - proximity - 1), span.end_frame + proximity + 1)
        if near is False or self.floor.holder is not short.by.other:
            return False
        if near is None:
            return None  # not heard near it yet
        return self._went_on(short)

    def _went_on(self, short: _Short) -> bool | None:
        """The holder spoke after the sound: yes; None while not (or not yet known).

        The listener may have begun again since (its answer), and a holder's "mm" in that stretch is the holder
        listening to it (:meth:`Floor.listening`, as the turn end reads it), not going on: wait until it ends or takes
        the floor. Speech of the holder's begun before that stretch, or longer than a backchannel, went on.
        """
        holder, span = self.ctx.tracks[short.by.other], short.span
        latest = holder.latest_end()
        if latest is None or latest <= span.end_frame:
            return None
        answer = self.ctx.tracks[short.by].run
        if answer is None:
            return True
        for sound in holder.newest_first():
            if sound.end_frame <= span.end_frame:
                break
            if not self.floor.listening(short.by.other, sound, answer.start_frame):
                return True
        return None

    def _listening(self, short: _Short) -> bool | None:
        """Whether the other party held the floor during the sound (None: not known yet).

        Judged on the floors' onsets, not on when they were decided: a floor is taken 1.0 s
        into the stretch that takes it, and an "mm" in that first second listens to it.
        """
        run = self.ctx.tracks[short.by.other].run
        if run is not None and run.start_frame <= short.span.start_frame and self.floor.holder is not short.by.other:
            return None  # the other's stretch, begun before the sound, may still take the floor
        return self.floor.holder_from_onsets(short.span.start_frame) is short.by.other

    def open_before(self, end: int) -> bool:
        """A sound begun before frame ``end`` waits for the holder to go on."""
        return any(short.span.start_frame < end for short in self.pending)

    def flush(self, before: int | None = None) -> None:
        """Forget the sounds waiting (those begun ``before`` a frame): none is a backchannel."""
        self.pending = [] if before is None else [p for p in self.pending if p.span.start_frame >= before]


@dataclass
class _Jump:
    """A rep stretch that began in a customer's pause while the customer held the floor."""

    onset: int
    p_hold: float | None  # the model's, at the onset
    resumed: bool = False


class PrematureStarts:
    def __init__(self, ctx: Context, floor: Floor) -> None:
        self.ctx = ctx
        self.floor = floor
        self.pending: list[_Jump] = []

    def onset(self, party: Party, run: Run) -> None:
        if party is Party.REP and self.floor.holder_at(run.start_frame) is Party.CUSTOMER:
            self.pending.append(_Jump(run.start_frame, self.ctx.predictions.p_hold(run.start_frame)))

    def step(self, frame: int) -> Iterator[Event]:
        keep = []
        for jump in self.pending:
            verdict = self._verdict(jump)
            if verdict is None:
                keep.append(jump)
            elif verdict:
                p_hold = 1.0 if jump.p_hold is None else jump.p_hold  # 1.0: the customer did resume
                onset_s, decided_s = self.ctx.s(jump.onset), self.ctx.decided_s(frame)
                yield PrematureStart(by=Party.REP, onset_s=onset_s, decided_s=decided_s, p_hold=p_hold)
        self.pending = keep

    def flush(self) -> None:
        self.pending.clear()

    def _verdict(self, jump: _Jump) -> bool | None:
        customer, lim = self.ctx.tracks[Party.CUSTOMER], self.ctx.limits
        covering = customer.covering(jump.onset)
        if covering is False:
            return None
        if covering is not None:
            return False  # the customer was speaking: an overlap, judged as a possible interruption
        rep = self.ctx.tracks[Party.REP].span_starting(jump.onset)
        if rep is None or (isinstance(rep, Span) and rep.length_frames <= lim.backchannel_max_frames):
            return False  # a backchannel-length sound is not a start
        if jump.p_hold is not None:
            if not prob_at_least(jump.p_hold, self.ctx.config.premature_hold_prob):
                return False
        elif not jump.resumed:
            resumed = customer.spoke_within(jump.onset + 1, jump.onset + lim.premature_resume_frames + 1)
            if resumed is not True:
                return resumed
            jump.resumed = True
        return True if rep.length_frames > lim.backchannel_max_frames else None


def _settle(bid: _Bid, interrupts: bool) -> bool:
    """Decide ``bid`` for good: an interruption, or done with."""
    bid.decided = interrupts
    bid.done = not interrupts
    return interrupts
