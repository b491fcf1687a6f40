"""firmware/provision.sh's checks made before any change: the config is checked by the listener being
installed (not one the current folder offers), and what a real run would stop on halfway stops a dry run
too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.provision_root import FILES_ONLY, REPO, provision, script_function, snapshot


def with_listener() -> dict[str, str]:
    """PATH with this test's Python first: one that imports listener and its dependencies, as a checkout's venv."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def source_with_own_check(tmp_path: Path) -> Path:
    """A --source whose listener's check-config refuses every file with a line of its own."""
    source = tmp_path / "newer"
    (source / "listener").mkdir(parents=True)
    (source / "pyproject.toml").write_text('[project]\nname = "listener"\n')
    (source / "listener/__init__.py").write_text("")
    (source / "listener/cli.py").write_text("")
    (source / "listener/__main__.py").write_text('import sys\nsys.exit("checked by the --source\'s listener")\n')
    return source


def test_the_config_is_checked_by_the_sources_listener_not_the_current_folders(pi_root: Path, tmp_path: Path) -> None:
    # python -c and -m put the current folder ahead of PYTHONPATH: run from a checkout, as the README does, the
    # checkout's listener checked the config, and a key only the --source knows blocked the upgrade
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[array]\npreset = "respeaker-4mic"\ndevice = "listener_array"\n')
    source = source_with_own_check(tmp_path)
    args = ["--config", str(fleet), "--source", str(source), "--dry-run", *FILES_ONLY]
    done = provision(pi_root, *args, check=False, env=with_listener(), cwd=REPO)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "checked by the --source's listener" in done.stderr, done.stderr


def test_an_sdist_source_leaves_the_config_unchecked_and_says_so(pi_root: Path, tmp_path: Path) -> None:
    # an sdist is no path Python imports from: the check ran whatever listener that Python had, and passed a
    # config (or refused one) for another version than the one being installed
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[array]\npreset = "respeaker-4mic"\ndevice = "listener_array"\nbogus_key = 1\n')
    sdist = tmp_path / "listener-9.9.tar.gz"
    sdist.write_bytes(b"\x1f\x8b")
    args = ["--config", str(fleet), "--source", str(sdist), "--dry-run", *FILES_ONLY]
    done = provision(pi_root, *args, check=False, env=with_listener(), cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{fleet} is not checked with listener check-config: {sdist} is an sdist" in done.stderr, done.stderr
    assert "bogus_key" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("dry_run", "said"), [(1, "is not checked"), (0, "is checked with listener check-config only by")]
)
def test_on_the_device_an_sdist_source_says_the_config_is_not_checked_before_the_changes(
    tmp_path: Path, dry_run: int, said: str
) -> None:
    # on / the warning was left out, the installed listener's check (check_config_for_service) counted on instead:
    # a dry run never makes that check, and a real run makes it only after its changes, so neither said a word
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[array]\npreset = "respeaker-4mic"\nbogus_key = 1\n')
    sdist = tmp_path / "listener-9.9.tar.gz"
    sdist.write_bytes(b"\x1f\x8b")
    setup = f"ROOT=/; DRY_RUN={dry_run}; CONFIG_FILE={fleet}; SOURCE={sdist}; VENV={tmp_path / 'venv'}"
    done = script_function(f"{setup}; CONF_DIR={tmp_path / 'etc'}; check_config_early")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.startswith(f"warning: {fleet} {said}"), done.stderr
    assert f"{sdist} is an sdist, which no Python imports unbuilt (pass the wheel" in done.stderr, done.stderr


HALFWAY = {
    "ca-file": ('[mqtt]\nenabled = true\ntls = true\nca_file = "fleet-ca.pem"\n', "mqtt.ca_file"),
    "vosk-model": (
        '[asr]\nenabled = true\nmodel_path = "/opt/listener/models/vosk-model-small-en-us-0.15"\n',
        "which holds no vosk model",
    ),
}


