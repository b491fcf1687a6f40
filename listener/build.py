"""Which code is installed: a fingerprint of the package's own files, beside the release version.

The release version changes only when somebody remembers to bump it, so devices provisioned months
apart all said ``0.1.0``; an installer looking after a fleet could not tell which still ran the old
code. The fingerprint covers every file the package ships (code, lexicons, models, schemas), so two
devices show the same build exactly when they run the same thing, however it was installed (a wheel,
an sdist, a checkout).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from listener import __version__

FINGERPRINT_HEX_DIGITS = 12  # MQTT info's fingerprints, this one too: enough to tell apart, short to read


def _shipped(root: Path) -> list[Path]:
    # compiled caches differ by Python and by what has run, not by what was installed
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.relative_to(root).parts and path.suffix != ".pyc"
    )


@cache
def build_id() -> str:
    """The first hex digits of a SHA-256 over the package's files, each with its path (moving one moves it)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in _shipped(root):
        name = path.relative_to(root).as_posix().encode("utf-8")
        digest.update(len(name).to_bytes(4, "big") + name)
        data = path.read_bytes()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:FINGERPRINT_HEX_DIGITS]


def version_text() -> str:
    """What ``listener --version`` prints and Home Assistant shows as the device's software."""
    return f"{__version__} (build {build_id()})"
