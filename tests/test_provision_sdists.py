"""The pins that have no wheel (srt: a setup.py and no pyproject.toml; sdnotify was one until the service
spoke sd_notify itself), built by provision.sh's pip into the device's venv with real pip, offline: the index is a
folder holding Debian's own setuptools and wheel wheels (python3-setuptools-whl, python3-wheel-whl) and the sdist."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.provision_root import REPO, script_function

DEBIAN_WHEELS = Path("/usr/share/python-wheels")


def debian_wheels(index: Path) -> None:
    """Debian's setuptools and wheel wheels into ``index``: what pip builds an sdist with, offline."""
    for name, package in (("setuptools", "python3-setuptools-whl"), ("wheel", "python3-wheel-whl")):
        found = sorted(DEBIAN_WHEELS.glob(f"{name}-*.whl"))
        if not found:
            pytest.fail(
                f"no {name} wheel in {DEBIAN_WHEELS}: install the Debian package '{package}' (scripts/setup --dev does)"
            )
        (index / found[-1].name).write_bytes(found[-1].read_bytes())


def sdist(index: Path, name: str, setup_py: str) -> None:
    """An sdist as srt's is made: a setup.py, PKG-INFO, the module, no pyproject.toml."""
    folder = index / f"{name}-1.0"
    folder.mkdir()
    (folder / "setup.py").write_text(setup_py)
    (folder / "PKG-INFO").write_text(f"Metadata-Version: 1.0\nName: {name}\nVersion: 1.0\n")
    (folder / f"{name}.py").write_text("ANSWER = 42\n")
    with tarfile.open(index / f"{name}-1.0.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname=folder.name)


def test_a_pin_without_a_wheel_is_built_with_the_index_setuptools_not_what_the_venv_sees(tmp_path: Path) -> None:
    """On Raspberry Pi OS Trixie (Debian 13, Python 3.13) provisioning stopped at pip: "No module named
    'distutils'" from sdnotify's setup.py (found by bench/pi_rehearsal.py --release trixie --arch amd64).
    python3-pkg-resources, which apt's python3-gpiozero depends on, leaves a setuptools/ folder (its vendored
    packages) without setuptools in it; the venv (--system-site-packages) sees it, pip took it for setuptools
    and ran setup.py in the venv instead of building in isolation. pip builds with setuptools from the index
    now (--use-pep517). Here the venv's site-packages holds such folders, setuptools/ and wheel/ (Debian 12's
    pip 23.0.1, unlike Trixie's 25.1.1, asks for both before it runs a setup.py), and the sdist imports
    setuptools as srt's does: the venv's half setuptools fails it as Trixie's failed sdnotify."""
    index, checkout, venv = tmp_path / "index", tmp_path / "checkout", tmp_path / "venv"
    index.mkdir()
    debian_wheels(index)
    sdist(
        index, "nowheel", 'from setuptools import setup\nsetup(name="nowheel", version="1.0", py_modules=["nowheel"])\n'
    )
    (checkout / "listener").mkdir(parents=True)
    (checkout / "listener/__init__.py").write_text("")
    (checkout / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "listener"\nversion = "0.1.0"\ndependencies = ["nowheel"]\n'
    )
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # Debian's pip, from ensurepip
    # a venv as Python 3.12 and newer make it: pip alone (3.11's ensurepip adds setuptools)
    subprocess.run([venv / "bin/python", "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=True)
    (site,) = venv.glob("lib/python3*/site-packages")
    for half in ("setuptools/_vendor", "wheel/vendored"):  # folders, no __init__.py: namespace packages
        (site / half).mkdir(parents=True)
        (site / half / "__main__.py").write_text("")
    pip_env = {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    settings = (
        f"ROOT=/ VENV={venv} SOURCE={checkout} CONSTRAINTS={REPO / 'firmware/constraints.txt'} "
        f"SOURCE_STAMP={tmp_path / 'stamp'}"
    )
    done = script_function(f"{settings}; install_package DIGEST", env=pip_env)
    assert done.returncode == 0, done.stdout + done.stderr
    imported = subprocess.run([venv / "bin/python", "-c", "import nowheel; print(nowheel.ANSWER)"], capture_output=True)
    assert imported.stdout == b"42\n", imported.stderr
    assert (tmp_path / "stamp").read_text() == "DIGEST\n"
