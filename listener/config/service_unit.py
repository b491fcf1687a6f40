"""What listener.service allows the service, said of a config before the service meets it.

The unit's ProtectSystem=strict lets the service write only its StateDirectory= (and ReadWritePaths=): a
``service.state_dir`` elsewhere passed check-config and doctor, and the service then stopped at its start
("MQTT spool ... cannot be opened (Read-only file system)"). Its TimeoutStopSec= bounds a stop: longer
waits at a stop end in SIGKILL. check-config says both of any file (it may be a device's, checked on the
installing host); run, only under systemd, where they apply; doctor, the folder, where the unit is installed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from listener.config.mqtt_schema import MqttConfig
from listener.config.schema import AsrConfig, Config
from listener.config.warning import ConfigWarning
from listener.errors import SERVICE_STATE_DIR, toml_value

# where firmware/provision.sh installs systemd/listener.service; `systemctl edit` adds drop-ins beside it
SERVICE_UNIT_FILE = Path("/etc/systemd/system/listener.service")
VAR_LIB = SERVICE_STATE_DIR.parent  # StateDirectory= names folders here (systemd's %S)
STOP_BUDGET_S = 40.0  # systemd/listener.service's TimeoutStopSec (45 s), less a margin for the exit itself
RESTART_S = 20.0  # systemd/listener.service's RestartSec: how soon a service that exited 75 is started again
_LISTS = ("StateDirectory", "ReadWritePaths")  # settings that add up; an empty assignment clears them


def service_warnings(config: Config) -> list[ConfigWarning]:
    """The unit's limits ``config`` goes beyond: its writable folders, the time a stop may take."""
    return [*read_only_state_dir(config.service.state_dir, writable_folders()), *long_stop(config)]


def long_stop(config: Config) -> list[ConfigWarning]:
    """The waits at a stop, set longer than systemd gives the service, which then SIGKILLs it."""
    wait_s = (config.asr.finish_wait_s if config.asr.enabled else 0.0) + (
        config.mqtt.shutdown_drain_s if config.mqtt.enabled else 0.0
    )
    if wait_s <= STOP_BUDGET_S:
        return []
    total = f"{round(wait_s, 9):.10g}"  # :g's six digits said 40.000001 as "40 s, more than the 40 s"
    problem = (
        f"asr.finish_wait_s + mqtt.shutdown_drain_s = {total} s, more than the {STOP_BUDGET_S:g} s a stop may "
        "take before systemd kills the service (TimeoutStopSec in listener.service): a stop while the recogniser "
        "lags could lose the open session's summary"
    )
    defaults = f"{AsrConfig().finish_wait_s:g} and {MqttConfig().shutdown_drain_s:g}"
    return [ConfigWarning(problem, f"lower them (defaults {defaults})")]


def read_only_state_dir(state_dir: str, folders: tuple[Path, ...] | None) -> list[ConfigWarning]:
    """A warning where ``state_dir`` is outside ``folders``, the ones the service may write (None: any)."""
    said = state_dir_problem(state_dir, folders)
    if said is None:
        return []
    problem, fix = said
    return [ConfigWarning(f"service.state_dir = {toml_value(state_dir)}: {problem}", fix)]


def state_dir_problem(state_dir: str, folders: tuple[Path, ...] | None) -> tuple[str, str] | None:
    """Why the service may not write ``state_dir`` and the fix; None where it may (inside ``folders``)."""
    state = Path(os.path.normpath(state_dir))
    if folders is None or any(state.is_relative_to(folder) for folder in folders):
        return None
    allowed = " and ".join(str(folder) for folder in folders) or "no folder"
    use = folders[0] if folders else SERVICE_STATE_DIR
    return (
        f"the service (listener.service) may write only {allowed}, so {state} is read-only to it (with MQTT on "
        "the service stops at its start: its spool cannot be opened there)",
        f"use {use} (or a folder under it), or let the unit write it "
        f"(`sudo systemctl edit listener`: [Service] ReadWritePaths={state})",
    )


def writable_folders(unit: Path | None = None, var_lib: Path = VAR_LIB) -> tuple[Path, ...] | None:
    """The folders the service may write, as ``unit`` (the installed one by default) and its drop-ins say:
    its StateDirectory= (under ``var_lib``) and ReadWritePaths=; None where it may write any (no
    ProtectSystem=strict). No unit there (a laptop checking a device's file): the shipped unit's folder."""
    unit = SERVICE_UNIT_FILE if unit is None else unit
    settings: dict[str, list[str]] | None = None
    with contextlib.suppress(OSError):  # an unreadable unit is judged as the shipped one
        if unit.is_file():
            drop_ins = sorted((unit.parent / f"{unit.name}.d").glob("*.conf"))
            settings = _settings([unit, *drop_ins])
    if settings is None:
        return (SERVICE_STATE_DIR,)
    if settings.get("ProtectSystem", [""])[-1] != "strict":
        return None
    states = [var_lib / name.split(":")[0] for name in settings.get("StateDirectory", [])]
    paths = [Path(p.strip('"').lstrip("-+").replace("%S", str(var_lib))) for p in settings.get("ReadWritePaths", [])]
    return tuple(states + [p for p in paths if p.is_absolute()])


def _settings(files: list[Path]) -> dict[str, list[str]]:
    """The unit's settings as systemd reads them, drop-ins last: a later one replaces an earlier one, except
    the lists of ``_LISTS``, which add up until an empty assignment clears them."""
    found: dict[str, list[str]] = {}
    for file in files:
        for raw in file.read_text(encoding="utf-8", errors="replace").splitlines():
            line = raw.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            key, _, value = (part.strip() for part in line.partition("="))
            if key in _LISTS:
                found[key] = [*found.get(key, []), *value.split()] if value else []
            else:
                found[key] = [value]
    return found
