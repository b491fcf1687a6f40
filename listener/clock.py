"""This device's wall clock as the service and ``listener doctor`` judge and quote it.

A Pi has no battery clock: with no network time it runs on 1970 (or on the time it saved at its last
shutdown), and TLS then refuses a valid certificate (the broker's, the model server's) as not yet valid.
Every message that blames the clock shows what it reads, so an installer can compare it with a phone
without typing `date`.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from typing import TypeGuard

# no clock that reads earlier can be right: this software did not exist (a Pi with no network boots on 1970)
EARLIEST = datetime(2026, 11, 25, tzinfo=UTC)
# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED
CERT_DATE_ERRORS = (9, 10)
TIME_FIX = "fix the time first (NTP: `timedatectl`; `sudo timedatectl set-ntp true`)"


def clock_reads(when: datetime | None = None) -> str:
    """This device's clock, in UTC, and its local time and zone (sessions_today counts local days)."""
    when = datetime.now(UTC) if when is None else when
    local = when.astimezone()
    return f"{when:%Y-%m-%d %H:%M:%S} UTC (local {local:%H:%M} {local.tzname()})"


def refused_by_its_dates(exc: object) -> TypeGuard[ssl.SSLCertVerificationError]:
    """TLS refused a certificate as not yet valid or expired: by this device's clock, the likelier fault
    on a Pi (blaming the CA file, or the network, had installers replace what was right)."""
    return isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in CERT_DATE_ERRORS


def judged_by_clock(when: datetime | None = None) -> str:
    """Why a certificate refused by its dates points at the clock, with what the clock reads."""
    return f"the certificate's dates are judged by this device's clock, which reads {clock_reads(when)}"
