"""`listener doctor` and the clock: what the clock check says, what a TLS failure by the certificate's dates
says, and a refused login with no password in doctor's environment. Real mosquitto (TLS certificates
dated by the openssl CLI), the real timedatectl lookup on PATH."""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from listener.clock import ZONE_FOLDER
from listener.service import doctor
from listener.service.doctor import Check
from listener.service.doctor import clock as doctor_clock
from listener.service.doctor import secrets as doctor_secrets
from listener.service.doctor import zone as doctor_zone
from tests.doctor_config import config
from tests.mqtt_broker import Mosquitto, redate_server_certificate


def clock_reading(text: str) -> datetime:
    found = re.search(r"reads (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", text)
    assert found, text
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def assert_reads_now(text: str) -> None:
    assert abs((clock_reading(text) - datetime.now(UTC)).total_seconds()) < 60, text


def test_clock_without_timedatectl_shows_the_time_and_names_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no timedatectl anywhere
    check = doctor.check_clock(config(tmp_path))
    assert check.status == "warn" and "no timedatectl" in check.detail, check.line()
    assert_reads_now(check.detail)
    assert "TLS" in check.fix and "not yet valid or expired" in check.fix


def test_an_unsynchronised_clock_shows_the_time_and_names_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "timedatectl"
    tool.write_text("#!/bin/sh\necho no\n")  # what `timedatectl show -p NTPSynchronized --value` says
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    check = doctor.check_clock(config(tmp_path))
    assert check.status == "warn" and "not synchronised" in check.detail, check.line()
    assert_reads_now(check.detail)
    assert "TLS" in check.detail and "set-ntp true" in check.fix


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [("20990101000000Z", "20991231000000Z", "not yet valid"), ("20000101000000Z", "20001231000000Z", "expired")],
    ids=["not-yet-valid", "expired"],
)
def test_a_certificate_refused_by_its_dates_blames_the_clock_first(
    tmp_path: Path, start: str, end: str, why: str
) -> None:
    # a Pi that booted without network time sees the broker's valid certificate as not yet valid:
    # doctor blamed mqtt.ca_file, and the installer replaced a good CA file
    broker = Mosquitto(tmp_path / "broker", tls=True)
    redate_server_certificate(broker, start, end)
    with broker:
        check = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config()))
    assert check.status == "FAIL", check.line()
    assert f"certificate verify failed: certificate {'is' if why != 'expired' else 'has'} {why}" in check.detail
    assert "judged by this device's clock" in check.detail
    assert_reads_now(check.detail)
    assert check.fix.startswith("fix the time first (NTP: `timedatectl`") and "mqtt.ca_file" not in check.fix


def test_a_certificate_refused_by_its_dates_shows_the_service_s_local_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock line shows the service's zone; the certificate's line showed doctor's shell's (New York's here)."""
    broker = Mosquitto(tmp_path / "broker", tls=True)
    redate_server_certificate(broker, "20990101000000Z", "20991231000000Z")
    in_secrets(tmp_path, monkeypatch, "TZ='Asia/Tokyo'\n")
    monkeypatch.setenv("TZ", SHELL_TZ)
    time.tzset()
    try:
        with broker:
            check = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config()))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert check.status == "FAIL" and "judged by this device's clock" in check.detail, check.line()
    assert re.search(r"UTC \(local \d\d:\d\d JST\)", check.detail), check.detail


def test_a_login_without_a_password_here_says_where_the_service_gets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `listener doctor` run by hand does not read /etc/listener/secrets.env, as systemd does for the
    # service: the refusal was reported as a wrong password
    monkeypatch.delenv("LISTENER_MQTT_PASSWORD", raising=False)
    with Mosquitto(tmp_path / "broker", tls=True) as broker:
        check = doctor.check_mqtt(config(tmp_path, mqtt=broker.mqtt_config(protocol="5")))
    assert check.status == "FAIL", check.line()
    assert "refused the connection" in check.detail
    assert "mqtt.username is counter, but no password is set in this environment" in check.detail
    assert f"LISTENER_MQTT_PASSWORD from {doctor_secrets.SECRETS_FILE}" in check.fix  # the unit's, on a device
    assert "systemd-run" in check.fix and "export LISTENER_MQTT_PASSWORD=" in check.fix


