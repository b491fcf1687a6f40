"""firmware/provision.sh on a clock behind, as a fresh Raspberry Pi OS image boots where the network blocks NTP
(no battery clock; fake-hwclock starts it at the image's build date): apt refuses the archive's Release files as
"not valid yet" and curl and pip the servers' certificates. The script runs under the real libfaketime."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from listener.clock import EARLIEST
from tests.provision_root import FILES_ONLY, provision, require, script_function, snapshot
from tests.test_provision import make_model_zip

UTC_ZONE = {"TZ": "UTC"}  # faketime's date and the script's reading of it, in one zone whatever the machine's
BEHIND = "2024-01-01 00:00:00"  # a fresh image's build date, as fake-hwclock starts the clock at


def at(when: str) -> list[str]:
    """The command that runs the script with its clock (and its children's) starting at ``when`` (UTC)."""
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
        assert said.startswith("error: the clock reads 2024-01-01 00:00 UTC, before 2026-11-25"), said
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


@pytest.mark.parametrize(("offset", "stops"), [(timedelta(minutes=-1), True), (timedelta(0), False)])
def test_the_floor_is_the_listeners_own(pi_root: Path, offset: timedelta, stops: bool) -> None:
    # listener/clock.py's EARLIEST, which the journal's warning and listener doctor hold the clock to
    when = f"{EARLIEST + offset:%Y-%m-%d %H:%M:%S}"
    done = provision(pi_root, "--dry-run", check=False, env=UTC_ZONE, under=at(when))
    assert (done.returncode == 1) is stops, done.stdout + done.stderr
    assert ("error: the clock reads" in done.stderr) is stops, done.stderr


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


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failed_model_download_names_the_clock(pi_root: Path, tmp_path: Path) -> None:
    # a clock a few days behind passes the floor, and https still refuses the server's certificate: the
    # failure named only the network
    require("curl", "curl")
    url = f"https://127.0.0.1:{closed_port()}/vosk-model-small-en-us-0.15.zip"
    done = script_function(f"ROOT={pi_root}; TMPD={tmp_path}; VOSK_URL={url}; fetch_vosk_model /opt/listener/models/m")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: could not download {url}: check the network and the clock (`date`: apt and https refuse files "
        '"not valid yet" when it is behind), or pass --vosk-url with a reachable copy'
    )
