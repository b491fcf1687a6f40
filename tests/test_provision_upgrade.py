"""provision.sh run again on a device in service, to roll out a new version: the service stopped before pip swaps
its package and started again whatever pip does, and apt waiting for a lock another program holds. The steps run
alone (a run reaches them only on a live Pi) on stand-ins for systemctl, pip and apt-get; the locks are real ones,
held by another process and found in the kernel's /proc/locks as on the device."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.provision_root import REPO, script_function

UNIT = "listener.service"

# systemctl as a running Pi has it, the service's state in $STATE_FILE: what changes something is recorded in $CALLS
SYSTEMCTL = r"""
systemctl() {
    case " $* " in
    *" is-enabled "*) return 0 ;;
    *" is-active "*) cat "$STATE_FILE"; [[ $(<"$STATE_FILE") == active ]]; return ;;
    *" NeedDaemonReload "*) echo no; return 0 ;;
    *" show "*) echo "@$(date +%s)"; return 0 ;;
    esac
    echo "systemctl $*" >>"$CALLS"
    case $1 in
    stop) echo inactive >"$STATE_FILE" ;;
    start | restart) echo active >"$STATE_FILE" ;;
    esac
}
"""


def _venv_with_pip(tmp_path: Path, calls: Path, state: Path) -> Path:
    """A whole venv whose pip (a stand-in) records the service's state while it runs, then installs the console
    script, or fails as pip does offline when ``tmp_path``/pip-fails exists."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").write_text("#!/bin/sh\n")
    (venv / "bin/pip").write_text(
        "#!/usr/bin/env bash\n"
        f'echo "pip while the service is $(<{state})" >>{calls}\n'
        f"if [[ -e {tmp_path / 'pip-fails'} ]]; then\n"
        '    echo "ERROR: Could not find a version that satisfies the requirement certifi" >&2; exit 1\nfi\n'
        f'printf "#!/bin/sh\\n" >{venv / "bin/listener"}; chmod 755 {venv / "bin/listener"}\n'
    )
    for program in ("python", "pip"):
        (venv / "bin" / program).chmod(0o755)
    return venv


