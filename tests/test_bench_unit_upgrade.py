"""bench/unit_upgrade.py's parts that need no booted root: the checkout it rolls out is a new source to
provision.sh (so pip must reinstall under the running service), and how it tells a graceful offline from a Will."""

from __future__ import annotations

from pathlib import Path

from bench.unit_upgrade import CHECKOUT, stage_checkout, statuses
from tests.mqtt_broker import Received
from tests.provision_root import REPO, script_function


def _digest(source: Path) -> str:
    done = script_function(f"SOURCE={source} source_digest")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_staged_checkout_is_a_new_source_for_provision_sh(tmp_path: Path) -> None:
    stage_checkout(tmp_path)
    staged = tmp_path / CHECKOUT.lstrip("/")
    assert (staged / "firmware" / "provision.sh").is_file()  # run from there, as on a device
    # the script's own decision: a digest unlike the first provisioning's (this checkout) reinstalls the package
    assert _digest(staged) != _digest(REPO)


def _status(state: str, ts_ms: int, at: float) -> Received:
    return Received("listener/dev/status", f'{{"state": "{state}", "ts": {ts_ms}}}'.encode(), True, at=at)


def test_a_status_is_dated_against_the_one_before_the_window() -> None:
    messages = [
        _status("online", 1_000, at=10.0),
        Received("listener/dev/state", b"{}", True, at=11.0),
        _status("offline", 41_000, at=50.0),  # graceful: dated at the stop, 40 s after its connection's online
        _status("online", 47_000, at=56.0),
    ]
    assert statuses(messages, first=1, t0=49.0) == [
        "offline at 1.0 s, ts +40.0 s after the one before",
        "online at 7.0 s, ts +6.0 s after the one before",
    ]
