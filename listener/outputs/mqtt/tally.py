"""Running figures of the current session for the ``metrics`` topic, from analytics events.

The session *summary* is the analytics' own (:class:`SessionSummary`); this
only keeps what a live dashboard needs between summaries. When a session ends
its figures wait in :attr:`Tally.ended` for its summary, whose figures replace
them in the session's final ``metrics``; a session too short for a summary
keeps its running figures.

An interruption or backchannel counts in the session its onset falls in, as in the summaries: one
decided after a cut at ``session_max_s`` (begun before it, decided after) is no part of the session
that began at the cut. The analytics hold the cut session's end back until such events are decided
(docs/metrics.md, Sessions), so they reach the tally while it still runs that session.
"""

from __future__ import annotations

from listener.events import (
    Backchannel,
    DominanceChanged,
    Interruption,
    Party,
    RollingShare,
    SessionEnded,
    SessionStarted,
    SessionSummary,
)
from listener.outputs.mqtt.payloads import SessionFigures

EPS_S = 1e-6  # an event begun at a session's first frame is that session's
# an open outcome comes within interruption_yield_s (2 s) and the floor's taking (1 s) of its onset; kept
# far longer, so a late one is never taken for a new interruption
OPEN_OUTCOME_KEEP_S = 60.0


class Tally:
    """Talk times and counts of the current session, the rolling rep share, dominance."""

    def __init__(self) -> None:
        self.session: SessionFigures | None = None
        self.rolling_share: float | None = None
        self.dominating = False
        self.ended: SessionFigures | None = None  # a session that ended, its final metrics not yet sent
        # interruptions published with their outcome open -> the session they were published in (None:
        # none); kept across a session's start: an interruption open at a cut has its outcome after it
        self._open: dict[tuple[Party, float], str | None] = {}
        self._last: tuple[str, float, float] | None = None  # the latest ended session: id, onset_s, end_s

    def session_id(self) -> str | None:
        return None if self.session is None else self.session.session_id

    def rolling(self, share: RollingShare) -> None:
        """The analytics' running talk times: the stretch still going on counts too."""
        self.rolling_share = share.shown_share
        if self.session is not None:
            self.session.rep_talk_s = share.session_rep_talk_s
            self.session.customer_talk_s = share.session_customer_talk_s

    def start(self, started: SessionStarted) -> None:
        self.rolling_share = None
        self.session = SessionFigures(session_id=started.session_id, onset_s=started.onset_s)

    def end(self, ended: SessionEnded) -> None:
        if self.session is not None and self.session.session_id == ended.session_id:
            self.session.final_s = ended.end_s - ended.onset_s
            self._last = (ended.session_id, ended.onset_s, ended.end_s)
            self.ended, self.session = self.session, None

    def summarized(self, summary: SessionSummary) -> SessionFigures:
        """The session's final figures: its summary's, not the running ones (a live update can lag the end)."""
        self.ended = None
        return SessionFigures(
            session_id=summary.session_id,
            onset_s=summary.onset_s,
            rep_talk_s=summary.rep_talk_s,
            customer_talk_s=summary.customer_talk_s,
            interruptions_by_rep=summary.interruptions_by_rep,
            interruptions_by_customer=summary.interruptions_by_customer,
            backchannels_by_rep=summary.backchannels_by_rep,
            backchannels_by_customer=summary.backchannels_by_customer,
            final_s=summary.duration_s,
        )

    def unsummarized(self) -> SessionFigures | None:
        """The figures of a session that ended without a summary (too little speech), once."""
        ended, self.ended = self.ended, None
        return ended

    def session_of(self, onset_s: float) -> str | None:
        """The session an event begun at ``onset_s`` belongs to: the running one, or the one that ended last."""
        if self.session is not None and onset_s >= self.session.onset_s - EPS_S:
            return self.session.session_id
        last = self._last
        if last is not None and last[1] - EPS_S <= onset_s <= last[2] + EPS_S:
            return last[0]
        return None

    def interruption(self, event: Interruption) -> tuple[bool, str | None]:
        """Count it; whether it only carries the outcome of one already published, and the session it is in."""
        key = (event.by, event.onset_s)
        self._open = {k: v for k, v in self._open.items() if k[1] >= event.decided_s - OPEN_OUTCOME_KEEP_S}
        if key in self._open:
            return True, self._open.pop(key)
        session_id = self.session_of(event.onset_s)
        if event.successful is None:
            self._open[key] = session_id
        figures = self._counting(event.onset_s)
        if figures is not None:
            if event.by is Party.REP:
                figures.interruptions_by_rep += 1
            else:
                figures.interruptions_by_customer += 1
        return False, session_id

    def backchannel(self, event: Backchannel) -> str | None:
        """Count it; the session it is in."""
        figures = self._counting(event.onset_s)
        if figures is not None:
            if event.by is Party.REP:
                figures.backchannels_by_rep += 1
            else:
                figures.backchannels_by_customer += 1
        return self.session_of(event.onset_s)

    def _counting(self, onset_s: float) -> SessionFigures | None:
        """The running figures an event begun at ``onset_s`` counts in: none when it began before the session."""
        figures = self.session
        return figures if figures is not None and onset_s >= figures.onset_s - EPS_S else None

    def dominance(self, event: DominanceChanged) -> None:
        self.dominating = event.dominating