def test_a_clock_before_this_software_existed_fails_whatever_timedatectl_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a Pi with no network boots on 1970; without timedatectl that was only "cannot be checked"
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(doctor_clock, "now", lambda: datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC))
    check = doctor.check_clock(config(tmp_path))
    assert check.status == "FAIL", check.line()
    assert "reads 1970-01-01 00:00:42 UTC (local " in check.detail and "before this software was made" in check.detail
    assert "sudo date -s" in check.fix


@pytest.mark.parametrize(("reading", "status"), [("2026-11-24 23:59:59", "FAIL"), ("2026-11-25 00:00:00", "warn")])
def test_the_earliest_right_clock_is_the_day_this_software_was_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: str, status: str
) -> None:
    """listener.clock.EARLIEST, 2026-11-25 00:00 UTC: a clock reading it may be right (no timedatectl here to say
    more: a warning); a second before it cannot be."""
    monkeypatch.setenv("PATH", str(tmp_path))
    when = datetime.strptime(reading, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    monkeypatch.setattr(doctor_clock, "now", lambda: when)
    check = doctor.check_clock(config(tmp_path))
    assert check.status == status and f"reads {reading} UTC" in check.detail, check.line()
    assert ("before this software was made" in check.detail) is (status == "FAIL"), check.line()


def test_the_clock_line_shows_the_local_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # sessions_today counts local days: a device left on UTC in Berlin counts them an hour off
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        monkeypatch.setattr(doctor_clock, "now", lambda: datetime(2026, 12, 2, 16, 40, tzinfo=UTC))
        assert doctor_clock.clock_reads() == "2026-12-02 16:40:00 UTC (local 17:40 CET)"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def clock_in_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str, zone: str, script: str = "") -> Check:
    """doctor's clock line with timedatectl answering ``answer`` (or running the shell ``script``) and the
    service's zone ``zone`` (TZ in secrets.env), doctor's own shell on another."""
    tool = tmp_path / "timedatectl"
    tool.write_text(f"#!/bin/sh\n{script or f'echo {answer}'}\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    in_secrets(tmp_path, monkeypatch, f"TZ='{zone}'\n")
    monkeypatch.setenv("TZ", SHELL_TZ)
    time.tzset()
    try:
        monkeypatch.setattr(doctor_clock, "now", lambda: datetime(2026, 12, 2, 16, 40, tzinfo=UTC))
        return doctor.check_clock(config(tmp_path))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


SHELL_TZ = "America/New_York"  # the installer's login shell's: never the service's in these tests


def in_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str | bytes) -> Path:
    """/etc/listener/secrets.env, in ``tmp_path``, holding ``text``."""
    path = tmp_path / "secrets.env"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(path))
    return path


def set_in(tmp_path: Path) -> str:
    return f"TZ in {tmp_path / 'secrets.env'}"


@pytest.mark.parametrize(
    ("zone", "noted"),
    [("UTC", True), ("Europe/Berlin", False), ("Europe/London", True), ("Etc/GMT", True), ("Etc/UTC", True)],
)
def test_a_synchronised_clock_on_an_images_default_zone_says_where_sessions_today_starts_its_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str, noted: bool
) -> None:
    """Images are often left on their default zone; sessions_today counts local days, so a store in Berlin
    would start its day at 01:00. Only a zone called "UTC" got the hint: Raspberry Pi OS's own default,
    Europe/London, and Etc/GMT got none, and the zone was named only by its abbreviation (GMT, BST)."""
    check = clock_in_zone(tmp_path, monkeypatch, "yes", zone)
    assert check.status == "ok" and "synchronised (NTP)" in check.detail, check.line()
    assert f"; time zone {zone} (the service's: {set_in(tmp_path)})," in check.detail, check.line()
    # the service's TZ overrides the device's zone: set-timezone would change nothing for it
    assert ("set TZ=Area/City there" in check.detail) is noted, check.line()
    assert "sudo timedatectl set-timezone" not in check.detail, check.line()


