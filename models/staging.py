"""Where models.train writes: checked before training, filled in a temporary folder, replaced at the end.

The default ``--out`` is the shipped model's folder, which the listener loads
and ``listener doctor`` passes as long as the weights and sidecar are each
well formed, whether or not they belong together. So nothing is written there
until the model, its thresholds and its figures are all done: a run that fails
or is interrupted before leaves the folder as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from listener.errors import os_reason_and_fix
from listener.turns.spec import sidecar_path

PREFIX = ".staged-"


def unwritable(out: Path) -> str | None:
    """Why the model cannot be written into ``out`` (None if it can): found before minutes of training."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
        # the staging folder lies beside out
        Path(tempfile.mkdtemp(prefix=PREFIX, dir=out.parent)).rmdir()
    except OSError as exc:
        return f"--out {out} cannot be written {os_reason_and_fix(exc, 'choose another --out folder')}"
    return None


@contextmanager
def staged(*folders: Path) -> Iterator[list[Path]]:
    """A temporary folder beside each of ``folders`` (so on its file system, where a rename (os.replace) is atomic);
    removed afterwards with whatever is left in it."""
    stages: list[Path] = []
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            stages.append(Path(tempfile.mkdtemp(prefix=f"{PREFIX}{folder.name}-", dir=folder.parent)))
        yield stages
    finally:
        for stage in stages:
            shutil.rmtree(stage, ignore_errors=True)


def install(model: Path, folder: Path) -> Path:
    """Move a staged model into ``folder``, its sidecar last (the sidecar says which weights are current)."""
    target = folder / model.name
    model.replace(target)
    sidecar_path(model).replace(sidecar_path(target))
    return target
