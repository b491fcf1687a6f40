"""firmware/provision.sh's options: every value is checked while the arguments are read, before any
change (apt, groups, the user), with one line naming the problem and the fix, exit 2; and the dry
run's apt plan for the Raspberry Pi OS-only package is decided as the real run decides it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.provision_root import FILES_ONLY, REPO, provision, snapshot

VALUED_OPTIONS = ("--root", "--preset", "--source", "--vosk-model", "--vosk-url", "--vosk-sha256", "--config")
DIGEST = "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"


def one_usage_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == "", done.stdout
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert done.stderr.rstrip().endswith("(see --help)"), done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


@pytest.mark.parametrize("option", VALUED_OPTIONS)
@pytest.mark.parametrize("after", [[], ["--dry-run"]], ids=["last", "before-another-option"])
def test_an_option_without_its_value_is_a_usage_error(tmp_path: Path, option: str, after: list[str]) -> None:
    # bash's ${2:?} printed "provision.sh: line 138: 2: --preset needs a name" and exited 1
    done = provision(tmp_path, "--dry-run", option, *after, check=False)
    one_usage_error(done, f"error: {option} is missing its value: give ")
    assert "line " not in done.stderr


def bad_values(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Options with a value that used to fail only after apt and the user, or at download time."""
    (tmp_path / "not-a-checkout").mkdir()
    (tmp_path / "notes.txt").write_text("x\n")
    (tmp_path / "a-folder.toml").mkdir()
    (tmp_path / "no.zip").write_bytes(b"PK")
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:  # no one model folder: the model's name is unknown
        z.writestr("vosk-model-a/conf/model.conf", b"")
        z.writestr("README", b"")
    return {
        "source-missing": (["--source", "/nope"], "--source /nope does not exist: pass a listener checkout"),
        "source-folder": (["--source", str(tmp_path / "not-a-checkout")], "is not a listener checkout"),
        "source-file": (["--source", str(tmp_path / "notes.txt")], "neither a checkout nor a listener wheel"),
        "config-missing": (["--config", str(tmp_path / "nope.toml")], "nope.toml does not exist"),
        "config-folder": (["--config", str(tmp_path / "a-folder.toml")], "a-folder.toml is not a file"),
        "sha-alone": (["--vosk-sha256", DIGEST], "add --vosk-url, or leave it out"),
        # the en-small model's own digest given wrongly blamed --vosk-url, which was not given
        "sha-short": (["--vosk-model", "en-small", "--vosk-sha256", "abc"], "--vosk-sha256 abc is not a SHA-256"),
        "url-no-sha": (["--vosk-url", "https://h/m.zip"], "--vosk-url needs --vosk-sha256 with the zip's SHA-256"),
        "url-path": (["--vosk-url", "/srv/m.zip", "--vosk-sha256", DIGEST], "pass file:///srv/m.zip"),
        "url-scheme": (["--vosk-url", "ftp://h/m.zip", "--vosk-sha256", DIGEST], "not an https://, http://"),
        "url-file": (["--vosk-url", "file:///nope/m.zip", "--vosk-sha256", DIGEST], "/nope/m.zip does not exist"),
        "url-no-zip": (
            ["--vosk-url", (tmp_path / "no.zip").as_uri(), "--vosk-sha256", DIGEST],
            "cannot be read as a zip",
        ),
        "url-no-folder": (
            ["--vosk-url", (tmp_path / "two.zip").as_uri(), "--vosk-sha256", DIGEST],
            "holds README, vosk-model-a at its top, not the one model folder a vosk model zip has",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "source-missing",
        "source-folder",
        "source-file",
        "config-missing",
        "config-folder",
        "sha-alone",
        "sha-short",
        "url-no-sha",
        "url-path",
        "url-scheme",
        "url-file",
        "url-no-zip",
        "url-no-folder",
    ],
)
def test_a_bad_option_value_is_refused_before_any_change(pi_root: Path, tmp_path: Path, case: str) -> None:
    # --source /nope created four groups and the user and added its memberships (7 changes) first
    args, words = bad_values(tmp_path)[case]
    before = snapshot(pi_root)
    done = provision(pi_root, *FILES_ONLY, "--no-systemctl", *args, check=False)
    one_usage_error(done, words)
    assert snapshot(pi_root) == before


