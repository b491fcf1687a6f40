"""firmware/provision.sh run over a fleet: one run at a time on a root (a fleet script's retry while the first
run still works), and a card imaged from another, calibrated device given its own --config."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from listener.service.calibrate.write import edit_parties
from tests.provision_root import FILES_ONLY, config_refusal, provision, script_function, snapshot

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


NOBODY = 65534


@contextmanager
def unreadable_copy(pi_root: Path) -> Iterator[Path]:
    """A copy of ``pi_root`` that the account the script runs as (nobody, where the tests run as root) may enter
    but not read: mode 0311, as a --root another account owns may be. In /tmp, which anyone may enter (the
    tests' own folders are their owner's alone)."""
    with tempfile.TemporaryDirectory(prefix="provision-unreadable-") as folder:
        Path(folder).chmod(0o711)
        root = Path(folder) / "root"
        shutil.copytree(pi_root, root, symlinks=True)
        for path in (root, *root.rglob("*")):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        root.chmod(0o311)
        try:
            yield root
        finally:
            root.chmod(0o755)


def as_nobody() -> list[str]:
    """The command that runs the script as an account that may not read the copy: itself where it is not root."""
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if os.geteuid() == 0 else []


def test_a_dry_run_on_a_root_it_may_not_read_goes_on_unlocked_with_a_warning(pi_root: Path) -> None:
    """A dry run by an installer's own account on a --root it may enter but not read ended with bash's own
    "Permission denied" from the lock (exit 1, no line of the script's). A dry run changes nothing, so it goes
    on and says what the missing lock means; a run that would change the root stops before any change."""
    with unreadable_copy(pi_root) as root:
        before = snapshot(root.parent)
        dry = provision(root, "--dry-run", *FILES_ONLY, check=False, under=as_nobody())
        real = provision(root, *FILES_ONLY, check=False, under=as_nobody())
        assert snapshot(root.parent) == before
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Permission denied" not in dry.stderr, dry.stderr
    assert dry.stderr.splitlines()[0] == (
        f"warning: {root} cannot be read by this user, so this dry run cannot lock it against a run at work on it"
        " (the plan would be half of that run's, where one is): run as root (sudo) to be sure"
    ), dry.stderr
    assert "would: create system user listener" in dry.stdout, dry.stdout
    assert real.returncode == 1 and real.stdout == "", real.stdout + real.stderr
    assert real.stderr.splitlines() == [
        f"error: {root} cannot be read by this user, so it cannot be locked against a second run at the same time;"
        " nothing was changed: run as root (sudo), or add --dry-run"
    ], real.stderr


def test_the_programs_run_in_the_target_do_not_hold_the_lock(tmp_path: Path) -> None:
    """A daemon apt's maintainer scripts start in a chroot outlives the run: holding the lock's descriptor, it
    would refuse every later run."""
    done = script_function(f"ROOT=/; exec 9<{tmp_path}; flock -n 9; run ls /proc/self/fd")
    assert done.returncode == 0, done.stderr
    assert "9" not in done.stdout.split(), done.stdout


FLEET_CONFIG = '[array]\npreset = "respeaker-4mic"\ndevice = "listener_array"\n\n[mqtt]\nenabled = true\n'
CALIBRATION = "rep_azimuth_deg = 42.5, customer_azimuth_deg = 221.0"


def calibrated_counter_1(pi_root: Path, tmp_path: Path) -> Path:
    """counter-1's fleet file, provisioned on ``pi_root`` and then calibrated there (as CALIBRATION says)."""
    counter_1 = tmp_path / "counter-1.toml"
    counter_1.write_text(FLEET_CONFIG + 'device_id = "counter-1"\n')
    provision(pi_root, "--config", str(counter_1), *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"
    installed.write_text(edit_parties(installed.read_text(), {"rep_azimuth_deg": 42.5, "customer_azimuth_deg": 221.0}))
    return counter_1


def test_a_card_imaged_from_a_calibrated_device_is_not_told_to_copy_its_calibration(
    pi_root: Path, tmp_path: Path
) -> None:
    """A card imaged from counter-1 after its calibration, given counter-3's file: the refusal offered
    counter-1's azimuths to copy into counter-3's file, where they would pass for this counter's calibration."""
    calibrated_counter_1(pi_root, tmp_path)
    counter_3 = tmp_path / "counter-3.toml"
    counter_3.write_text(FLEET_CONFIG + 'device_id = "counter-3"\n')
    clone = tmp_path / "clone"
    shutil.copytree(pi_root, clone, symlinks=True)

    before = snapshot(clone)
    refused = provision(clone, "--config", str(counter_3), *FILES_ONLY, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.splitlines()[-1] == config_refusal(
        counter_3,
        "mqtt.device_id",
        "the installed file names another mqtt.device_id: on a card imaged from another device, its calibration "
        f"({CALIBRATION}) is that counter's, so add --force-config, then calibrate this one (sudo listener "
        f"calibrate --write); for a device renamed, copy the calibration into {counter_3} first, then add "
        "--force-config",
    )
    assert snapshot(clone) == before


def test_the_same_device_given_another_broker_is_told_to_copy_its_calibration(pi_root: Path, tmp_path: Path) -> None:
    """The plain advice stays where the device is the same: its calibration is its own."""
    counter_1 = calibrated_counter_1(pi_root, tmp_path)
    moved = tmp_path / "counter-1-new.toml"
    moved.write_text(counter_1.read_text().replace("enabled = true", 'enabled = true\nhost = "192.0.2.20"'))
    refused = provision(pi_root, "--config", str(moved), *FILES_ONLY, check=False)
    assert refused.returncode == 2 and "in mqtt.host, not only" in refused.stderr, refused.stderr
    assert f"copy the installed calibration ({CALIBRATION}" in refused.stderr, refused.stderr
    assert "names another mqtt.device_id" not in refused.stderr
    assert refused.stderr.splitlines()[-1] == config_refusal(
        moved,
        "mqtt.host",
        f"copy the installed calibration ({CALIBRATION}) into {moved} first, then add --force-config",
    )
