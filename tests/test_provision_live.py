"""provision.sh's steps a run reaches only on a live Pi, run alone on stand-ins: staging, reboots, restarts, zram,
the config checked as the service user."""

from __future__ import annotations

from pathlib import Path

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
    done = script_function(tmp_path, f"{setup}; install_package abc123")
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
    done = script_function(tmp_path, call)
    assert done.returncode == 0, done.stderr
    status = int(done.stdout.rsplit("status=", 1)[1])
    return status, done.stdout.rsplit("status=", 1)[0] + done.stderr


def test_a_boot_config_change_flags_its_reboot_until_it_happens(tmp_path: Path) -> None:
    """Flagged where the listener looks (a missing array's fix says "reboot first"), said again by a later
    run, and no restart of the service meanwhile (status 1): it starts at that boot."""
    from listener.audio.devices import REBOOT_DUE

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


def apply_live(tmp_path: Path, *changed: int) -> list[str]:
    """provision.sh's apply_live (unit, udev, boot, service changed), run alone as on a running Pi: what
    it asks systemctl and udevadm to do (both stand-ins that record), with /run's flags in ``tmp_path``."""
    (tmp_path / "systemd").mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    calls.write_text("")
    setup = (
        f"REBOOT_DUE={tmp_path / 'listener-reboot-due'}; REBOOT_REQUIRED={tmp_path / 'reboot-required'}; "
        f"SYSTEMD_RUNNING={tmp_path / 'systemd'}; ROOT=/; DRY_RUN=0; NO_SYSTEMCTL=0; "
        f'systemctl() {{ echo "systemctl $*" >>{calls}; }}; udevadm() {{ echo "udevadm $1" >>{calls}; }}'
    )
    call = f"apply_live {' '.join(str(c) for c in changed)}"
    done = script_function(tmp_path, f"{setup}; {call}")
    assert done.returncode == 0, done.stderr
    return calls.read_text().splitlines()


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
        done = script_function(tmp_path, call)
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
    done = script_function(tmp_path, f"ROOT=/; DRY_RUN=0; VENV={venv}; {runuser}; check_config_for_service")
    assert done.returncode == 1, done.stdout + done.stderr
    assert calls.read_text() == f"-u listener -- {venv}/bin/listener check-config /etc/listener/listener.toml\n"
    assert done.stderr.splitlines()[-1] == (
        "error: /etc/listener/listener.toml is not valid for the installed listener, or the service user listener "
        "cannot read it (above): fix it (its mode, or its folders', if so), then run this again"
    )
