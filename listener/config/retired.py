"""Keys a release of the listener retired, by dotted path.

A config kept across an upgrade (provision.sh never overwrites one) may still set them: told as an
unknown key, the error read as a typo and listed the allowed keys, as if a spelling were to be fixed.
"""

from __future__ import annotations

# path -> what replaced the key, for the error; entries stay, since any older config may still hold one
RETIRED_KEYS = {
    "analytics.interruption_exact": "removed 2026-11-30: a device decides every interruption by its 1.0 s mark",
    "parties.elevation_deg": "removed 2026-12-01: the direction steering takes the talkers as level with the board",
}


def retired_rule(path: str) -> str | None:
    """The error's rule for a retired key at ``path``; None when no release retired it."""
    why = RETIRED_KEYS.get(path)
    if why is None:
        return None
    return f"no longer a setting: this version of the listener retired it ({why}); delete the line"
