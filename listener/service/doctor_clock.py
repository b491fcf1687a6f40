"""``listener doctor``'s clock check, and the clock reading its TLS advice quotes.

A clock far off does more than skew metric timestamps: TLS judges the
broker's certificate by it, so a device that booted without network time sees
a valid certificate as "not yet valid" (or "expired") and never connects.
Every clock line therefore shows what the clock reads, so an installer can
compare it with a phone without typing `date`.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

from listener.config import Config
from listener.service.doctor import Check, warn

CLOCK_TIMEOUT_S = 5.0
WRONG_CLOCK = (
    "a wrong clock skews metric timestamps and fails TLS to the broker (its certificate looks not yet valid or expired)"
)


def clock_reads() -> str:
    """This device's clock now, in UTC, as a person compares it with a phone."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_clock(config: Config) -> Check:
    """Whether NTP keeps the clock right (timedatectl), with the time it reads."""
    by_eye = f"compare it with a phone by eye; {WRONG_CLOCK}"
    tool = shutil.which("timedatectl")
    if tool is None:
        return warn("clock", f"reads {clock_reads()}; synchronisation cannot be checked (no timedatectl)", by_eye)
    try:
        result = subprocess.run(
            [tool, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=CLOCK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return warn("clock", f"reads {clock_reads()}; synchronisation cannot be checked ({exc})", by_eye)
    value = result.stdout.strip()
    if result.returncode != 0 or value not in ("yes", "no"):
        why = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        return warn("clock", f"reads {clock_reads()}; synchronisation cannot be checked ({why})", by_eye)
    if value == "no":
        return warn(
            "clock",
            f"reads {clock_reads()}, not synchronised: {WRONG_CLOCK}",
            "check the network and `timedatectl timesync-status`; `sudo timedatectl set-ntp true`",
        )
    return Check("clock", "ok", f"reads {clock_reads()}, synchronised (NTP)")
