"""A fixture's value made once for the whole test run, not once in each pytest-xdist worker.

A session- or module-scoped fixture is made in every worker that runs one of its tests, and worksteal
spreads a file's tests over several: the privacy audit's half-minute run was made three times in one
run of the suite. Here the first worker to need the value makes it while holding a lock, and leaves it
pickled beside the workers' temporary folders (the run's own, made afresh for each run of the suite);
the others wait for the lock and read it. The value's paths are the maker's files, which stay for the
whole run: a test reads them and copies before changing anything. This is pytest-xdist's "making
session-scoped fixtures execute only once" with fcntl.flock.

A value made this way must not need another one made this way (the two locks could be taken in either
order), nor hold what a pickle cannot (a thread, a process, an open broker).
"""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

WORKER_ENV = "PYTEST_XDIST_WORKER"  # gw0, gw1, ...: set in each worker process


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[], T]) -> T:
    """``make()``, or what another worker's ``make()`` returned in this run. ``name`` is unique in the
    suite; a failure in the worker that made it fails the others' tests too, without making it again."""
    worker = os.environ.get(WORKER_ENV)
    if worker is None:  # one process (-n 0): its fixture scope alone says how often
        return make()
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder; each worker's is under it
    made, failed = shared / f"{name}.pickle", shared / f"{name}.failed"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the worker dies
        if failed.exists():
            pytest.fail(f"{name} failed in {failed.read_text()}: its error is reported there", pytrace=False)
        if made.exists():
            value: T = pickle.loads(made.read_bytes())
            return value
        try:
            value = make()
        except (Exception, pytest.fail.Exception):  # a skip is not a failure: the next worker skips too
            failed.write_text(f"worker {worker}")
            raise
        part = made.with_suffix(".part")
        part.write_bytes(pickle.dumps(value))
        part.rename(made)
        return value
