"""Relative paths in a config file are read from the folder of that file, never the working folder.

``ca_file = "ca.pem"`` written beside /etc/listener/listener.toml means /etc/listener/ca.pem, as an
installer expects: read from the working folder it worked from the checkout and failed from the
service's (systemd starts it in /var/lib/listener), and differently for each command run by hand.
One rule for every path key (the ones the schema marks ``path=True``); ``''`` keeps meaning the
default, and ``~`` the home folder (expanded by the loader).

Settings that come from no file (``parse_config`` of a table, in tests and benches) have no folder
to be relative to: a relative path there is refused rather than read from wherever the process is.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from listener.config.rules import rule_of
from listener.errors import ConfigError

T = TypeVar("T")

RULE = (
    "must be an absolute path (or ~/...) here: a relative path is read from the folder of the config file that"
    " holds it, and these settings come from no file"
)


def config_folder(path: Path) -> Path:
    """The folder the relative paths in the config file ``path`` are read from: the folder the file (or the
    link to it) is in, made absolute now, so that a later change of working folder changes nothing."""
    return path.absolute().parent


def resolve_paths(config: T, folder: Path | None) -> T:
    """``config`` (the frozen tree) with each relative path key joined to ``folder``."""
    sections: dict[str, Any] = {}
    for section in dataclasses.fields(config):  # type: ignore[arg-type]
        table = getattr(config, section.name)
        changes = {
            spec.name: _resolved(f"{section.name}.{spec.name}", getattr(table, spec.name), folder)
            for spec in dataclasses.fields(table)
            if rule_of(spec).path and _relative(getattr(table, spec.name))
        }
        if changes:
            sections[section.name] = dataclasses.replace(table, **changes)
    return dataclasses.replace(config, **sections) if sections else config  # type: ignore[type-var]


def _relative(value: str) -> bool:
    # '' is the key's default; blank text is no path anyone meant, left to the key's own check (state_dir's)
    return bool(value.strip()) and not Path(value).is_absolute()


def _resolved(key: str, value: str, folder: Path | None) -> str:
    if folder is None:
        raise ConfigError(key, value, RULE)
    return str(folder / value)
