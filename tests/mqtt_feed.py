"""Feeding the MQTT stage as the analytics would: a scripted session, audio blocks between its events."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from listener.analytics.summary import Window, summarize
from listener.config import Config, parse_config
from listener.events import (
    AudioBlock,
    Backchannel,
    DominanceChanged,
    Event,
    Interruption,
    Party,
    RollingShare,
    SessionEnded,
    SessionStarted,
    SpeechSegment,
    TalkTotals,
)
from listener.outputs.leds import event_time_s
from listener.outputs.mqtt import MqttStage, payloads, wallclock
from listener.outputs.mqtt.stage import SPOOL_FILE
from tests.mqtt_broker import BASE, Mosquitto, Received, validate

SID = "a1b2c3d4e5f60718"
MONOTONIC_START_MS = 5_000_000  # the monotonic clock counts from boot: any value, only its changes count


class Clocks:
    """The clocks the MQTT stage reads, set by a test: time passing moves the wall clock
    (``payloads.now_ms``) and the monotonic clock alike; NTP stepping the wall clock moves it alone."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, wall_ms: int) -> None:
        self.start_ms = wall_ms
        self.elapsed_ms = 0
        self.stepped_ms = 0
        monkeypatch.setattr(payloads, "now_ms", lambda: self.start_ms + self.elapsed_ms + self.stepped_ms)
        monkeypatch.setattr(wallclock, "monotonic_ms", lambda: MONOTONIC_START_MS + self.elapsed_ms)

    def at(self, elapsed_ms: int, stepped_ms: int | None = None) -> None:
        """``elapsed_ms`` since the test began; the wall clock stepped by ``stepped_ms`` in all (default: as it was)."""
        self.elapsed_ms = elapsed_ms
        if stepped_ms is not None:
            self.stepped_ms = stepped_ms


def spool_depth(state_dir: Path) -> int:
    """How many messages wait in the spool under ``state_dir``, read from its file as a restart would."""
    with sqlite3.connect(state_dir / SPOOL_FILE) as db:
        count = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert isinstance(count, int)
    return count


def numbered(n: int) -> dict[str, object]:
    """An event message for the spool tests, told apart by its ``n`` (read back from the payload) and its ts."""
    return {"schema": "listener.mqtt.event/1", "ts": 1000 + n, "seq": 0, "n": n}


def stage_on(broker: Mosquitto, tmp_path: Path, **mqtt: object) -> MqttStage:
    """A stage as a fast replay has it: outages counted on the audio clock."""
    return MqttStage(_config(broker, tmp_path, **mqtt))


def live_stage_on(broker: Mosquitto, tmp_path: Path, **mqtt: object) -> MqttStage:
    """A stage as the live device has it: outages counted on the wall clock."""
    return MqttStage(_config(broker, tmp_path, **mqtt), follow_wall_clock=True)


def _config(broker: Mosquitto, tmp_path: Path, **mqtt: object) -> Config:
    return parse_config(
        {
            "mqtt": broker.mqtt_config(**mqtt),
            "service": {"state_dir": str(tmp_path / "state")},
            "analytics": {"session_min_speech_s": 5.0},
        }
    )


def block(start_s: float, seconds: float = 1.0) -> AudioBlock:
    return AudioBlock(start_s=start_s, sample_rate_hz=16000, samples=np.zeros((int(16000 * seconds), 4), np.float32))


def conversation(sid: str = SID, t0: float = 0.0) -> list[Event]:
    """A 40 s session as the analytics stages announce it, summary included."""
    events: list[Event] = [
        SessionStarted(session_id=sid, onset_s=t0 + 1.0, decided_s=t0 + 1.5),
        SpeechSegment(party=Party.CUSTOMER, start_s=t0 + 1.0, end_s=t0 + 8.0, decided_s=t0 + 8.2),
        TalkTotals(t_s=t0 + 8.2, rep_talk_s=0.0, customer_talk_s=7.0),
        Backchannel(by=Party.REP, onset_s=t0 + 5.0, decided_s=t0 + 6.5, duration_s=0.4),
        Interruption(by=Party.REP, onset_s=t0 + 7.5, decided_s=t0 + 8.5, successful=None),
        Interruption(by=Party.REP, onset_s=t0 + 7.5, decided_s=t0 + 9.5, successful=True),
        rolling(t0 + 9.0, rep_s=1.5, customer_s=7.0),  # the rep's turn still going on counts
        rolling(t0 + 20.0, rep_s=12.5, customer_s=7.0),
        SpeechSegment(party=Party.REP, start_s=t0 + 7.5, end_s=t0 + 30.0, decided_s=t0 + 30.2),
        TalkTotals(t_s=t0 + 30.2, rep_talk_s=22.5, customer_talk_s=7.0),
        rolling(t0 + 30.2, rep_s=22.5, customer_s=7.0),
        DominanceChanged(dominating=True, onset_s=t0 + 30.2, decided_s=t0 + 30.2, rep_share=0.76, reason="share"),
        SessionEnded(session_id=sid, onset_s=t0 + 1.0, decided_s=t0 + 40.0, end_s=t0 + 38.0),
    ]
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    analytics = parse_config({}).analytics
    return [*events, summarize(sid, Window(t0 + 1.0, t0 + 38.0), t0 + 40.0, segments, events, analytics)]


def rolling(t_s: float, rep_s: float, customer_s: float) -> RollingShare:
    """The analytics' running talk times of a session begun at most 120 s before ``t_s``."""
    share = rep_s / (rep_s + customer_s)
    return RollingShare(t_s, 120.0, rep_s, customer_s, share, rep_s, customer_s)


def feed(stage: MqttStage, events: list[Event], t0: float = 0.0, seconds: int = 40) -> list[Event]:
    """Interleave ``events`` with a second of audio each, in audio-time order, as the pipeline would."""
    out: list[Event] = []
    pending = list(events)  # already in the order the analytics decide them
    for second in range(seconds):
        t = t0 + second
        while pending and (event_time_s(pending[0]) or 0.0) <= t + 1.0:
            out += stage.process(pending.pop(0))
        out += stage.process(block(t))
    for event in pending:
        out += stage.process(event)
    return out


def feed_live(
    stage: MqttStage,
    events: list[Event],
    before_block: Callable[[int], None],
    after_block: Callable[[int], None] = lambda second: None,
    seconds: int = 40,
) -> None:
    """As a live pipeline: each second's events decided by its start, then ``before_block(second)`` (the
    test's clocks moved to the block's capture), the block, ``after_block(second)`` (a stall), in turn."""
    pending = list(events)
    for second in range(seconds):
        while pending and (event_time_s(pending[0]) or 0.0) <= second:
            stage.process(pending.pop(0))
        before_block(second)
        stage.process(block(float(second)))
        after_block(second)
    for event in pending:
        stage.process(event)


def json_on(messages: list[Received], leaf: str) -> list[dict[str, object]]:
    return [validate(m.topic, m.payload) for m in messages if m.topic == f"{BASE}/{leaf}"]


def stops(messages: list[Received]) -> int:
    """How many times the device has said ``offline`` (each run's clean stop)."""
    return [s["state"] for s in json_on(messages, "status")].count("offline")


def connected(messages: list[Received]) -> bool:
    """The stage's own "online" has arrived: it is connected (its first ``state`` waits for the source)."""
    return "online" in [s["state"] for s in json_on(messages, "status")]
