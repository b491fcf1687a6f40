"""Rehearse the hardened service under a real systemd: a Debian 12 (or 13) root provisioned by
firmware/provision.sh (unit enabled), booted with systemd-nspawn.

    sudo .venv/bin/python -m bench.unit_rehearsal [--release trixie] [--keep DIR] [--only STEP ...]

``--release trixie``: a Debian 13 root, systemd 257 (Raspberry Pi OS since October 2025).

The tests judge systemd/listener.service with systemd's offline analyzers; here it runs, every
sandboxing line in force, as the root's systemd (252 on Debian 12, 257 on 13) starts it at boot, on the unified
cgroup hierarchy (v2) a Pi's runs on. With no mic array the service must come up (``Type=notify``),
say why it has no audio, keep its watchdog fed and publish its fault state to MQTT. The unit's device
lines, tried alone: a device they do not allow is refused. The README's first installer step,
``doctor`` through ``systemd-run`` as the service's user, runs against it. Then
``listener-replay.service``, the same unit with ``--input`` the bundled sample (paced in real time)
for ``--wait-for-array``, runs the whole pipeline under that sandbox: turn model, vosk (the tests'
Korean model), MQTT to a mosquitto on this machine, the spool in the state directory.
Then a typo in the config: one failed start, no restarts, and the restart after the fix goes through.
Then the watchdog's SIGABRT: every thread's stack in the journal at warning beside the death, the restart.
Last, a new version rolled out under the running service (bench/unit_upgrade.py): provision.sh run again inside,
the service stopped before pip and started again at the end; then once more, with nothing to change.
Then the service started while a `listener run` by hand holds the state folder (bench/unit_hand_run.py): refused
with exit 75, restarted every RestartSec, its lights left to that run, and up once it has ended.
``--only STEP`` (again for more) runs those steps alone, after provisioning and the boot.
Prints what systemd and the broker saw; asserts nothing. The root is this machine's architecture:
bench/pi_rehearsal.py covers arm64 (under emulation, without systemd).

Needs root and Debian's debootstrap and systemd-container. The base root (debootstrap minbase with
systemd, ~250 MB) is cached in bench/.cache/debianN-systemd.tar, N the release's number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.rehearsal_root import (
    KO_MODEL,
    LISTENER,
    RELEASES,
    PiRoot,
    add_release_argument,
    copy_test_model,
    fresh_root,
    host_problem,
    installed_sample,
    provision,
    topic_counts,
)
from bench.signals import ROOT as REPO
from bench.unit_hand_run import hand_run
from bench.unit_upgrade import upgrade, upgrade_again
from tests.mqtt_broker import Mosquitto, Recorder

CACHES = REPO / "bench" / ".cache"
SYSTEMD_PACKAGES = ("systemd", "systemd-sysv", "dbus")  # to boot the root; the rest is minbase
HOST_TOOLS = {"systemd-nspawn": "systemd-container", "nsenter": "util-linux"}
SHOW = "ActiveState,SubState,Result,NRestarts,ExecMainStatus,StatusText"
BOOT_S = 60.0  # the most a boot may take to start listener.service
SETTLE_S = 30.0  # the unit runs this long before it is judged: past one WatchdogSec
RESTART_S = 20.0  # the unit's RestartSec (tests/test_systemd_unit.py holds them equal)
# a copy of /dev/net/tun (misc 200), which anyone may open and DevicePolicy=closed must refuse, and /dev/null
TUN, NULL = ("/dev/rehearsal-tun", "10", "200"), ("/dev/rehearsal-null", "1", "3")  # /run is nodev
OPEN = """
import errno, os, sys
for path in sys.argv[1:]:
    try:
        os.close(os.open(path, os.O_RDWR))
        print("opened")
    except OSError as e:
        print(errno.errorcode[e.errno])
