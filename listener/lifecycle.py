"""Open/close as a context manager, for every device, client and stage; and how the process was started."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self


class Managed:
    """Subclasses implement :meth:`open` and :meth:`close`; ``with`` calls them.

    Nothing is acquired at construction or import time, only in ``open``.
    """

    def open(self) -> None:
        """Acquire the device, file, client or session."""

    def close(self) -> None:
        """Release what :meth:`open` acquired; safe to call twice."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def under_systemd() -> bool:
    """Started by systemd as a unit (it sets INVOCATION_ID for every unit it starts)."""
    return bool(os.environ.get("INVOCATION_ID"))
