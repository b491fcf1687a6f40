"""The wall clock judged, and the time zone followed, while the service runs.

A Pi has no battery clock: with NTP out of reach (a store's firewall dropping UDP port 123) it runs on
1970, or on the time it saved at its last shutdown, for good. Every message's ``ts`` is then wrong and TLS
refuses the broker's certificate as not yet valid, and only ``listener doctor`` said so: the journal and
the retained ``info`` were silent. The stage judges the clock at its start and at each audio block (one
comparison, so a clock set by hand or by NTP is seen at once), says once in the journal that it reads a
time before this software was made, once that it is set, and ``info`` carries the judgment (``clock_ok``).

Only that rule: the kernel's "unsynchronised" flag (adjtimex) stays set on a clock set by hand and in
containers, so it would warn where the time is right; ``listener doctor`` asks timedatectl instead.

The zone: CPython reads it once, at its start, and never looks at /etc/localtime again, so
`sudo timedatectl set-timezone` after provisioning (as the guides say) left ``sessions_today`` counting from
the old zone's midnight until a restart. ``time.tzset()`` reads it again (glibc only re-reads the file when it
has changed), at most once a minute. A zone that moves the date moves the count with it (``zone_changed``, which
the stage redates sessions on, as after a step of the clock): the sessions counted on the old zone's date went
unsaid, though they began after the new zone's midnight too.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from listener.clock import EARLIEST, clock_reads, zone_problem
from listener.outputs.mqtt import wallclock

log = logging.getLogger(__name__)

EARLIEST_MS = round(EARLIEST.timestamp() * 1000)
ZONE_READ_MS = 60_000  # a zone changed by hand is followed within this
NTP_FIX = (
    "give the device network time: NTP needs outbound UDP port 123 to the internet, or the store's own NTP server "
    "as NTP= in /etc/systemd/timesyncd.conf (then `sudo systemctl restart systemd-timesyncd`; "
    "`timedatectl timesync-status` shows whether it answers)"
)


def _reads(now_ms: int) -> str:
    return clock_reads(datetime.fromtimestamp(now_ms / 1000, UTC))


class ClockWatch:
    """Whether the wall clock can be right (None until first judged), said in the journal when that changes;
    and the time zone, read again now and then."""

    def __init__(self) -> None:
        self.ok: bool | None = None
        self.zone_changed = False  # whether the latest check read a zone other than the one before
        self._zone_read_ms: int | None = None  # monotonic

    def check(self, now_ms: int) -> bool:
        """Judge the clock reading ``now_ms``, and follow a changed time zone (before the caller's day check):
        whether the judgment changed since the last (the first is none)."""
        self.zone_changed = self._follow_zone()
        ok = now_ms >= EARLIEST_MS
        before, self.ok = self.ok, ok
        if ok == before:
            return False
        if not ok:
            log.warning(
                "the clock reads %s, before this software was made: every message's ts is wrong until it is set "
                "(and with mqtt.tls the broker's certificate looks not yet valid); %s",
                _reads(now_ms),
                NTP_FIX,
            )
        elif before is not None:
            log.info("the clock is set: it reads %s; messages from here carry that time", _reads(now_ms))
        return before is not None

    def _follow_zone(self) -> bool:
        """The zone read again when due: whether its names or offsets changed."""
        mono_ms = wallclock.monotonic_ms()
        if self._zone_read_ms is None and (problem := zone_problem()) is not None:
            log.warning("%s", problem)  # glibc says nothing of it; the variable cannot change while the service runs
        if self._zone_read_ms is not None and mono_ms - self._zone_read_ms < ZONE_READ_MS:
            return False
        self._zone_read_ms = mono_ms
        before = _zone()
        time.tzset()
        return _zone() != before


def _zone() -> tuple[object, ...]:
    """The local zone as Python last read it: two zones alike in these differ at most in their DST change dates."""
    return time.tzname, time.timezone, time.altzone, time.daylight