def test_the_zone_is_named_by_where_etc_localtime_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # on a device the service gets no TZ: `timedatectl set-timezone` points /etc/localtime at the zone's file
    monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(tmp_path / "secrets.env"))  # none
    link = tmp_path / "localtime"
    link.symlink_to(ZONE_FOLDER / "Europe/London")
    found = doctor_zone.service_zone(localtime=link)
    assert (found.tz, found.name, found.source) == (None, "Europe/London", str(link))


@pytest.mark.parametrize(("kind", "named"), [("copied", "JST"), ("absent", "UTC")])
def test_a_localtime_that_is_no_link_names_the_zone_by_its_abbreviation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, named: str
) -> None:
    """/etc/localtime copied in by hand (a plain file), or none at all (glibc then keeps UTC): no zone path to
    read, so the clock line names the zone by its abbreviation, as `date` shows it, instead of failing."""
    monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(tmp_path / "secrets.env"))  # none
    localtime = tmp_path / "localtime"
    if kind == "copied":
        localtime.write_bytes((ZONE_FOLDER / "Asia/Tokyo").read_bytes())  # no summer time
    assert doctor_zone.service_zone(localtime=localtime).name == named


def test_a_localtime_cut_short_in_its_last_line_is_read_as_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zoneinfo reads a zone file's last line to its line break, for ever where the file is cut short before it (a
    card that failed mid-write): doctor, which reads /etc/localtime for the service's local time, must not wait on
    it. glibc keeps UTC for a file it cannot read."""
    monkeypatch.setattr(doctor_secrets, "SECRETS_FILE", str(tmp_path / "secrets.env"))  # none
    localtime = tmp_path / "localtime"
    localtime.write_bytes((ZONE_FOLDER / "Europe/Berlin").read_bytes()[:-3])
    found: list[doctor_zone.ServiceZone] = []
    reader = threading.Thread(target=lambda: found.append(doctor_zone.service_zone(localtime=localtime)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert found and (found[0].name, found[0].zone) == ("UTC", UTC)


def the_service_on_etc_localtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell_tz: str, zone: str = "Europe/Berlin", answer: str = "yes"
) -> Check:
    """doctor's clock line, timedatectl answering ``answer``, on a device whose /etc/localtime is ``zone`` and whose
    secrets.env sets no TZ, run from a login shell with TZ=``shell_tz``."""
    tool = tmp_path / "timedatectl"
    tool.write_text(f"#!/bin/sh\necho {answer}\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    in_secrets(tmp_path, monkeypatch, "LISTENER_MQTT_PASSWORD=s3cret\n")
    link = tmp_path / "localtime"
    link.symlink_to(ZONE_FOLDER / zone)
    monkeypatch.setattr(doctor_zone, "LOCALTIME", link)
    monkeypatch.setattr(doctor_clock, "now", lambda: datetime(2026, 12, 2, 16, 40, tzinfo=UTC))
    monkeypatch.setenv("TZ", shell_tz)
    time.tzset()
    try:
        return doctor.check_clock(config(tmp_path))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_zone_is_the_services_not_that_of_the_shell_doctor_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service gets no TZ but from secrets.env: the clock line named the login shell's zone, and showed the
    local time in it (11:40 EST), where the service counts sessions_today's days in Berlin's."""
    check = the_service_on_etc_localtime(tmp_path, monkeypatch, SHELL_TZ)
    assert check.status == "ok", check.line()
    assert check.detail.startswith("reads 2026-12-02 16:40:00 UTC (local 17:40 CET), synchronised (NTP)"), check.line()
    assert f"; time zone Europe/Berlin (the service's: {tmp_path / 'localtime'})," in check.detail, check.line()
    assert "New_York" not in check.detail and "EST" not in check.detail, check.line()


