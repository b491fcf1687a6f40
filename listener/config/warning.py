"""A warning about a configuration file: a setting written to no effect, or one the service will not allow.

Said, not refused: by check-config, at the start of run, and by doctor. Each is made where the setting is
judged, which knows what is wrong apart from what to change: doctor shows the two in their own columns, and
check-config and run the one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """What is wrong, starting with the setting and its value (``'mqtt.ca_file = "/ca.pem": has no effect
    with mqtt.tls = false ...'``), and the fix (``"set [mqtt] tls = true to use it, or delete it"``)."""

    problem: str
    fix: str
    # what the line puts between them, as it always has: its wording reads on from one or the other, and the
    # journal's and check-config's lines stay as they were for whoever greps them
    joined_by: Literal["; ", ": ", "; fix: "] = "; "

    def __str__(self) -> str:
        return f"{self.problem}{self.joined_by}{self.fix}"