@pytest.mark.parametrize(("config", "problem"), HALFWAY.values(), ids=HALFWAY.keys())
def test_what_stops_a_run_halfway_stops_its_dry_run_and_it_before_any_change(
    pi_root: Path, tmp_path: Path, config: str, problem: str
) -> None:
    # a dry run skipped the checks of the files the config names, which a real run made only after writing the
    # config: --dry-run said the fleet's file was fine, and the run then stopped with the config installed
    fleet = tmp_path / "counter-3.toml"
    fleet.write_text(f'[array]\npreset = "respeaker-4mic"\ndevice = "listener_array"\n\n{config}')
    before = snapshot(pi_root)
    for dry_run in (["--dry-run"], []):
        done = provision(pi_root, "--config", str(fleet), *dry_run, *FILES_ONLY, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        last = done.stderr.splitlines()[-1]
        assert last.startswith(f"error: --config {fleet} has ") and problem in last, last
        assert snapshot(pi_root) == before


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[mqtt]\nenabled = true\npassword = "hunter2"\n', "mqtt.password"),
        # misspelt or elsewhere: the listener refuses the unknown key and hides its value (test_config_secrets),
        # and the script printed it in the diff and installed it 0644, exit 0 under --root
        ('[mqtt]\nenabled = true\npasword = "hunter2"\n', "mqtt.pasword"),
        ('[mqtt.login]\npassword = "hunter2"\n', "mqtt.login.password"),
        ('[service]\napi_token = "hunter2"\n', "service.api_token"),
    ],
)
def test_a_config_holding_a_password_is_refused_where_no_listener_checks_it(
    pi_root: Path, tmp_path: Path, text: str, named: str
) -> None:
    # with no Python to run the source's check-config, the file was installed 0644 with its password, which the
    # diff printed: the listener refuses the key, so the script does, before any change
    fleet = tmp_path / "pw.toml"
    fleet.write_text(f'[array]\ndevice = "listener_array"\n\n{text}')
    stub = tmp_path / "stub"  # a --source no Python runs check-config from
    (stub / "listener").mkdir(parents=True)
    (stub / "listener/__init__.py").write_text("")
    (stub / "pyproject.toml").write_text('[project]\nname = "listener"\n')
    before = snapshot(pi_root)
    plain = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    done = provision(pi_root, "--config", str(fleet), "--source", str(stub), *FILES_ONLY, check=False, env=plain)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{fleet} has {named}, which the listener refuses" in done.stderr, done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    assert snapshot(pi_root) == before


def link_to_a_login_users_file(secrets: Path) -> None:
    # as `sudo ln -s` from the Pi's login user's copy leaves it
    home = secrets.parents[2] / "home/pi"
    home.mkdir(parents=True)
    (home / "secrets.env").write_text("LISTENER_MQTT_PASSWORD=s3cret\n")
    os.chown(home / "secrets.env", 1000, 1000)
    (home / "secrets.env").chmod(0o644)
    secrets.symlink_to("../../home/pi/secrets.env")


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (link_to_a_login_users_file, "is a symbolic link (to ../../home/pi/secrets.env)"),
        (Path.mkdir, "is not a regular file but a directory"),
    ],
    ids=["link", "folder"],
)
def test_a_secrets_file_the_script_cannot_mend_is_refused_before_any_change(
    pi_root: Path, make: Callable[[Path], None], said: str
) -> None:
    # a link: chown and chmod reached its target, still the login user's to read, and every run said "change";
    # a folder: every run said "create" and wrote the file inside it
    secrets = pi_root / "etc/listener/secrets.env"
    secrets.parent.mkdir(parents=True)
    make(secrets)
    before = snapshot(pi_root)
    done = provision(pi_root, *FILES_ONLY, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(f"error: /etc/listener/secrets.env {said}"), done.stderr
    assert "nothing was changed" in done.stderr and "s3cret" not in done.stdout + done.stderr
    assert snapshot(pi_root) == before


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="asks the service user itself (runuser)")
@pytest.mark.parametrize(("mode", "refused"), [(0o644, False), (0o600, True)])
def test_the_early_check_leaves_the_folders_to_the_run(tmp_path: Path, mode: int, refused: bool) -> None:
    """On the device the early check asked the service user to read the CA file, folders and all, before
    ensure_readable_dirs opened /etc/listener (0700 after a run under sudo's umask 077): a re-run that would have
    opened it stopped instead, blaming the file. Early, the file is judged by its own mode; a file no folder change
    makes readable (0600 root's) is still refused."""
    conf = tmp_path / "conf"  # its folders above are closed to the service user, as /etc/listener was
    conf.mkdir()
    ca = conf / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    ca.chmod(mode)
    (conf / "listener.toml").write_text(f'[mqtt]\nenabled = true\ntls = true\nca_file = "{ca}"\n')
    conf.chmod(0o700)
    script = (
        f'source "{REPO}/firmware/provision.sh"\n'
        f'ROOT=/ CONF_DIR="{conf}" SERVICE_USER=nobody CONFIG_FILE="" FORCE_CONFIG=0 HIDDEN_FROM_SERVICE=()\n'
        "check_named_files_early\n"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode != 0) is refused, done.stderr
    assert ("cannot read" in done.stderr) is refused, done.stderr
