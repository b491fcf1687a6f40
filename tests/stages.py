"""A pipeline stage for tests: keeps what reaches it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from listener.events import Event
from listener.pipeline import Stage

E = TypeVar("E", bound=Event)


class EventLog(Stage):
    """Keeps every event that reaches it, in order, for the test to look at."""

    name = "event_log"

    def __init__(self) -> None:
        self.events: list[Event] = []

    def process(self, event: Event) -> Iterable[Event]:
        self.events.append(event)
        return ()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]
