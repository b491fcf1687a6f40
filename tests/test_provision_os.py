"""firmware/provision.sh on the OS it finds in the root's os-release: Debian 12 and 13 (Raspberry Pi OS Bookworm
and Trixie) go ahead; an older Debian, whose Python is older than the listener's 3.11, and an OS without apt are
refused before any change, with what to image instead; another apt-based OS, or a newer Debian, is warned of."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.provision_root import BOOKWORM_OS_RELEASE, FILES_ONLY, provision, snapshot

ADVICE = (
    "For a device, image the card with Raspberry Pi OS (64-bit), which is Trixie, or Raspberry Pi OS (Legacy, "
    "64-bit), which is Bookworm (Raspberry Pi Imager offers both; Lite or with desktop)."
)
# Raspberry Pi OS Trixie's, 64-bit: Debian's own
TRIXIE = """PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.2
ID=debian
HOME_URL="https://www.debian.org/"
"""
# the 32-bit Raspberry Pi OS (Legacy) of 2023 and before
RASPBIAN_BULLSEYE = """PRETTY_NAME="Raspbian GNU/Linux 11 (bullseye)"
NAME="Raspbian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=raspbian
ID_LIKE=debian
"""
UBUNTU = """PRETTY_NAME="Ubuntu 24.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
"""
FEDORA = """NAME="Fedora Linux"
VERSION="41 (Server Edition)"
ID=fedora
VERSION_ID=41
PRETTY_NAME="Fedora Linux 41 (Server Edition)"
"""


@pytest.mark.parametrize("os_release", [BOOKWORM_OS_RELEASE, TRIXIE], ids=["bookworm", "trixie"])
def test_debian_12_and_13_go_ahead_without_a_word(pi_root: Path, os_release: str) -> None:
    (pi_root / "etc/os-release").write_text(os_release)
    done = provision(pi_root, "--dry-run", *FILES_ONLY)
    assert done.stderr == "", done.stderr


@pytest.mark.parametrize(
    ("os_release", "said"),
    [
        (
            RASPBIAN_BULLSEYE,
            "this is Raspbian GNU/Linux 11 (bullseye): the listener needs Debian 12 (Bookworm) or 13 (Trixie), whose "
            "Python is 3.11 or newer (Debian 11's is older); nothing was changed.",
        ),
        (
            FEDORA,
            "this is Fedora Linux 41 (Server Edition), not Raspberry Pi OS or Debian: this script installs with apt "
            "what Debian 12 and 13 name; nothing was changed.",
        ),
    ],
    ids=["bullseye", "fedora"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_an_os_the_listener_cannot_run_on_is_refused_before_any_change(
    pi_root: Path, os_release: str, said: str, dry_run: bool
) -> None:
    """Nothing looked at the OS. Into a Debian 11 root (debootstrap bullseye, Python 3.9) a run ran apt-get update,
    then stopped at apt-get install ("Unable to locate package python3-spidev") with the advice to check the
    network and the clock; a Pi's Bullseye was stopped only by its boot partition's layout ("older than
    Bookworm; upgrade it first"). Both are refused at the start now, with what to image."""
    (pi_root / "etc/os-release").write_text(os_release)
    before = snapshot(pi_root)
    done = provision(pi_root, *(["--dry-run"] if dry_run else []), *FILES_ONLY, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == f"error: {said} {ADVICE}\n"
    assert done.stdout == ""
    assert snapshot(pi_root) == before


def test_another_apt_based_os_is_tried_with_a_warning_first(pi_root: Path) -> None:
    (pi_root / "etc/os-release").write_text(UBUNTU)
    done = provision(pi_root, "--dry-run", *FILES_ONLY)
    assert done.stderr.splitlines() == [
        "warning: this is Ubuntu 24.04.3 LTS, on which this script was never tried (it is for Raspberry Pi OS, "
        "Debian 12 Bookworm or 13 Trixie): it may lack an apt package or a pinned wheel, and stop halfway. " + ADVICE
    ]
    assert done.stdout.rstrip().endswith("planned; dry run, nothing written"), done.stdout


def test_a_root_without_os_release_is_tried_with_a_warning(pi_root: Path) -> None:
    (pi_root / "etc/os-release").unlink()
    done = provision(pi_root, "--dry-run", *FILES_ONLY)
    assert done.stderr == (
        f"warning: {pi_root} has no /etc/os-release: cannot tell which OS it is; this script is for Raspberry Pi "
        "OS, Debian 12 or 13\n"
    )
