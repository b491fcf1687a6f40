"""firmware/provision.sh's network steps in a real run (test_provision.py runs it with --no-apt, and alone
or with --no-pip): what a run whose apt or pip fails says and leaves behind."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from tests.provision_root import REPO, SCRIPT, provision, script_function


def stand_in_pip(pi_root: Path, tmp_path: Path, pip_script: str) -> Path:
    """The target's venv with a stand-in pip (``pip_script``, bash) and a chroot that runs the root's program
    (the temporary root has no shell to chroot into); returns the folder to put first on PATH."""
    venv_bin = pi_root / "opt/listener/venv/bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text("#!/bin/sh\n")
    (venv_bin / "pip").write_text("#!/usr/bin/env bash\n" + pip_script)
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    (stand_ins / "chroot").write_text('#!/usr/bin/env bash\nroot=$1; shift; exec "$root$1" "${@:2}"\n')
    for program in (venv_bin / "python", venv_bin / "pip", stand_ins / "chroot"):
        program.chmod(0o755)
    return stand_ins


def test_a_failed_pip_leaves_no_staged_copy_in_the_targets_tmp(pi_root: Path, tmp_path: Path) -> None:
    """A run whose pip failed (no network) left its listener-src.* copy of the source in the target's /tmp:
    only a pip that succeeded removed it. The EXIT trap now removes it with the run's own temporary folder.
    pip, in the root's venv, is a stand-in that fails as pip does offline; chroot a stand-in that runs the
    root's program (the temporary root has no shell to chroot into)."""
    checkout = tmp_path / "checkout"
    (checkout / "listener").mkdir(parents=True)
    (checkout / "listener/__init__.py").write_text('__version__ = "0.1.0"\n')
    (checkout / "pyproject.toml").write_text('[project]\nname = "listener"\n')
    calls = tmp_path / "calls"
    stand_ins = stand_in_pip(
        pi_root,
        tmp_path,
        f'spec=${{!#}}; echo "$spec" >>{calls}\n'
        'echo "ERROR: Could not find a version that satisfies the requirement certifi" >&2\nexit 1\n',
    )
    host_tmp = tmp_path / "host-tmp"  # where the run's own temporary folder (mktemp -d) goes
    host_tmp.mkdir()
    env = {"PATH": f"{stand_ins}:{os.environ['PATH']}", "TMPDIR": str(host_tmp)}
    done = provision(pi_root, "--no-apt", "--source", str(checkout), check=False, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    (spec,) = calls.read_text().split()
    assert spec.startswith("/tmp/listener-src."), spec  # pip was given the staged copy, and failed on it
    last = done.stdout.splitlines()[-1]  # the step that failed, then pip's own reason
    assert last.startswith(f"change: pip install {checkout} into /opt/listener/venv"), done.stdout
    assert "ERROR: Could not find a version" in done.stderr, done.stderr
    # then the script's own line: the step, and what to do (pip's words alone did not say to run it again)
    assert done.stderr.splitlines()[-1] == (
        f"error: pip could not install {checkout} into /opt/listener/venv (its reason above): check that the device "
        "reaches PyPI (the network, a proxy in pip.conf) and the clock (`date`: apt and https refuse files "
        '"not valid yet" when it is behind); then run this again (what it did so far is kept)'
    )
    assert not (pi_root / spec.removeprefix("/")).exists()
    assert list((pi_root / "tmp").iterdir()) == []  # no listener-src.* left in the target's /tmp
    assert list(host_tmp.iterdir()) == []  # nor the run's own temporary folder
    assert not (pi_root / "opt/listener/.source-sha256").exists()  # not counted as installed


def test_a_failed_apt_get_says_what_failed_and_what_to_do(pi_root: Path, tmp_path: Path) -> None:
    """apt-get's own words ended the run with nothing from the script: not which step, nor to run it again.
    apt-get and apt-cache are stand-ins (apt-cache: no Pi archive; apt-get update: no network), reached
    through a stand-in chroot as the script runs them."""
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    (stand_ins / "chroot").write_text('#!/usr/bin/env bash\nshift; exec "$@"\n')  # apt from PATH: the stand-ins
    (stand_ins / "apt-cache").write_text("#!/usr/bin/env bash\nexit 100\n")
    (stand_ins / "apt-get").write_text(
        '#!/usr/bin/env bash\necho "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease" >&2\n'
        "exit 100\n"
    )
    for program in stand_ins.iterdir():
        program.chmod(0o755)
    done = provision(pi_root, "--no-pip", check=False, env={"PATH": f"{stand_ins}:{os.environ['PATH']}"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("change: apt-get install python3 "), done.stdout
    *_, fetch, said = done.stderr.splitlines()
    assert fetch.startswith("E: Failed to fetch")
    assert said == (
        "error: apt-get update failed (its reason above): check the network, the clock (`date`: apt and https "
        'refuse files "not valid yet" when it is behind) and /etc/apt/sources.list*; then run this again (what it '
        "did so far is kept)"
    )


def _checkout_with_a_fleet(tmp_path: Path) -> Path:
    """A checkout holding the package, its caches, a fleet's config and the docs."""
    checkout = tmp_path / "checkout"
    for name, text in (
        ("listener/__init__.py", '__version__ = "0.1.0"\n'),
        ("listener/data/schema.json", "{}\n"),
        ("listener/__pycache__/__init__.cpython-311.pyc", "cache\n"),
        ("pyproject.toml", '[project]\nname = "listener"\nreadme = "README.md"\n'),
        ("README.md", "# listener\n"),
        ("fleet/counter-3.toml", '[mqtt]\ndevice_id = "counter-3"\n'),
        ("docs/config.md", "# settings\n"),
    ):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(text)
    return checkout


def _listing_pip(pi_root: Path, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A stand-in pip that lists, one line per install, what it is given and installs the console script: the
    environment to run provision.sh with, and the file it lists into."""
    calls, script = tmp_path / "calls", pi_root / "opt/listener/venv/bin/listener"
    stand_ins = stand_in_pip(
        pi_root,
        tmp_path,
        f'spec=${{!#}}; echo "$spec: $(cd "{pi_root}$spec" && find . -type f | LC_ALL=C sort | tr "\\n" " ")"'
        f" >>{calls}\n"
        f'printf "#!/bin/sh\\n" >{script}; chmod 755 {script}\n',
    )
    return {"PATH": f"{stand_ins}:{os.environ['PATH']}"}, calls


def _installs(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def _edit_what_pip_does_not_build_from(checkout: Path) -> None:
    """A fleet's configs and the docs, added or edited in the checkout, and a test run's cache."""
    (checkout / "fleet/counter-4.toml").write_text('[mqtt]\ndevice_id = "counter-4"\n')
    (checkout / "fleet/counter-3.toml").write_text('[mqtt]\ndevice_id = "counter-3"\nhost = "192.0.2.1"\n')
    (checkout / "docs/config.md").write_text("# settings, edited\n")
    (checkout / "listener/__pycache__/cli.cpython-311.pyc").write_text("cache\n")


def test_only_the_packages_own_files_reinstall_it_or_are_staged(pi_root: Path, tmp_path: Path) -> None:
    """The digest hashed, and the staging copied, the whole checkout but its caches: a fleet's config kept in it
    (README's --config fleet/counter-3.toml) reinstalled the package (PyPI needed) and restarted the service at
    every later run, which said "N changes made", not "no changes". Now only what pip builds from counts and is
    staged: pyproject.toml, its readme, listener/. pip, in the root's venv, is a stand-in that lists what it is
    given and installs the console script; chroot a stand-in that runs the root's program."""
    checkout = _checkout_with_a_fleet(tmp_path)
    env, calls = _listing_pip(pi_root, tmp_path)
    args = ("--no-apt", "--source", str(checkout))
    provision(pi_root, *args, env=env)
    ((staged,),) = [_installs(calls)]
    assert staged.split(": ")[1].split() == [
        "./README.md",
        "./constraints.txt",
        "./listener/__init__.py",
        "./listener/data/schema.json",
        "./pyproject.toml",
    ]
    # a fleet's configs and the docs, added or edited in the checkout: nothing to reinstall
    _edit_what_pip_does_not_build_from(checkout)
    for dry_run in (["--dry-run"], []):
        again = provision(pi_root, *args, *dry_run, env=env)
        assert again.stdout.rstrip().endswith("no changes"), again.stdout
        assert "pip install" not in again.stdout
    assert len(_installs(calls)) == 1
    # the package's own files still do
    for edited in ("listener/__init__.py", "README.md"):
        (checkout / edited).write_text((checkout / edited).read_text() + "# edited\n")
        dry = provision(pi_root, *args, "--dry-run", env=env)
        assert f"would: pip install {checkout} into /opt/listener/venv" in dry.stdout, dry.stdout
        done = provision(pi_root, *args, env=env)
        assert f"change: pip install {checkout} into /opt/listener/venv" in done.stdout, done.stdout
        assert provision(pi_root, *args, env=env).stdout.rstrip().endswith("no changes")
    assert len(_installs(calls)) == 3


def test_the_staged_files_are_all_pyproject_builds_the_package_from() -> None:
    """provision.sh's PACKAGE_FILES is written out, not read from pyproject.toml: a readme, license file or
    package pyproject.toml came to name would be missing from the staged copy (a wheel without its description
    or license), and its edits would not reinstall. Checked against what setuptools reads."""
    (listed,) = re.findall(r"^PACKAGE_FILES=\((.*)\)$", SCRIPT.read_text(), re.M)
    files = set(listed.split())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    readme = project["project"]["readme"]
    assert (readme if isinstance(readme, str) else readme["file"]) in files
    assert isinstance(project["project"]["license"], str) and "license-files" not in project["project"]
    setuptools = project["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["listener*"]
    assert set(setuptools["package-data"]) == {"listener"}
    assert files == {"pyproject.toml", readme, "listener"}
    # what setuptools would take besides: its build scripts, a manifest, and by default any license-like file
    for pattern in ("setup.py", "setup.cfg", "MANIFEST.in", "LICEN[CS]E*", "COPYING*", "NOTICE*", "AUTHORS*"):
        assert not list(REPO.glob(pattern)), pattern


def test_the_same_source_at_another_path_has_the_same_digest(tmp_path: Path) -> None:
    """sha256sum FILE hashes FILE's path with it: the same checkout and pins (or the same wheel) copied to
    another folder got another digest, so a run from there reinstalled the package (pip, which fails offline)
    and restarted the service. The digest now holds content only."""
    digests = []
    for where in ("one", "two/deeper"):
        checkout = tmp_path / where / "checkout"
        (checkout / "listener").mkdir(parents=True)
        (checkout / "listener/__init__.py").write_text('__version__ = "0.1.0"\n')
        (checkout / "pyproject.toml").write_text('[project]\nname = "listener"\n')
        (checkout / "constraints.txt").write_text("numpy==1.24.2\n")
        wheel = tmp_path / where / "listener-0.1.0-py3-none-any.whl"
        wheel.write_bytes(b"PK\x03\x04 a wheel")
        setup = f"CONSTRAINTS={checkout / 'constraints.txt'}"
        done = script_function(f"{setup}; SOURCE={checkout} source_digest; SOURCE={wheel} source_digest")
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.split())
    assert digests[0] == digests[1], digests
    assert digests[0][0] != digests[0][1]  # the checkout and the wheel are still told apart
