"""A new version rolled out to a device in service, in the root bench/unit_rehearsal.py booted: firmware/README.md's
upgrade, ``sudo firmware/provision.sh --preset respeaker-4mic`` run again on the device from a checkout holding a
changed package file, with listener.service running.

What the rehearsal looks for: the script's ``change:`` lines (the stop before pip, the restart at the end), the
service's graceful stop in its journal (its own "stopped" line, systemd's ``Deactivated successfully``, no crash,
no ``Restart=`` start while pip ran), the unit's state sampled all along, the new build running, and MQTT's
``status`` going offline (the service's own, not the broker's Last Will) and online again. Then the same run once
more: nothing to change, nothing stopped.

The checkout is the committed one (``git archive HEAD``, as bench/fresh_demo.py's) in the root's /root/listener,
with one line added to a file of the package: its files' digest (the script's ``.source-sha256``) and the build
fingerprint both change, as a ``git pull`` of a new version changes them. pip in the container reaches the index as
the first provisioning's pip in a chroot did: the container shares this machine's network, and the command is
entered (``nsenter``) with this process's environment (its pip and CA settings).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.rehearsal_root import LISTENER, extract_head

if TYPE_CHECKING:
    from bench.unit_rehearsal import Booted
    from tests.mqtt_broker import Received, Recorder

CHECKOUT = "/root/listener"  # an installer's checkout on the device
CHANGED_FILE = "listener/__init__.py"
PROVISION = ("bash", f"{CHECKOUT}/firmware/provision.sh", "--preset", "respeaker-4mic")  # the first run's preset
POLL_S = 0.25  # how often the unit's state is sampled while the script runs
SETTLE_S = 3.0  # after the script: the restarted service's online and info reach the subscriber
# systemd's lines and the service's own on a stop and a start, in lower case (the rest is its fault state)
JOURNAL_MARKS = ("stop", "start", "deactivated", "main process exited", "failed", "signal")


def stage_checkout(root: Path) -> None:
    """The committed checkout in the root, one line added to a package file: a new version, as a pull brings it."""
    folder = root / CHECKOUT.lstrip("/")
    folder.mkdir(parents=True)
    extract_head(folder)
    with (folder / CHANGED_FILE).open("a") as changed:
        changed.write("# rolled out again by bench/unit_upgrade.py: a new build\n")


def host_swap() -> list[str]:
    """This machine's swap areas: a container shares /proc/swaps, and the script turns off a disk's swap it lists."""
    return Path("/proc/swaps").read_text().splitlines()[1:]


def provision_live(booted: Booted) -> dict[str, object]:
    """provision.sh as root inside the booted root, the unit's state sampled while it runs (state, s from the start
    at which it was first seen)."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(["nsenter", "-t", booted.leader, "-a", *PROVISION], stdout=out, stderr=out, text=True)
        states: list[tuple[str, float]] = []
        while proc.poll() is None:
            state = booted.run("systemctl", "is-active", "listener")
            if not states or states[-1][0] != state:
                states.append((state, round(time.monotonic() - t0, 1)))
            time.sleep(POLL_S)
        took_s = time.monotonic() - t0
        out.seek(0)
        lines = out.read().splitlines()
    return {
        "exit": proc.returncode,
        "s": round(took_s, 1),
        "changes": [line for line in lines if line.startswith(("change:", "warning:", "error:"))],
        "pip": [line for line in lines if line.startswith("Successfully installed")],
        "last_line": lines[-1] if lines else "",
        "unit_states": states,
    }


def statuses(messages: list[Received], first: int, t0: float) -> list[str]:
    """The status messages since message ``first``: each state, when it arrived (s after ``t0``, monotonic), and
    its ``ts`` after the one before it (a graceful offline is dated at the stop, long after its connection's online;
    a Last Will at that connection's start, with it)."""
    shown, last_ts = [], None
    for index, message in enumerate(messages):
        if message.topic.endswith("/status") and message.payload:
            data = message.json()
            ts = int(str(data["ts"]))
            if index >= first:
                gap = "" if last_ts is None else f", ts +{(ts - last_ts) / 1000:.1f} s after the one before"
                shown.append(f"{data['state']} at {message.at - t0:.1f} s{gap}")
            last_ts = ts
    return shown


def builds(recorder: Recorder, first: int) -> list[object]:
    return [m.json().get("build") for m in recorder.messages[first:] if m.topic.endswith("/info") and m.payload]


def broker_lines(recorder: Recorder, offset: int) -> list[str]:
    """mosquitto's lines since byte ``offset`` of its log on clients going (``disconnected.``: a DISCONNECT sent,
    the graceful way; ``closed its connection`` or a socket error: gone without one, its Will published)."""
    with recorder.broker.log.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return [line for line in text.splitlines() if "disconnect" in line or "closed its connection" in line]


def upgrade(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """The new version rolled out under the running service: stopped before pip, started again at the end."""
    swap = host_swap()
    assert not swap, f"this machine has swap on {swap}: the script in the container would turn it off; swapoff it"
    before = booted.wait_for("listener", {"active"}, 60.0)
    stage_checkout(booted.root)
    version = booted.run(LISTENER, "--version")
    since = booted.run("date", "+%Y-%m-%d %H:%M:%S")
    first, offset, t0 = len(recorder.messages), recorder.broker.log.stat().st_size, time.monotonic()
    script = provision_live(booted)
    time.sleep(SETTLE_S)
    after = booted.show("listener")
    journal = [message for _, message in booted.journal("listener", since)]
    return {
        "provision.sh": script,
        "journal": [line for line in journal if any(mark in line.lower() for mark in JOURNAL_MARKS)],
        # a stop not followed by Restart= (the script's) flushes systemd's count at the next start: the journal says
        # whether Restart= started it
        "restarts": f"{before.get('NRestarts')} -> {after.get('NRestarts')}",
        "restart jobs": sum(1 for line in journal if "Scheduled restart job" in line),
        "then": after,
        "version": f"{version} -> {booted.run(LISTENER, '--version')}",
        "mqtt status": statuses(recorder.messages, first, t0),
        "mqtt info build": builds(recorder, first),
        "broker": broker_lines(recorder, offset),
    }


def started_at(booted: Booted) -> str:
    return booted.run("systemctl", "show", "-p", "ActiveEnterTimestamp", "--value", "listener")


def upgrade_again(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """The same run once more: nothing to install, so nothing stopped or restarted."""
    before, started = booted.show("listener"), started_at(booted)
    first, t0 = len(recorder.messages), time.monotonic()
    script = provision_live(booted)
    after = booted.show("listener")
    return {
        "provision.sh": script,
        "restarts": f"{before.get('NRestarts')} -> {after.get('NRestarts')}",
        "started": f"{started} -> {started_at(booted)}",
        "mqtt status": statuses(recorder.messages, first, t0),
    }
