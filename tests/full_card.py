"""A full card, as the full-card tests' child scripts make one on the 2 MB tmpfs they run on."""

from __future__ import annotations

import os
from pathlib import Path


def fill_card(folder: Path) -> None:
    """Write zeros into ``folder``/fill until the file system refuses more: the card has no byte left."""
    fd = os.open(folder / "fill", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:  # ENOSPC: what was wanted
        pass
    finally:
        os.close(fd)
