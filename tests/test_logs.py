"""Log lines for journald: level and logger, no timestamps; sd-daemon priorities under systemd."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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


def run(level: str, tmp_path: Path, journal: bool = False, stream: str | None = None) -> list[str]:
    """SCRIPT's stderr; ``journal``: JOURNAL_STREAM names that stderr, as systemd does; ``stream``: it is this."""
    code, lines = journal_run(["-c", SCRIPT.format(level=level)], tmp_path, journal, stream)
    assert code == 0, lines
    return lines


def test_plain_lines_with_levels(tmp_path: Path) -> None:
    lines = run("info", tmp_path)
    assert lines[:3] == ["INFO listener.audio: capturing 4 channels", "WARNING listener.audio: overflow 3",
                         "ERROR listener.audio: failed"]  # fmt: skip
    assert lines[3] == "Traceback (most recent call last):"


def test_log_level_from_the_config(tmp_path: Path) -> None:
    assert run("debug", tmp_path)[0] == "DEBUG listener.audio: debug line"
    assert run("warning", tmp_path)[0] == "WARNING listener.audio: overflow 3"


def test_priority_prefixes_under_systemd(tmp_path: Path) -> None:
    lines = run("info", tmp_path, journal=True)
    assert lines[:3] == ["<6>INFO listener.audio: capturing 4 channels", "<4>WARNING listener.audio: overflow 3",
                         "<3>ERROR listener.audio: failed"]  # fmt: skip
    assert all(line.startswith("<3>") for line in lines[3:])  # the traceback stays at the record's priority


EVERY_LEVEL = """
import logging
from listener.service.logs import set_level, setup_logging
setup_logging()
set_level("debug")
log = logging.getLogger("listener")
for level in ("debug", "info", "warning", "error", "critical"):
    getattr(log, level)(level)
"""


def test_every_level_is_filed_at_its_syslog_priority(tmp_path: Path) -> None:
    # sd-daemon(3)'s <N>: `journalctl -p err` must show a critical line, `-p info` hide a debug one
    code, lines = journal_run(["-c", EVERY_LEVEL], tmp_path, journal=True)
    assert code == 0 and lines == [
        "<7>DEBUG listener: debug",
        "<6>INFO listener: info",
        "<4>WARNING listener: warning",
        "<3>ERROR listener: error",
        "<2>CRITICAL listener: critical",
    ], lines


