"""The one-listener-per-state-folder lock, when its file belongs to someone else.

A `sudo listener run` started while the service was stopped leaves a lock file owned by root in
the service's state folder (systemd's StateDirectory= does not give back the files inside it).
The service may not write that file, but a lock needs no write access: the guard must hold.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from listener.errors import AlreadyRunningError
from listener.service.instance import LOCK_FILE, InstanceLock, held
from tests.test_logs import journal_run

HOLD = """
import sys, time
from pathlib import Path
from listener.service.instance import InstanceLock
with InstanceLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def _foreign_lock(tmp_path: Path, mode: int) -> tuple[list[str], Path, Path]:
    """(setpriv's prefix that drops root's override of file permissions, the state folder, its lock file
    given to another user with ``mode``); skips where that cannot be arranged."""
    if os.geteuid() != 0:
        pytest.skip("needs root: to give the lock file to another user")
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    if shutil.which("setpriv") is None or subprocess.run([*drop, "true"], check=False).returncode:
        pytest.skip("setpriv cannot drop root's override of file permissions here")
    state = tmp_path / "state"
    state.mkdir()
    lock = state / LOCK_FILE
    lock.write_text("")
    lock.chmod(mode)
    os.chown(lock, 4242, 4242)  # left by someone else's run
    return drop, state, lock


