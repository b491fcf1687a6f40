"""Stages and the pipeline that wires them.

A stage consumes events and emits events. The pipeline hands every event to
each stage *after* the one that emitted it, in order, so a stage sees the
source's audio and everything the stages before it decided. The same
pipeline runs behind a live microphone and behind a WAV file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TypeVar

from listener.audio.base import AudioSource
from listener.errors import ListenerError
from listener.events import AudioBlock, AudioDropped, DropReason, EndOfStream, Event
from listener.lifecycle import Managed

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


class Stage(Managed):
    """One step of the pipeline; also a context manager for its resources (open/close)."""

    name = "stage"

    def process(self, event: Event) -> Iterable[Event]:
        """React to one event; return the events it causes (often none)."""
        return ()

    def stopping(self) -> None:
        """The stop was asked for (called from another thread), or the source ended: what still shows
        the device listening stops saying so now, not once the flush (the recogniser's last words, the
        broker) is done."""

    def hurry(self) -> None:
        """Someone asked twice to stop: cut short the waits of the flush (called from another thread).

        What the stage has measured is still handed on; only waiting for
        others (the recogniser, the broker) is given up.
        """


class EventLog(Stage):
    """Keeps the events that reach it, in order: the end of a pipeline whose whole run a tool looks at.

    With ``kinds``, only events of those types are kept (a long run's audio
    frames would otherwise all stay in memory).
    """

    name = "event_log"

    def __init__(self, *kinds: type[Event]) -> None:
        self.kinds = kinds or (Event,)
        self.events: list[Event] = []

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, self.kinds):
            self.events.append(event)
        return ()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


class Pipeline(Managed):
    """Stages in order; events flow forward only. ``with`` opens every stage and closes them in reverse."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = list(stages)
        self._opened: list[Stage] = []
        self.unheard_s: dict[DropReason, float] = {}  # audio time the source announced as dropped, by why
        self.failed_stage: str | None = None  # the name of the stage whose failure :meth:`feed` raised

    def open(self) -> None:
        try:
            for stage in self.stages:
                stage.open()
                self._opened.append(stage)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        while self._opened:
            stage = self._opened.pop()
            try:
                stage.close()
            except (ListenerError, OSError) as exc:  # the machine's (a full disk, a device gone): its words say it
                log.error("stage %s failed to close: %s", stage.name, exc)
            except Exception:  # a bug, traceback and all; either way the stages before it still close
                log.exception("stage %s failed to close", stage.name)

    def stopping(self) -> None:
        """:meth:`Stage.stopping` for every stage; one that fails must not keep the others from it."""
        for stage in self.stages:
            try:
                stage.stopping()
            except Exception:
                log.exception("stage %s could not show the stop", stage.name)

    def hurry(self) -> None:
        """:meth:`Stage.hurry` for every stage; one that fails must not keep the others waiting.

        Every stage, not only the open ones: :meth:`close` takes a stage off
        the open ones before the waits its close may hold.
        """
        for stage in self.stages:
            try:
                stage.hurry()
            except Exception:
                log.exception("stage %s could not cut its stop short", stage.name)

    def feed(self, event: Event) -> None:
        """Hand ``event`` on, and all it causes; a stage that fails does so once every stage has had them.

        The events a stage emitted before another failed still reach every stage after it: a session's
        summary comes right after its SessionEnded, and the LEDs failing on the end must not cost the
        MQTT spool (before them) the summary.
        """
        failed: list[Exception] = []
        self._dispatch(event, 0, failed)
        if failed:
            raise failed[0]

    def _dispatch(self, event: Event, first: int, failed: list[Exception]) -> None:
        for index in range(first, len(self.stages)):
            try:
                for emitted in self.stages[index].process(event):
                    self._dispatch(emitted, index + 1, failed)
            except Exception as exc:  # the stage's own: a later stage's was caught in the call nested above
                if failed:  # only the first is raised: the others would be lost
                    log.exception("stage %s failed too (the first failure is the one raised)", self.stages[index].name)
                else:
                    self.failed_stage = self.stages[index].name
                failed.append(exc)

    def run(self, source: AudioSource) -> float:
        """Feed everything ``source`` yields, then flush; returns audio seconds.

        If a stage fails, the others are still flushed before the error goes
        on: what was measured up to then (the open session's summary) is kept.
        """
        end_s = 0.0
        self.failed_stage = None
        try:
            for event in source.events():
                self.feed(event)
                end_s = max(end_s, _end_of(event))
                if isinstance(event, AudioDropped):
                    self.unheard_s[event.reason] = self.unheard_s.get(event.reason, 0.0) + event.duration_s
        except Exception as exc:
            self._say_failure(exc, end_s, at_end=False)
            self.stopping()
            self._dispatch(EndOfStream(t_s=end_s), 0, [exc])  # a stage failing again is logged
            raise
        self.stopping()  # as a stop does: a file's end must not keep the lights on while the stages flush
        try:
            self.feed(EndOfStream(t_s=end_s))
        except Exception as exc:
            self._say_failure(exc, end_s, at_end=True)
            raise
        return end_s

    def _say_failure(self, exc: Exception, end_s: float, *, at_end: bool) -> None:
        """The journal's line for a failure: which stage (or the source) and when; the traceback follows it.

        ``at_end``: on the end of the stream, which every stage has had by then."""
        who = f"stage {self.failed_stage}" if self.failed_stage is not None else "the audio source"
        then = ", at the end of the stream (the others flushed)" if at_end else "; flushing the others before stopping"
        if isinstance(exc, BrokenPipeError):  # not a fault: the reader of our output went away (| head)
            log.info("output closed at %.1f s of audio (%s); flushing the stages before stopping", end_s, who)
        elif isinstance(exc, ListenerError | OSError):
            # the command line says what went wrong in its one line; this would be a second
            log.debug("%s stopped the run at %.1f s of audio (%s)%s", who, end_s, type(exc).__name__, then)
        else:
            log.error("%s failed at %.1f s of audio%s", who, end_s, then)


def _end_of(event: Event) -> float:
    """Where a source's event leaves the stream clock; 0 for the events that take no audio time."""
    return event.end_s if isinstance(event, AudioBlock | AudioDropped) else 0.0
