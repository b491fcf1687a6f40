"""The pipeline's stream clock: where the source's events leave it, and what the stages are told at the end."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from listener.audio.base import AudioSource
from listener.events import AudioDropped, EndOfStream, Event, SourceState
from listener.pipeline import EventLog, Pipeline, Stage
from tests.mqtt_feed import block  # a silent 4-channel block at 16 kHz


class _Scripted(AudioSource):
    """Yields the events it was given, then ends."""

    def __init__(self, events: list[Event]) -> None:
        self._events = events

    def events(self) -> Iterator[Event]:
        yield from self._events


def test_a_gap_at_the_end_of_the_stream_moves_the_clock_to_its_end() -> None:
    source = _Scripted(
        [
            block(0.0),
            AudioDropped(start_s=1.0, duration_s=2.0, reason="overflow"),
        ]
    )
    log = EventLog()
    with Pipeline([log]) as pipe:
        end_s = pipe.run(source)
    assert end_s == 3.0
    ends = log.of(EndOfStream)
    assert len(ends) == 1 and ends[0].t_s == 3.0
    assert log.events[-1] is ends[0]


def test_the_clock_is_the_end_of_the_last_block_when_nothing_was_dropped() -> None:
    source = _Scripted(
        [
            block(0.0),
            block(1.0, 0.5),
        ]
    )
    log = EventLog()
    with Pipeline([log]) as pipe:
        assert pipe.run(source) == 1.5
    assert [e.t_s for e in log.of(EndOfStream)] == [1.5]


def test_an_event_that_takes_no_audio_time_leaves_the_clock_where_it_was() -> None:
    # a source's last word may be a state change (the array lost); the stream still ran to the audio's end
    source = _Scripted(
        [
            block(0.0),
            SourceState(t_s=1.0, available=False, detail="gone"),
        ]
    )
    log = EventLog()
    with Pipeline([log]) as pipe:
        assert pipe.run(source) == 1.0
    assert [e.t_s for e in log.of(EndOfStream)] == [1.0]


def test_a_recording_shorter_than_a_second_ends_where_its_audio_does() -> None:
    # the clock starts at 0: a source that ends at once ends the stream there too
    half = block(0.0, 0.5)
    for events, end_s in (([half], 0.5), ([], 0.0)):
        log = EventLog()
        with Pipeline([log]) as pipe:
            assert pipe.run(_Scripted(list(events))) == end_s
        assert [e.t_s for e in log.of(EndOfStream)] == [end_s]


class _FailsAfter(_Scripted):
    """Yields its events, then fails as a lost device does."""

    def events(self) -> Iterator[Event]:
        yield from super().events()
        raise OSError("device lost")


class _Told(Stage):
    """Notes what it is told at the end: the stop (lights stop showing listening), the stream's end, and what
    the stages before it still held."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.told: list[str] = []

    def stopping(self) -> None:
        self.told.append("stopping")

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, SourceState):
            self.told.append(event.detail)
        if not isinstance(event, EndOfStream):
            return ()
        self.told.append(f"end at {event.t_s}")
        # what a stage still holds at the end (the analytics' open session) goes to the stages after it
        return [SourceState(t_s=event.t_s, available=False, detail=f"held by {self.name}")]


def test_a_source_that_fails_still_has_every_stage_stopped_then_flushed() -> None:
    """Pipeline.run: the stages are flushed before the error goes on, told of the stop before the flush, and
    what one emits in its flush reaches the stages after it, not itself."""
    one_second = block(0.0)
    first, last = _Told("first"), _Told("last")
    with Pipeline([first, last]) as pipe, pytest.raises(OSError, match="device lost"):
        pipe.run(_FailsAfter([one_second]))
    assert first.told == ["stopping", "end at 1.0"]
    assert last.told == ["stopping", "held by first", "end at 1.0"]