def upgrade(
    tmp_path: Path, state: str, *, boot_changed: int = 0, dry_run: int = 0, live: bool = True, then: str = ""
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """ensure_package, then apply_live, as main runs them on a running Pi (ROOT /) whose service is in ``state``
    (systemctl is-active): the calls that changed something, and the run. ``boot_changed``: the run changed the
    boot config too (a reboot is due); ``live``: systemd is the running init; ``then``: run after ensure_package
    (a later step that stops the run)."""
    checkout = tmp_path / "checkout"
    if not checkout.exists():
        (checkout / "listener").mkdir(parents=True)
        (checkout / "listener/__init__.py").write_text('__version__ = "0.2.0"\n')
        (checkout / "pyproject.toml").write_text('[project]\nname = "listener"\n')
    calls, state_file = tmp_path / "calls", tmp_path / "state"
    calls.write_text("")
    state_file.write_text(f"{state}\n")
    venv = tmp_path / "venv" if (tmp_path / "venv").exists() else _venv_with_pip(tmp_path, calls, state_file)
    (tmp_path / "systemd").mkdir(exist_ok=True)
    setup = (
        f"ROOT=/; DRY_RUN={dry_run}; NO_SYSTEMCTL=0; NO_PIP=0; VENV={venv}; SOURCE={checkout}; "
        f"SOURCE_STAMP={tmp_path / 'stamp'}; CONSTRAINTS={REPO / 'firmware/constraints.txt'}; "
        f"SYSTEMD_RUNNING={tmp_path / ('systemd' if live else 'no-systemd')}; CONF_DIR={tmp_path / 'etc'}; "
        f"UNIT_PATH={tmp_path / UNIT}; REBOOT_DUE={tmp_path / 'reboot-due'}; "
        f"REBOOT_REQUIRED={tmp_path / 'reboot-required'}; CALLS={calls}; STATE_FILE={state_file}"
    )
    run = f"service_start=$CHANGES; ensure_package; {then}\napply_live 0 0 {boot_changed} $((CHANGES - service_start))"
    done = script_function(f"{setup}\n{SYSTEMCTL}\n{run}")
    return calls.read_text().splitlines(), done


STOP = f"systemctl stop {UNIT}"
RESTART = f"systemctl restart {UNIT}"


@pytest.mark.parametrize("state", ["active", "activating"])
def test_pip_replaces_the_package_of_a_stopped_service_which_is_then_started(tmp_path: Path, state: str) -> None:
    """pip swapped the package under the running service, which imports some modules only when it needs them
    (the array reopened): a new module beside an old one could crash it, losing the session in progress, and
    Restart= start it on a half-installed package. It is stopped (gracefully: the session is published) before
    pip, also while it waits to be restarted after a crash (activating), and restarted at the end."""
    calls, done = upgrade(tmp_path, state)
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls == [STOP, "pip while the service is inactive", RESTART], calls
    (stop,) = [line for line in done.stdout.splitlines() if line.startswith(f"change: stop {UNIT}")]
    assert stop.startswith(f"change: stop {UNIT} ({state}) before pip replaces its package"), stop
    assert "the stop publishes the session in progress" in stop
    assert (tmp_path / "state").read_text() == "active\n"
    # a run again that changes nothing leaves the service alone: no stop, no restart
    calls, again = upgrade(tmp_path, "active")
    assert calls == [] and again.stdout == "", again.stdout + again.stderr


def test_a_failed_pip_starts_the_service_again_before_its_error(tmp_path: Path) -> None:
    """pip failing (no network) after the stop must not leave the device dark: the service is started again,
    on the package pip left as it was, and the script's error is still the last line."""
    (tmp_path / "pip-fails").write_text("")
    calls, done = upgrade(tmp_path, "active")
    assert done.returncode == 1, done.stdout + done.stderr
    assert calls == [STOP, "pip while the service is inactive", f"systemctl start {UNIT}"], calls
    *_, pip_line, start_line = done.stdout.splitlines()
    assert pip_line.startswith("change: pip install "), done.stdout
    assert start_line == f"change: start {UNIT} again (stopped for pip above; this run stops before its restart)"
    assert done.stderr.splitlines()[-1].startswith("error: pip could not install "), done.stderr
    assert (tmp_path / "state").read_text() == "active\n"


@pytest.mark.parametrize("state", ["inactive", "failed"])
def test_a_service_that_is_not_running_is_not_stopped(tmp_path: Path, state: str) -> None:
    """Nothing to stop: pip runs, and the restart at the end starts it (as before)."""
    calls, done = upgrade(tmp_path, state)
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls == [f"pip while the service is {state}", RESTART], calls
    assert "stop" not in done.stdout


def test_the_stop_and_the_restart_are_only_announced_in_a_dry_run(tmp_path: Path) -> None:
    calls, done = upgrade(tmp_path, "active", dry_run=1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls == [], calls
    assert f"would: stop {UNIT} (active) before pip replaces its package" in done.stdout, done.stdout
    assert f"would: restart {UNIT}" in done.stdout


def test_a_dry_run_that_stops_early_starts_nothing(tmp_path: Path) -> None:
    """A dry run that said "would: stop" and then stops at a later step's error stopped nothing: it starts nothing
    on the way out either (the real run would start the service it stopped)."""
    calls, done = upgrade(tmp_path, "active", dry_run=1, then='die "a later step failed"')
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"would: stop {UNIT} (active) before pip" in done.stdout, done.stdout
    assert calls == [], calls
    assert f"start {UNIT} again" not in done.stdout, done.stdout
    assert done.stderr.splitlines() == ["error: a later step failed"], done.stderr


def test_not_on_a_running_system_nothing_is_stopped(tmp_path: Path) -> None:
    """Where systemd is not the running init (a chroot, a root being built) there is no service to stop."""
    calls, done = upgrade(tmp_path, "active", live=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls == ["pip while the service is active"], calls


def test_a_reboot_due_does_not_leave_the_service_stopped(tmp_path: Path) -> None:
    """With the boot config changed the service is not restarted (it starts at that boot); but one this run stopped
    for pip ran before it, and is started again rather than left down until someone reboots."""
    calls, done = upgrade(tmp_path, "active", boot_changed=1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls == [STOP, "pip while the service is inactive", RESTART], calls
    assert f"change: start {UNIT} again (stopped for pip above)" in done.stdout, done.stdout
    assert "note: reboot to load the audio overlay" in done.stdout


def test_a_dry_run_with_a_reboot_due_says_the_start_again_it_would_do(tmp_path: Path) -> None:
    """A dry run said "would: stop" before pip and, with a reboot due, no matching start: read as the real run's
    plan, the service would be left down until that reboot, which the real run does not do."""
    calls, done = upgrade(tmp_path, "active", boot_changed=1, dry_run=1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls == [], calls
    lines = done.stdout.splitlines()
    stop = next(i for i, line in enumerate(lines) if line.startswith(f"would: stop {UNIT} (active) before pip"))
    start = lines.index(f"would: start {UNIT} again (stopped for pip above)")
    assert stop < start, done.stdout
    assert "note: reboot to load the audio overlay" in done.stdout
    assert (tmp_path / "state").read_text() == "active\n"  # a dry run stops nothing, and starts nothing
    # nothing to stop, nothing to start again: a service that was not running stays as it was
    calls, done = upgrade(tmp_path, "inactive", boot_changed=1, dry_run=1)
    assert calls == [] and f"start {UNIT}" not in done.stdout and f"stop {UNIT}" not in done.stdout, done.stdout


# apt-get as a stand-in that takes apt's locks as apt does (a POSIX lock, not waiting): update the lists' lock,
# install dpkg's; it records its arguments in $CALLS and fails as apt 2.6 does when the lock is held. With $RACE a
# file, its first run finds the lock taken an instant after the script looked (by a holder that keeps it 1 s)
APT_GET = f"""#!{sys.executable}
import fcntl, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as calls:
    print(" ".join(args), file=calls)
step_lock = "var/lib/apt/lists/lock" if "update" in args else "var/lib/dpkg/lock-frontend"
lock = os.path.join(os.environ["FAKE_ROOT"], step_lock)
race = os.environ.get("RACE", "")
if race and os.path.exists(race):
    os.unlink(race)
    holder = subprocess.Popen([sys.executable, "-c", os.environ["HOLDER"], lock, "1"], stdout=subprocess.PIPE)
    holder.stdout.readline()
with open(lock, "a") as file:
    try:
        fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit(f"E: Could not get lock {{lock}}. It is held by another process")
"""

HOLDER = """import fcntl, sys, time
file = open(sys.argv[1], "a")
fcntl.lockf(file, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@contextmanager
def held(lock: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """``lock`` held by another process (as PackageKit or an apt in another session holds it) for ``seconds``."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def apt_install(tmp_path: Path, wait_s: int, race: bool = False) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """provision.sh's apt_install python3 alsa-utils into a root in ``tmp_path`` with apt's lock files, waiting up to
    ``wait_s`` for a lock, looking again every 0.2 s: apt-get's calls, and the run. ``race``: apt-get's first run
    finds its lock taken since the script looked."""
    root, stand_ins, calls = tmp_path / "root", tmp_path / "bin", tmp_path / "calls"
    if not root.exists():
        for lock in ("var/lib/apt/lists/lock", "var/lib/dpkg/lock-frontend", "var/lib/dpkg/lock"):
            (root / lock).parent.mkdir(parents=True, exist_ok=True)
            (root / lock).write_text("")
        stand_ins.mkdir()
        (stand_ins / "chroot").write_text('#!/usr/bin/env bash\nshift; exec "$@"\n')  # apt-get from PATH
        (stand_ins / "apt-get").write_text(APT_GET)
        for program in stand_ins.iterdir():
            program.chmod(0o755)
    calls.write_text("")
    env = {"PATH": f"{stand_ins}:{os.environ['PATH']}", "CALLS": str(calls), "FAKE_ROOT": str(root), "HOLDER": HOLDER}
    if race:
        (tmp_path / "race").write_text("")
        env["RACE"] = str(tmp_path / "race")
    setup = f"ROOT={root}; APT_LOCK_WAIT_S={wait_s}; APT_LOCK_POLL_S=0.2"
    done = script_function(f"{setup}; apt_install python3 alsa-utils", env=env)
    return calls.read_text().splitlines(), done


def _steps(calls: list[str]) -> list[str]:
    """apt-get's steps, each checked to carry the wait for dpkg's lock that is left (of 30 s)."""
    for call in calls:
        option, timeout = call.split()[1].split("=")
        assert option == "DPkg::Lock::Timeout" and 0 <= int(timeout) <= 30, call
    return [call.split()[2] for call in calls]


@pytest.mark.parametrize("lock", ["/var/lib/apt/lists/lock", "/var/lib/dpkg/lock-frontend"])
def test_apt_waits_for_a_lock_another_program_holds(tmp_path: Path, lock: str) -> None:
    """PackageKit's refresh on a desktop image, or an apt in another ssh session: apt-get failed at once, and the
    script said to check the network and the clock. apt-get update fails at once on the lists' lock whatever
    DPkg::Lock::Timeout says (apt 2.6, measured): the script waits for the lock, and runs apt once it is free."""
    apt_install(tmp_path, 30)  # the root and its lock files
    with held(tmp_path / "root" / lock.removeprefix("/"), 1.5) as holder:
        name = Path(f"/proc/{holder.pid}/comm").read_text().strip()
        calls, done = apt_install(tmp_path, 30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (
        f"note: {lock} is held by process {holder.pid} ({name}; `ps -fp {holder.pid}` shows it): waiting for it, "
        "up to 30 s\n"
    ), done.stdout
    assert _steps(calls) == ["update", "install"], calls  # not run while it is held
    assert calls[-1].endswith("install -y --no-install-recommends python3 alsa-utils"), calls


def test_a_lock_taken_between_the_look_and_apt_is_waited_for_too(tmp_path: Path) -> None:
    calls, done = apt_install(tmp_path, 30, race=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "E: Could not get lock" in done.stderr and "/var/lib/apt/lists/lock is held by process" in done.stdout
    assert _steps(calls) == ["update", "update", "install"], calls


def test_a_lock_held_still_is_named_not_the_network(tmp_path: Path) -> None:
    """After the wait, the error names the lock and the process that holds it, and what to do: not the network."""
    apt_install(tmp_path, 1)
    lock = "/var/lib/apt/lists/lock"
    with held(tmp_path / "root" / lock.removeprefix("/"), 60) as holder:
        name = Path(f"/proc/{holder.pid}/comm").read_text().strip()
        calls, done = apt_install(tmp_path, 1)
    assert done.returncode == 1, done.stdout + done.stderr
    assert calls == [], calls
    assert done.stderr.splitlines() == [
        f"error: apt-get update could not run: {lock} is held by process {holder.pid} ({name}; `ps -fp {holder.pid}` "
        "shows it), still after 1 s (PackageKit on a desktop image, an apt or unattended-upgrades at work): let it "
        "finish, then run this again (what it did so far is kept)"
    ]
