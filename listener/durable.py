"""Changes to a folder's entries that must outlive a power cut, not only a restart."""

from __future__ import annotations

import os
from pathlib import Path


def sync_folder(folder: Path) -> None:
    """Write ``folder``'s entries (a file made, removed or renamed in it) to the disk now.

    ext4 commits them every few seconds; a Pi loses power when it is unplugged, often right after the
    change that mattered (a pause pressed on the way out, calibrate run before the plug is pulled).
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