def test_a_lock_file_this_run_may_not_write_still_keeps_a_second_run_out(tmp_path: Path) -> None:
    drop, state, _ = _foreign_lock(tmp_path, 0o644)
    # the first run, without root's power over permissions: as the service user would be
    first = subprocess.Popen([*drop, sys.executable, "-c", HOLD, str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunningError, match="already runs with \\[service\\] state_dir"):
            InstanceLock(state).open()
    finally:
        first.kill()
        first.wait()
    with InstanceLock(state):  # its lock went with it
        pass


TRY = """
import sys
from pathlib import Path
from listener.errors import AlreadyRunningError
from listener.service.instance import InstanceLock
try:
    InstanceLock(Path(sys.argv[1])).open()
except AlreadyRunningError as exc:
    print(exc)
"""


def test_a_lock_file_a_run_made_keeps_out_a_run_by_another_user(tmp_path: Path) -> None:
    # the file a `sudo listener run` makes stays in the state folder, its owner's: the service's user, or any
    # other, locks it with read access only, so the file must be made readable by everyone (umask allowing)
    drop, state, lock = _foreign_lock(tmp_path, 0o644)
    lock.unlink()
    with InstanceLock(state):  # makes the file
        os.chown(lock, 4242, 4242)  # another user's to the run below
        done = subprocess.run(
            [*drop, sys.executable, "-c", TRY, str(state)], capture_output=True, text=True, timeout=60
        )
    assert f"another listener (pid {os.getpid()}) already runs with [service] state_dir {state}" in done.stdout, (
        done.stdout + done.stderr
    )


def test_a_lock_file_this_run_may_not_even_read_is_said_with_its_fix(tmp_path: Path) -> None:
    drop, state, lock = _foreign_lock(tmp_path, 0o600)
    code = "from listener.service.logs import setup_logging\nsetup_logging()\n" + HOLD.replace("60", "0")
    done = subprocess.run([*drop, sys.executable, "-c", code, str(state)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "locked", done.stderr  # the run goes on
    assert f"cannot open the instance lock {lock}: a second listener on this state_dir would not be refused" in (
        done.stderr
    )
    assert f"sudo chown listener: {lock}" in done.stderr


def test_doctor_tells_a_running_listener_without_trying_its_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # doctor asks whether the service runs before it takes the device's MQTT client id; trying the lock to
    # find out kept a service starting in that instant out, and a refused start is not restarted
    assert held(tmp_path) is False  # no listener has run with this folder
    first = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "locked"
        monkeypatch.setattr("fcntl.flock", _no_lock)
        assert held(tmp_path) is True
    finally:
        first.kill()
        first.wait()
    assert held(tmp_path) is False  # its lock went with it; its file stays


def _no_lock(fd: int, operation: int) -> None:
    raise AssertionError("held() must not take the lock, even for an instant")


def test_a_state_dir_that_cannot_be_made_runs_without_the_lock_and_says_nothing_here(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # [service] state_dir under a file: with MQTT off nothing else needs the folder, so the run goes on; with
    # MQTT on the spool stops the start naming the file in the way, one error rather than two about one cause
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    state = blocker / "state"
    # a second lock inside the first: nothing is locked, so nothing refuses it either
    with caplog.at_level(logging.DEBUG, logger="listener.service.instance"), InstanceLock(state), InstanceLock(state):
        pass
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG], caplog.text
    assert f"no instance lock at {state / LOCK_FILE} (Not a directory)" in caplog.records[0].getMessage()
    assert held(state) is None  # whether a listener runs there cannot be told, not "none does"


def test_a_full_card_costs_the_lock_only_its_pid_not_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The lock file is there from an earlier run (closed to 0 bytes); writing the pid into it on a full card
    raised ENOSPC, a traceback at every start with nothing naming the disk. The lock holds, and it is said."""

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    (tmp_path / LOCK_FILE).write_text("")  # as the earlier run's close left it
    monkeypatch.setattr(os, "write", full)  # os.write of this process, for the test's few lines
    with caplog.at_level(logging.WARNING), InstanceLock(tmp_path):
        assert held(tmp_path)
        with pytest.raises(AlreadyRunningError):
            InstanceLock(tmp_path).open()
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot write this run's pid into {tmp_path / LOCK_FILE} (No space left on device)"
    ]


def test_a_state_dir_that_takes_no_locks_runs_unlocked_not_refused_as_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A state_dir on NFS without lockd: flock says ENOLCK. It was "another listener already runs" with exit 2,
    which the unit does not restart: the service stayed down, told to stop a listener that did not exist."""

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING), InstanceLock(tmp_path):
        pass
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot lock {tmp_path / LOCK_FILE} (No locks available): a second listener on this state_dir would not be "
        "refused"
    ]


def test_a_folder_where_the_lock_file_belongs_is_said_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # its open failed "Is a directory", logged at debug: a second listener on the folder ran beside the first, unsaid
    (tmp_path / LOCK_FILE).mkdir()
    with caplog.at_level(logging.WARNING), InstanceLock(tmp_path):
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert said == [
        f"the instance lock {tmp_path / LOCK_FILE} is a folder: a second listener on this state_dir would not be "
        f"refused; fix: remove it (`rmdir {tmp_path / LOCK_FILE}`: the listener makes the file)"
    ]


def _service_run(state: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`listener run --wait-for-array` on ``state`` as the unit starts it: live, so it takes the lock first."""
    config = state.parent / "listener.toml"
    config.write_text(
        '[array]\ndevice = "no_such_array"\n[leds]\nenabled = false\nbutton_pin = ""\n[asr]\nenabled = false\n'
        f'[service]\nstate_dir = "{state}"\n'
    )
    cmd = [sys.executable, "-m", "listener", "run", "--wait-for-array", "--config", str(config)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.mark.parametrize("by", ["systemd", "hand"])
def test_the_service_refused_by_a_run_by_hand_waits_it_out_and_a_run_by_hand_is_told_to_stop_the_service(
    tmp_path: Path, by: str
) -> None:
    """An installer's `listener run` at the counter held the lock when the service (re)started: the service exited 2,
    which its unit does not restart (RestartPreventExitStatus=2), so it stayed down once the run by hand had ended,
    its journal telling it to `systemctl stop listener`, itself. It now exits 75, which the unit restarts on every
    RestartSec; a run by hand refused by the service keeps exit 2 and that advice."""
    state = tmp_path / "state"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "NOTIFY_SOCKET")}
        if by == "systemd":
            env["INVOCATION_ID"] = "0123456789abcdef0123456789abcdef"  # as systemd sets it for every unit
        done = _service_run(state, env)
    finally:
        holder.kill()
        holder.wait()
    (line,) = [line for line in done.stderr.splitlines() if "another listener" in line]
    assert f"another listener (pid {holder.pid}) already runs with [service] state_dir {state}" in line, line
    if by == "systemd":
        assert done.returncode == 75, done.stderr
        assert (
            "(a `listener run` by hand?): the service tries again every 20 s (RestartSec) and starts once that one ends"
            in line
        ), line
        assert "stop it first" not in line
    else:
        assert done.returncode == 2, done.stderr
        assert "stop it first (`sudo systemctl stop listener` for the service)" in line, line


def test_the_services_deferral_is_a_warning_in_the_journal_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a real systemd the deferred service logged its refusal at err every RestartSec (bench.unit_hand_run:
    about 3 lines a minute), so `journalctl -p err` read an installer's run at the counter as a fault."""
    state = tmp_path / "state"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        # the unit's environment; journal_run names its stderr in JOURNAL_STREAM, as systemd does
        monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
        config = state.parent / "listener.toml"
        config.write_text(f'[array]\ndevice = "none"\n[asr]\nenabled = false\n[service]\nstate_dir = "{state}"\n')
        code, lines = journal_run(
            ["-m", "listener", "run", "--wait-for-array", "--config", str(config)], tmp_path, True
        )
    finally:
        holder.kill()
        holder.wait()
    assert code == 75, lines
    (line,) = [line for line in lines if "another listener" in line]
    assert line.startswith("<4>listener: another listener"), line


FLOCK_ONLY = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_holder_that_could_not_write_its_pid_is_named_from_the_kernels_table(tmp_path: Path) -> None:
    """The lock file empty (its holder's card full, or the file another user's that it could only read): the
    refusal named no pid, though /proc/locks has it."""
    lock = tmp_path / LOCK_FILE
    holder = subprocess.Popen([sys.executable, "-c", FLOCK_ONLY, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert lock.read_text() == ""
        with pytest.raises(AlreadyRunningError, match=f"another listener \\(pid {holder.pid}\\) already runs"):
            InstanceLock(tmp_path).open()
    finally:
        holder.kill()
        holder.wait()
