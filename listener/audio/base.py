"""The interface every audio source implements."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from types import TracebackType

from listener.events import Event


class AudioSource(abc.ABC):
    """Yields :class:`~listener.events.AudioBlock` (and gap / state events).

    Blocks hold only the array's mic channels, in the order of the
    configured geometry, at the processing rate. The stream clock
    (``start_s``) never jumps backwards and never skips silently: lost audio
    is announced with :class:`~listener.events.AudioDropped`.
    """

    @abc.abstractmethod
    def events(self) -> Iterator[Event]:
        """Blocks until the source ends (files) or is closed (live)."""

    def open(self) -> None:
        """Open the file or device."""

    def close(self) -> None:
        """Release the file or device; safe to call twice."""

    def stop(self) -> None:
        """Ask :meth:`events` to finish soon (from another thread or a signal)."""

    def __enter__(self) -> AudioSource:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
