"""``listener doctor``'s config lines: what ``listener check-config`` warns of in the file, each a ``warn``.

A file that parses can still be written to no effect (``ca_file`` with TLS off) or switch a measure off
(``long_silence_s`` at or above ``session_gap_s``: no long silence is ever counted); doctor said ``ok
config`` of it. Two of check-config's warnings are left to the checks that judge the same thing on the
device itself: channel-map mode on a preset's own mics (the directions check) and a ``state_dir`` the
service's unit may not write (the disk check, where the unit is installed; without one there is no
service to be refused it).
"""

from __future__ import annotations

import os
from pathlib import Path

from listener.config import Config, ConfigWarning, channel_map_mode, config_warnings
from listener.config.service_unit import long_stop
from listener.config.unused_keys import channel_map_on_array
from listener.service.doctor import Check, warn


def config_checks(config: Config, data: dict[str, object], path: Path | None) -> list[Check]:
    """One ``warn config`` per warning check-config gives the file ``path`` (``data`` as read)."""
    on_array = channel_map_on_array(config, channel_map_mode(config.parties))
    # os.environ: doctor is run in the service's environment (README.md's systemd-run line)
    said = [w for w in config_warnings(config, data, os.environ) if w not in on_array]
    return [_warning(warning, path) for warning in [*said, *long_stop(config)]]


def _warning(warning: ConfigWarning, path: Path | None) -> Check:
    # the producer's own two: cut from the line at "; " or ": " before a verb, a path holding ": use " was cut there
    return warn("config", f"{path}: {warning.problem}" if path else warning.problem, warning.fix)