def test_a_tz_in_doctors_shell_that_names_no_zone_is_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the service never sees it: the line warned that sessions_today counts UTC days, which it does not
    check = the_service_on_etc_localtime(tmp_path, monkeypatch, "Europe/Berln")
    assert check.status == "ok" and "names no time zone" not in check.detail, check.line()
    assert "(local 17:40 CET)" in check.detail and "; time zone Europe/Berlin (" in check.detail, check.line()


def test_a_tz_in_secrets_env_overrides_etc_localtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_secrets(tmp_path, monkeypatch, "TZ=Europe/London\nLISTENER_MQTT_PASSWORD=s3cret\nTZ=Asia/Tokyo\n")  # the last
    link = tmp_path / "localtime"
    link.symlink_to(ZONE_FOLDER / "Europe/Berlin")
    monkeypatch.setattr(doctor_clock, "now", lambda: datetime(2026, 12, 2, 16, 40, tzinfo=UTC))
    found = doctor_zone.service_zone(localtime=link)
    assert (found.tz, found.name, found.source) == ("Asia/Tokyo", "Asia/Tokyo", set_in(tmp_path))
    assert doctor_clock.clock_reads(zone=found.zone) == "2026-12-02 16:40:00 UTC (local 01:40 JST)"


def test_a_secrets_file_doctor_cannot_read_is_said_to_hide_a_tz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_secrets(tmp_path, monkeypatch, b"\xffTZ=Asia/Tokyo\n")  # not UTF-8: read as a root-only file is, not at all
    link = tmp_path / "localtime"
    link.symlink_to(ZONE_FOLDER / "Europe/Berlin")
    found = doctor_zone.service_zone(localtime=link)
    assert (found.tz, found.name) == (None, "Europe/Berlin")
    assert found.source == (
        f"{link}, unless a TZ in {tmp_path / 'secrets.env'} overrides it: that file cannot be read here, sudo can"
    )


