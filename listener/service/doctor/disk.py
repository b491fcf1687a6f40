"""``listener doctor``'s disk check: room in service.state_dir, and files there the service can write.

A probe file proves the folder takes new files, not that the service can write
the ones already there: `sudo listener run ...` once leaves a root-owned spool
behind, which sqlite then opens read-only without a word, and every MQTT
message is lost. So the files the service writes in place are opened for
writing too and, since doctor run with sudo may write anything, compared with
the folder's owner: systemd's StateDirectory= gives the folder (only) to the
service user.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from listener.config import Config
from listener.config.service_unit import SERVICE_UNIT_FILE, state_dir_problem, writable_folders
from listener.errors import AS_SERVICE_USER, SERVICE_STATE_DIR
from listener.outputs.mqtt.spool_access import (
    FOLDER_FIX,
    READ_ONLY_FIX,
    broken_link,
    kind_of,
    not_a_file,
    spool_files,
    user_name,
)
from listener.outputs.mqtt.spool_damage import ForeignSpool, aside_kind, find_damage
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service.doctor import Check, fail, warn
from listener.service.doctor.mounts import unfit_file_system

SPOOL_BYTES_PER_MESSAGE = 2048  # a spooled metrics message with its row overhead, generously
WRITE_PROBE_BYTES = 65536  # written and synced: a full disk or a read-only mount fails here, not at run time
SPOOL_ROOM_FACTOR = 4  # free space below this many full spools is warned about

LOST = "every MQTT event, metrics and session message is dropped"
FIRST_START = "`sudo systemctl start listener`"
# as README.md's systemd-run line (its folder, groups and secrets): `sudo -u listener` would keep the caller's
RUN_AS_SERVICE = f"run doctor as the service user (`{AS_SERVICE_USER} listener doctor ...`)"
OR_ELSE = "or set [service] state_dir"
CARD_FIX = "if it happens again, check the SD card (`dmesg`)"


def check_state_dir(config: Config) -> Check:
    """The spool's folder exists (or can be made), is writable, its files too, and (with MQTT on) has room."""
    state = Path(config.service.state_dir)
    try:
        existing = next((p for p in (state, *state.parents) if p.exists()), Path("/"))
        return _sandboxed(_check_in(config, state, existing), state)
    except OSError as exc:  # a folder on the way this user may not enter: even looking fails
        return fail("disk", f"{state} cannot be looked at ({exc.strerror or exc})", f"{RUN_AS_SERVICE}, {OR_ELSE}")


def _sandboxed(check: Check, state: Path) -> Check:
    """``check``, warning too where the installed unit lets the service not write ``state``: doctor, run by
    hand or by systemd-run, is not under the unit's ProtectSystem=strict, and passed a folder the service
    then found read-only at its start."""
    if check.status == "FAIL" or not SERVICE_UNIT_FILE.exists():  # no unit (a laptop): no sandbox to be in
        return check
    problem = state_dir_problem(str(state), writable_folders(SERVICE_UNIT_FILE, SERVICE_STATE_DIR.parent))
    if problem is None:
        return check
    what, fix = problem
    if check.status == "warn":  # both said: the other one is no less true
        return warn("disk", f"{check.detail}; and {what}", f"{check.fix}; and {fix}")
    return warn("disk", f"{check.detail}; but {what}", fix)


def _not_writable_fix(state: Path, existing: Path) -> str:
    """How to let the service write ``state``: a chown where it exists, a folder made for it where not."""
    if existing == state:
        return f"{RUN_AS_SERVICE} or fix the owner (`sudo chown -R listener: {state}`), {OR_ELSE}"
    # a chown of the folder above (/var/lib) would give the service user what is not its own
    return f"make the folder for the service user (`sudo mkdir -p {state} && sudo chown listener: {state}`), {OR_ELSE}"


def _made_by_systemd(state: Path) -> bool:
    """``state`` is (or is inside) the unit's StateDirectory=, which is not there yet and which systemd makes,
    the service user's, at the service's first start (the service makes the folders inside it), wherever
    the installer may write, once the unit is installed (SERVICE_UNIT_FILE)."""
    inside = Path(os.path.normpath(state)).is_relative_to(SERVICE_STATE_DIR)
    return inside and SERVICE_UNIT_FILE.exists() and not SERVICE_STATE_DIR.exists()


def _check_in(config: Config, state: Path, existing: Path) -> Check:
    """The disk check of ``state``, whose nearest existing folder (itself, or one above) is ``existing``."""
    misplaced = _place_check(state, existing)
    if misplaced:
        return misplaced
    # a folder systemd makes need not be one this user could make: /var/lib is root's
    systemd_makes = existing != state and _made_by_systemd(state)
    writable = True
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".listener-doctor-") as probe:
            probe.write(b"\0" * WRITE_PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        writable = False
        if not (systemd_makes and exc.errno in (errno.EACCES, errno.EPERM)):  # a full or read-only disk still fails
            made = f", so {state} cannot be created" if existing != state else ""
            detail = f"{existing} is not writable ({exc.strerror or exc}){made}"
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)  # no owner to change: room to make
            fix = f"free space there (`df -h {existing}`), {OR_ELSE}" if full else _not_writable_fix(state, existing)
            return fail("disk", detail, fix)
    spool_there = config.mqtt.enabled and existing == state
    blocked = _spool_files_check(state) if spool_there else None
    if blocked:
        return blocked
    room = _room_check(config, existing, state, writable, systemd_makes)
    return (_damaged_spool_check(state, room) if spool_there and room.status != "FAIL" else None) or room


