"""provision.sh's steps a run reaches only on a live Pi, run alone on stand-ins: staging, reboots, restarts, zram,
the config checked as the service user."""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.provision_root import (
    REPO,
    SCRIPT,
    script_function,
)


def test_the_package_is_built_from_a_staged_copy_never_in_the_checkout(tmp_path: Path) -> None:
    """On the device (--root /) pip built the checkout in place: setuptools left root-owned build/ and
    listener.egg-info there (its owner's pip install -e . then failed on them), and reused build/lib, so a
    module a git pull deleted stayed installed. A stand-in pip records what it is given and leaves what
    setuptools leaves."""
    checkout = tmp_path / "checkout"
    (checkout / "listener").mkdir(parents=True)
    (checkout / "listener/__init__.py").write_text('__version__ = "0.1.0"\n')
    (checkout / "pyproject.toml").write_text('[project]\nname = "listener"\n')
    (checkout / "build/lib/listener").mkdir(parents=True)  # an earlier in-place build's output
    (checkout / "build/lib/listener/deleted_by_git_pull.py").write_text("")
    pip = tmp_path / "venv/bin/pip"
    pip.parent.mkdir(parents=True)
    calls = tmp_path / "calls"
    pip.write_text(
        "#!/usr/bin/env bash\n"
        f'spec=${{!#}}; echo "$spec $(ls -A "$spec" | tr "\\n" " ")" >>{calls}\n'
        'mkdir -p "$spec/build/lib" "$spec/listener.egg-info"\n'
    )
    pip.chmod(0o755)
    setup = f"ROOT=/; VENV={tmp_path / 'venv'}; SOURCE={checkout}; SOURCE_STAMP={tmp_path / 'stamp'}; "
    setup += f"CONSTRAINTS={REPO / 'firmware/constraints.txt'}"
    done = script_function(f"{setup}; install_package abc123")
    assert done.returncode == 0, done.stderr
    ((spec, *listed),) = (line.split() for line in calls.read_text().splitlines())
    assert spec != str(checkout) and spec.startswith("/tmp/listener-src."), spec
    assert sorted(listed) == ["constraints.txt", "listener", "pyproject.toml"]  # no stale build/ copied
    assert not Path(spec).exists()  # the staged copy is removed
    assert sorted(p.name for p in checkout.iterdir()) == ["build", "listener", "pyproject.toml"]
    assert [p.name for p in (checkout / "build/lib/listener").iterdir()] == ["deleted_by_git_pull.py"]  # untouched
    assert (tmp_path / "stamp").read_text() == "abc123\n"


def reboot_note(tmp_path: Path, boot_changed: int, dry_run: int = 0) -> tuple[int, str]:
    """provision.sh's reboot_note, run alone with /run's flags in ``tmp_path`` (a run reaches it only live)."""
    flags = f"REBOOT_DUE={tmp_path / 'listener-reboot-due'}; REBOOT_REQUIRED={tmp_path / 'reboot-required'}"
    call = f"{flags}; DRY_RUN={dry_run}; status=0; reboot_note {boot_changed} || status=$?; echo status=$status"
    done = script_function(call)
    assert done.returncode == 0, done.stderr
    status = int(done.stdout.rsplit("status=", 1)[1])
    return status, done.stdout.rsplit("status=", 1)[0] + done.stderr


def test_a_boot_config_change_flags_its_reboot_until_it_happens(tmp_path: Path) -> None:
    """Flagged where the listener looks (a missing array's fix says "reboot first"), said again by a later
    run, and no restart of the service meanwhile (status 1): it starts at that boot."""
    from listener.audio.card_missing import REBOOT_DUE

    assert f"\nREBOOT_DUE={REBOOT_DUE}\n" in SCRIPT.read_text()
    flag, debian = tmp_path / "listener-reboot-due", tmp_path / "reboot-required"
    assert reboot_note(tmp_path, 0) == (0, "")  # nothing changed, nothing due
    status, said = reboot_note(tmp_path, 1, dry_run=1)
    assert status == 1 and "would: flag the reboot" in said and "note: reboot to load the audio overlay" in said
    assert not flag.exists() and not debian.exists()  # a dry run writes nothing
    for _ in range(2):
        status, said = reboot_note(tmp_path, 1)
        assert status == 1 and "note: reboot to load the audio overlay" in said
    assert "the audio overlay loads at the next boot" in flag.read_text()
    assert debian.read_text() == "*** System restart required ***\n"
    assert (tmp_path / "reboot-required.pkgs").read_text() == "listener\n"  # once
    status, said = reboot_note(tmp_path, 0)  # a later run, before the reboot
    assert status == 1 and "note: a reboot is still due" in said


