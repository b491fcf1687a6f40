"""Reading a small file a setting names (the broker password's file, a turn model's sidecar, the secrets file).

Such a path may lead anywhere: a named pipe held the open for ever (deaf to SIGTERM, so systemd had to kill the
service), and a link to /dev/zero, or a file far too large, was read whole until the kernel killed the process
for its memory. Only a regular file is read here, and only up to a size none of these files come near.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from listener.errors import file_kind

SMALL_FILE_BYTES = 1024 * 1024  # as a config file: these hold a line, or a few KiB of JSON


def read_small_file(path: Path) -> bytes:
    """The bytes of the regular file at ``path``. Raises the ``OSError`` open and read raise (a folder's is
    ``IsADirectoryError``), and an ``OSError`` whose ``strerror`` says what stands there instead ("a pipe,
    not a file") or that the file is larger than ``SMALL_FILE_BYTES``: the callers' messages quote ``strerror``."""
    _refuse_unless_file(path.stat().st_mode)  # before the open: a socket cannot be opened, and says ENXIO
    # O_NONBLOCK: a pipe put there since the stat opens at once instead of waiting for a writer
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        _refuse_unless_file(os.fstat(fd).st_mode)
        with open(fd, "rb", closefd=False) as file:
            data = file.read(SMALL_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > SMALL_FILE_BYTES:
        raise OSError(errno.EFBIG, f"larger than {SMALL_FILE_BYTES >> 20} MiB, far more than such a file holds")
    return data


def _refuse_unless_file(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, f"{file_kind(mode)}, not a file")