def test_a_timedatectl_that_cannot_be_run_is_a_warning_naming_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timedatectl on PATH that the kernel will not run (no #! line, a binary of another machine): the clock
    line says synchronisation cannot be checked, with the reason, instead of doctor stopping on it."""
    tool = tmp_path / "timedatectl"
    tool.write_bytes(b"\x00\x01 not a program")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(doctor_clock, "now", lambda: datetime(2026, 12, 2, 16, 40, tzinfo=UTC))
    check = doctor.check_clock(config(tmp_path))
    assert check.status == "warn", check.line()
    assert check.detail.startswith("reads 2026-12-02 16:40:00 UTC (local "), check.line()
    said = f"; synchronisation cannot be checked ({tool} cannot be run: Exec format error); "
    assert said in check.detail, check.line()
    assert check.fix.startswith("compare it with a phone by eye"), check.line()


@pytest.mark.parametrize("answer", ["no", "garbled"])
def test_an_unsynchronised_or_unknown_clock_on_utc_also_says_how_to_set_the_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    """README: a device left on UTC is told how to set the store's zone. Only the synchronised line said it, and a
    Pi with no network at install time, the one most likely left on UTC, never got it."""
    check = the_service_on_etc_localtime(tmp_path, monkeypatch, SHELL_TZ, zone="Etc/UTC", answer=answer)
    assert check.status == "warn" and "sudo timedatectl set-timezone" in check.detail, check.line()
    assert "; time zone Etc/UTC (the service's: " in check.detail, check.line()


NO_SYSTEMD = (  # timedatectl in a container, or on a system booted without systemd
    'echo "System has not been booted with systemd as init system (PID 1). Can\'t operate." >&2\n'
    "echo 'Failed to connect to bus: Host is down' >&2\nexit 1"
)


@pytest.mark.parametrize(
    ("script", "timeout_s", "why"),
    [
        (
            NO_SYSTEMD,
            doctor_clock.CLOCK_TIMEOUT_S,
            "System has not been booted with systemd as init system (PID 1). Can't operate.",
        ),
        ("echo maybe", doctor_clock.CLOCK_TIMEOUT_S, "no answer"),
        ("exec sleep 30", 0.5, "timedatectl gave no answer within 0.5 s"),
    ],
    ids=["fails", "neither-yes-nor-no", "times-out"],
)
def test_a_timedatectl_that_cannot_say_is_a_warning_that_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, timeout_s: float, why: str
) -> None:
    """The warning says why timedatectl could not tell: its first error line (a container's "not booted with
    systemd", not the bus error that follows from it), or that it hung."""
    # the short wait for the hung one only: a shell that answers may take longer than 0.5 s to start under load
    monkeypatch.setattr(doctor_clock, "CLOCK_TIMEOUT_S", timeout_s)
    started = time.monotonic()
    check = clock_in_zone(tmp_path, monkeypatch, "", "Europe/Berlin", script=script)
    assert time.monotonic() - started < 5.0  # a hung timedatectl does not hold doctor up
    assert check.status == "warn", check.line()
    assert check.detail == (
        "reads 2026-12-02 16:40:00 UTC (local 17:40 CET); synchronisation cannot be checked"
        f" ({why}); time zone Europe/Berlin (the service's: {set_in(tmp_path)}), where sessions_today's days"
        " start at midnight"
    ), check.line()
    assert check.fix.startswith("compare it with a phone by eye; a wrong clock skews metric timestamps"), check.line()


@pytest.mark.parametrize("zone", ["Europe/Berln", "garbage", ":../../../etc/passwd", "", "Europe/Berlin: x"])
def test_a_tz_that_names_no_zone_is_a_warning_not_shown_as_the_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    """glibc keeps local time in UTC for such a TZ without a word, and the line said "time zone Europe/Berln,
    where sessions_today's days start at midnight", ok: as if that zone were in use."""
    check = clock_in_zone(tmp_path, monkeypatch, "yes", zone)
    assert check.status == "warn", check.line()
    assert "so local time is UTC and sessions_today's days start at UTC midnight" in check.detail, check.line()
    assert check.fix.startswith(f"remove the TZ line from {tmp_path / 'secrets.env'} (the device's zone"), check.line()
    assert check.fix.endswith("then `sudo systemctl restart listener`"), check.line()
    assert "(local 16:40 UTC)" in check.detail, check.line()  # glibc's, for such a TZ
    assert f"time zone {zone}," not in check.detail


@pytest.mark.parametrize("zone", ["Foo: bar", "Europe/Berlin: ", "Foo:", "/etc/a: b/zone"])
def test_a_tz_holding_a_colon_is_named_whole_and_its_fix_given_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    # doctor split the journal's one-line message at its last ": " to get the fix; the TZ's value comes before it
    check = clock_in_zone(tmp_path, monkeypatch, "yes", zone)
    assert check.status == "warn", check.line()
    secrets = tmp_path / "secrets.env"
    assert check.detail.startswith("reads ") and f"; TZ={zone} in {secrets} names no time zone (" in check.detail
    assert check.detail.endswith("sessions_today's days start at UTC midnight"), check.line()
    assert check.fix == (
        f"remove the TZ line from {secrets} (the device's zone, `timedatectl`, then applies) or set it to a zone"
        " such as Europe/Berlin, then `sudo systemctl restart listener`"
    )


@pytest.mark.parametrize(
    ("zone", "local"),
    [
        ("UTC0", "16:40 UTC"),
        ("EST5EDT,M3.2.0,M11.1.0", "11:40 EST"),
        ("<+03>-3", "19:40 +03"),
        (":Europe/Berlin", "17:40 CET"),
        ("/usr/share/zoneinfo/Europe/Berlin", "17:40 CET"),
    ],
)
def test_a_tz_glibc_reads_as_a_rule_or_a_file_is_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str, local: str
) -> None:
    check = clock_in_zone(tmp_path, monkeypatch, "yes", zone)
    assert check.status == "ok" and "names no time zone" not in check.detail, check.line()
    assert f"(local {local})" in check.detail, check.line()  # the local time the service keeps, as glibc reads it
