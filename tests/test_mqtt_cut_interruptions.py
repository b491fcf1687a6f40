"""Interruptions around a cut at ``session_max_s``, from the analytics to a real mosquitto.

The customer talks 2 of every 3 s for ten minutes, so the session is cut at 600 s: an interruption
begun before the cut and decided or completed after it belongs to the session its onset falls in
(``docs/metrics.md``, Sessions), never to the one that began at the cut, and is counted once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from listener.analytics.replay import activity, frame_blocks
from listener.analytics.stage import ConversationAnalytics
from listener.config import parse_config
from listener.events import EndOfStream
from listener.outputs.mqtt import MqttStage
from listener.pipeline import Pipeline
from tests.mqtt_broker import BASE, Mosquitto, Recorder

TALK = [("customer", 3 * k + 0.5, 3 * k + 2.5) for k in range(198)]  # to 593.5 s
AFTER = [("rep", 621.0, 630.0), ("customer", 631.0, 640.0)]
END_S = 645.0


def _published(broker: Mosquitto, tmp_path: Path, segments: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    """Each message on ``event``, ``metrics`` and ``session``, its leaf as ``topic``, in order."""
    analytics = {"session_max_s": 600.0}
    config = parse_config(
        {"analytics": analytics, "service": {"state_dir": str(tmp_path / "state")}, "mqtt": broker.mqtt_config()}
    )
    with Recorder(broker) as rec:
        with Pipeline([ConversationAnalytics(config), MqttStage(config)]) as pipe:
            for block in frame_blocks(activity(segments, END_S)):
                pipe.feed(block)
            pipe.feed(EndOfStream(t_s=END_S))
        got = rec.wait_for(lambda ms: any(m.topic == f"{BASE}/status" and b"offline" in m.payload for m in ms))
    leaves = ("event", "metrics", "session")
    return [{"topic": leaf, **m.json()} for m in got if (leaf := m.topic.split("/")[-1]) in leaves]


def _sessions(messages: list[dict[str, Any]]) -> list[str]:
    return [m["session_id"] for m in messages if m["topic"] == "event" and m["type"] == "session_start"]


def _interruptions(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = ("interruption", "interruption_outcome")
    return [m for m in messages if m["topic"] == "event" and m["type"] in kinds and m["onset_ms"] >= _cut_ms(messages)]


def _cut_ms(messages: list[dict[str, Any]]) -> int:
    """10 s before the second session's start: the interruptions near the cut."""
    start = [m for m in messages if m["topic"] == "event" and m["type"] == "session_start"][1]
    return int(start["onset_ms"]) - 10_000


def _counts(messages: list[dict[str, Any]], session_id: str, key: str) -> tuple[list[int], int]:
    """The live (and final) metrics' ``key`` for the session, and its summary's."""
    live = [m[key] for m in messages if m["topic"] == "metrics" and m["session_id"] == session_id]
    (summary,) = [m[key] for m in messages if m["topic"] == "session" and m["session_id"] == session_id]
    return live, summary


def test_an_interruption_open_at_a_cut_has_its_outcome_under_its_own_session(broker: Mosquitto, tmp_path: Path) -> None:
    # the rep cuts in at 599 s: decided at 600 s, outcome open at the cut (600.5 s), known at 601.5 s
    segments = [*TALK, ("customer", 594.0, 600.9), ("rep", 599.0, 615.0), ("customer", 616.0, 620.0), *AFTER]
    messages = _published(broker, tmp_path, segments)
    first, second = _sessions(messages)
    cut_in = _interruptions(messages)
    assert [(m["type"], m["session_id"], m["by"], m["successful"]) for m in cut_in] == [
        ("interruption", first, "rep", None),
        ("interruption_outcome", first, "rep", True),
    ]
    assert cut_in[0]["onset_ms"] == cut_in[1]["onset_ms"]
    live, summary = _counts(messages, first, "interruptions_by_rep")
    assert live[-1] == summary == 1
    live, summary = _counts(messages, second, "interruptions_by_rep")
    assert set(live) == {summary} == {0}  # never counted in the session begun after its onset


def test_an_interruption_decided_after_a_cut_counts_in_no_session_begun_after_it(
    broker: Mosquitto, tmp_path: Path
) -> None:
    # the customer cuts in at 600.0 s, over the rep's floor, 0.5 s before the cut: decided at 601.0 s
    segments = [*TALK, ("rep", 594.0, 603.0), ("customer", 600.0, 620.0), *AFTER]
    messages = _published(broker, tmp_path, segments)
    first, second = _sessions(messages)
    cut_in = _interruptions(messages)
    assert [(m["type"], m["session_id"], m["by"]) for m in cut_in] == [
        ("interruption", first, "customer"),
        ("interruption_outcome", first, "customer"),
    ]
    # its own session's end and summary waited for it (docs/metrics.md, Sessions): counted there, once
    live, summary = _counts(messages, first, "interruptions_by_customer")
    assert live[-1] == summary == 1
    live, summary = _counts(messages, second, "interruptions_by_customer")
    assert set(live) == {summary} == {0}
