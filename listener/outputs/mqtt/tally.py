"""Running figures of the current session for the ``metrics`` topic, from analytics events.

The session *summary* is the analytics' own (:class:`SessionSummary`); this
only keeps what a live dashboard needs between summaries. When a session ends
its figures wait in :attr:`Tally.ended` for its summary, whose figures replace
them in the session's final ``metrics``; a session too short for a summary
keeps its running figures.
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


class Tally:
    """Talk times and counts of the current session, the rolling rep share, dominance."""

    def __init__(self) -> None:
        self.session: SessionFigures | None = None
        self.rolling_share: float | None = None
        self.dominating = False
        self.ended: SessionFigures | None = None  # a session that ended, its final metrics not yet sent
        self._interruptions: set[tuple[Party, float]] = set()

    def session_id(self) -> str | None:
        return None if self.session is None else self.session.session_id

    def rolling(self, share: RollingShare) -> None:
        """The analytics' running talk times: the stretch still going on counts too."""
        self.rolling_share = share.shown_share
        if self.session is not None:
            self.session.rep_talk_s = share.session_rep_talk_s
            self.session.customer_talk_s = share.session_customer_talk_s

    def start(self, started: SessionStarted) -> None:
        self._interruptions.clear()
        self.rolling_share = None
        self.session = SessionFigures(session_id=started.session_id, onset_s=started.onset_s)

    def end(self, ended: SessionEnded) -> None:
        if self.session is not None and self.session.session_id == ended.session_id:
            self.session.final_s = ended.end_s - ended.onset_s
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

    def interruption(self, event: Interruption) -> bool:
        """Count it; True when it only carries the outcome of one already counted."""
        key = (event.by, event.onset_s)
        if key in self._interruptions:
            return True
        self._interruptions.add(key)
        if self.session is not None:
            if event.by is Party.REP:
                self.session.interruptions_by_rep += 1
            else:
                self.session.interruptions_by_customer += 1
        return False

    def backchannel(self, event: Backchannel) -> None:
        if self.session is None:
            return
        if event.by is Party.REP:
            self.session.backchannels_by_rep += 1
        else:
            self.session.backchannels_by_customer += 1

    def dominance(self, event: DominanceChanged) -> None:
        self.dominating = event.dominating