# systemctl, journalctl and udevadm as a running Pi has them, for apply_live: the service's state ($STATE), the
# time it started ($STARTED), whether its unit changed on disk since systemd loaded it ($NEED_RELOAD), a restart
# that fails ($RESTART_FAILS) with the main process's exit status ($MAIN_STATUS) and its last error in the journal
# ($JOURNAL); what changes something is recorded in
# $CALLS, the questions are not
LIVE_STAND_INS = r"""
systemctl() {
    case " $* " in
    *" is-enabled "*) return 0 ;;
    *" is-active "*) echo "$STATE"; [[ $STATE == active ]]; return ;;
    *" NeedDaemonReload "*) echo "$NEED_RELOAD"; return 0 ;;
    *" ExecMainStatus "*) echo "$MAIN_STATUS"; return 0 ;;
    *" RestartUSec "*) echo "$RESTART_USEC"; return 0 ;;
    *" show "*) echo "$STARTED"; return 0 ;;
    esac
    echo "systemctl $*" >>"$CALLS"
    if [[ $1 == restart && $RESTART_FAILS == 1 ]]; then
        echo "Job for listener.service failed because the control process exited with error code." >&2
        return 1
    fi
}
journalctl() { echo "journalctl $*" >>"$CALLS"; [[ -z $JOURNAL ]] || echo "$JOURNAL"; }
udevadm() { echo "udevadm $1" >>"$CALLS"; }
"""


