"""Log lines for journald: level and logger, no timestamps; sd-daemon priorities under systemd."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import logging
from listener.service.logs import set_level, setup_logging
setup_logging()
set_level({level!r})
log = logging.getLogger("listener.audio")
log.debug("debug line")
log.info("capturing 4 channels")
log.warning("overflow 3")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("failed")
"""


def run(level: str, **env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"} | env
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(level=level)], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    return done.stderr.splitlines()


def test_plain_lines_with_levels() -> None:
    lines = run("info")
    assert lines[:3] == ["INFO listener.audio: capturing 4 channels", "WARNING listener.audio: overflow 3",
                         "ERROR listener.audio: failed"]  # fmt: skip
    assert lines[3] == "Traceback (most recent call last):"


def test_log_level_from_the_config() -> None:
    assert run("debug")[0] == "DEBUG listener.audio: debug line"
    assert run("warning")[0] == "WARNING listener.audio: overflow 3"


def test_priority_prefixes_under_systemd() -> None:
    lines = run("info", JOURNAL_STREAM="8:12345")
    assert lines[:3] == ["<6>INFO listener.audio: capturing 4 channels", "<4>WARNING listener.audio: overflow 3",
                         "<3>ERROR listener.audio: failed"]  # fmt: skip
    assert all(line.startswith("<3>") for line in lines[3:])  # the traceback stays at the record's priority
