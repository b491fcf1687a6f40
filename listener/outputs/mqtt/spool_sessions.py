"""sessions_today kept in the spool's counters (``sessions_day``, ``sessions_today``), so a restart counts on.

A Pi has no real-time clock: it may boot on a saved time or 1970, count a customer's session on that day
(overwriting the stored count), and only then have NTP set the clock. So the count the spool held when
this run opened it is remembered apart: a step of the clock to its day gives it back.

A card that refuses the write (full, or remounted read-only) keeps the count in memory until it takes a write
again (the spool's next message stored, or its retry between messages, or the stop). It was read back from the
file, which had not taken it: the retained state said one more than the file's count at each session start and
the file's count between them (3, 2, 3, 2 for the day's third to fifth visit), and the sessions counted while the
card was full were gone from the count for the day once it had room again.
"""

from __future__ import annotations

import sqlite3

SESSION_COUNTERS = ("sessions_day", "sessions_today")
_UPSERT = (
    "INSERT INTO counters(name, value) VALUES ('sessions_day', ?), ('sessions_today', ?) "
    "ON CONFLICT(name) DO UPDATE SET value = excluded.value"
)


def write_sessions(db: sqlite3.Connection, counts: tuple[int, int]) -> None:
    """``counts`` (sessions_day, sessions_today) into the spool ``db``: one statement, one transaction of its own
    or the caller's."""
    db.execute(_UPSERT, counts)


class SessionCounts:
    """The sessions-per-day part of the spool (mixed into :class:`Spool`, which keeps the counters)."""

    # (sessions_day, sessions_today) as the spool held them before this run counted anything
    _sessions_before: tuple[int, int] = (0, 0)
    # the latest count, which the card refused: the file's counters are behind it until the card takes a write
    _sessions_kept: tuple[int, int] | None = None
    _sessions_said: tuple[int, int] = (0, 0)  # the latest (day, count) sessions_on said: a fresh spool's least

    def counter(self, name: str) -> int:
        raise NotImplementedError

    def _store_sessions(self) -> None:
        """``_sessions_kept`` written into the file, and forgotten once written (the spool's lock taken)."""
        raise NotImplementedError

    def remember_sessions(self) -> None:
        """At open, before this run counts a session: the count an earlier run left, for ``redate_sessions``."""
        self._sessions_before = self._sessions_now()

    def _sessions_now(self) -> tuple[int, int]:
        """(sessions_day, sessions_today): the count the card refused where it did, else the file's."""
        kept = self._sessions_kept  # read once: the stop may clear it
        if kept is not None:
            return kept
        return self.counter("sessions_day"), self.counter("sessions_today")

    def _set_sessions(self, day: int, count: int) -> None:
        self._sessions_kept = (day, count)
        self._store_sessions()

    def sessions_on(self, day: int, started: bool = False) -> int:
        """Sessions begun on local ``day`` (YYYYMMDD), counting one more if ``started``: kept here, so a
        restart (or a fresh spool after damage, CARRIED_COUNTERS) goes on counting the same day."""
        counted_day, count = self._sessions_now()
        count = count if counted_day == day else 0
        if started:
            count += 1
            self._set_sessions(day, count)
        self._sessions_said = (day, count)
        return count

    def redate_sessions(self, day: int, run_since_midnight: int) -> bool:
        """The clock was stepped to local ``day``, on which this run has started ``run_since_midnight``
        sessions (by the stepped clock): the count is made ``day``'s; False if it already was.

        The stored count is the earlier runs' (if from ``day``) plus this run's: not this run's alone, which
        lost the morning's sessions when a session counted on the boot's wrong day had overwritten them."""
        if self._sessions_now()[0] == day:
            return False  # the day the clock showed was right: today's count holds this run's sessions
        before_day, before = self._sessions_before
        self._set_sessions(day, (before if before_day == day else 0) + run_since_midnight)
        return True

    def carried_sessions(
        self, memory: tuple[int, int], file: tuple[int, int], seed: tuple[int, int]
    ) -> tuple[int, int]:
        """The count to go on from when the file opens after the spool ran in memory (see spool_start): the file's
        count for the day (``file``) plus the sessions counted in memory (``memory``, begun from ``seed``: the file's
        own count where a start on a full card could read it, a damaged file's set aside), and never below
        ``memory`` (a fresh file after damage holds none of the seed); the file's count remembered as what earlier
        runs left. The file's plus all of memory's counted the seed twice; the file's plus memory's less the start's
        count went negative after damage (-2 for 6)."""
        day, today = memory
        seed_day, seeded = seed
        own = today - (seeded if seed_day == day else 0)
        self._sessions_before = file
        return day, max(today, own + (file[1] if file[0] == day else 0))
