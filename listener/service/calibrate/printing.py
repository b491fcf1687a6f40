"""What calibrate measured is printed, but an output that fails must not lose it: ``--write`` still stores it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def printing_what_was_measured() -> Iterator[None]:
    """An output that fails (a reader gone, `| head`; a full disk; a stdout closed, `>&-`) ends the printing, not
    the command: the --write after it still happens, and main() says the failure afterwards ('cannot write the
    output', exit 2) from what its Stdout recorded. Any other OSError raises as before."""
    try:
        yield
    except OSError as exc:
        if getattr(sys.stdout, "error", None) is not exc:  # not the output's own failure, which main() says
            raise
