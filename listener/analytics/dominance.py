"""Rolling talk share and dominance with hysteresis, inside a session.

The window is the last ``rolling_window_s`` of the current session (it
never reaches back into an earlier session: a new customer starts afresh).
Dominance starts when the rep share is at least ``dominance_on_share`` with
at least ``dominance_min_speech_s`` of speech (rep + customer) in the
window and the rep has spoken since the last evaluation, and ends when the
share drops below ``dominance_off_share``. A rep floor whose speech has run
longer than ``monologue_dominating_s`` dominates too, until the customer
takes the floor; time in it the device did not hear (the privacy pause, a
fault) is unknown, and does not count towards it.
Evaluated every 0.1 s on a fixed grid of the audio clock, so decisions come
within 0.1 s of a crossing (of the rep's next speech, for a share crossed in silence).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator

from listener.analytics.context import Context
from listener.analytics.floors import Floor
from listener.analytics.tracks import Span
from listener.events import DominanceChanged, DominanceReason, Event, Party, RollingShare, rep_share_of


class Dominance:
    def __init__(self, ctx: Context, floor: Floor) -> None:
        self.ctx = ctx
        self.floor = floor
        self.spans: dict[Party, deque[Span]] = {p: deque() for p in Party}
        self.since: int | None = None  # start of the session; None outside sessions
        self.session_closed = dict.fromkeys(Party, 0)  # frames of the session's closed stretches
        self.by_share = False
        self.by_monologue = False
        self.last_share = 0.0
        self.on_since = 0  # onset of the dominance going on now
        self._clock: tuple[tuple[int, int, float], int] | None = None  # (what it was read from, monologue_since)

    @property
    def dominating(self) -> bool:
        return self.by_share or self.by_monologue

    @property
    def _reason(self) -> DominanceReason:
        return "share" if self.by_share else "monologue"

    def begin(self, start_frame: int) -> None:
        self.since = start_frame
        self.session_closed = dict.fromkeys(Party, 0)
        for spans in self.spans.values():
            spans.clear()

    def add(self, party: Party, span: Span) -> None:
        if self.since is not None:
            self.spans[party].append(span)
            self.session_closed[party] += max(0, span.end_frame - max(span.start_frame, self.since))

    def window_talk(self, frame: int) -> tuple[int, int, int]:
        """(rep frames, customer frames, window start) of speech in the window ending at ``frame``."""
        assert self.since is not None
        lo = max(frame - self.ctx.limits.window_frames, self.since)
        talk = []
        for party in (Party.REP, Party.CUSTOMER):
            spans = self.spans[party]
            while spans and spans[0].end_frame <= lo:
                spans.popleft()
            talk.append(
                sum(min(sp.end_frame, frame) - max(sp.start_frame, lo) for sp in spans) + self._open(party, lo, frame)
            )
        return talk[0], talk[1], lo

    def session_talk(self, frame: int) -> tuple[int, int]:
        """(rep frames, customer frames) of speech since the session began, the stretches still open included."""
        since = self.since
        assert since is not None
        rep, customer = (self.session_closed[p] + self._open(p, since, frame) for p in (Party.REP, Party.CUSTOMER))
        return rep, customer

    def _open(self, party: Party, lo: int, frame: int) -> int:
        """Frames of ``party``'s announced, still open stretch between ``lo`` and ``frame``."""
        run = self.ctx.tracks[party].run
        if run is None or not run.announced:
            return 0
        return max(0, min(run.last_end_frame, frame) - max(run.start_frame, lo))

    def step(self, frame: int) -> Iterator[Event]:
        lim = self.ctx.limits
        if self.since is None or frame % lim.dominance_every_frames:
            return
        rep, customer, lo = self.window_talk(frame)
        share = rep_share_of(rep, customer) or 0.0  # frames, not seconds: the ratio is the same
        self.last_share = share
        yield from self._update(frame, share, rep + customer)
        if frame % lim.share_every_frames == 0:
            s = self.ctx.s
            session_rep, session_customer = self.session_talk(frame)
            yield RollingShare(
                t_s=s(frame),
                window_s=s(frame - lo),
                rep_talk_s=s(rep),
                customer_talk_s=s(customer),
                rep_share=share,
                session_rep_talk_s=s(session_rep),
                session_customer_talk_s=s(session_customer),
            )

    def _update(self, frame: int, share: float, speech: int) -> Iterator[Event]:
        cfg, lim = self.ctx.config, self.ctx.limits
        was, reason_was = self.dominating, self._reason
        latest = self.ctx.tracks[Party.REP].latest_end()
        if self.by_share:
            self.by_share = share >= cfg.dominance_off_share
        else:
            # the share also rises with nobody talking, as the customer's old speech leaves the window: in
            # a session's closing tail (session_gap_s of silence before its end is known) it went on after the
            # last speech, an episode no summary counts; only the rep's talk since the last evaluation starts it
            spoke = latest is not None and latest > frame - lim.dominance_every_frames
            self.by_share = spoke and share >= cfg.dominance_on_share and speech >= lim.dominance_min_speech_frames
        # a rep floor begun before the session (talking before the customer came) counts from its start
        monologue_since = self._monologue_since(max(self.floor.onset, self.since or 0))
        self.by_monologue = self.floor.holder is Party.REP and latest is not None and latest > monologue_since
        if self.dominating and not was:
            self.on_since = frame if self.by_share else max(self.since or 0, min(frame, monologue_since))
            yield self._event(True, self.on_since, frame, share, self._reason)
        elif was and not self.dominating:
            yield self._event(False, frame, frame, share, reason_was)

    def _monologue_since(self, start_frame: int) -> int:
        """The frame by which a floor begun at ``start_frame`` has been heard for ``monologue_frames``: unheard
        time stops its clock, as it does a silence's (Silences._heard_s). Its stretches reach the analytics
        after their silent frames, before the speech after them that could take the clock past them."""
        spans = self.ctx.unheard.spans
        key = (start_frame, len(spans), spans[-1][1] if spans else 0.0)
        if self._clock is not None and self._clock[0] == key:
            return self._clock[1]  # stepped every 0.1 s: a visit's hundreds of overflow blips are summed once
        s, hop_s = self.ctx.s, self.ctx.limits.hop_s
        since_s = s(start_frame + self.ctx.limits.monologue_frames)
        for a, b in self.ctx.unheard.within(s(start_frame), math.inf):
            if a >= since_s:
                break
            since_s += b - a
        self._clock = (key, round(since_s / hop_s))
        return self._clock[1]

    def end(self, frame: int, end_frame: int) -> Iterator[Event]:
        """The session ended at ``end`` (decided at ``frame``): dominance ends with it, then."""
        if self.dominating:
            # dated when the session ended, not when its end was decided (session_gap_s later), so the
            # episode matches the summary's; a monologue that began in that gap ends as soon as it began
            yield self._event(False, max(end_frame, self.on_since), frame, self.last_share, "session_end")
        self.by_share = self.by_monologue = False
        self.since = None

    def _event(self, on: bool, onset: int, frame: int, share: float, reason: DominanceReason) -> DominanceChanged:
        onset_s, decided_s = self.ctx.s(onset), self.ctx.decided_s(frame)
        return DominanceChanged(dominating=on, onset_s=onset_s, decided_s=decided_s, rep_share=share, reason=reason)
