"""Running firmware/provision.sh against a temporary root file system, for test_provision.py,
test_provision_live.py and test_provision_config.py: the script, the boot config a Pi starts with, a
snapshot of what a run left, and the script's functions run alone."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "firmware" / "provision.sh"
PI_CONFIG_TXT = "# For more options and information see\n# http://rptl.io/configtxt\ndtparam=audio=on\n\n[cm4]\notg_mode=1\n\n[all]\n"
FILES_ONLY = ["--no-apt", "--no-pip"]
# Raspberry Pi OS Bookworm's, 64-bit: Debian's own
BOOKWORM_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""
# the boards' device-tree overlays: Raspberry Pi OS ships the first; the Seeed drivers build the others
PI_OVERLAYS = ("wm8960-soundcard", "respeaker-2mic-v2_0-overlay", "seeed-4mic-voicecard", "seeed-8mic-voicecard")


def install_overlays(root: Path, overlays: Sequence[str] = PI_OVERLAYS) -> None:
    """Stand-ins for the boards' drivers' device-tree overlays (a .dtbo's magic number, no more)."""
    folder = root / "boot" / "firmware" / "overlays"
    folder.mkdir(parents=True, exist_ok=True)
    for overlay in overlays:
        (folder / f"{overlay}.dtbo").write_bytes(b"\xd0\x0d\xfe\xed")


def require(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing: install the Debian package '{package}'")


def provision(
    root: Path,
    *args: str,
    check: bool = True,
    env: dict[str, str] | None = None,
    umask: str = "",
    cwd: Path | None = None,
    under: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``umask``: run the script under it, as sudo would from a shell that set it; ``cwd``: run it from there;
    ``under``: a command that runs it (``faketime DATE``)."""
    require("bash", "bash")
    env = {**os.environ, "LC_ALL": "C", **(env or {})}
    command = [*under, "bash", str(SCRIPT), "--root", str(root), *args]
    if umask:
        command = ["bash", "-c", f'umask {umask} && exec "$@"', "bash", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=cwd)
    if check:
        assert done.returncode == 0, f"provision.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def config_refusal(config: Path, differs: str, fix: str) -> str:
    """The error line of a run refused over an installed listener.toml that --config ``config`` differs from in
    ``differs`` (outside calibrate's keys), ending in ``fix``."""
    return (
        f"error: --config {config} differs from the installed /etc/listener/listener.toml in {differs}, not only in "
        "the calibrated [parties] azimuths or lapel mics' order, and is installed over it only with --force-config "
        f"(the old one is kept as listener.toml.bak): {fix}, or leave --config out to keep the installed one "
        "(see --help)"
    )


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every file, directory and link under ``root`` with its mode, mtime and content digest."""
    seen: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            seen[str(path.relative_to(root))] = ("link", str(path.readlink()))
        elif path.is_dir():
            seen[str(path.relative_to(root))] = ("dir", st.st_mode)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            seen[str(path.relative_to(root))] = ("file", st.st_mode, st.st_mtime_ns, digest)
    return seen


def script_function(commands: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``commands`` run in bash with provision.sh's functions and settings loaded, its main not run: the parts
    a run reaches only on a live Pi, on stand-ins. ``env``: added to this process's environment."""
    return subprocess.run(
        ["bash", "-c", f"source {SCRIPT}; {commands}"],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
