"""The ``listener`` command (and ``python -m listener``): the CLI, loaded so that Ctrl-C never prints a traceback.

Loading numpy, scipy and the service's modules takes seconds on a Pi Zero, and a
Ctrl-C in them would otherwise end in a page of traceback from whatever
module was loading: nothing has run yet, so it ends quietly with 130, as a
shell reports an interrupted command.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    _keep_stderr()
    if os.environ.get("INVOCATION_ID"):  # a unit of systemd's (listener.lifecycle.under_systemd)
        # a HUP is someone's "reload": until the run installs its handler, its default action would end the
        # service, which systemd takes for a clean exit and does not restart (listener.service.signals)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        from listener.service.logs import crash_traces, journal_excepthooks

        journal_excepthooks()  # before the heavy imports: a broken install's ImportError is an error too
        crash_traces()
        from listener.cli import main as cli_main
    except KeyboardInterrupt:
        return 130
    try:
        return cli_main()
    finally:  # also after argparse's exit: its error line may be what stderr could not take
        from listener.console import settle_stderr

        settle_stderr()


def _keep_stderr() -> None:
    """Started with stderr closed (``2>&-``): error lines went into stdout (``print(file=None)`` falls back to it),
    into a ``--json`` report; and the next file opened would take descriptor 2, where ALSA and Kaldi write.
    Both go to /dev/null instead, before anything is opened."""
    try:
        os.fstat(2)
    except OSError:
        null = os.open(os.devnull, os.O_WRONLY)
        if null != 2:
            os.dup2(null, 2)
            os.close(null)
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
