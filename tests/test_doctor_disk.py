"""`listener doctor`'s disk check against real folders: the state folder, its free space, and the files
in it the service must write (a root-owned spool, a root-owned pause file)."""

from __future__ import annotations

import errno
import os
import pwd
import re
import shutil
from pathlib import Path

import pytest

from listener.config.mqtt_schema import MqttConfig
from listener.errors import AS_SERVICE_USER
from listener.outputs.mqtt.spool_access import access_problem
from listener.service import doctor
from listener.service.doctor import disk as doctor_disk
from listener.service.doctor import mounts as doctor_mounts
from listener.service.doctor.disk import LOST, SPOOL_BYTES_PER_MESSAGE
from tests.doctor_config import config
from tests.folders import refusing_writes


def test_state_dir_that_cannot_be_created_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    check = doctor.check_state_dir(config(tmp_path, service={"state_dir": str(blocker / "state")}))
    assert check.status == "FAIL"
    assert str(blocker) in check.detail
    assert "state_dir" in check.fix


def test_read_only_state_dir_fails(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with refusing_writes(state):  # as root too, which CI runs as
        check = doctor.check_state_dir(config(tmp_path))
    assert check.status == "FAIL"
    assert f"{state} is not writable" in check.detail
    # the folder is there: its owner is the fix, or a run as the service user from a folder it may use
    assert f"`sudo chown -R listener: {state}`" in check.fix
    assert f"`{AS_SERVICE_USER} listener doctor ...`" in check.fix and "sudo -u" not in check.fix


@pytest.fixture
def unit_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The unit's StateDirectory= in the test's tmp_path, not made yet, in a folder (/var/lib) doctor may not
    write; the unit installed."""
    unit = tmp_path / "listener.service"
    unit.write_text("[Service]\nStateDirectory=listener\n")
    monkeypatch.setattr(doctor_disk, "SERVICE_UNIT_FILE", unit)
    (tmp_path / "lib").mkdir()
    state = tmp_path / "lib" / "listener"
    monkeypatch.setattr(doctor_disk, "SERVICE_STATE_DIR", state)
    return state


@pytest.mark.parametrize("inside", ["", "spool"], ids=["the-folder", "a-folder-inside"])
@pytest.mark.parametrize("mqtt", [False, True], ids=["mqtt-off", "mqtt-on"])
def test_the_state_folder_systemd_makes_at_the_first_start_is_no_fault(
    tmp_path: Path, unit_state_dir: Path, inside: str, mqtt: bool
) -> None:
    # before the service's first start (or after provision.sh --no-systemctl): "FAIL /var/lib is not writable;
    # fix: ... sudo chown -R listener: /var/lib/listener", a folder that is not there, that StateDirectory= makes
    state = unit_state_dir / inside if inside else unit_state_dir
    with refusing_writes(tmp_path / "lib"):
        check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": mqtt}, service={"state_dir": str(state)}))
    assert check.status in (("ok", "warn") if mqtt else ("ok",)), check.line()  # warn only if the disk is nearly full
    shown = re.search(rf"(\d+) MB free in {re.escape(str(tmp_path / 'lib'))}", check.detail)
    assert shown is not None, check.detail  # and the room there, in MB as `df -B MB` says it (other writers aside)
    assert abs(int(shown[1]) - shutil.disk_usage(tmp_path / "lib").free / 1e6) < 50, check.detail
    assert f"{state} is not there yet: systemd makes it for the service at its first start" in check.detail
    assert "`sudo systemctl start listener`" in check.detail
    assert "chown" not in check.line() and "not writable" not in check.line()
    assert not (tmp_path / "lib" / "listener").exists()


def test_a_full_disk_fails_where_systemd_would_make_the_state_folder(
    tmp_path: Path, unit_state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    check = doctor.check_state_dir(config(tmp_path, service={"state_dir": str(unit_state_dir)}))
    assert check.status == "FAIL", check.line()
    assert f"{tmp_path / 'lib'} is not writable (No space left on device)" in check.detail
    # no owner to change: "sudo chown -R listener:" was the fix, and applying it changed nothing
    assert check.fix.startswith("free space there (`df -h") and "chown" not in check.fix, check.fix


def test_without_the_unit_a_missing_state_folder_is_made_not_chowned(
    tmp_path: Path, unit_state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no unit installed (a laptop): nothing makes the folder, and a chown of one that is not there cures nothing
    monkeypatch.setattr(doctor_disk, "SERVICE_UNIT_FILE", tmp_path / "no.service")
    with refusing_writes(tmp_path / "lib"):
        check = doctor.check_state_dir(config(tmp_path, service={"state_dir": str(unit_state_dir)}))
    assert check.status == "FAIL", check.line()
    assert check.detail.startswith(f"{tmp_path / 'lib'} is not writable (")
    assert check.detail.endswith(f"so {unit_state_dir} cannot be created"), check.detail
    assert f"`sudo mkdir -p {unit_state_dir} && sudo chown listener: {unit_state_dir}`" in check.fix, check.fix
    assert "chown -R" not in check.fix


def test_a_missing_state_folder_elsewhere_is_made_not_chowned(tmp_path: Path, unit_state_dir: Path) -> None:
    # the unit makes only its StateDirectory=: another missing folder is checked in the folder above, as before
    state = tmp_path / "other" / "state"
    (tmp_path / "other").mkdir()
    with refusing_writes(tmp_path / "other"):
        check = doctor.check_state_dir(config(tmp_path, service={"state_dir": str(state)}))
    assert check.status == "FAIL", check.line()
    assert f"{tmp_path / 'other'} is not writable" in check.detail and "systemd" not in check.detail
    assert f"`sudo mkdir -p {state} && sudo chown listener: {state}`" in check.fix and "chown -R" not in check.fix


def test_writable_state_dir_reports_free_space(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True}))
    assert check.status in ("ok", "warn")  # warn only if this disk is nearly full
    assert re.search(r"writable, \d+ MB free, a full spool needs 102 MB", check.detail)
    assert not list((tmp_path / "state").iterdir())  # the probe file is gone


FULL_SPOOL_BYTES = MqttConfig().spool_max_messages * SPOOL_BYTES_PER_MESSAGE  # 102 MB


@pytest.mark.parametrize(
    ("free", "status"),
    [
        (FULL_SPOOL_BYTES - 1, "FAIL"),  # a full spool does not fit: messages are lost before the bound drops any
        (FULL_SPOOL_BYTES, "warn"),  # it just fits
        (4 * FULL_SPOOL_BYTES - 1, "warn"),  # room for less than four full spools
        (4 * FULL_SPOOL_BYTES, "ok"),
    ],
    ids=["a-byte-short", "just-fits", "under-four-spools", "four-spools"],
)
def test_free_space_is_judged_against_a_full_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, status: str
) -> None:
    # a Pi's SD card holds far less than this machine's disk has free: the card's free space is made up
    card = shutil.disk_usage

    def nearly_full(path: str | os.PathLike[str]) -> object:
        return card(path)._replace(free=free)

    monkeypatch.setattr(shutil, "disk_usage", nearly_full)
    (tmp_path / "state").mkdir()
    check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True}))
    assert check.status == status, check.line()
    assert f"{free / 1e6:.0f} MB free, a full spool needs {FULL_SPOOL_BYTES / 1e6:.0f} MB" in check.detail
    if status != "ok":
        assert check.fix == "free space there, or lower mqtt.spool_max_messages"


@pytest.mark.parametrize("name", ["mqtt-spool.sqlite3", "mqtt-spool.sqlite3-wal"])
def test_a_spool_file_the_service_cannot_write_fails_naming_its_owner_and_the_chown(tmp_path: Path, name: str) -> None:
    # `sudo listener run --input ...` once: a root-owned spool in the service user's folder, which
    # the service then opened read-only and dropped every message; doctor said ok
    state = tmp_path / "state"
    state.mkdir()
    path = state / name
    path.write_bytes(b"")
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody").pw_uid
        os.chown(state, nobody, -1)  # as systemd's StateDirectory= leaves it: the folder only
        why, user = f"{path} belongs to root, not to nobody that owns {state}", "nobody"
    else:
        path.chmod(0o444)
        why, user = f"{path} cannot be opened for writing", pwd.getpwuid(os.geteuid()).pw_name
    check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True}))
    assert check.status == "FAIL", check.line()
    assert why in check.detail and "MQTT" in check.detail, check.detail
    chmod = "" if os.geteuid() == 0 else f" && sudo chmod -R u+rwX {state}"  # the owner is right: the mode is not
    assert check.fix == f"`sudo chown -R {user}: {state}{chmod}`"
    if os.geteuid() == 0:
        os.chown(path, nobody, -1)
    else:
        path.chmod(0o644)
    assert doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True})).status in ("ok", "warn")


def test_a_spool_file_the_right_owner_cannot_write_gets_a_fix_a_chown_alone_would_not_be(tmp_path: Path) -> None:
    """The spool file already belongs to whoever runs the service, yet cannot be opened for writing: doctor's fix
    was the chown that changes nothing. Immutable (root meets it too): chattr; a mode without write: the chmod."""
    state = tmp_path / "state"
    state.mkdir()
    path = state / "mqtt-spool.sqlite3"
    path.write_bytes(b"")
    with refusing_writes(path):  # root: chattr +i; any other user: mode 0555
        check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True}))
    assert check.status == "FAIL", check.line()
    assert check.detail.startswith(f"{path} cannot be opened for writing ("), check.detail
    if os.geteuid() == 0:
        assert check.fix == f"it is marked immutable or append-only (lsattr): `sudo chattr -i -a {path}`"
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
        assert check.fix == f"`sudo chown -R {user}: {state} && sudo chmod -R u+rwX {state}`"


def test_a_spool_file_of_a_user_with_no_account_here_is_named_by_its_number(tmp_path: Path) -> None:
    """A spool copied from another card keeps its owner's number, which names no account here: doctor says
    the number, with the chown that gives the file back, instead of failing on the lookup of a name."""
    if os.geteuid() != 0:
        pytest.skip("needs root: to give the spool file to a user id with no account")
    stranger = next(uid for uid in range(54321, 60000) if uid not in {p.pw_uid for p in pwd.getpwall()})
    state = tmp_path / "state"
    state.mkdir()
    path = state / "mqtt-spool.sqlite3"
    path.write_bytes(b"")
    os.chown(state, pwd.getpwnam("nobody").pw_uid, -1)  # the service user's folder
    os.chown(path, stranger, -1)
    check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True}))
    assert check.status == "FAIL", check.line()
    assert check.detail == f"{path} belongs to {stranger}, not to nobody that owns {state} and runs the service: {LOST}"
    assert check.fix == f"`sudo chown -R nobody: {state}`"


def test_a_root_owned_pause_file_is_no_fault(tmp_path: Path) -> None:
    # the button only makes and removes `paused`, which the folder's owner may do to anyone's file
    state = tmp_path / "state"
    state.mkdir()
    (state / "paused").write_bytes(b"")
    if os.geteuid() == 0:
        os.chown(state, pwd.getpwnam("nobody").pw_uid, -1)
    else:
        (state / "paused").chmod(0o444)
    assert doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True})).status in ("ok", "warn")


def test_disk_check_ignores_the_spool_when_mqtt_is_off(tmp_path: Path) -> None:
    # a spool bound of 10 million messages needs 20 GB, but with [mqtt] enabled = false nothing is spooled
    check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": False, "spool_max_messages": 10_000_000}))
    assert check.status == "ok", check
    assert check.detail.startswith(f"{tmp_path} writable, ") and "spool" not in check.detail, check.detail


def test_a_folder_where_the_spool_file_belongs_says_so_as_the_service_does(tmp_path: Path) -> None:
    # doctor said "cannot be opened for writing (Is a directory)" and advised a chown, which cures nothing
    path = tmp_path / "state" / "mqtt-spool.sqlite3"
    path.mkdir(parents=True)
    check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True}))
    assert check.status == "FAIL", check.line()
    assert check.detail == f"{path} is a folder, where the spool file belongs: {LOST}"
    assert check.fix == "remove it (or move it away); the service makes the file"
    assert access_problem(path) == f"{path} is a folder, where the spool file belongs: {check.fix}"  # the service's


def test_a_spool_file_that_cannot_even_be_looked_at_says_why_in_words(tmp_path: Path) -> None:
    # a link to itself (a botched restore): stat() fails with ELOOP, as root too; the reason, not "[Errno 40] ..."
    path = tmp_path / "state" / "mqtt-spool.sqlite3"
    path.parent.mkdir()
    path.symlink_to(path.name)
    check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True}))
    assert check.status == "FAIL", check.line()
    assert check.detail == f"{path} cannot be read ({os.strerror(errno.ELOOP)}): {LOST}"
    assert check.fix.startswith(f"remove it (`sudo rm {path}`)"), check.line()  # no chown cures a link loop
    path.unlink()  # as the fix says: nothing is left to warn about
    assert doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True})).status == "ok"


@pytest.mark.parametrize(("state_dir", "fs_type"), [("/sys/listener", "sysfs"), ("/proc/listener/state", "proc")])
def test_a_state_dir_on_a_virtual_file_system_says_choose_another(tmp_path: Path, state_dir: str, fs_type: str) -> None:
    # "fix: chown listener: /sys/listener" for a folder that cannot exist
    check = doctor.check_state_dir(config(tmp_path, service={"state_dir": state_dir}))
    assert check.status == "FAIL", check.line()
    assert f"{state_dir} is on /{state_dir.split('/')[1]} ({fs_type}), a virtual file system" in check.detail
    assert "cannot hold it" in check.detail
    assert "state_dir to /var/lib/listener" in check.fix and "chown" not in check.fix


def test_a_state_dir_on_a_read_only_file_system_says_choose_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the mount table as the kernel writes it, with this test's folder mounted read-only (a space escaped)
    ro = tmp_path / "read only"
    ro.mkdir()
    escaped = str(ro).replace(" ", "\\040")
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/root / ext4 rw,relatime 0 0\n/dev/sda1 {escaped} ext4 ro,relatime 0 0\n")
    monkeypatch.setattr(doctor_mounts, "MOUNTS", mounts)
    check = doctor.check_state_dir(config(tmp_path, service={"state_dir": str(ro / "listener")}))
    assert check.status == "FAIL", check.line()
    assert check.detail == f"{ro / 'listener'} is on {ro} (ext4), a read-only file system, which cannot hold it"
    # a failing card remounts / read-only, /var/lib with it: the card first, as the service says
    assert check.fix.startswith("check `dmesg` for card errors") and "state_dir to /var/lib/listener" in check.fix
    assert doctor.check_state_dir(config(tmp_path)).status in ("ok", "warn")  # the rest of tmp_path is rw


def test_a_state_dir_that_is_a_file_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("")
    check = doctor.check_state_dir(config(tmp_path))
    assert check.status == "FAIL", check.line()
    assert check.detail == f"{state} is a file, not a folder"
    assert check.fix.startswith("point [service] state_dir at a folder")


def test_a_state_dir_linked_to_a_folder_that_is_not_there_fails(tmp_path: Path) -> None:
    """A state folder linked to a card's folder that is not mounted: doctor said ok, "created at the first
    start", and the service then stopped at its start, since nothing can be made through a link to nothing."""
    (tmp_path / "state").symlink_to(tmp_path / "card" / "listener")
    check = doctor.check_state_dir(config(tmp_path))
    assert check.status == "FAIL", check.line()
    assert check.detail == (
        f"{tmp_path / 'state'} is a link to {tmp_path / 'card' / 'listener'}, which does not exist, so "
        f"{tmp_path / 'state'} cannot be created"
    )
    assert check.fix.startswith("make that folder (mount its card), or point [service] state_dir at a folder")


def test_a_state_dir_that_is_a_loop_of_links_is_said_to_be_one(tmp_path: Path) -> None:
    """ "A link to state, which does not exist: make that folder" cannot be done: the link is in the way."""
    state = tmp_path / "state"
    state.symlink_to(state)
    check = doctor.check_state_dir(config(tmp_path))
    assert check.status == "FAIL", check.line()
    assert check.detail == f"{state} is a link to {state}, which leads round in a loop, so {state} cannot be created"
    assert check.fix.startswith("replace it with a folder, or point [service] state_dir at a folder")


def test_a_state_folder_the_installed_unit_does_not_let_the_service_write_warns(
    tmp_path: Path, unit_state_dir: Path
) -> None:
    """doctor is not under the unit's ProtectSystem=strict: it found the folder writable and said ok, and the
    service then stopped at its start on a read-only spool. A warning, not a FAIL: the folder may be meant for
    a run by hand."""
    unit = tmp_path / "listener.service"  # the fixture's, installed
    unit.write_text("[Service]\nStateDirectory=listener\nProtectSystem=strict\n")
    state = tmp_path / "state"
    state.mkdir()
    check = doctor.check_state_dir(config(tmp_path, service={"state_dir": str(state)}))
    assert check.status == "warn", check.line()
    assert check.detail.endswith(
        f"; but the service (listener.service) may write only {unit_state_dir}, so {state} is read-only to it"
        " (with MQTT on the service stops at its start: its spool cannot be opened there)"
    ), check.detail
    assert check.fix.startswith(f"use {unit_state_dir} (or a folder under it), or let the unit write it"), check.fix
    drop_ins = tmp_path / "listener.service.d"
    drop_ins.mkdir()
    (drop_ins / "override.conf").write_text(f"[Service]\nReadWritePaths={state}\n")  # the fix it names
    assert doctor.check_state_dir(config(tmp_path, service={"state_dir": str(state)})).status == "ok"
    # the unit's own folder (made at its first start), or no unit at all (a laptop): nothing to warn of
    assert doctor.check_state_dir(config(tmp_path, service={"state_dir": str(unit_state_dir)})).status == "ok"
    unit.unlink()
    assert doctor.check_state_dir(config(tmp_path, service={"state_dir": str(state)})).status == "ok"


def test_a_nearly_full_folder_the_unit_does_not_let_the_service_write_says_both_with_both_fixes(
    tmp_path: Path, unit_state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two warnings in one check: the installer who frees space alone would meet a read-only spool at the
    # start, and the one who moves the folder alone may move it onto the same nearly full card
    card = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: card(path)._replace(free=FULL_SPOOL_BYTES))
    (tmp_path / "listener.service").write_text("[Service]\nStateDirectory=listener\nProtectSystem=strict\n")
    state = tmp_path / "state"
    state.mkdir()
    check = doctor.check_state_dir(config(tmp_path, mqtt={"enabled": True}, service={"state_dir": str(state)}))
    assert check.status == "warn", check.line()
    room = f"{FULL_SPOOL_BYTES / 1e6:.0f} MB free, a full spool needs {FULL_SPOOL_BYTES / 1e6:.0f} MB"
    assert room in check.detail, check.detail
    assert f"; and the service (listener.service) may write only {unit_state_dir}, so {state} is read-only" in (
        check.detail
    )
    assert check.fix.startswith("free space there, or lower mqtt.spool_max_messages; and use "), check.fix
    assert f"ReadWritePaths={state})" in check.fix, check.fix