"""
WARNING = 4  # syslog priority: `journalctl -p warning` shows this and below
Journal = list[tuple[int, str]]  # (syslog priority, message) per line, oldest first


def cache(release: str) -> Path:
    """The cached base root with systemd for ``release`` (bench/fresh_demo.py starts from it too)."""
    return CACHES / f"debian{RELEASES[release].debian}-systemd.tar"


def configure(root: PiRoot, port: int, release: str) -> None:
    """What an installer edits after provisioning (MQTT, a vosk model), and the replay unit."""
    copy_test_model(root)
    config = root.path / "etc" / "listener" / "listener.toml"
    text = config.read_text()
    for old, new in (
        ('[asr]\nenabled = false\nmodel_path = ""', f'[asr]\nenabled = true\nmodel_path = "{KO_MODEL}"'),
        ('enabled = false\nhost = "127.0.0.1"\nport = 1883', f'enabled = true\nhost = "127.0.0.1"\nport = {port}'),
    ):
        assert old in text, f"the installed config changed shape: {old!r} not in it"
        text = text.replace(old, new)
    config.write_text(text)
    unit = (REPO / "systemd" / "listener.service").read_text()
    replay = unit.replace("run --wait-for-array", f"run --input {installed_sample(release)}").replace(
        "Restart=on-failure", "Restart=no"
    )
    assert replay != unit
    (root.path / "etc" / "systemd" / "system" / "listener-replay.service").write_text(replay)


class Booted:
    """The root booted by systemd-nspawn (no registration with a host systemd, which may not exist)."""

    def __init__(self, root: Path, log: Path) -> None:
        # The unit's DevicePolicy= in force, as on a Pi: there the hierarchy is cgroup v2 and the policy a BPF
        # program systemd attaches. nspawn gives a root v1 on a host with v1 controllers (hybrid), and on
        # either it keeps bpf() and CAP_BPF from the root, so its systemd skipped the policy unsaid.
        command = ["systemd-nspawn", "-q", "--keep-unit", "--register=no", "--capability=CAP_BPF,CAP_NET_ADMIN",
                   "--system-call-filter=bpf", "-D", str(root), "-b"]  # fmt: skip
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        self.proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env
        )
        self.root = root
        self.leader = ""
        deadline = time.monotonic() + 10.0
        while not self.leader and time.monotonic() < deadline:
            time.sleep(0.2)
            found = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
            self.leader = found.stdout.split()[0] if found.stdout.split() else ""

    def call(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", "-t", self.leader, "-a", *command], capture_output=True, text=True)

    def run(self, *command: str) -> str:
        done = self.call(*command)
        return (done.stdout + done.stderr).strip()

    def show(self, unit: str) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.run("systemctl", "show", unit, "-p", SHOW).splitlines())

    def journal(self, unit: str, since: str = "") -> Journal:
        """The unit's journal with each line's priority, read once (``-p warning`` would be a second read)."""
        command = ["journalctl", "-u", unit, "--no-pager", "-o", "json", *(["--since", since] if since else [])]
        entries = [json.loads(line) for line in self.call(*command).stdout.splitlines() if line.startswith("{")]
        return [(int(e.get("PRIORITY", 6)), _text(e.get("MESSAGE", ""))) for e in entries]

    def wait_for(self, unit: str, states: set[str], timeout_s: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        shown = self.show(unit)
        while shown.get("ActiveState") not in states and time.monotonic() < deadline:
            time.sleep(0.5)
            shown = self.show(unit)
        return shown

    def close(self) -> None:
        if self.leader:
            self.run("systemctl", "poweroff")
        try:
            self.proc.wait(30.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _text(message: object) -> str:
    """A journal MESSAGE: text, or the bytes journalctl gives as numbers when it is not UTF-8."""
    return bytes(message).decode(errors="replace") if isinstance(message, list) else str(message)


def _lines(journal: Journal, at_most: int = 7) -> list[str]:
    """The messages at ``at_most`` priority or more urgent (7, debug: all of them)."""
    return [message for priority, message in journal if priority <= at_most]


def _stack_line(line: str) -> bool:
    return line.lstrip().startswith('File "')


def _thread_line(line: str) -> bool:
    return line.startswith(("Thread 0x", "Current thread 0x"))


def booted_system(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """The root's systemd, and the cgroup hierarchy systemd-nspawn gave it (the device cgroup is BPF on cgroup2)."""
    return {
        "systemd": booted.run("systemctl", "--version").splitlines()[0],
        "cgroup": booted.run("stat", "-f", "-c", "%T", "/sys/fs/cgroup"),
    }


