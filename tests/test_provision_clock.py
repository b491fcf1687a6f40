"""firmware/provision.sh on a clock behind, as a fresh Raspberry Pi OS image boots where the network blocks NTP
(no battery clock; fake-hwclock starts it at the image's build date): apt refuses the archive's Release files as
"not valid yet" and curl and pip the servers' certificates. The script runs under the real libfaketime."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from listener.clock import EARLIEST
from tests.mqtt_broker import free_port
from tests.provision_root import FILES_ONLY, provision, require, script_function, snapshot
from tests.test_provision import make_model_zip

UTC_ZONE = {"TZ": "UTC"}  # faketime's date and the script's reading of it, in one zone whatever the machine's
BEHIND = "2024-01-01 00:00:00"  # a fresh image's build date, as fake-hwclock starts the clock at


def at(when: str) -> list[str]:
    """The command that runs the script with its clock (and its children's) starting at ``when`` (in $TZ, or
    the zone it names)."""
    require("faketime", "faketime")
    return ["faketime", when]


def test_a_clock_behind_stops_the_run_before_any_change_and_says_how_to_set_it(pi_root: Path) -> None:
    # the run stopped at apt-get update, halfway, told to check the network and the sources
    before = snapshot(pi_root)
    for dry_run in (["--dry-run"], []):
        done = provision(pi_root, *dry_run, check=False, env=UTC_ZONE, under=at(BEHIND))
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stdout == ""  # stopped before the run began: not even its first line
        (said,) = done.stderr.splitlines()
        assert said.startswith("error: the clock reads 2024-01-01 00:00 UTC, before 2026-11-25 00:00 UTC, when"), said
        for part in (
            'refuse files as "not valid yet"',
            'nothing was changed. Let NTP set it (`timedatectl status` says "System clock synchronized: yes"',
            'set it by hand: sudo date -s "YYYY-MM-DD HH:MM"; then run this again',
        ):
            assert part in said, said
        assert snapshot(pi_root) == before
    # the same run at the real time passes the check
    done = provision(pi_root, "--dry-run", env=UTC_ZONE)
    assert "would: apt-get install " in done.stdout and "clock" not in done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])  # UTC, +14 h and -12 h
@pytest.mark.parametrize(("offset", "stops"), [(timedelta(minutes=-1), True), (timedelta(0), False)])
def test_the_floor_is_the_listeners_own(pi_root: Path, offset: timedelta, stops: bool, zone: str) -> None:
    # listener/clock.py's EARLIEST, which the journal's warning and listener doctor hold the clock to: a UTC
    # instant, whatever zone the device is set to (a floor read as local midnight moved by up to 14 hours)
    when = f"{EARLIEST + offset:%Y-%m-%d %H:%M:%S} UTC"
    done = provision(pi_root, "--dry-run", check=False, env={"TZ": zone}, under=at(when))
    assert (done.returncode == 1) is stops, done.stdout + done.stderr
    assert ("error: the clock reads" in done.stderr) is stops, done.stderr
    if stops:  # the clock in the device's zone, the floor as the UTC instant it is
        local = (EARLIEST + offset).astimezone(ZoneInfo(zone))
        assert f"reads {local:%Y-%m-%d %H:%M} " in done.stderr and "before 2026-11-25 00:00 UTC" in done.stderr


def local_model(tmp_path: Path) -> list[str]:
    archive, digest = make_model_zip(tmp_path)
    return ["--vosk-url", archive.as_uri(), "--vosk-sha256", digest]


DOWNLOADS: dict[str, tuple[Callable[[Path], list[str]], bool]] = {
    "apt": (lambda _: ["--no-pip"], True),
    "pip": (lambda _: ["--no-apt"], True),
    "model": (lambda _: [*FILES_ONLY, "--vosk-model", "en-small"], True),
    "files-only": (lambda _: [*FILES_ONLY], False),
    "local-model": (lambda tmp_path: [*FILES_ONLY, *local_model(tmp_path)], False),
}


@pytest.mark.parametrize(("options", "stops"), DOWNLOADS.values(), ids=DOWNLOADS.keys())
def test_only_a_run_that_may_download_is_held_to_the_clock(
    pi_root: Path, tmp_path: Path, options: Callable[[Path], list[str]], stops: bool
) -> None:
    # a run that downloads nothing writes files alone: the listener judges its own clock once it runs
    done = provision(pi_root, "--dry-run", *options(tmp_path), check=False, env=UTC_ZONE, under=at(BEHIND))
    assert (done.returncode == 1) is stops, done.stdout + done.stderr
    assert ("error: the clock reads 2024-01-01" in done.stderr) is stops, done.stderr


def test_a_failed_model_download_names_the_clock(pi_root: Path, tmp_path: Path) -> None:
    # a clock a few days behind passes the floor, and https still refuses the server's certificate: the
    # failure named only the network
    require("curl", "curl")
    url = f"https://127.0.0.1:{free_port()}/vosk-model-small-en-us-0.15.zip"
    done = script_function(f"ROOT={pi_root}; TMPD={tmp_path}; VOSK_URL={url}; fetch_vosk_model /opt/listener/models/m")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: could not download {url}: check the network and the clock (`date`: apt and https refuse files "
        '"not valid yet" when it is behind), or pass --vosk-url with a reachable copy'
    )


def provisioned(root: Path, missing: str = "") -> None:
    """What an earlier full run left that decides whether this one downloads: every apt package but ``missing``
    installed (dpkg's own status file, read by the real dpkg-query), the venv with the package at this
    checkout's digest (the script's own), the small English model under its pinned SHA-256."""
    listed = script_function('printf "%s\\n" "${APT_PACKAGES[@]}" "${APT_PI_PACKAGES[@]}" dpkg; source_digest')
    *packages, digest = listed.stdout.split()
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    entries = (f"Package: {p}\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1\n\n" for p in packages)
    status.write_text("".join(e for e in entries if not e.startswith(f"Package: {missing}\n")))
    venv = root / "opt/listener/venv/bin"
    venv.mkdir(parents=True)
    for program in ("python", "pip", "listener"):
        (venv / program).write_text("#!/bin/sh\n")
        (venv / program).chmod(0o755)
    (root / "opt/listener/.source-sha256").write_text(digest + "\n")
    model = root / MODEL
    (model / "am").mkdir(parents=True)
    (model / "am/final.mdl").write_bytes(b"not a real model")  # what the config's check looks for
    sha = script_function('printf "%s" "$VOSK_EN_SMALL_SHA256"').stdout
    (model / ".sha256").write_text(sha + "\n")


MODEL = "opt/listener/models/vosk-model-small-en-us-0.15"
FETCHES = re.compile(r"^(would|change): (apt-get|pip install|download)", re.M)  # the steps that download


# python3-lgpio: offered by none of the root's apt sources (a Debian 12 root's have none), so skipped, not fetched
@pytest.mark.parametrize("missing", ["", "python3-lgpio"])
def test_a_run_again_on_a_provisioned_device_with_nothing_to_fetch_is_not_held_to_the_clock(
    pi_root: Path, missing: str
) -> None:
    # a card provisioned on a PC (--root) boots on the image's date; where NTP is blocked, running the script
    # again there (a new --config, the board's driver now in) was refused though it would download nothing
    provisioned(pi_root, missing)
    for dry_run in (["--dry-run"], []):
        done = provision(pi_root, *dry_run, "--vosk-model", "en-small", check=False, env=UTC_ZONE, under=at(BEHIND))
        assert done.returncode == 0 and "clock" not in done.stderr, done.stdout + done.stderr
        assert not FETCHES.search(done.stdout), done.stdout
    again = provision(pi_root, "--vosk-model", "en-small", env=UTC_ZONE, under=at(BEHIND))
    assert again.stdout.rstrip().endswith("no changes"), again.stdout


def edited_checkout(root: Path) -> None:
    provisioned(root)
    (root / "opt/listener/.source-sha256").write_text("0" * 64 + "\n")  # installed from another source


def venv_without_pip(root: Path) -> None:
    provisioned(root)
    (root / "opt/listener/venv/bin/pip").unlink()  # made again, with --clear: the package goes too


def no_model(root: Path) -> None:
    provisioned(root)
    (root / MODEL / ".sha256").unlink()


DUE: dict[str, Callable[[Path], None]] = {
    "an apt package": lambda root: provisioned(root, missing="curl"),
    "the package": edited_checkout,
    "the venv's pip": venv_without_pip,
    "the model": no_model,
}


@pytest.mark.parametrize("left", DUE.values(), ids=DUE.keys())
def test_one_thing_to_fetch_holds_the_run_again_to_the_clock(pi_root: Path, left: Callable[[Path], None]) -> None:
    left(pi_root)  # a provisioned device with one thing left to fetch
    done = provision(pi_root, "--dry-run", "--vosk-model", "en-small", check=False, env=UTC_ZONE, under=at(BEHIND))
    assert done.returncode == 1 and "error: the clock reads 2024-01-01" in done.stderr, done.stdout + done.stderr
    assert done.stdout == ""
