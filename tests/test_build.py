"""The build tells installs apart that share a release version: it follows the package's files, nothing else."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import listener
from listener import __version__
from listener.build import build_id

PACKAGE = Path(listener.__file__).resolve().parent


def _build_of(root: Path) -> str:
    """The build a copy of the package at ``root/listener`` reports, in a Python of its own."""
    code = "from listener.build import build_id; print(build_id())"
    done = subprocess.run([sys.executable, "-P", "-c", code], cwd=root, env={"PYTHONPATH": str(root)},
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def test_version_prints_the_release_and_the_build() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "listener", "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == f"listener {__version__} (build {build_id()})"
    assert re.fullmatch(r"[0-9a-f]{12}", build_id())


def test_a_changed_file_changes_the_build_and_compiled_caches_do_not(tmp_path: Path) -> None:
    copy = tmp_path / "listener"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert _build_of(tmp_path) == build_id()  # the same files, wherever they are
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"compiled")
    assert _build_of(tmp_path) == build_id()
    lexicon = next((copy / "data" / "lexicons").rglob("*.toml"))
    lexicon.write_text(lexicon.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # a data file, not code
    changed = _build_of(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{12}", changed) and changed != build_id()
    lexicon.rename(lexicon.with_name("moved.toml"))  # the same bytes under another name
    assert _build_of(tmp_path) not in (changed, build_id())
