"""sessions_today kept in the spool's counters (``sessions_day``, ``sessions_today``), so a restart counts on.

A Pi has no real-time clock: it may boot on a saved time or 1970, count a customer's session on that day
(overwriting the stored count), and only then have NTP set the clock. So the count the spool held when
this run opened it is remembered apart: a step of the clock to its day gives it back.
"""

from __future__ import annotations


class SessionCounts:
    """The sessions-per-day part of the spool (mixed into :class:`Spool`, which keeps the counters)."""

    # (sessions_day, sessions_today) as the spool held them before this run counted anything
    _sessions_before: tuple[int, int] = (0, 0)

    def counter(self, name: str) -> int:
        raise NotImplementedError

    def set_counter(self, name: str, value: int) -> None:
        raise NotImplementedError

    def remember_sessions(self) -> None:
        """At open, before this run counts a session: the count an earlier run left, for ``redate_sessions``."""
        self._sessions_before = (self.counter("sessions_day"), self.counter("sessions_today"))

    def sessions_on(self, day: int, started: bool = False) -> int:
        """Sessions begun on local ``day`` (YYYYMMDD), counting one more if ``started``: kept here, so a
        restart (or a fresh spool after damage, CARRIED_COUNTERS) goes on counting the same day."""
        count = self.counter("sessions_today") if self.counter("sessions_day") == day else 0
        if started:
            count += 1
            self.set_counter("sessions_day", day)
            self.set_counter("sessions_today", count)
        return count

    def redate_sessions(self, day: int, run_since_midnight: int) -> bool:
        """The clock was stepped to local ``day``, on which this run has started ``run_since_midnight``
        sessions (by the stepped clock): the count is made ``day``'s; False if it already was.

        The stored count is the earlier runs' (if from ``day``) plus this run's: not this run's alone, which
        lost the morning's sessions when a session counted on the boot's wrong day had overwritten them."""
        if self.counter("sessions_day") == day:
            return False  # the day the clock showed was right: today's count holds this run's sessions
        before_day, before = self._sessions_before
        self.set_counter("sessions_day", day)
        self.set_counter("sessions_today", (before if before_day == day else 0) + run_since_midnight)
        return True