def _place_check(state: Path, existing: Path) -> Check | None:
    """A FAIL where no owner or mode could make ``state`` a folder the service keeps files in."""
    broken = next((b for b in map(broken_link, (state, *state.parents)) if b is not None), None)
    if broken is not None:  # a card's folder not mounted: "created at the first start" it is not
        what, cure = broken
        elsewhere = f"or point [service] state_dir at a folder ({SERVICE_STATE_DIR})"
        return fail("disk", f"{what}, so {state} cannot be created", f"{cure}, {elsewhere}")
    if existing == state and not state.is_dir():
        return fail(
            "disk",
            f"{state} is {kind_of(state)}, not a folder",
            f"point [service] state_dir at a folder ({SERVICE_STATE_DIR})",
        )
    if not existing.is_dir():
        return fail(
            "disk", f"{existing} is not a folder, so {state} cannot be created", "set [service] state_dir to a folder"
        )
    unfit, read_only = unfit_file_system(existing)
    if unfit:
        elsewhere = f"set [service] state_dir to {SERVICE_STATE_DIR}, which systemd makes and lets the service write"
        # a card that failed makes the whole root read-only, /var/lib too: the card is the fix, as the service says
        fix = f"{READ_ONLY_FIX}; if it is read-only by design, {elsewhere}" if read_only else elsewhere
        return fail("disk", f"{state} is {unfit}", fix)
    return None


def _damaged_spool_check(state: Path, room: Check) -> Check | None:
    """A warning when the spool is damaged (a power cut, a failing card) or another program's database: the
    service's start sets it aside."""
    path = state / SPOOL_FILE
    damage = find_damage(path)
    if damage is None:
        return None
    fix = "nothing to do (restart the service to have it done now)"
    short = f"{room.detail}: too little room ({room.fix})" if room.status == "warn" else room.detail
    if isinstance(damage, ForeignSpool):  # put there by hand or by another program: no card to suspect
        what, lost = "is not the service's spool but a database of another shape", ""
    else:
        what, lost = "is damaged", "; the messages it holds cannot be resent"
        fix += f"; {CARD_FIX}"
    return warn(
        "disk",
        f"{short}; and {path} {what} ({damage}): the service's next start sets it aside as "
        f"{SPOOL_FILE}.{aside_kind(damage)}-<time> (kept) and starts a fresh spool{lost}",
        fix,
    )


def _spool_files_check(state: Path) -> Check | None:
    """A FAIL for the first spool file in ``state`` that the service could not write in place."""
    owner = state.stat().st_uid
    # a root-owned folder is the service user's at its next start (StateDirectory= chowns it, and
    # everything in it), so only a folder that is someone's tells whose the files must be
    user = user_name(owner if owner != 0 else os.geteuid())
    # the files written in place; the privacy button's `paused` file is only made and removed, which the
    # folder's owner may do whoever owns the file, so a root-owned one costs nothing
    for path in spool_files(state / SPOOL_FILE):
        # a folder, a pipe or a device: no chown cures it (a pipe or a device opens for writing: said ok, never one)
        if (standing := not_a_file(path)) is not None:
            return fail("disk", f"{standing}: {LOST}", FOLDER_FIX)
        chown = f"sudo chown -R {user}: {state}"
        try:
            problem, fix = _write_problem(path, owner, chown)
        except OSError as exc:  # a link to itself (a botched restore), a failing card: no chown cures it
            fix = f"remove it (`sudo rm {path}`): the service starts a fresh spool; {CARD_FIX}"
            return fail("disk", f"{path} cannot be read ({exc.strerror or exc}): {LOST}", fix)
        if problem:
            return fail("disk", f"{path} {problem}: {LOST}", fix)
    return None


def _write_problem(path: Path, owner: int, chown: str) -> tuple[str, str]:
    """Why the service could not write ``path`` in place and the fix, ("", "") when it could; OSError when even
    stat() fails. ``chown``: the command that gives the state folder to the service user."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "", ""  # made by the service when it needs it
    if owner != 0 and st.st_uid != owner:
        whose = f"not to {user_name(owner)} that owns {path.parent} and runs the service"
        return f"belongs to {user_name(st.st_uid)}, {whose}", f"`{chown}`"
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        fixes = {  # the owner is right already, or root meets it too: a chown alone cures neither
            errno.EACCES: f"`{chown} && sudo chmod -R u+rwX {path.parent}`",
            errno.EPERM: f"it is marked immutable or append-only (lsattr): `sudo chattr -i -a {path}`",
            errno.EROFS: READ_ONLY_FIX,
        }
        return f"cannot be opened for writing ({exc.strerror or exc})", fixes.get(exc.errno or 0, f"`{chown}`")
    return "", ""


def _room_check(config: Config, existing: Path, state: Path, writable: bool, systemd_makes: bool) -> Check:
    free = shutil.disk_usage(existing).free
    where = f"{existing} writable, {free / 1e6:.0f} MB free" if writable else f"{free / 1e6:.0f} MB free in {existing}"
    if systemd_makes:
        created = f" ({state} is not there yet: systemd makes it for the service at its first start, {FIRST_START})"
    else:
        created = f" ({state} is created at the first start)" if existing != state else ""
    if not config.mqtt.enabled:  # no MQTT, no spool: nothing sizeable is written there
        return Check("disk", "ok", f"{where}{created}")
    need = config.mqtt.spool_max_messages * SPOOL_BYTES_PER_MESSAGE
    detail = f"{where}, a full spool needs {need / 1e6:.0f} MB{created}"
    if free < need:
        return fail("disk", detail, "free space there, or lower mqtt.spool_max_messages")
    if free < SPOOL_ROOM_FACTOR * need:
        return warn("disk", detail, "free space there, or lower mqtt.spool_max_messages")
    return Check("disk", "ok", detail)
