"""This device's wall clock as the service and ``listener doctor`` judge and quote it.

A Pi has no battery clock: with no network time it runs on 1970 (or on the time it saved at its last
shutdown), and TLS then refuses a valid certificate (the broker's, the model server's) as not yet valid.
Every message that blames the clock shows what it reads, so an installer can compare it with a phone
without typing `date`.
"""

from __future__ import annotations

import os
import re
import ssl
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TypeGuard

from listener.errors import shown_path

# no clock that reads earlier can be right: this software did not exist (a Pi with no network boots on 1970)
EARLIEST = datetime(2026, 11, 25, tzinfo=UTC)
# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED
CERT_DATE_ERRORS = (9, 10)
TIME_FIX = "fix the time first (NTP: `timedatectl`; `sudo timedatectl set-ntp true`)"
ZONE_FOLDER = Path("/usr/share/zoneinfo")  # where glibc looks up a TZ that is no absolute path (its TZDIR)
_ABBREVIATION = r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)"
_OFFSET = r"[+-]?\d{1,2}(?::\d{1,2}){0,2}"
# a POSIX TZ rule, which glibc reads when no zone file has the name: "UTC0", "EST5EDT,M3.2.0,M11.1.0", "<+03>-3"
POSIX_TZ = re.compile(rf"{_ABBREVIATION}{_OFFSET}(?:{_ABBREVIATION}(?:{_OFFSET})?(?:,.+)?)?")
_SHOWN_TZ_CHARS = 80
_UTC_DAYS = "sessions_today's days start at UTC midnight"


def clock_reads(when: datetime | None = None, zone: tzinfo | None = None) -> str:
    """This device's clock, in UTC, and its local time and zone (sessions_today counts local days): this process's
    local zone, or ``zone``."""
    when = datetime.now(UTC) if when is None else when
    local = when.astimezone(zone)
    return f"{when:%Y-%m-%d %H:%M:%S} UTC (local {local:%H:%M} {local.tzname()})"


def refused_by_its_dates(exc: object) -> TypeGuard[ssl.SSLCertVerificationError]:
    """TLS refused a certificate as not yet valid or expired: by this device's clock, the likelier fault
    on a Pi (blaming the CA file, or the network, had installers replace what was right)."""
    return isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in CERT_DATE_ERRORS


def judged_by_clock(when: datetime | None = None) -> str:
    """Why a certificate refused by its dates points at the clock, with what the clock reads."""
    return f"the certificate's dates are judged by this device's clock, which reads {clock_reads(when)}"


@dataclass(frozen=True, slots=True)
class ZoneProblem:
    """What is wrong with the TZ variable, and its fix, apart: doctor shows them on lines of their own, and a
    TZ's own value may hold ": " (which once split the one string in the wrong place)."""

    detail: str
    fix: str

    def said(self) -> str:
        return f"{self.detail}: {self.fix}"


def zone_problem(tz: str | None = None) -> str | None:
    """:func:`zone_fault` as one line, for the journal."""
    fault = zone_fault(tz)
    return None if fault is None else fault.said()


def zone_fault(tz: str | None = None, set_in: str = "") -> ZoneProblem | None:
    """What is wrong with the TZ variable (``tz``: its value, os.environ's by default), None when it is unset or
    names a zone. glibc keeps local time in UTC, without a word, for a name it finds neither as a zone file
    nor as a POSIX rule ("Europe/Berln"): sessions_today then counted UTC days, which doctor called the zone's.
    ``set_in``: the file the service gets it from, which the problem and its fix then name."""
    tz = os.environ.get("TZ") if tz is None else tz
    if tz is None:
        return None
    where, unset = (f" in {set_in}", f"remove the TZ line from {set_in}") if set_in else ("", "unset TZ")
    if not tz:  # glibc's rule for a TZ set to nothing: UTC, whatever /etc/localtime says
        return ZoneProblem(
            f"TZ{where} is set to nothing, so local time is UTC and {_UTC_DAYS}",
            f"{unset} (the device's zone then applies)",
        )
    name = tz.removeprefix(":")
    if (not tz.startswith(":") and POSIX_TZ.fullmatch(name)) or _is_zone_file(name):
        return None
    shown = shown_path(tz)
    shown = shown if len(shown) <= _SHOWN_TZ_CHARS else shown[:_SHOWN_TZ_CHARS] + "..."
    return ZoneProblem(
        f"TZ={shown}{where} names no time zone (no zone file has that name, nor is it a POSIX TZ rule), so local time"
        f" is UTC and {_UTC_DAYS}",
        f"{unset} (the device's zone, `timedatectl`, then applies) or set it to a zone such as Europe/Berlin",
    )


def _is_zone_file(name: str) -> bool:
    path = Path(name) if name.startswith("/") else ZONE_FOLDER / name
    try:  # a regular file only: a pipe there would hold the open for ever (glibc's own tzset waits on it too)
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as file:
            return file.read(4) == b"TZif"
    except (OSError, ValueError):  # none there, a name too long; ValueError: a NUL (never in a real TZ)
        return False