def test_a_wheel_and_an_upper_case_digest_are_accepted(tmp_path: Path) -> None:
    wheel = tmp_path / "listener-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    model = tmp_path / "m.zip"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("vosk-model-m/conf/model.conf", b"")
    root = tmp_path / "empty"
    root.mkdir()
    digest = hashlib.sha256(model.read_bytes()).hexdigest()  # a local zip's is checked as the options are read
    args = ["--source", str(wheel), "--vosk-url", model.as_uri(), "--vosk-sha256", digest.upper()]
    done = provision(root, "--dry-run", "--no-apt", "--preset", "respeaker-usb-v2", *args)  # USB: no driver needed
    assert f"would: pip install {wheel} into /opt/listener/venv" in done.stdout, done.stdout
    assert f"check SHA-256 {digest}, unpack" in done.stdout, done.stdout


def test_a_kept_config_that_is_no_toml_is_refused_before_any_change(pi_root: Path, tmp_path: Path) -> None:
    # with no Python to run the source's check-config, it stopped only after the groups and the user
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "firmware", checkout / "firmware")
    shutil.copytree(REPO / "systemd", checkout / "systemd")
    (checkout / "listener").mkdir()
    (checkout / "listener/__init__.py").write_text("")  # imports no listener.cli: nothing to check it with
    (checkout / "pyproject.toml").write_text("")
    (pi_root / "etc/listener").mkdir()
    (pi_root / "etc/listener/listener.toml").write_text("[array\n")
    before = snapshot(pi_root)
    done = subprocess.run(
        ["bash", str(checkout / "firmware/provision.sh"), "--root", str(pi_root), *FILES_ONLY, "--no-systemctl"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert done.returncode == 2 and "cannot be read as TOML" in done.stderr, done.stdout + done.stderr
    assert "change:" not in done.stdout and snapshot(pi_root) == before


def planned_install(stdout: str) -> list[str]:
    lines = [line for line in stdout.splitlines() if line.startswith("would: apt-get install ")]
    return lines[0].removeprefix("would: apt-get install ").split() if lines else []


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="needs apt (Debian, Raspberry Pi OS)")
def test_the_dry_run_plans_python3_lgpio_as_the_real_run_decides() -> None:
    """The dry run promised python3-lgpio on Debian 12, whose archive lacks it, where the real run skipped it.

    A dry run of this very system (it changes nothing) against what its apt sources really offer.
    """
    offered = subprocess.run(["apt-cache", "show", "python3-lgpio"], capture_output=True, check=False).returncode == 0
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "python3-lgpio"], capture_output=True, text=True)
    installed = "install ok installed" in status.stdout  # Raspberry Pi OS has it: nothing to plan or skip
    done = provision(Path("/"), "--dry-run", "--no-pip", "--preset", "respeaker-usb-v2")  # USB: no driver needed
    assert ("python3-lgpio" in planned_install(done.stdout)) == (offered and not installed), done.stdout
    skipped = "would skip python3-lgpio: not in this system's apt sources"
    assert (skipped in done.stdout) == (not offered and not installed), done.stdout


def test_the_script_copied_out_of_its_checkout_says_to_run_it_there(tmp_path: Path) -> None:
    """provision.sh sources its steps from provision.d/ beside it: copied alone, it names the missing file and
    where to run it, exit 1, before any change (bash's own "No such file or directory" said neither)."""
    alone = tmp_path / "provision.sh"
    shutil.copy(REPO / "firmware" / "provision.sh", alone)
    done = subprocess.run(["bash", str(alone), "--dry-run"], capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        f"error: {tmp_path}/provision.d/options.sh is missing: run this script from a listener checkout "
        "(it uses its steps and templates there)\n"
    )
