"""firmware/provision.sh run over a fleet: one run at a time on a root (a fleet script's retry while the first
run still works)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.provision_root import FILES_ONLY, provision, script_function, snapshot

BUSY = "another provision.sh run is at work on"


@contextmanager
def held(root: Path) -> Iterator[None]:
    """The lock a run at work holds on its root: flock on the root folder, as the script takes it."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def test_a_second_run_on_a_root_at_work_changes_nothing(pi_root: Path) -> None:
    """Two runs at once on one root raced through groupadd: one stopped halfway, exit 9 (groupadd's own: 'group
    gpio already exists'), with no line of the script's. The second now stops before any change, exit 1."""
    before = snapshot(pi_root)
    with held(pi_root):
        busy = provision(pi_root, *FILES_ONLY, check=False)
        dry = provision(pi_root, "--dry-run", *FILES_ONLY, check=False)  # its plan would be half of the other's
    assert busy.returncode == 1, busy.stdout + busy.stderr
    assert busy.stderr.splitlines() == [
        f"error: {BUSY} {pi_root} (one whose ssh session dropped may still be: `pgrep -af provision.sh` shows it); "
        "nothing was changed: let it finish, then run this again"
    ]
    assert busy.stdout == "" and snapshot(pi_root) == before
    assert dry.returncode == 1 and BUSY in dry.stderr and dry.stdout == "", dry.stdout + dry.stderr
    # the holder gone (however it ended: the kernel lets go), the next run does the work
    done = provision(pi_root, *FILES_ONLY)
    assert "change: create system user listener" in done.stdout, done.stdout


def test_the_programs_run_in_the_target_do_not_hold_the_lock(tmp_path: Path) -> None:
    """A daemon apt's maintainer scripts start in a chroot outlives the run: holding the lock's descriptor, it
    would refuse every later run."""
    done = script_function(f"ROOT=/; exec 9<{tmp_path}; flock -n 9; run ls /proc/self/fd")
    assert done.returncode == 0, done.stderr
    assert "9" not in done.stdout.split(), done.stdout
