"""``listener doctor``'s device id line: a default MQTT device id that may change, or that other devices share.

The service warns of it at each start, but doctor holds the service's warnings
back (its own lines report what it checks), so without this line an installer
never sees it. An id from the host name changes when the host is renamed (Home
Assistant then shows a new device, with no history), and every card imaged with
Raspberry Pi OS's default host name gets the same one: those devices throw each
other off the broker. An id from the machine id after a board serial that could
not be read changes back on the next start that reads it.

The machine id alone is not warned of: it names a board without a serial for as
long as its system is installed, and doctor cannot tell a card cloned from a
booted one (which shares it, firmware/README.md says so) from the original.
"""

from __future__ import annotations

from listener.config import Config
from listener.service.doctor import Check, warn
from listener.service.doctor.system_files import SystemFiles, this_run

NAME = "device id"
EXAMPLE = '[mqtt] device_id = "store-12-counter-3"'


def check_device_id(config: Config, files: SystemFiles | None = None) -> Check | None:
    """A warn where the default device id is unstable, with MQTT on and no ``[mqtt] device_id``; else None."""
    if not config.mqtt.enabled or config.mqtt.device_id:
        return None
    found = this_run(files).default_id
    if not found.unstable:
        return None
    said = "; ".join(unstable.said for unstable in found.unstable)
    return warn(
        NAME,
        f"{found.device_id}, the default MQTT device id, is unstable: {said}",
        f"set {EXAMPLE} (one id per device, unique across the chain: docs/integrations/mqtt.md, 'Many stores')",
    )
