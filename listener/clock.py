"""This device's wall clock as the service and ``listener doctor`` judge and quote it.

A Pi has no battery clock: with no network time it runs on 1970 (or on the time it saved at its last
shutdown), and TLS then refuses a valid broker certificate as not yet valid. Every message that blames
the clock shows what it reads, so an installer can compare it with a phone without typing `date`.
"""

from __future__ import annotations

from datetime import UTC, datetime

# no clock that reads earlier can be right: this software did not exist (a Pi with no network boots on 1970)
EARLIEST = datetime(2026, 11, 25, tzinfo=UTC)


def clock_reads(when: datetime | None = None) -> str:
    """This device's clock, in UTC, and its local time and zone (sessions_today counts local days)."""
    when = datetime.now(UTC) if when is None else when
    local = when.astimezone()
    return f"{when:%Y-%m-%d %H:%M:%S} UTC (local {local:%H:%M} {local.tzname()})"
