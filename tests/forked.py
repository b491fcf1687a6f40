"""Running a check in a forked child, for what a test must not do to its own process (drop root, limit writes)."""

from __future__ import annotations

import os
from collections.abc import Callable


def said_in_child(action: Callable[[], str], prepare: Callable[[], None] = lambda: None) -> str:
    """What ``action`` returns in a child process after ``prepare`` ran there, or what either raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.close(read)
        try:
            prepare()
            text = action()
        except BaseException as exc:
            text = f"{type(exc).__name__}: {exc}"
        os.write(write, text.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as out:
        said = out.read()
    os.waitpid(pid, 0)
    return said


def said_as(uid: int, action: Callable[[], str]) -> str:
    """What ``action`` returns in a child process running as ``uid`` (root becomes it; any other user, who cannot,
    stays itself), or what it raised."""

    def become() -> None:
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return said_in_child(action, become)
