"""What to check when the array's sound card is missing: said by choosing the input (devices.py) and by reading
a card's ALSA id (device_names.py, which devices.py imports, so neither can hold it for the other)."""

from __future__ import annotations

import contextlib
from pathlib import Path

# tmpfs, so gone at the next boot: firmware/provision.sh writes it when it changes the boot config
REBOOT_DUE = Path("/run/listener-reboot-due")
CONNECTED = "the array is connected (`arecord -l` lists its card)"
LOADED = "its driver or HAT overlay is loaded (dtoverlay in /boot/firmware/config.txt)"


def reboot_first() -> str:
    """The first fix while firmware/provision.sh's change to the boot config waits for a reboot, else ''."""
    with contextlib.suppress(OSError):  # /run not searchable: no flag to read
        if REBOOT_DUE.exists():
            return (
                "reboot first: firmware/provision.sh changed the boot config since this boot began, and the "
                "array's overlay loads at boot; if it is still missing after that, "
            )
    return ""
