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

import os
import shutil
import tempfile
from pathlib import Path

from listener.config import Config
from listener.outputs.mqtt.spool_access import (
    FOLDER_FIX,
    READ_ONLY_FIX,
    SERVICE_STATE_DIR,
    folder_problem,
    user_name,
)
from listener.outputs.mqtt.spool_damage import ForeignSpool, aside_kind, find_damage
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service.doctor import Check, fail, warn
from listener.service.doctor_mounts import unfit_file_system

SPOOL_BYTES_PER_MESSAGE = 2048  # a spooled metrics message with its row overhead, generously
WRITE_PROBE_BYTES = 65536  # written and synced: a full disk or a read-only mount fails here, not at run time
SPOOL_ROOM_FACTOR = 4  # free space below this many full spools is warned about

# the files written in place; the privacy button's `paused` file is only made and removed, which the
# folder's owner may do whoever owns the file, so a root-owned one costs nothing
SPOOL_FILES = (SPOOL_FILE, f"{SPOOL_FILE}-wal", f"{SPOOL_FILE}-shm")
LOST = "every MQTT event, metrics and session message is dropped"


def check_state_dir(config: Config) -> Check:
    """The spool's folder exists (or can be made), is writable, its files too, and (with MQTT on) has room."""
    state = Path(config.service.state_dir)
    as_user = (
        "run doctor as the service user (`sudo -u listener listener doctor ...`) or fix the owner "
        f"(`sudo chown -R listener: {state}`), or set [service] state_dir"
    )
    try:
        existing = next((p for p in (state, *state.parents) if p.exists()), Path("/"))
        return _check_in(config, state, existing, as_user)
    except OSError as exc:  # a folder on the way this user may not enter: even looking fails
        return fail("disk", f"{state} cannot be looked at ({exc.strerror or exc})", as_user)


def _check_in(config: Config, state: Path, existing: Path, as_user: str) -> Check:
    """The disk check of ``state``, whose nearest existing folder (itself, or one above) is ``existing``."""
    misplaced = _place_check(state, existing)
    if misplaced:
        return misplaced
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".listener-doctor-") as probe:
            probe.write(b"\0" * WRITE_PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return fail("disk", f"{existing} is not writable ({exc.strerror or exc})", as_user)
    spool_there = config.mqtt.enabled and existing == state
    blocked = _spool_files_check(state) if spool_there else None
    if blocked:
        return blocked
    room = _room_check(config, existing, state)
    return (_damaged_spool_check(state, room) if spool_there and room.status != "FAIL" else None) or room


def _place_check(state: Path, existing: Path) -> Check | None:
    """A FAIL where no owner or mode could make ``state`` a folder the service keeps files in."""
    if existing == state and not state.is_dir():
        return fail(
            "disk", f"{state} is a file, not a folder", f"point [service] state_dir at a folder ({SERVICE_STATE_DIR})"
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
        fix += "; if it happens again, check the SD card (`dmesg`)"
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
    for name in SPOOL_FILES:
        path = state / name
        if path.is_dir():  # no chown cures this: the service's own words and fix
            return fail("disk", f"{folder_problem(path)}: {LOST}", FOLDER_FIX)
        problem = _write_problem(path, owner)
        if problem:
            return fail("disk", f"{path} {problem}: {LOST}", f"`sudo chown -R {user}: {state}`")
    return None


def _write_problem(path: Path, owner: int) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        return ""  # made by the service when it needs it
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if owner != 0 and st.st_uid != owner:
        return (
            f"belongs to {user_name(st.st_uid)}, not to {user_name(owner)} that owns {path.parent} and runs the service"
        )
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        return f"cannot be opened for writing ({exc.strerror or exc})"
    return ""


def _room_check(config: Config, existing: Path, state: Path) -> Check:
    free = shutil.disk_usage(existing).free
    created = f" ({state} is created at the first start)" if existing != state else ""
    if not config.mqtt.enabled:  # no MQTT, no spool: nothing sizeable is written there
        return Check("disk", "ok", f"{existing} writable, {free / 1e6:.0f} MB free{created}")
    need = config.mqtt.spool_max_messages * SPOOL_BYTES_PER_MESSAGE
    detail = f"{existing} writable, {free / 1e6:.0f} MB free, a full spool needs {need / 1e6:.0f} MB{created}"
    if free < need:
        return fail("disk", detail, "free space there, or lower mqtt.spool_max_messages")
    if free < SPOOL_ROOM_FACTOR * need:
        return warn("disk", detail, "free space there, or lower mqtt.spool_max_messages")
    return Check("disk", "ok", detail)
