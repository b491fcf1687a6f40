"""What one ``listener doctor`` run reads of the system's files, each read once, when a check first asks.

Several checks look at the same file: the secrets file (its own five lines, and the broker check's advice on a
refused login), /proc/meminfo (the memory check, then the vosk model's room) and the files the default device id
comes from (the broker probe's topics and client id, the device id line, ``--json``'s device_id). Read once, they
all judge the same text, and the default id's warning of an unstable id is logged once, not per look.

One is made per run and handed to the checks: the long-running service never holds one, so nothing it reads
can go stale. A check called alone (``None``) makes its own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from listener.service.doctor.env_file import EnvLines, read_env_lines

if TYPE_CHECKING:
    from listener.config import Config
    from listener.outputs.mqtt.identity import DefaultId


@dataclass(frozen=True)  # no slots: functools.cached_property keeps each reading in the instance's __dict__
class SystemFiles:
    """The readings of one doctor run; each property reads its file at the first use, then answers from that."""

    @functools.cached_property
    def secrets_text(self) -> str | None:
        """The secrets file's text; None when there is none, or it cannot be read here (not root, not UTF-8)."""
        from listener.service.doctor.secrets import read_secrets_text

        return read_secrets_text()

    @functools.cached_property
    def secrets_lines(self) -> EnvLines | None:
        """The secrets file read as systemd reads it (read_env_lines); None where ``secrets_text`` is."""
        return None if self.secrets_text is None else read_env_lines(self.secrets_text)

    @functools.cached_property
    def meminfo_mib(self) -> dict[str, float]:
        """/proc/meminfo's figures in MiB, by name; empty where it cannot be read (not Linux)."""
        from listener.service.doctor.memory import meminfo_mib

        return meminfo_mib()

    @functools.cached_property
    def default_id(self) -> DefaultId:
        """The default device id and what may change it, from the board serial or the machine id."""
        from listener.outputs.mqtt.identity import default_id

        return default_id()

    @functools.cached_property
    def _warned_default_id(self) -> str:
        from listener.outputs.mqtt.identity import warned

        return warned(self.default_id)  # as the service warns at its start: once

    def device_id(self, config: Config) -> str:
        """The id the service publishes under (``identity.device_id``), its warnings logged once per run."""
        return config.mqtt.device_id or self._warned_default_id


def this_run(files: SystemFiles | None) -> SystemFiles:
    """``files``, or for a check called on its own (None), readings of its own."""
    return SystemFiles() if files is None else files
