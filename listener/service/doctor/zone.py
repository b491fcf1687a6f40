"""The time zone listener.service runs in, which doctor's clock line names: not doctor's own.

The unit sets no TZ. systemd gives the service one only from /etc/listener/secrets.env (its EnvironmentFile=),
and without one glibc reads /etc/localtime. Doctor judged the TZ of the shell it was run from: a login shell
with TZ set got a zone line the service does not count sessions_today's days in, or a warning of a TZ the
service never sees.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from listener.clock import ZONE_FOLDER, ZoneProblem, zone_fault
from listener.service.doctor import secrets
from listener.service.doctor.system_files import SystemFiles, this_run
from listener.small_files import read_small_file

LOCALTIME = Path("/etc/localtime")  # tests point it elsewhere
_TZIF_HEADER = b"TZif2" + bytes(15) + struct.pack(">6l", 0, 0, 0, 0, 1, 4)  # no transitions, one type: UTC
_TZIF_BODY = struct.pack(">lbB", 0, 0, 0) + b"UTC\0"


@dataclass(frozen=True, slots=True)
class ServiceZone:
    """The zone the service's local time is in, and where doctor found it."""

    tz: str | None  # TZ as the service gets it; None: it gets none, and glibc reads /etc/localtime
    name: str  # as the clock line names it: IANA's name where there is one, else the zone's abbreviation
    source: str  # where it comes from, as the clock line says it
    zone: tzinfo  # the local time the clock line shows
    # what is wrong with the service's TZ, its fix ending in the restart that makes the service read it again
    # (None: it gets none, or it names a zone)
    fault: ZoneProblem | None


def service_zone(files: SystemFiles | None = None, localtime: Path | None = None) -> ServiceZone:
    """The service's zone: TZ from the secrets file (the last line that sets it, as systemd reads it), else
    /etc/localtime's. The secrets file is the run's one reading (``files``)."""
    localtime = LOCALTIME if localtime is None else localtime
    read = this_run(files).secrets_lines
    tz = None if read is None else {found.key: found.value for found in read.assignments}.get("TZ")
    if tz is not None:
        fault = zone_fault(tz, set_in=secrets.SECRETS_FILE)  # once: it opens the zone file TZ names
        zone = UTC if fault is not None else _tz_zone(tz)
        # TZ comes only from secrets.env, which systemd reads at a start
        problem = None if fault is None else replace(fault, fix=f"{fault.fix}, {secrets.RESTART}")
        return ServiceZone(tz, zone_name(tz, localtime, zone), f"TZ in {secrets.SECRETS_FILE}", zone, problem)
    source = str(localtime)
    if read is None and Path(secrets.SECRETS_FILE).exists():  # root's alone, as provision.sh leaves it
        source += f", unless a TZ in {secrets.SECRETS_FILE} overrides it: that file cannot be read here, sudo can"
    zone = _file_zone(localtime) or UTC  # glibc's without one (or with one it cannot read)
    return ServiceZone(None, zone_name(None, localtime, zone), source, zone, None)


def zone_name(tz: str | None, localtime: Path, zone: tzinfo) -> str:
    """The IANA name of the zone: TZ's when set (it overrides the file), else where /etc/localtime links to (what
    `timedatectl set-timezone` writes), else the abbreviation ``zone`` gives now."""
    try:
        found = tz.lstrip(":") if tz is not None else str(localtime.readlink())
    except OSError:  # not a link (copied in by hand), or no such file
        found = ""
    name = found.partition("zoneinfo/")[2] or found
    return name or (datetime.now(zone).tzname() or "UTC")


def _tz_zone(tz: str) -> tzinfo:
    """The zone glibc makes of a TZ that names one (zone_fault finds none): the zone file it names, else the POSIX
    rule it is."""
    name = tz.removeprefix(":")
    zone = _file_zone(Path(name) if name.startswith("/") else ZONE_FOLDER / name)
    if zone is not None:
        return zone
    try:  # zoneinfo reads a POSIX rule only as a zone file's footer: one with nothing else in it
        return ZoneInfo.from_file(
            io.BytesIO(_TZIF_HEADER + _TZIF_BODY + _TZIF_HEADER + _TZIF_BODY + f"\n{name}\n".encode())
        )
    except (ValueError, struct.error):
        return UTC


def _file_zone(path: Path) -> tzinfo | None:
    """The zone in the zone file at ``path``; None where there is none, or it is no zone file."""
    try:
        return ZoneInfo.from_file(_Ending(read_small_file(path)))
    except (OSError, ValueError, struct.error, AssertionError):  # AssertionError: zoneinfo's, for a damaged file
        return None


class _Ending(io.BytesIO):
    """A zone file's bytes whose end is an error: zoneinfo reads a v2+ file's last line up to its line break, which
    a file cut short in it never gives (and CPython 3.13 reads on for ever)."""

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if not data and size:
            raise ValueError("the zone file is cut short")
        return data
