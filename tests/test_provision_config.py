"""firmware/provision.sh with a fleet's own listener.toml.

--config is checked before any change (against --preset, and by the source's listener under
--root), never silently ignored over a different installed config, and kept when only calibrate's
[parties] azimuths differ. A strict umask: test_provision_umask.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from listener.config import load_config
from listener.service.calibrate.write import edit_parties
from tests.provision_root import FILES_ONLY, config_refusal, provision, snapshot


def test_a_kept_config_is_read_as_toml_whatever_its_quoting(pi_root: Path) -> None:
    provision(pi_root, *FILES_ONLY)
    toml = pi_root / "etc/listener/listener.toml"
    text = toml.read_text().replace("[array]", "[array]  # the HAT")
    toml.write_text(text.replace('preset = "respeaker-4mic"', "preset = 'respeaker-4mic'"))
    again = provision(pi_root, *FILES_ONLY)
    assert "array.preset" not in again.stderr and "kept: /etc/listener/listener.toml" in again.stdout, again.stderr


def test_per_device_configs_are_installed_checked_and_never_lost(pi_root: Path, tmp_path: Path) -> None:
    mine = tmp_path / "counter-3.toml"
    mine.write_text('[mqtt]\nenabled = true\nhost = "192.0.2.10"\ndevice_id = "counter-3"\n')
    first = provision(pi_root, "--config", str(mine), *FILES_ONLY)
    # installed as it is, but it opens the card itself: calibrate and doctor could not listen beside it
    assert "has no array.device (so the preset's card, opened directly), not the listener_array" in first.stderr
    installed = pi_root / "etc/listener/listener.toml"
    assert installed.read_text() == mine.read_text() and load_config(installed).mqtt.device_id == "counter-3"
    replaced = provision(pi_root, "--force-config", *FILES_ONLY)  # back to the template: the old one is kept
    assert (pi_root / "etc/listener/listener.toml.bak").read_text() == mine.read_text()
    assert "listener.toml.bak" in replaced.stdout
    # forced again over another config: the first backup (say, the calibrated one) stays; the new one beside it
    template = installed.read_text()
    installed.write_text(template + "# edited by hand\n")
    provision(pi_root, "--force-config", *FILES_ONLY)
    assert (pi_root / "etc/listener/listener.toml.bak").read_text() == mine.read_text()
    (newer,) = (pi_root / "etc/listener").glob("listener.toml.bak.*")
    assert newer.read_text() == template + "# edited by hand\n" and installed.read_text() == template
    broken = tmp_path / "broken.toml"
    broken.write_text("[mqtt\nhost = 1\n")
    refused = provision(pi_root, "--config", str(broken), *FILES_ONLY, check=False)
    assert refused.returncode == 2 and "cannot be read as TOML" in refused.stderr


def with_listener() -> dict[str, str]:
    """PATH with this test's Python first: one that imports listener and its dependencies, as a checkout's venv."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.parametrize(
    ("config_preset", "preset", "fix"),
    [
        ("respeaker-6mic", "respeaker-4mic", "pass --preset respeaker-6mic,"),
        ("respeaker-2mic", "respeaker-4mic", "pass --preset respeaker-2mic-v1 or --preset respeaker-2mic-v2,"),
        ("respeaker-4mic", "respeaker-2mic-v2", "pass --preset respeaker-4mic,"),
    ],
)
def test_a_config_for_another_array_than_the_preset_is_refused_before_any_change(
    pi_root: Path, tmp_path: Path, config_preset: str, preset: str, fix: str
) -> None:
    # a 6-mic config over the 4-channel ALSA device fails only once the service runs
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'[array]\npreset = "{config_preset}"\ndevice = "listener_array"\n')
    before = snapshot(pi_root)
    done = provision(pi_root, "--preset", preset, "--config", str(fleet), *FILES_ONLY, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f'has array.preset = "{config_preset}", but --preset {preset} sets up' in done.stderr, done.stderr
    assert fix in done.stderr, done.stderr
    assert snapshot(pi_root) == before


def test_a_config_on_the_shared_device_passes_without_a_word(pi_root: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "counter-4.toml"
    fleet.write_text('[array]\ndevice = "listener_array"\n\n[mqtt]\nenabled = true\ndevice_id = "counter-4"\n')
    done = provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    assert "warning" not in done.stderr, done.stderr


def test_lapel_mics_on_their_own_input_are_not_told_to_use_the_shared_device(pi_root: Path, tmp_path: Path) -> None:
    """README's two lapel mics on a USB interface name it as [array] device; listener_array is the board's card,
    so the warning's usual fix (device = "listener_array") would have the service listen to the HAT instead."""
    lapel = tmp_path / "counter-5.toml"
    lapel.write_text(
        '[array]\npreset = "generic"\ndevice = "USB Audio"\nchannels = 2\n'
        "[parties]\nrep_channel = 0\ncustomer_channel = 1\n"
    )
    done = provision(pi_root, "--config", str(lapel), *FILES_ONLY)
    assert 'array.device = "USB Audio" and one mic per party: the service opens that input itself' in done.stderr
    assert 'set device = "listener_array"' not in done.stderr, done.stderr


def test_a_config_without_a_preset_is_said_to_have_the_default_one(pi_root: Path, tmp_path: Path) -> None:
    """README's minimal file gives mics and no preset: the refusal must not quote a line the file lacks."""
    fleet = tmp_path / "fleet.toml"
    fleet.write_text("[array]\nsample_rate = 16000\nmics = [[0.05, 0.0, 0.0], [-0.05, 0.0, 0.0]]\n")
    done = provision(pi_root, "--preset", "respeaker-usb-v2", "--config", str(fleet), *FILES_ONLY, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'has no array.preset, so the default "respeaker-4mic"' in done.stderr, done.stderr
    assert 'set array.preset = "respeaker-usb-v2" in the file' in done.stderr, done.stderr


def test_under_root_the_config_is_checked_by_the_sources_listener(pi_root: Path, tmp_path: Path) -> None:
    # no listener is installed in a --root to run check-config afterwards: the source's own checks it first
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[array]\npreset = "respeaker-4mic"\nbogus_key = 1\n')
    before = snapshot(pi_root)
    done = provision(pi_root, "--config", str(fleet), *FILES_ONLY, check=False, env=with_listener())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "array.bogus_key = 1: unknown key" in done.stderr and f"{fleet} is not valid" in done.stderr
    assert snapshot(pi_root) == before
    fleet.write_text('[array]\npreset = "respeaker-4mic"\n')
    provision(pi_root, "--config", str(fleet), *FILES_ONLY, env=with_listener())
    kept = pi_root / "etc/listener/listener.toml"
    kept.write_text(kept.read_text() + "[leds]\nbogus_key = 1\n")  # an operator's edit an upgrade rejects
    again = provision(pi_root, *FILES_ONLY, check=False, env=with_listener())
    assert again.returncode == 2 and "leds.bogus_key" in again.stderr, again.stderr


def test_a_config_saved_with_a_byte_order_mark_is_read_as_the_listener_reads_it(pi_root: Path, tmp_path: Path) -> None:
    # Notepad's UTF-8: check-config said ok, and provision.sh stopped with "Invalid statement (line 1)"
    mine = tmp_path / "counter-4.toml"
    mine.write_bytes(b"\xef\xbb\xbf" + b'[array]\npreset = "respeaker-6mic"\n')
    done = provision(pi_root, "--config", str(mine), "--preset", "respeaker-6mic", *FILES_ONLY)
    assert "cannot be read as TOML" not in done.stderr
    assert load_config(pi_root / "etc/listener/listener.toml").array.preset == "respeaker-6mic"
    again = provision(pi_root, "--config", str(mine), "--preset", "respeaker-6mic", *FILES_ONLY)
    assert again.stdout.rstrip().endswith("no changes"), again.stdout


def test_a_config_given_over_a_different_installed_one_is_refused_not_ignored(pi_root: Path, tmp_path: Path) -> None:
    # a warning and then "no changes", exit 0: a fleet script never noticed the device kept its old config
    first, second = tmp_path / "counter-3.toml", tmp_path / "counter-3-new.toml"
    first.write_text('[mqtt]\nenabled = true\nhost = "192.0.2.10"\ndevice_id = "counter-3"\n')
    second.write_text('[mqtt]\nenabled = true\nhost = "192.0.2.20"\ndevice_id = "counter-3"\n')
    provision(pi_root, "--config", str(first), *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"

    before = snapshot(pi_root)
    refused = provision(pi_root, "--config", str(second), *FILES_ONLY, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    installed_in = "differs from the installed /etc/listener/listener.toml in mqtt.host, not only in the calibrated"
    assert f"--config {second} {installed_in}" in refused.stderr, refused.stderr
    assert "add --force-config" in refused.stderr and "listener.toml.bak" in refused.stderr
    assert "copy the installed calibration" not in refused.stderr  # it has none
    assert snapshot(pi_root) == before

    same = provision(pi_root, "--config", str(first), *FILES_ONLY)
    assert same.stdout.rstrip().endswith("no changes") and "the same as --config" in same.stdout, same.stdout
    provision(pi_root, "--config", str(second), "--force-config", *FILES_ONLY)
    assert installed.read_text() == second.read_text()
    assert (pi_root / "etc/listener/listener.toml.bak").read_text() == first.read_text()


FLEET_PARTIES = '[parties]\n# measure: listener calibrate --write\nrep_azimuth_deg = 0.0  # the rep\nmode = "doa"\n'


@pytest.mark.parametrize("parties", [FLEET_PARTIES, ""], ids=["with-parties", "calibrate-adds-parties"])
def test_a_calibrated_config_is_kept_when_provisioned_again_with_the_same_config(
    pi_root: Path, tmp_path: Path, parties: str
) -> None:
    # README step 2 runs listener calibrate --write on the installed file: the next package upgrade with
    # the fleet's same --config was refused, and --force-config would have thrown the calibration away
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text(f'[array]\npreset = "respeaker-4mic"\n\n{parties}\n[mqtt]\nhost = "192.0.2.10"\n')
    provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"
    calibrated = edit_parties(installed.read_text(), {"rep_azimuth_deg": 42.5, "customer_azimuth_deg": 221.0})
    installed.write_text(calibrated)  # as calibrate writes it: only the two azimuths change

    before = snapshot(pi_root)
    again = provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    kept = "kept: /etc/listener/listener.toml, which differs from --config"
    assert kept in again.stdout and "only in the calibrated [parties] azimuths" in again.stdout, again.stdout
    assert again.stdout.rstrip().endswith("no changes"), again.stdout
    assert snapshot(pi_root) == before and installed.read_text() == calibrated
    parties_now = load_config(installed).parties
    assert (parties_now.rep_azimuth_deg, parties_now.customer_azimuth_deg) == (42.5, 221.0)

    moved = tmp_path / "counter-3-new.toml"
    moved.write_text(fleet.read_text().replace("192.0.2.10", "192.0.2.20"))  # a difference outside [parties]
    refused = provision(pi_root, "--config", str(moved), *FILES_ONLY, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    # the refusal named neither what differs nor the calibration to copy: the installer had to diff the files
    # and read the installed azimuths off the device
    assert refused.stderr.splitlines()[-1:] == [  # after the warning that the file lacks the shared device
        config_refusal(
            moved,
            "mqtt.host",
            "copy the installed calibration (rep_azimuth_deg = 42.5, customer_azimuth_deg = 221.0) into "
            f"{moved} first, then add --force-config",
        )
    ]
    if parties:  # only the two azimuths are calibrate's: another key of [parties] is the fleet's
        moved.write_text(fleet.read_text().replace('mode = "doa"', 'mode = "channels"'))
        refused = provision(pi_root, "--config", str(moved), *FILES_ONLY, check=False)
        assert refused.returncode == 2 and "listener.toml in parties.mode, not only" in refused.stderr, refused.stderr
    assert snapshot(pi_root) == before


def test_a_kept_config_the_service_user_cannot_read_is_opened_to_it(pi_root: Path) -> None:
    """A kept listener.toml's mode was set only when the script wrote it: one left 0600 root's (by hand, by an
    editor) was "kept", the run said "no changes", and the service (User=listener) exited 2 on it at every start.
    It holds no password (the listener refuses mqtt.password), so it is opened to all, as a planned change."""
    provision(pi_root, *FILES_ONLY)
    toml = pi_root / "etc/listener/listener.toml"
    for mode in (0o600, 0o640):  # root's: the group is root too
        toml.chmod(mode)
        dry = provision(pi_root, "--dry-run", *FILES_ONLY)
        fix = "chmod a+r /etc/listener/listener.toml (the service user listener could not read it)"
        assert f"would: {fix}" in dry.stdout, dry.stdout
        assert dry.stdout.rstrip().endswith("1 change planned; dry run, nothing written"), dry.stdout
        assert toml.stat().st_mode & 0o777 == mode
        done = provision(pi_root, *FILES_ONLY)
        assert "kept: /etc/listener/listener.toml" in done.stdout and f"change: {fix}" in done.stdout, done.stdout
        assert done.stdout.rstrip().endswith("1 change made"), done.stdout
        assert toml.stat().st_mode & 0o777 == mode | 0o044
        assert provision(pi_root, *FILES_ONLY).stdout.rstrip().endswith("no changes")
    # the operator's own choice, readable to the service through its group: left as it is
    listener_gid = next(
        int(line.split(":")[2]) for line in (pi_root / "etc/group").read_text().split() if line.startswith("listener:")
    )
    os.chown(toml, -1, listener_gid)  # the script's useradd needs root, as this does
    toml.chmod(0o640)
    assert provision(pi_root, *FILES_ONLY).stdout.rstrip().endswith("no changes")
    assert toml.stat().st_mode & 0o777 == 0o640


def test_a_kept_config_holding_a_password_is_never_opened(pi_root: Path, tmp_path: Path) -> None:
    """The listener refuses mqtt.password in its config (it goes in secrets.env): a kept file that has one
    stops the run, and stays as closed as it was."""
    provision(pi_root, *FILES_ONLY)
    toml = pi_root / "etc/listener/listener.toml"
    toml.write_text(toml.read_text().replace("[mqtt]\n", '[mqtt]\npassword = "hunter2"\n', 1))
    toml.chmod(0o600)
    # a --source no Python can run check-config from (--no-pip installs nothing from it)
    stub = tmp_path / "stub"
    (stub / "listener").mkdir(parents=True)
    (stub / "listener/__init__.py").write_text("")
    (stub / "pyproject.toml").write_text('[project]\nname = "listener"\n')
    # refused by the source's listener before any change, or where none runs by the script itself
    for source, env in (([], with_listener()), (["--source", str(stub)], None)):
        done = provision(pi_root, *FILES_ONLY, *source, check=False, env=env)
        assert done.returncode != 0, done.stdout
        assert "mqtt.password" in done.stderr and "hunter2" not in done.stdout + done.stderr, done.stderr
        assert toml.stat().st_mode & 0o777 == 0o600
        assert "change:" not in done.stdout, done.stdout


def test_a_secrets_file_copied_in_by_the_login_user_becomes_roots_alone(pi_root: Path) -> None:
    # one owned by the Pi's login user (1000:1000, 0664, as `cp` by that user leaves it) was made 0600 but stayed
    # that user's: the broker password was still theirs to read. systemd reads it as root
    secrets = pi_root / "etc/listener/secrets.env"
    secrets.parent.mkdir(parents=True)
    secrets.write_text("LISTENER_MQTT_PASSWORD=s3cret\n")
    os.chown(secrets, 1000, 1000)
    secrets.chmod(0o664)
    done = provision(pi_root, *FILES_ONLY)
    assert "change: chown root:root /etc/listener/secrets.env" in done.stdout, done.stdout
    assert "change: chmod 0600 /etc/listener/secrets.env" in done.stdout, done.stdout
    st = secrets.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o600)
    assert secrets.read_text() == "LISTENER_MQTT_PASSWORD=s3cret\n" and "s3cret" not in done.stdout + done.stderr
    again = provision(pi_root, *FILES_ONLY)
    assert again.stdout.rstrip().endswith("no changes"), again.stdout


@pytest.mark.parametrize("written", ["/etc/listener/fleet-ca.pem", "fleet-ca.pem"], ids=["absolute", "relative"])
def test_a_config_naming_a_ca_file_not_copied_yet_fails_the_run_until_it_is(
    pi_root: Path, tmp_path: Path, written: str
) -> None:
    # the service exited 2 on it at its start (not retried) while the run had said nothing; a card prepared
    # with --root is checked by the file's mode and owner in the root's accounts. A relative path is the
    # listener's: in the config's folder (it was left unchecked)
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text(f'[mqtt]\nenabled = true\ntls = true\nca_file = "{written}"\n')
    failed = provision(pi_root, "--config", str(fleet), *FILES_ONLY, check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    # refused before any change: the fix is to the file, nothing installed yet
    assert failed.stderr.splitlines()[-1] == (
        f'error: --config {fleet} has mqtt.ca_file = "/etc/listener/fleet-ca.pem", which does not exist: '
        "copy the file there first (a fleet's CA file goes in /etc/listener/ on every device), or fix "
        "mqtt.ca_file; then run this again"
    )
    assert not (pi_root / "etc/listener/listener.toml").exists()
    ca = pi_root / "etc/listener/fleet-ca.pem"
    ca.parent.mkdir(parents=True)
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    ca.chmod(0o600)  # root's alone, as a copy under umask 077 leaves it
    failed = provision(pi_root, "--config", str(fleet), *FILES_ONLY, check=False)
    assert failed.returncode == 1 and "which the service user listener cannot read" in failed.stderr, failed.stderr
    ca.chmod(0o644)
    done = provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    assert (pi_root / "etc/systemd/system/listener.service").exists(), done.stdout


def test_under_root_the_fix_for_a_secret_file_runs_on_this_machine(pi_root: Path, tmp_path: Path) -> None:
    """A card prepared with --root is fixed from this machine: the fix named the device's path and the device's
    account ("sudo chown listener: /etc/listener/mqtt.pass"), which this machine has neither of."""
    secret = pi_root / "etc/listener/mqtt.pass"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("s3cret\n")
    secret.chmod(0o600)  # root's alone: the service user cannot read it
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text('[mqtt]\nenabled = true\nusername = "counter-3"\npassword_file = "/etc/listener/mqtt.pass"\n')
    failed = provision(pi_root, "--config", str(fleet), *FILES_ONLY, check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    fix = f"sudo chroot {pi_root} chown listener: /etc/listener/mqtt.pass && sudo chmod 0600 {secret}"
    assert fix in failed.stderr.splitlines()[-1], failed.stderr


def test_a_config_that_transcribes_without_the_model_fails_the_run_until_it_is_there(
    pi_root: Path, tmp_path: Path
) -> None:
    # a fleet's config copied from a device provisioned with --vosk-model passed every check on one without the
    # model; the service then stopped at the first run's reboot with exit 2, which systemd does not restart
    model = "/opt/listener/models/vosk-model-small-en-us-0.15"
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text(f'[asr]\nenabled = true\nmodel_path = "{model}"\n')
    failed = provision(pi_root, "--config", str(fleet), *FILES_ONLY, check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    last = failed.stderr.splitlines()[-1]
    assert f'model_path = "{model}", which holds no vosk model' in last, last
    assert "pass --vosk-model en-small" in last and "[asr] enabled = false" in last, last
    (pi_root / model.lstrip("/") / "am").mkdir(parents=True)
    (pi_root / model.lstrip("/") / "am" / "final.mdl").write_bytes(b"\0")
    provision(pi_root, "--config", str(fleet), *FILES_ONLY)


def test_a_config_that_differs_only_in_comments_is_kept_as_such_not_as_calibrated(
    pi_root: Path, tmp_path: Path
) -> None:
    """The installed file with a comment added (or the fleet file's comments edited): it was said to differ
    "only in the calibrated [parties] azimuths", sending the installer after a calibration that never happened.
    A fleet file over an uncalibrated device was refused offering to copy "the installed calibration
    (rep_azimuth_deg = 0.0, ...)": the fleet's own values, no measurement."""
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text('[parties]\nrep_azimuth_deg = 0.0\ncustomer_azimuth_deg = 180.0\n[mqtt]\nhost = "192.0.2.10"\n')
    provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    installed = pi_root / "etc/listener/listener.toml"
    installed.write_text("# counter 3, by the window\n" + installed.read_text())
    again = provision(pi_root, "--config", str(fleet), *FILES_ONLY)
    kept = f"kept: /etc/listener/listener.toml, whose settings are those of --config {fleet} (only its comments or"
    assert kept in again.stdout and "calibrated" not in again.stdout, again.stdout
    assert again.stdout.rstrip().endswith("no changes"), again.stdout

    moved = tmp_path / "counter-3-new.toml"
    moved.write_text(fleet.read_text().replace("192.0.2.10", "192.0.2.20"))
    refused = provision(pi_root, "--config", str(moved), *FILES_ONLY, check=False)
    assert refused.returncode == 2 and "in mqtt.host, not only in the calibrated" in refused.stderr, refused.stderr
    assert "copy the installed calibration" not in refused.stderr, refused.stderr


def test_azimuths_the_fleet_file_sets_and_the_installed_one_lacks_are_no_mere_layout(
    pi_root: Path, tmp_path: Path
) -> None:
    """The installed config has no [parties] (the listener's defaults, 0 and 180 deg), the fleet file measured
    ones: the settings differ, so it is not "only its comments or spacing" (the device runs other directions),
    and the template's default directions are never offered as a calibration to copy."""
    plain = tmp_path / "plain.toml"
    plain.write_text('[mqtt]\nhost = "192.0.2.10"\n')
    provision(pi_root, "--config", str(plain), *FILES_ONLY)
    measured = tmp_path / "measured.toml"
    measured.write_text(plain.read_text() + "[parties]\nrep_azimuth_deg = 90.0\ncustomer_azimuth_deg = 270.0\n")
    again = provision(pi_root, "--config", str(measured), *FILES_ONLY)
    assert "only its comments or spacing" not in again.stdout, again.stdout
    assert "only in the calibrated [parties] azimuths" in again.stdout, again.stdout
    moved = tmp_path / "moved.toml"
    moved.write_text(plain.read_text().replace("192.0.2.10", "192.0.2.20"))
    refused = provision(pi_root, "--config", str(moved), *FILES_ONLY, check=False)
    assert refused.returncode == 2 and "copy the installed calibration" not in refused.stderr, refused.stderr
    assert "in mqtt.host, not only in the calibrated" in refused.stderr, refused.stderr  # refused for the host