def run_apply_live(
    tmp_path: Path,
    *changed: int,
    state: str = "active",
    started: float | None = None,
    fails: bool = False,
    journal: str = "",
    need_reload: str = "no",
    main_status: int = 2,
    restart_usec: str = "20s",
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """provision.sh's apply_live (unit, udev, boot, service changed), run alone as on a running Pi: what it asks
    systemctl, journalctl and udevadm to do (stand-ins that record), with /run's flags and /etc/listener in
    ``tmp_path``; ``fails``: a restart fails, with ``journal`` its last error in the journal; ``need_reload``: systemd's
    NeedDaemonReload; ``main_status``: the failed start's exit status."""
    (tmp_path / "systemd").mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    calls.write_text("")
    started = time.time() + 60 if started is None else started
    setup = (
        f"REBOOT_DUE={tmp_path / 'listener-reboot-due'}; REBOOT_REQUIRED={tmp_path / 'reboot-required'}; "
        f"SYSTEMD_RUNNING={tmp_path / 'systemd'}; ROOT=/; DRY_RUN=0; NO_SYSTEMCTL=0; CONF_DIR={tmp_path / 'etc'}; "
        f"UNIT_PATH={tmp_path / 'listener.service'}; SOURCE_STAMP={tmp_path / 'stamp'}; CALLS={calls}; "
        f"STATE={state}; STARTED=@{int(started)}; RESTART_FAILS={int(fails)}; JOURNAL={shlex.quote(journal)}; "
        f"NEED_RELOAD={need_reload}; MAIN_STATUS={main_status}; RESTART_USEC={restart_usec}"
    )
    call = f"apply_live {' '.join(str(c) for c in changed)}"
    done = script_function(f"{setup}\n{LIVE_STAND_INS}\n{call}")
    return calls.read_text().splitlines(), done


def apply_live(tmp_path: Path, *changed: int, state: str = "active", started: float | None = None) -> list[str]:
    calls, done = run_apply_live(tmp_path, *changed, state=state, started=started)
    assert done.returncode == 0, done.stderr
    return calls


def test_a_live_run_restarts_the_service_unless_a_reboot_is_due(tmp_path: Path) -> None:
    """The service is restarted on its new files, but not while the boot config waits for a reboot (the
    array's overlay is not loaded yet: it would wait for an array that cannot come); a later run
    before the reboot holds back too, and the first after it restarts again."""
    unit, udev, boot, service = 1, 1, 1, 1
    assert apply_live(tmp_path, 0, 0, 0, 0) == []  # nothing changed
    restart = "systemctl restart listener.service"
    assert apply_live(tmp_path, unit, 0, 0, service) == ["systemctl daemon-reload", restart]
    assert apply_live(tmp_path, unit, udev, boot, service) == [
        "udevadm control",
        "udevadm trigger",
        "systemctl daemon-reload",
    ]
    assert apply_live(tmp_path, 0, 0, 0, service) == []  # before the reboot
    (tmp_path / "listener-reboot-due").unlink()  # the reboot: /run is a tmpfs
    assert apply_live(tmp_path, 0, 0, 0, service) == [restart]


def test_zram_swap_with_a_writeback_disk_is_named(tmp_path: Path) -> None:
    """zram is swap in RAM, unless a backing device takes its idle pages: then audio and words could reach it."""
    for name, backing in (("zram0", "none\n"), ("zram1", "/dev/mmcblk0p3\n")):
        (tmp_path / "block" / name).mkdir(parents=True)
        (tmp_path / "block" / name / "backing_dev").write_text(backing)
    notes = {}
    for device in ("/dev/zram0", "/dev/zram1", "/dev/zram2"):  # the last has no such file (an old kernel)
        call = f"SYS_BLOCK={tmp_path / 'block'}; zram_writeback_note {device}"
        done = script_function(call)
        notes[device] = (done.returncode, done.stderr.strip())
    assert notes["/dev/zram0"] == (0, "") and notes["/dev/zram2"] == (0, "")
    assert notes["/dev/zram1"][1].startswith("warning: /dev/zram1 (swap in RAM) writes idle pages to /dev/mmcblk0p3")


def test_on_the_device_the_config_is_checked_as_the_service_user(tmp_path: Path) -> None:
    """check-config ran as root, who reads any file: a listener.toml (or a folder) the service user cannot
    read passed, and the service exited 2 on it. It runs as that user now (runuser, a stand-in that records
    and fails as the listener does on a file it cannot open)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/listener").write_text("#!/bin/sh\n")
    (venv / "bin/listener").chmod(0o755)
    calls = tmp_path / "calls"
    runuser = f'runuser() {{ echo "$*" >>{calls}; echo "listener: cannot read $5: permission denied" >&2; return 2; }}'
    done = script_function(f"ROOT=/; DRY_RUN=0; VENV={venv}; {runuser}; check_config_for_service")
    assert done.returncode == 1, done.stdout + done.stderr
    assert calls.read_text() == f"-u listener -- {venv}/bin/listener check-config /etc/listener/listener.toml\n"
    assert done.stderr.splitlines()[-1] == (
        "error: /etc/listener/listener.toml is not valid for the installed listener, or the service user listener "
        "cannot read it (above): fix it (its mode, or its folders', if so), then run this again"
    )


RESTART = "systemctl restart listener.service"


@pytest.mark.parametrize("state", ["failed", "inactive"])
def test_a_service_that_is_down_is_started_though_nothing_changed(tmp_path: Path, state: str) -> None:
    """A start that failed (exit 2 is not retried) or a run stopped before its restart left the service down,
    and every later run said "no changes", exit 0: it stayed down once its cause was fixed."""
    calls, done = run_apply_live(tmp_path, 0, 0, 0, 0, state=state)
    assert done.returncode == 0, done.stderr
    assert calls == [RESTART] and f"change: restart listener.service (it is {state})" in done.stdout, done.stdout
    assert apply_live(tmp_path, 0, 0, 0, 0) == []  # running: left alone
    (tmp_path / "listener-reboot-due").write_text("")  # it starts at that boot, with its array
    assert apply_live(tmp_path, 0, 0, 0, 0, state=state) == []


def test_a_file_changed_since_the_service_started_restarts_it(tmp_path: Path) -> None:
    """secrets.env edited by hand, or a listener.toml a stopped run wrote without its restart: the service ran
    on the old one, and a later run said "no changes"."""
    secrets = tmp_path / "etc/secrets.env"
    secrets.parent.mkdir()
    secrets.write_text("LISTENER_MQTT_PASSWORD=new\n")
    edited = secrets.stat().st_mtime
    calls, done = run_apply_live(tmp_path, 0, 0, 0, 0, started=edited - 30)
    assert calls == [RESTART], done.stdout + done.stderr
    assert f"change: restart listener.service ({secrets} changed since it started)" in done.stdout
    assert apply_live(tmp_path, 0, 0, 0, 0, started=edited + 30) == []


def test_a_unit_changed_on_disk_is_reloaded_before_the_restart_it_causes(tmp_path: Path) -> None:
    """A unit written by an earlier run stopped before its reload (or edited by hand) is newer than the service's
    start, so a run that changed nothing restarted it, without daemon-reload: systemd restarted the unit it had
    loaded, the old one (NeedDaemonReload=yes), and later runs said "no changes"."""
    unit = tmp_path / "listener.service"
    unit.write_text("[Service]\nExecStart=/opt/listener/venv/bin/listener run\n")
    written = unit.stat().st_mtime
    calls, done = run_apply_live(tmp_path, 0, 0, 0, 0, started=written - 30, need_reload="yes")
    assert calls == ["systemctl daemon-reload", RESTART], done.stdout + done.stderr
    assert "change: reload systemd units (listener.service changed on disk since systemd loaded it)" in done.stdout
    # restarted since (by hand, by Restart=) but still on the old unit: its start time alone says nothing is stale
    calls, done = run_apply_live(tmp_path, 0, 0, 0, 0, started=written + 30, need_reload="yes")
    assert calls == ["systemctl daemon-reload", RESTART], done.stdout + done.stderr
    assert apply_live(tmp_path, 0, 0, 0, 0, started=written + 30) == []  # loaded and started since: left alone


def test_a_failed_restart_ends_with_one_error_line_naming_the_service_s_reason(tmp_path: Path) -> None:
    """systemd's "Job for listener.service failed" was the last line, exit 1 by set -e: the reason (here a CA
    file not copied yet) only in the journal, and no word from the script on what to do."""
    reason = "mqtt.ca_file /etc/listener/ca.pem does not exist: point it at a PEM file, or set it to ''"
    calls, done = run_apply_live(tmp_path, 0, 0, 0, 1, fails=True, journal=reason)
    assert done.returncode == 1, done.stdout + done.stderr
    assert calls[0] == RESTART and calls[1].startswith("journalctl -u listener.service -p err -n 1 -o cat --since @")
    assert done.stderr.splitlines()[-1] == (
        f"error: listener.service did not start: {reason} (its last error in the journal); then run this again"
    )
    _, silent = run_apply_live(tmp_path, 0, 0, 0, 1, fails=True)  # nothing at priority err in the journal
    assert silent.returncode == 1 and silent.stderr.splitlines()[-1] == (
        "error: listener.service did not start: see `systemctl status listener.service` and "
        "`journalctl -u listener.service` for why; fix that, then run this again"
    )


def test_a_restart_refused_while_a_run_by_hand_holds_the_array_is_a_warning_not_an_error(tmp_path: Path) -> None:
    """The service exits 75 beside a `listener run` by hand and Restart= starts it once that ends
    (bench.unit_hand_run), but the script took the failed restart job for a failed install: exit 1, and its reason
    not found at all (the refusal is filed at warning, not err)."""
    said = (
        "listener: another listener (pid 568) already runs with [service] state_dir /var/lib/listener (a `listener "
        "run` by hand?): the service tries again every 20 s (RestartSec) and starts once that one ends (Ctrl-C it)"
    )
    calls, done = run_apply_live(tmp_path, 0, 0, 0, 1, fails=True, journal=said, main_status=75)
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls[0] == RESTART and calls[1].startswith("journalctl -u listener.service -p warning -o cat --since @")
    assert done.stderr.splitlines()[-1] == (
        f"warning: listener.service is not running yet: {said.removeprefix('listener: ')}; systemd starts it again "
        "every 20s on its own"
    )
    # a fleet's drop-in that changes RestartSec: the script used to say 20 s whatever the unit did
    _, slower = run_apply_live(tmp_path, 0, 0, 0, 1, fails=True, journal=said, main_status=75, restart_usec="1min")
    assert slower.returncode == 0 and slower.stderr.splitlines()[-1].endswith("starts it again every 1min on its own")


def check_named_files(tmp_path: Path, hidden: str = "()") -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """check_config_for_service on the device, on the config in ``tmp_path``/etc, with a stand-in runuser that
    records and lets the service user read what others may (``hidden``: the folders its unit hides)."""
    calls = tmp_path / "calls"
    calls.write_text("")
    runuser = f'runuser() {{ echo "$*" >>{calls}; [[ $4 == test ]] && (( 8#$(stat -c %a "$6") & 4 )); }}'
    setup = f"ROOT=/; DRY_RUN=0; VENV={tmp_path / 'venv'}; CONF_DIR={tmp_path / 'etc'}; HIDDEN_FROM_SERVICE={hidden}"
    done = script_function(f"{setup}; {runuser}; check_config_for_service")
    return calls.read_text().splitlines(), done


def test_on_the_device_the_files_the_config_names_are_tried_as_the_service_user(tmp_path: Path) -> None:
    """check-config opens none of the broker's TLS and password files: a CA file not copied yet (or root's alone)
    passed, and the restart failed on it (exit 2, which systemd does not retry) with the reason in the journal
    only. Now refused before the restart, naming the key and the fix."""
    conf, ca, key = tmp_path / "etc", tmp_path / "ca.pem", tmp_path / "client.key"
    conf.mkdir()
    mqtt = f'enabled = true\ntls = true\nca_file = "{ca}"\nkey_file = "{key}"\nusername = "counter"\n'
    (conf / "listener.toml").write_text(f"[mqtt]\n{mqtt}")
    has = f"error: {conf}/listener.toml has mqtt"
    _, done = check_named_files(tmp_path)
    assert done.returncode == 1 and done.stderr.splitlines() == [
        f'{has}.ca_file = "{ca}", which does not exist: copy the file there first (a fleet\'s CA file goes in '
        f"{conf}/ on every device), or fix mqtt.ca_file; then run this again"
    ]
    for path in (ca, key):
        path.write_text("-----BEGIN-----\n")
        path.chmod(0o600)
    _, done = check_named_files(tmp_path)
    assert done.returncode == 1 and done.stderr.splitlines() == [
        f'{has}.ca_file = "{ca}", which the service user listener cannot read: sudo chmod a+r {ca} (a certificate '
        "is no secret), and let it into the folders above; then run this again"
    ]
    ca.chmod(0o644)
    _, done = check_named_files(tmp_path)
    assert done.returncode == 1 and done.stderr.splitlines() == [
        f'{has}.key_file = "{key}", which the service user listener cannot read: sudo chown listener: {key} && '
        f"sudo chmod 0600 {key} (it is the service's secret), and let it into the folders above; then run this again"
    ]
    key.chmod(0o644)
    calls, done = check_named_files(tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls == [f"-u listener -- test -r {ca}", f"-u listener -- test -r {key}"]
    _, done = check_named_files(tmp_path, hidden="(/tmp/)")  # the unit's PrivateTmp=yes: its own, empty /tmp
    assert done.returncode == 1 and "which the service never sees (its unit has ProtectHome=yes" in done.stderr

    (conf / "listener.toml").write_text(f"[mqtt]\n{mqtt.replace('enabled = true', 'enabled = false')}")
    ca.unlink()
    assert check_named_files(tmp_path)[1].returncode == 0  # MQTT off: the service opens none of them
