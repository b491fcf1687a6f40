"""firmware/provision.sh names the listener it leaves installed, in `listener --version`'s words, on the line before
the count: a device whose checkout missed the `git pull` said "no changes", exit 0, exactly as an up-to-date one
did, and a fleet script had to ask each device's listener apart. Real runs (--no-apt) on a temporary root whose
venv's pip is a stand-in that installs the staged package into site-packages as pip would; the build expected is
what the real `listener --version` prints, run on the installed copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.provision_root import REPO, provision, script_function
from tests.test_provision_pip import stand_in_pip

VENV = "/opt/listener/venv"
SITE = "opt/listener/venv/lib/python3.11/site-packages"


def _checkout(tmp_path: Path) -> Path:
    """A checkout of this listener: what pip builds the package from (the tests' own caches left out)."""
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "listener", checkout / "listener", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, checkout / name)
    return checkout


def _installing_pip(pi_root: Path, tmp_path: Path) -> dict[str, str]:
    """The root's venv (pyvenv.cfg as python3.11 -m venv writes it) with a stand-in pip that puts the staged
    package's listener/ in site-packages, in place of what was there, and the console script in bin/."""
    site, script = pi_root / SITE, pi_root / VENV.lstrip("/") / "bin/listener"
    stand_ins = stand_in_pip(
        pi_root,
        tmp_path,
        f'spec=${{!#}}; rm -rf {site}/listener; mkdir -p {site}; cp -r "{pi_root}$spec/listener" {site}/\n'
        f'printf "#!/bin/sh\\n" >{script}; chmod 755 {script}\n',
    )
    (pi_root / VENV.lstrip("/") / "pyvenv.cfg").write_text(
        "home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.11.2\n"
    )
    return {"PATH": f"{stand_ins}:{os.environ['PATH']}"}


def _version(folder: Path) -> str:
    """What the real `listener --version` prints for the package in ``folder`` (a checkout, site-packages)."""
    done = subprocess.run(
        [sys.executable, "-P", "-B", "-m", "listener", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(folder)},
        cwd=folder,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def _pull(checkout: Path) -> None:
    """A `git pull` that brings one changed data file (the release version stays the same)."""
    lexicon = next((checkout / "listener/data/lexicons").rglob("*.toml"))
    lexicon.write_text(lexicon.read_text(encoding="utf-8") + "\n", encoding="utf-8")


def _last_two(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()[-2:]


def test_each_run_names_the_build_it_leaves_and_a_missed_pull_shows(pi_root: Path, tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    env = _installing_pip(pi_root, tmp_path)
    args = ("--no-apt", "--source", str(checkout))
    first = _last_two(provision(pi_root, *args, env=env))
    old = _version(pi_root / SITE)
    assert old.startswith("listener 0.1.0 (build ") and old == _version(checkout), old
    assert first[0] == f"{old} installed in {VENV}" and first[1].endswith(" changes made"), first
    assert _last_two(provision(pi_root, *args, env=env)) == [f"{old} installed in {VENV}", "no changes"]
    # a pull this device's run will install: the release version the same, the build not
    _pull(checkout)
    new = _version(checkout)
    assert new != old and new.startswith("listener 0.1.0 (build "), new
    dry = _last_two(provision(pi_root, *args, "--dry-run", env=env))
    assert dry[0] == f"{new} would be installed in {VENV} (dry run); there now: {old}", dry
    kept = _last_two(provision(pi_root, *args, "--no-pip", env=env))
    assert kept == [f"{old} in {VENV}, left as it was (--no-pip); {checkout} holds {new}", "no changes"], kept
    done = _last_two(provision(pi_root, *args, env=env))
    assert done[0] == f"{new} installed in {VENV}" and _version(pi_root / SITE) == new, done
    assert not list((pi_root / SITE).rglob("__pycache__"))  # reading the build wrote nothing into the target
    same = _last_two(provision(pi_root, *args, "--no-pip", env=env))
    assert same == [f"{new} in {VENV}, left as it was (--no-pip); {checkout} holds the same build", "no changes"]


def test_a_fresh_device_a_wheel_and_an_install_older_than_builds(tmp_path: Path) -> None:
    """What is there and what would be: none yet, a wheel as --source (read from the archive, not installed), and
    a listener installed before builds were fingerprinted (no listener/build.py: its release version alone)."""
    checkout = _checkout(tmp_path)
    wheel = tmp_path / "listener-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path in sorted((checkout / "listener").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(checkout).as_posix())
        zf.writestr("listener-0.1.0.dist-info/RECORD", "")
    root = tmp_path / "root"
    plan = f"ROOT={root}; NO_PIP=0; DRY_RUN=1; PIP_PLANNED=1; SOURCE={wheel}; report_build"
    done = script_function(plan)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{_version(checkout)} would be installed in {VENV} (dry run); there now: no listener\n"
    old = root / SITE / "listener"
    old.mkdir(parents=True)
    (old / "__init__.py").write_text('__version__ = "0.0.9"\n')
    done = script_function(plan.replace("DRY_RUN=1; PIP_PLANNED=1", "DRY_RUN=0; PIP_PLANNED=0"))
    assert done.stdout == (
        f"listener 0.0.9 (build not known: older than listener --version's builds) installed in {VENV}\n"
    ), done.stdout + done.stderr
