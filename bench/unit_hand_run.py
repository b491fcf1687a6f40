"""The service beside a ``listener run`` by hand (bench/unit_rehearsal.py's step "hand run"), under a real systemd.

An installer at the counter stops the service and runs the listener by hand, as the service's user, on the
bundled sample (twice over, paced in real time: 55 s); meanwhile ``systemctl start listener`` (a reboot's start, a
``provision.sh`` run) is refused: the service exits 75 naming the run by hand's pid, systemd starts it again every
RestartSec, and the unit's ExecStopPost ``leds-off`` leaves that run's lights alone. Once the run by hand ends, the
next start goes through (active, READY=1 heard). The run by hand is entered into the booted root with ``nsenter``
and ``runuser``, as a shell's would be: no INVOCATION_ID, so it is not "the service" itself.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bench.rehearsal_root import LISTENER
from bench.signals import ROOT as REPO
from bench.unit_upgrade import statuses

if TYPE_CHECKING:
    from bench.unit_rehearsal import Booted
    from tests.mqtt_broker import Recorder

SAMPLE = REPO / "listener" / "data" / "sample" / "conversation.wav"
HAND_SAMPLE = "/var/tmp/hand-run.wav"  # not /tmp: systemd-nspawn mounts a tmpfs of its own there
PLAYS = 2  # the sample twice, 55 s in real time: past two RestartSec
STATE_DIR = "/var/lib/listener"
CONFIG = "/etc/listener/listener.toml"
POLL_S = 0.5  # how often the unit's state is sampled
LOCK_WAIT_S = 30.0  # the run by hand takes its lock before it loads any model
UP_WAIT_S = 80.0  # after the run by hand: one RestartSec, then the start (models loaded)
# the unit's journal lines this step reports: the service's refusal, systemd's restarts and exits, leds-off, the start
MARKS = ("already runs", "Scheduled restart job", "Main process exited", "LEDs", "Started", "Failed with result")


def stage_sample(root: Path) -> float:
    """The bundled sample ``PLAYS`` times over, as one WAV in the root the service's user may read; its seconds."""
    with wave.open(str(SAMPLE), "rb") as source:
        params, frames = source.getparams(), source.readframes(source.getnframes())
    target = root / HAND_SAMPLE.lstrip("/")
    with wave.open(str(target), "wb") as out:
        out.setparams(params)
        out.writeframes(frames * PLAYS)
    target.chmod(0o644)
    return PLAYS * params.nframes / params.framerate


def start_hand_run(booted: Booted, out: IO[str]) -> subprocess.Popen[str]:
    """``listener run --input`` as the service's user in its state folder, from a root shell's environment; its
    lines to ``out`` (a pipe nobody reads while it runs could fill and stop it)."""
    run = f"cd {STATE_DIR} && exec runuser -u listener -- {LISTENER} run --input {HAND_SAMPLE} --config {CONFIG}"
    env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "NOTIFY_SOCKET", "JOURNAL_STREAM")}
    return subprocess.Popen(
        ["nsenter", "-t", booted.leader, "-a", "sh", "-c", run],
        stdout=subprocess.DEVNULL,  # it prints nothing there without --led-trace
        stderr=out,
        text=True,
        env=env,
    )


def lock_pid(booted: Booted, timeout_s: float) -> str:
    """The pid the run by hand wrote into the state folder's lock file (its own pid namespace's: the root's)."""
    deadline = time.monotonic() + timeout_s
    pid = ""
    while not pid and time.monotonic() < deadline:
        time.sleep(POLL_S)
        pid = booted.run("cat", f"{STATE_DIR}/listener.lock")
    return pid


def journal_from(booted: Booted, wall0: float) -> list[tuple[float, str]]:
    """The unit's journal lines (systemd's and the service's) after ``wall0`` (epoch s): (s after it, "<priority>
    message"; 3 err, 4 warning, 6 info: what `journalctl -p` filters by)."""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall0 - 1.0))
    command = ["journalctl", "-u", "listener", "--no-pager", "-o", "json", "--since", since]
    lines = []
    for text in booted.call(*command).stdout.splitlines():
        if text.startswith("{"):
            entry = json.loads(text)
            at_s = int(entry["__REALTIME_TIMESTAMP"]) / 1e6 - wall0
            message = entry.get("MESSAGE", "")
            if at_s >= 0 and isinstance(message, str):
                lines.append((round(at_s, 1), f"<{entry.get('PRIORITY', '?')}> {message}"))
    return lines


class StateLog:
    """The unit's (ActiveState/SubState, NRestarts) each time it changes, with when (s after ``t0``)."""

    def __init__(self, booted: Booted, t0: float) -> None:
        self.booted, self.t0 = booted, t0
        self.seen: list[str] = []
        self._last = ""

    def sample(self) -> dict[str, str]:
        shown = self.booted.show("listener")
        state = f"{shown.get('ActiveState')}/{shown.get('SubState')} NRestarts={shown.get('NRestarts')}"
        if state != self._last:
            self._last = state
            self.seen.append(f"{state} at {time.monotonic() - self.t0:.1f} s")
        return shown


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 1) for a, b in itertools.pairwise(times)]


def wait_active(states: StateLog, t0: float, until_s: float) -> tuple[dict[str, str], float]:
    """The unit's properties once it is active (or at ``until_s`` after ``t0``), and when, in seconds after ``t0``."""
    shown = states.sample()
    while shown.get("ActiveState") != "active" and time.monotonic() - t0 < until_s:
        time.sleep(POLL_S)
        shown = states.sample()
    return shown, time.monotonic() - t0


def hand_run(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """The service started while a run by hand holds the state folder, then that run ending."""
    booted.wait_for("listener", {"active"}, UP_WAIT_S)
    booted.run("systemctl", "stop", "listener")
    audio_s = stage_sample(booted.root)
    first, wall0, t0 = len(recorder.messages), time.time(), time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = start_hand_run(booted, out)
        pid = lock_pid(booted, LOCK_WAIT_S)
        locked_s = time.monotonic() - t0
        start = booted.call("systemctl", "start", "listener")  # Type=notify: returns once the start job is done
        start_s = time.monotonic() - t0
        states = StateLog(booted, t0)
        waiting = states.sample()  # what `systemctl status` shows between two tries
        while proc.poll() is None:
            states.sample()
            time.sleep(POLL_S)
        ended_s = time.monotonic() - t0
        out.seek(0)
        said = out.read().strip().splitlines()
    shown, up_s = wait_active(states, t0, ended_s + UP_WAIT_S)
    journal = [(at_s, line) for at_s, line in journal_from(booted, wall0) if any(m in line for m in MARKS)]
    restarts = [at_s for at_s, line in journal if "Scheduled restart job" in line]
    return {
        "run by hand": {"lock pid": pid, "lock taken at s": round(locked_s, 1), "audio s": round(audio_s, 1),
                        "exit": proc.returncode, "ended at s": round(ended_s, 1),
                        "lines": len(said), "last lines": said[-2:]},
        "systemctl start": {"exit": start.returncode, "returned at s": round(start_s, 1),
                            "stderr": start.stderr.strip()},
        "between tries": {k: waiting.get(k) for k in ("ActiveState", "SubState", "Result", "ExecMainStatus")},
        "unit states": states.seen,
        "journal": [f"{at_s:.1f} s: {line}" for at_s, line in journal],
        "restart jobs at s": restarts,
        "restart gaps s": gaps(restarts),
        "active at s": round(up_s, 1),
        "active after the run by hand ended, s": round(up_s - ended_s, 1),
        "then": shown,
        "mqtt status": statuses(recorder.messages, first, t0),
    }  # fmt: skip
