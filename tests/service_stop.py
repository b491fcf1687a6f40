"""Shared by the in-process service tests: stop ``runner.run`` as systemd does, never hang the test."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Sequence

from listener.config import Config
from listener.events import AudioBlock, AudioDropped, Event
from listener.pipeline import Stage
from listener.service import runner
from listener.service.runner import RunOptions


class StopsAt(Stage):
    """Sends the process SIGTERM once audio time reaches ``at_s`` on one of ``kinds``.

    Audio time, not the wall clock: a slow start-up must not shorten what the test measures. Once only:
    a second signal would hurry the stop, a third end the process.
    """

    def __init__(self, at_s: float, kinds: tuple[type[AudioBlock | AudioDropped], ...] = (AudioBlock, AudioDropped)):
        self.at_s = at_s
        self.kinds = kinds
        self.seen: list[type[Event]] = []  # the kind of event that triggered the stop

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, self.kinds) and event.end_s >= self.at_s and not self.seen:
            self.seen.append(type(event))
            os.kill(os.getpid(), signal.SIGTERM)
        return ()


def run_with_rescue(config: Config, options: RunOptions, stages: Sequence[Stage], rescue_s: float = 8.0) -> float:
    """``runner.run`` with a timer that sends SIGTERM after ``rescue_s``, so a failing test ends instead of hanging."""
    rescue = threading.Timer(rescue_s, os.kill, args=(os.getpid(), signal.SIGTERM))
    rescue.start()
    try:
        return runner.run(config, options, extra_stages=stages)
    finally:
        rescue.cancel()
