"""The ``listener`` command (and ``python -m listener``): the CLI, loaded so that Ctrl-C never prints a traceback.

Loading numpy, scipy and the service's modules takes seconds on a Pi Zero, and a
Ctrl-C in them would otherwise end in a page of traceback from whatever
module was loading: nothing has run yet, so it ends quietly with 130, as a
shell reports an interrupted command.
"""

from __future__ import annotations


def main() -> int:
    try:
        from listener.cli import main as cli_main
    except KeyboardInterrupt:
        return 130
    return cli_main()