def device_policy(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """The unit's device lines in force (a devices cgroup on cgroup v1, a BPF program on v2): as the service
    user, a device the unit does not allow is refused (EPERM), and opens without those lines."""
    lines = [ln for ln in (REPO / "systemd" / "listener.service").read_text().splitlines() if ln.startswith("Device")]
    assert any(ln == "DevicePolicy=closed" for ln in lines), f"the unit's device policy changed: {lines}"
    for path, major, minor in (TUN, NULL):
        booted.run("mknod", "-m", "0666", path, "c", major, minor)
    command = ["systemd-run", "--pipe", "--wait", "--quiet", "-p", "User=listener"]
    opened = {}
    for name, properties in (("the unit's", [x for ln in lines for x in ("-p", ln)]), ("none", [])):
        done = booted.call(*command, *properties, "/usr/bin/python3", "-c", OPEN, TUN[0], NULL[0])
        opened[name] = dict(zip(("tun", "null"), done.stdout.split(), strict=False)) or done.stderr.strip()
    return {"device lines": lines, "opened": opened}


def waiting_for_the_array(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """listener.service as enabled, on a machine without the array."""
    booted.wait_for("listener", {"active", "failed"}, BOOT_S)
    time.sleep(SETTLE_S)
    shown = booted.show("listener")
    states = [m.json() for m in recorder.messages if m.topic.endswith("/state")]
    return {
        "systemd": shown,
        "journal": _lines(booted.journal("listener"))[-4:],
        "mqtt": topic_counts(recorder.messages),
        "last_state": {k: states[-1].get(k) for k in ("mode", "dominating")} if states else None,
    }


def doctor(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """The README's first installer step: doctor as the service sees it (its user, groups and secrets)."""
    command = ["systemd-run", "--pipe", "--wait", "--quiet", "-p", "User=listener",
               "-p", "SupplementaryGroups=audio gpio spi plugdev", "-p", "WorkingDirectory=/var/lib/listener",
               "-p", "EnvironmentFile=-/etc/listener/secrets.env", "-p", "ProtectHome=yes", "-p", "PrivateTmp=yes",
               LISTENER, "doctor", "--config", "/etc/listener/listener.toml"]  # fmt: skip
    done = booted.call(*command)
    return {"exit": done.returncode, "lines": (done.stdout + done.stderr).strip().splitlines()}


def replay(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """The replay unit: the whole pipeline under the same sandbox, the sample at real-time pace."""
    booted.run("systemctl", "stop", "listener")
    before = len(recorder.messages)
    t0 = time.monotonic()
    booted.run("systemctl", "start", "--no-block", "listener-replay")
    booted.wait_for("listener-replay", {"active"}, BOOT_S)
    shown = booted.wait_for("listener-replay", {"inactive", "failed"}, 120.0)
    took_s = time.monotonic() - t0
    time.sleep(1.0)  # the last PUBACKed messages reach the subscriber
    got = recorder.messages[before:]
    session: dict[str, Any] = next((m.json() for m in got if m.topic.endswith("/session")), {})
    keys = ("rep_talk_s", "customer_talk_s", "rep_share", "interruptions_by_rep", "monologues")
    cues = session.get("cues") or {}
    journal = booted.journal("listener-replay")
    return {
        "systemd": shown,
        # SyslogLevel=warning files any line the listener did not prefix there: a clean run shows none of its own
        "warnings": _lines(journal, WARNING),
        # ExecStopPost, after the run
        "leds_off_ran": any("the traffic-light LEDs are off" in line for line in _lines(journal)),
        "wall_s": round(took_s, 1),
        "journal": _lines(journal)[-3:],
        "mqtt": topic_counts(got),
        "session": {k: session.get(k) for k in keys} | {"words": [cues.get("rep_words"), cues.get("customer_words")]},
        "state_dir": booted.run("ls", "-ln", "/var/lib/listener").splitlines()[1:],
    }  # fmt: skip


def config_typo(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """An installer's typo in the config: the start fails once and is not retried (exit 2 is a
    RestartPreventExitStatus); after the fix the restart is not refused by the start limit."""
    config = "/etc/listener/listener.toml"
    booted.run("sed", "-i", "s/^log_level = /log_levle = /", config)
    booted.run("systemctl", "restart", "listener")
    time.sleep(1.5 * RESTART_S)  # past one RestartSec: time for a restart, had there been one
    failed = booted.show("listener")
    journal = _lines(booted.journal("listener"))
    booted.run("sed", "-i", "s/^log_levle = /log_level = /", config)
    restart = booted.call("systemctl", "restart", "listener")
    return {
        "with the typo": failed,
        # the service's refusal, then leds-off (ExecStopPost) switching the lights off by [leds] alone
        "journal": [line for line in journal if "log_levle" in line][-2:],
        "restart after the fix": {"exit": restart.returncode, "stderr": restart.stderr.strip()},
        "then": booted.wait_for("listener", {"active", "failed"}, BOOT_S),
    }


def watchdog_abort(booted: Booted, recorder: Recorder) -> dict[str, object]:
    """What the watchdog does to a hung service (SIGABRT to the main process): every thread's Python stack in
    the journal (faulthandler), the death among the warnings, and the restart after RestartSec."""
    booted.wait_for("listener", {"active"}, BOOT_S)
    since = booted.run("date", "+%Y-%m-%d %H:%M:%S")
    before = booted.show("listener").get("NRestarts", "")
    booted.run("systemctl", "kill", "-s", "ABRT", "--kill-whom=main", "listener")
    time.sleep(RESTART_S + 10.0)  # past RestartSec, and the start
    entries = booted.journal("listener", since)
    after = booted.show("listener")
    journal, at_warning = _lines(entries), _lines(entries, WARNING)
    return {
        "fatal_error_line": next((line for line in journal if line.startswith("Fatal Python error")), None),
        "threads_dumped": sum(1 for line in journal if _thread_line(line)),
        "stack_lines": sum(1 for line in journal if _stack_line(line)),
        "stack_lines_at_warning": sum(1 for line in at_warning if _stack_line(line)),
        "warnings": [line for line in at_warning if not (_stack_line(line) or _thread_line(line))],
        "restarts": f"{before} -> {after.get('NRestarts')}",
        "then": after,
    }


STEPS = {
    "boot": booted_system,
    "no array": waiting_for_the_array,
    "device policy": device_policy,
    "doctor": doctor,
    "replay": replay,
    "config typo": config_typo,
    "watchdog abort": watchdog_abort,
    "upgrade in service": upgrade,
    "upgrade again": upgrade_again,
    "hand run": hand_run,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_release_argument(parser)
    parser.add_argument("--keep", type=Path, help="make the root in DIR/root (new) and leave it there")
    parser.add_argument(
        "--only", action="append", choices=sorted(STEPS), help="run this step (again for more), not all of them"
    )
    args = parser.parse_args(argv)
    release = args.release
    if (problem := host_problem(HOST_TOOLS)) is not None:
        print(f"unit_rehearsal: {problem}", file=sys.stderr)
        return 2
    steps = [(name, step) for name, step in STEPS.items() if not args.only or name in args.only]
    with fresh_root(cache(release), "amd64", SYSTEMD_PACKAGES, keep=args.keep, release=release) as root:
        print("== provision\n" + json.dumps(provision(root), indent=1))
        root.close()  # nspawn mounts its own /proc
        work = root.path.parent
        with Mosquitto(work / "broker") as broker, Recorder(broker) as recorder:
            configure(root, broker.port, release)
            booted = Booted(root.path, work / "boot.log")
            try:
                booted.wait_for("listener", {"active", "failed"}, BOOT_S)  # each step starts from a booted root
                for name, step in steps:
                    print(f"== {name}\n{json.dumps(step(booted, recorder), indent=1, ensure_ascii=False)}")
            finally:
                booted.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
