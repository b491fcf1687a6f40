"""The wall clock judged while the service runs.

A Pi has no battery clock: with NTP out of reach (a store's firewall dropping UDP port 123) it runs on
1970, or on the time it saved at its last shutdown, for good. Every message's ``ts`` is then wrong and TLS
refuses the broker's certificate as not yet valid, and only ``listener doctor`` said so: the journal and
the retained ``info`` were silent. The stage judges the clock at its start and at each audio block (one
comparison, so a clock set by hand or by NTP is seen at once), says once in the journal that it reads a
time before this software was made, once that it is set, and ``info`` carries the judgment (``clock_ok``).

Only that rule: the kernel's "unsynchronised" flag (adjtimex) stays set on a clock set by hand and in
containers, so it would warn where the time is right; ``listener doctor`` asks timedatectl instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from listener.clock import EARLIEST, clock_reads

log = logging.getLogger(__name__)

EARLIEST_MS = round(EARLIEST.timestamp() * 1000)
NTP_FIX = (
    "give the device network time: NTP needs outbound UDP port 123 to the internet, or the store's own NTP server "
    "as NTP= in /etc/systemd/timesyncd.conf (then `sudo systemctl restart systemd-timesyncd`; "
    "`timedatectl timesync-status` shows whether it answers)"
)


def _reads(now_ms: int) -> str:
    return clock_reads(datetime.fromtimestamp(now_ms / 1000, UTC))


class ClockWatch:
    """Whether the wall clock can be right (None until first judged), said in the journal when that changes."""

    def __init__(self) -> None:
        self.ok: bool | None = None

    def check(self, now_ms: int) -> bool:
        """Judge the clock reading ``now_ms``: whether the judgment changed since the last (the first is none)."""
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
