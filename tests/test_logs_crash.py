"""A hard crash (a fault in native code, the watchdog's SIGABRT) leaves every thread's Python stack in the
log, where Python printed nothing and the journal said only that the process was killed."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_logs import journal_run
from tests.test_systemd_unit import unit_settings

# a command whose worker thread waits while the main thread is killed, as the watchdog kills a hung pipeline
CRASH = """
import os, signal, sys, threading
import listener.cli as cli

KILL_WITH = getattr(signal, sys.argv[1])

def hung_worker(stop):
    stop.wait()

def crashing(args):
    stop = threading.Event()
    threading.Thread(target=hung_worker, args=(stop,), name="worker", daemon=True).start()
    os.kill(os.getpid(), KILL_WITH)

cli.cmd_devices = crashing
sys.argv = ["listener", "devices"]
from listener.entry import main
raise SystemExit(main())
"""


@pytest.mark.parametrize(("name", "said"), [("SIGSEGV", "Segmentation fault"), ("SIGABRT", "Aborted")])
@pytest.mark.parametrize("journal", [False, True], ids=["terminal", "journal"])
def test_a_hard_crash_prints_every_threads_stack(tmp_path: Path, name: str, said: str, journal: bool) -> None:
    code, lines = journal_run(["-c", CRASH, name], tmp_path, journal=journal)
    assert code == -getattr(signal, name), (code, lines)  # the signal still ends it: systemd restarts it
    text = "\n".join(lines)
    assert f"Fatal Python error: {said}" in text, text
    assert "in hung_worker" in text and "in crashing" in text, text  # both threads, by function name
    assert "Thread 0x" in text and "(most recent call first)" in text, text


def test_under_the_unit_a_crash_trace_is_filed_at_warning(tmp_path: Path) -> None:
    # faulthandler writes raw lines, which journald files at the unit's SyslogLevel (info by default, where
    # `journalctl -p warning` hid them); the listener's own lines carry their priority and keep it
    code, lines = journal_run(["-c", CRASH, "SIGABRT"], tmp_path, journal=True)
    trace = [line for line in lines if line.startswith(("Fatal Python error", "Thread 0x", "Current thread 0x"))]
    assert code == -signal.SIGABRT and len(trace) >= 2, lines
    assert not any(re.match(r"<\d>", line) for line in lines), lines
    assert unit_settings()["SyslogLevel"] == ["warning"]


def test_the_entry_point_turns_crash_traces_on() -> None:
    script = (
        "import faulthandler, sys\nfrom listener import cli, entry\n"
        "cli.main = lambda: print(faulthandler.is_enabled()) or 0\nsys.exit(entry.main())"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "True", (done.stdout, done.stderr)
