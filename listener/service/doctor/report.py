"""How ``listener doctor`` reports: which configuration it checks, lines or one JSON document, its exit code.

Fleet scripts run doctor over ssh and read its exit code, often through a
pipe (``| head``): so the code is the verdict of every check even when the
reader stopped reading early, and ``--json`` spares them parsing the text
columns. Without ``--config`` a provisioned device is checked with the
configuration its service runs with, not the built-in defaults.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import listener.config
from listener import __version__
from listener.build import build_id
from listener.config import Config
from listener.service.doctor import Check, exit_code, iter_checks
from listener.service.doctor.config_lines import config_checks
from listener.service.doctor.quiet import own_lines_only
from listener.service.doctor.system_files import SystemFiles

SCHEMA = "listener.doctor/1"


def report(config: Config, path: Path | None, as_json: bool, data: dict[str, object] | None = None) -> int:
    """Run every check and report it, as lines or as one JSON document; 1 if any FAILed, else 0.

    ``data``: the file as read, whose warnings (check-config's) are the first lines; None: not looked at.
    """
    said = config_checks(config, data, path) if data else []
    files = SystemFiles()  # this run's: each system file read once, by whichever check asks first
    with own_lines_only():
        if as_json:
            checks = [*_config_said(path, said), *iter_checks(config, path, files)]
            document = {
                "schema": SCHEMA,
                **device_names(config, files),
                "config": str(path) if path else None,
                "checks": [as_json_check(c) for c in checks],
            }
            _Out().say(json.dumps(document))
            return exit_code(checks)
        return _lines(config, path, said, files)


def device_names(config: Config, files: SystemFiles) -> dict[str, str]:
    """Which device and build were checked, named as MQTT ``info`` and its topics name them: a fleet script
    that ssh-es into many stores joins each document to that device's dashboards without a second call."""
    # the id whether or not [mqtt] is enabled: the device's name across the fleet, the one it publishes under
    return {"device_id": files.device_id(config), "software": __version__, "build": build_id()}


def _lines(config: Config, path: Path | None, said: list[Check], files: SystemFiles) -> int:
    """One line per check, each as soon as it is done (a slow broker shows which check is waiting); the
    first names the file checked, ``said`` (its warnings, each naming it) or ``ok``."""
    out = _Out()
    for check in _config_said(path, said):
        out.say(check.line())
    checks = []
    for check in iter_checks(config, path, files):
        out.say(check.line())
        checks.append(check)
    return exit_code(checks)


def _config_said(path: Path | None, said: list[Check]) -> list[Check]:
    # an "ok" of its own where the file gave no warning, in the JSON too: a fleet script that reads the checks
    # sees which configuration was checked, as the lines' reader does
    source = str(path) if path else f"built-in defaults (no {listener.config.INSTALLED_CONFIG})"
    return said or [Check("config", "ok", source)]


def as_json_check(check: Check) -> dict[str, str]:
    return {"name": check.name, "status": check.status.lower(), "detail": check.detail, "fix": check.fix}


class _Out:
    """Prints until the reader goes away (``| head``), then nothing: the checks still run for the exit code."""

    def say(self, text: str) -> None:
        with contextlib.suppress(BrokenPipeError):  # the command line's stdout drops what follows
            print(text, flush=True)
