"""firmware/provision.sh on the broker password file and TLS client key a fleet's config names.

Only the service's user could not read them was said: one copied in under umask 022 (mode 0644), or
owned by the Pi's login user, passed without a word, and the broker login was anyone's who could log in
to the device. They are the operator's files (a key may be another service's too): said, not changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.provision_root import FILES_ONLY, provision

FLEET = (
    '[mqtt]\nenabled = true\ntls = true\ncert_file = "/etc/listener/device.pem"\n'
    'key_file = "/etc/listener/device.key"\n'
    'username = "counter-3"\npassword_file = "/etc/listener/mqtt.pass"\n'
)


def _listener_ids(root: Path) -> tuple[int, int]:
    line = next(line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("listener:"))
    return int(line.split(":")[2]), int(line.split(":")[3])


def _files(root: Path) -> dict[str, Path]:
    folder = root / "etc/listener"
    folder.mkdir(parents=True, exist_ok=True)
    named = {"cert": folder / "device.pem", "key": folder / "device.key", "password": folder / "mqtt.pass"}
    for path in named.values():
        path.write_text("s3cret\n")
        path.chmod(0o644)  # as cp under umask 022 leaves them
    return named


def _warnings(done: str) -> list[str]:
    return [line for line in done.splitlines() if "not only by the service" in line]


def test_secret_files_others_can_read_are_said_once_with_the_fix(pi_root: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text(FLEET)
    files = _files(pi_root)
    done = provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    fix = f"sudo chroot {pi_root} chown listener: /etc/listener/device.key && sudo chmod 0600 {files['key']}"
    assert _warnings(done.stderr) == [
        f"warning: mqtt.key_file /etc/listener/device.key can be read by every user of the device (mode 644), "
        f"not only by the service: {fix}",
        "warning: mqtt.password_file /etc/listener/mqtt.pass can be read by every user of the device (mode 644), "
        "not only by the service: sudo chroot "
        f"{pi_root} chown listener: /etc/listener/mqtt.pass && sudo chmod 0600 {files['password']}",
    ], done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    assert all(path.stat().st_mode & 0o777 == 0o644 for path in files.values())  # the operator's: not changed
    uid, gid = _listener_ids(pi_root)
    for secret in (files["key"], files["password"]):  # the fix, done: nothing more is said
        os.chown(secret, uid, gid)
        secret.chmod(0o600)
    assert _warnings(provision(pi_root, "--config", str(fleet), *FILES_ONLY).stderr) == []


def test_a_secret_file_its_group_or_another_owner_can_read_is_said(pi_root: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text(FLEET)
    files = _files(pi_root)
    provision(pi_root, "--config", str(fleet), *FILES_ONLY, check=False)  # the service user, to own them
    uid, gid = _listener_ids(pi_root)
    os.chown(files["key"], 0, 29)  # root's, and the audio group's (the Pi's login user is in it)
    files["key"].chmod(0o640)
    os.chown(files["password"], 1000, gid)  # the login user's, readable to the service through its group
    files["password"].chmod(0o640)
    said = _warnings(provision(pi_root, "--config", str(fleet), *FILES_ONLY).stderr)
    assert [line.split(", not only")[0] for line in said] == [
        "warning: mqtt.key_file /etc/listener/device.key can be read by the members of group audio (mode 640)",
        "warning: mqtt.password_file /etc/listener/mqtt.pass can be read by its owner, 1000",
    ], said
    os.chown(files["key"], 0, gid)  # root's, readable to the service through its group: the service's alone
    os.chown(files["password"], uid, gid)
    assert _warnings(provision(pi_root, "--config", str(fleet), *FILES_ONLY).stderr) == []
