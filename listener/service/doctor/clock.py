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
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from listener import clock
from listener.clock import EARLIEST
from listener.config import Config
from listener.service.doctor import Check, fail, secrets, warn
from listener.service.doctor.system_files import SystemFiles
from listener.service.doctor.zone import ServiceZone, service_zone

CLOCK_TIMEOUT_S = 5.0
# Raspberry Pi OS's own (pi-gen's TIMEZONE_DEFAULT), and UTC's names: images left as they came
DEFAULT_ZONES = frozenset(
    {"Europe/London", "UTC", "UCT", "Universal", "Zulu", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich"}
)
WRONG_CLOCK = (
    "a wrong clock skews metric timestamps and fails TLS to the broker (its certificate looks not yet valid or expired)"
)


def now() -> datetime:
    return datetime.now(UTC)


def clock_reads(when: datetime | None = None, zone: tzinfo | None = None) -> str:
    """This device's clock, in UTC, and its local time and zone (sessions_today counts local days): doctor's own
    zone, or ``zone``."""
    return clock.clock_reads(now() if when is None else when, zone)


def zone_note(zone: ServiceZone) -> str:
    """The zone sessions_today counts days in, and where it comes from; with a hint where it is an image's default:
    Raspberry Pi OS ships Europe/London, Debian UTC, and the device cannot know its store's zone."""
    default = zone.name.removeprefix("Etc/") in DEFAULT_ZONES
    kind = ", an image's default," if default else ","
    said = f"; time zone {zone.name} (the service's: {zone.source}){kind} where sessions_today's days start at midnight"
    if not default:
        return said
    if zone.tz is not None:  # the service's TZ overrides the device's zone: timedatectl would change nothing
        return (
            f"{said}: for a store in another zone, set TZ=Area/City there (e.g. Europe/Berlin), or remove it for the"
            f" device's zone, {secrets.RESTART}"
        )
    return (
        f"{said}: for a store in another zone, `sudo timedatectl set-timezone Area/City` (e.g. Europe/Berlin; the"
        " running service follows it within a minute)"
    )


def check_clock(config: Config, files: SystemFiles | None = None) -> Check:
    """Whether NTP keeps the clock right (timedatectl), with the time it reads in the service's zone."""
    by_eye = f"compare it with a phone by eye; {WRONG_CLOCK}"
    reading, zone = now(), service_zone(files)
    if reading < EARLIEST:
        return fail(
            "clock",
            f"reads {clock_reads(reading, zone.zone)}, before this software was made: {WRONG_CLOCK}",
            "give the device a network with NTP (`timedatectl timesync-status`), or set it: "
            "`sudo date -s 'YYYY-MM-DD HH:MM'`",
        )
    return _with_zone(_synchronised(clock_reads(reading, zone.zone), by_eye), zone)


def _with_zone(check: Check, zone: ServiceZone) -> Check:
    """The UTC hint on every clock line but a failing one: a device with no network at install time is the
    one most likely left on UTC. A TZ that names no zone is a warning: the zone it names was shown as if in use."""
    problem = zone.fault
    if problem is None:
        return replace(check, detail=check.detail + zone_note(zone))
    if check.status == "ok":
        return warn("clock", f"{check.detail}; {problem.detail}", problem.fix)
    return replace(check, detail=f"{check.detail}; {problem.said()}")


def _synchronised(reads: str, by_eye: str) -> Check:
    tool = shutil.which("timedatectl")
    if tool is None:
        return warn("clock", f"reads {reads}; synchronisation cannot be checked (no timedatectl)", by_eye)
    try:
        result = subprocess.run(
            [tool, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=CLOCK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        why = f"timedatectl gave no answer within {CLOCK_TIMEOUT_S:g} s"
        return warn("clock", f"reads {reads}; synchronisation cannot be checked ({why})", by_eye)
    except OSError as exc:  # a timedatectl that is no program (a broken copy): its name and the reason, once
        why = f"{tool} cannot be run: {exc.strerror or exc}"
        return warn("clock", f"reads {reads}; synchronisation cannot be checked ({why})", by_eye)
    value = result.stdout.strip()
    if result.returncode != 0 or value not in ("yes", "no"):
        # the first line says why ("System has not been booted with systemd…"); later ones are its consequences
        why = (result.stderr.strip().splitlines() or ["no answer"])[0]
        return warn("clock", f"reads {reads}; synchronisation cannot be checked ({why})", by_eye)
    if value == "no":
        return warn(
            "clock",
            f"reads {reads}, not synchronised: {WRONG_CLOCK}",
            "check the network and `timedatectl timesync-status`; `sudo timedatectl set-ntp true`",
        )
    return Check("clock", "ok", f"reads {reads}, synchronised (NTP)")
