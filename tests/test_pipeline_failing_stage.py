"""A stage that fails on one of the events another emitted: the events emitted with it still reach every stage.

The analytics hand on a session's end and its summary together, in one step. An output after the MQTT
stage (the LEDs, whose ``--led-trace`` reader went away) failing on the SessionEnded stopped the step
there: the summary reached no stage, and the spool stored the session's end without it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from listener.audio.base import AudioSource
from listener.config import parse_config
from listener.events import AudioBlock, EndOfStream, Event, SessionEnded, SessionSummary
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.pipeline import EventLog, Pipeline, Stage
from tests.mqtt_broker import free_port
from tests.mqtt_feed import block, conversation

END_S = 40.0  # where the scripted analytics decide the whole session mid-run, its end and summary in one step


class Decides(Stage):
    """The analytics, scripted: the session's events, its end and summary last, in one step; at END_S
    (``at_end`` False) or at the end of the stream, as the analytics close a session still open then."""

    name = "analytics"

    def __init__(self, at_end: bool) -> None:
        self.at_end = at_end

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, EndOfStream) if self.at_end else isinstance(event, AudioBlock) and event.start_s == END_S:
            return conversation()
        return ()


class FailsOnTheEnd(Stage):
    """An output with a bug that shows on a session's end."""

    name = "leds"

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, SessionEnded):
            raise RuntimeError("a bug in an output stage")
        return ()


class Blocks(AudioSource):
    """A file's worth of one-second blocks."""

    def events(self) -> Iterator[Event]:
        for second in range(45):
            yield block(float(second))


def spooled(state_dir: Path) -> list[str]:
    with sqlite3.connect(state_dir / SPOOL_FILE) as db:
        return [kind for (kind,) in db.execute("SELECT kind FROM outbox ORDER BY id")]


@pytest.mark.parametrize("at_end", [False, True], ids=["mid-run", "at-the-end-of-the-stream"])
def test_a_stage_failing_on_a_session_end_costs_no_stage_its_summary(tmp_path: Path, at_end: bool) -> None:
    """The MQTT stage, before the failing one, stores the summary with the session's end (the broker is away:
    the spool is what it would send); a stage after it, and the failing stage's later events, have it too."""
    port = free_port()  # nothing listens: the messages stay in the spool
    config = parse_config(
        {
            "mqtt": {"enabled": True, "host": "127.0.0.1", "port": port, "device_id": "counter-3"},
            "service": {"state_dir": str(tmp_path)},
        }
    )
    before, after = EventLog(SessionSummary, EndOfStream), EventLog(SessionSummary, EndOfStream)
    stages = [Decides(at_end), MqttStage(config), before, FailsOnTheEnd(), after]
    with Pipeline(stages) as pipeline, pytest.raises(RuntimeError, match="a bug in an output stage"):
        pipeline.run(Blocks())
    assert spooled(tmp_path)[-3:] == ["session_end", "session", "metrics"]
    for log in before, after:
        assert [type(e) for e in log.events] == [SessionSummary, EndOfStream]


class Breaks(AudioSource):
    """A source with a bug of its own: the stages all work."""

    def events(self) -> Iterator[Event]:
        yield block(0.0)
        raise RuntimeError("a bug in the source")


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("at_end", [False, True], ids=["mid-run", "at-the-end-of-the-stream"])
def test_the_stage_that_failed_is_named_in_the_journal(caplog: pytest.LogCaptureFixture, at_end: bool) -> None:
    """The journal said "a stage failed at 40.0 s of audio" and a traceback: which of a dozen stages, the
    installer had to read from file names. A stage failing on the end of the stream was not said at all."""
    stages = [Decides(at_end), FailsOnTheEnd(), EventLog()]
    with caplog.at_level(logging.ERROR), Pipeline(stages) as pipeline, pytest.raises(RuntimeError):
        pipeline.run(Blocks())
    said = _errors(caplog)
    assert said and said[0].startswith(f"stage leds failed at {45.0 if at_end else END_S:.1f} s of audio"), said


def test_a_source_that_fails_is_not_blamed_on_a_stage(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), Pipeline([EventLog()]) as pipeline, pytest.raises(RuntimeError):
        pipeline.run(Breaks())
    (said,) = _errors(caplog)
    assert said.startswith("the audio source failed at 1.0 s of audio"), said