def journal_run(args: list[str], folder: Path, journal: bool, stream: str | None = None) -> tuple[int, list[str]]:
    """A ``python`` run whose stderr is a file; with ``journal``, JOURNAL_STREAM names that file, as systemd
    names the stream it connects to a service; ``stream`` sets the variable to something else."""
    err = folder / "stderr"
    with err.open("w") as file:
        stat = os.fstat(file.fileno())
        environ = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"} | {"GPIOZERO_PIN_FACTORY": "mock"}
        if journal:
            environ["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"
        if stream is not None:
            environ["JOURNAL_STREAM"] = stream
        done = subprocess.run([sys.executable, *args], env=environ, stdout=subprocess.PIPE, stderr=file, timeout=120)
    return done.returncode, err.read_text().splitlines()


def test_a_child_whose_stderr_is_not_the_journal_writes_plain_lines(tmp_path: Path) -> None:
    # JOURNAL_STREAM is inherited: a tool the service starts with its stderr in a file wrote "<6>" into it
    plain = run("info", tmp_path)
    assert run("info", tmp_path, stream="8:12345") == plain
    assert run("info", tmp_path, stream="not the format") == plain


def test_a_command_line_mistake_is_an_error_in_the_journal(tmp_path: Path) -> None:
    # argparse wrote it past the logger, at info: `journalctl -p warning` hid a unit's mistyped ExecStart
    command = ["-m", "listener", "run", "--no-such-option"]
    code, plain = journal_run(command, tmp_path, journal=False)
    assert code == 2 and len(plain) == 1 and "--no-such-option" in plain[0], plain
    code, journal = journal_run(command, tmp_path, journal=True)
    assert code == 2 and journal == ["<3>" + plain[0]]


def test_the_reason_a_start_failed_is_an_error_in_the_journal(tmp_path: Path) -> None:
    # written past the logger, it was filed at info: `journalctl -p warning` hid why the service did not start
    config = tmp_path / "listener.toml"
    config.write_text('[service]\nlog_levle = "info"\n')
    command = ["-m", "listener", "run", "--config", str(config)]
    code, plain = journal_run(command, tmp_path, journal=False)
    assert code == 2 and len(plain) == 1 and plain[0].startswith("listener: ") and "log_levle" in plain[0], plain
    code, journal = journal_run(command, tmp_path, journal=True)
    assert code == 2 and journal == ["<3>" + plain[0]]  # the same line, at error


UNCAUGHT = """
import sys, threading
import listener.cli as cli

def failing(args):
    worker = threading.Thread(target=lambda: 1 / 0, name="worker")
    worker.start()
    worker.join()
    raise RuntimeError("a bug")

cli.cmd_devices = failing  # a command with a bug: the traceback leaves main()
sys.argv = ["listener", "devices"]
from listener.entry import main
raise SystemExit(main())
"""


def test_an_uncaught_traceback_is_an_error_in_the_journal(tmp_path: Path) -> None:
    code, plain = journal_run(["-c", UNCAUGHT], tmp_path, journal=False)
    assert code == 1 and plain[0] == "Exception in thread worker:" and plain[-1] == "RuntimeError: a bug", plain
    code, journal = journal_run(["-c", UNCAUGHT], tmp_path, journal=True)
    # Python's own hooks wrote both tracebacks at info; every line, as in the terminal, now at error
    assert code == 1 and journal == ["<3>" + line for line in plain], journal


UNRAISABLE = """
import sys
from listener.service.logs import journal_excepthooks

class Closing:
    def __del__(self):
        raise OSError("flush failed")

journal_excepthooks()
Closing()
print("went on", file=sys.stderr)
"""


def test_an_exception_python_cannot_raise_is_an_error_in_the_journal(tmp_path: Path) -> None:
    # a failing finaliser is reported, not raised: Python's own hook wrote that report at info. Its code in a file,
    # as the service's is: for `python -c` code Python 3.13's traceback module shows the source lines and its own
    # unraisable hook does not (3.11 shows them in neither), so on Debian 13 the two differed. Run from the current
    # folder (runpy), whose listener is the one tested, as with -c
    script = tmp_path / "unraisable.py"
    script.write_text(UNRAISABLE)
    from_file = ["-c", f"import runpy; runpy.run_path({str(script)!r})"]
    code, plain = journal_run(from_file, tmp_path, journal=False)
    plain = [re.sub(" at 0x[0-9a-f]+", "", line) for line in plain]  # the function's address differs per run
    assert code == 0 and plain[0] == "Exception ignored in: <function Closing.__del__>", plain
    assert plain[-3:] == ['    raise OSError("flush failed")', "OSError: flush failed", "went on"], plain
    code, journal = journal_run(from_file, tmp_path, journal=True)
    journal = [re.sub(" at 0x[0-9a-f]+", "", line) for line in journal]
    assert code == 0 and journal == ["<3>" + line for line in plain[:-1]] + ["went on"], journal


THREAD_EXITS = """
import sys, threading
from listener.service.logs import journal_excepthooks

journal_excepthooks()
worker = threading.Thread(target=sys.exit, args=(3,), name="worker")
worker.start()
worker.join()
print("went on", file=sys.stderr)
"""


def test_a_thread_that_exits_is_no_error_in_the_journal(tmp_path: Path) -> None:
    # as Python's own hook: sys.exit() on a thread ends that thread, quietly
    code, journal = journal_run(["-c", THREAD_EXITS], tmp_path, journal=True)
    assert code == 0 and journal == ["went on"], journal
