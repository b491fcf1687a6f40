"""Hand-written activity timelines replayed through the analytics, for the definition tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from listener.analytics.replay import replay
from listener.analytics.report import ReportCollector
from listener.config import Config
from listener.events import (
    AudioDropped,
    Party,
    Reported,
)

REP, CUST = Party.REP, Party.CUSTOMER
CONFIG = Config()


def with_analytics(**changes: Any) -> Config:  # the keys of [analytics], each of its own type
    return dataclasses.replace(CONFIG, analytics=dataclasses.replace(CONFIG.analytics, **changes))


def run(
    segments: list[tuple[str, float, float]], seconds: float, config: Config = CONFIG, **kw: object
) -> ReportCollector:
    return replay(segments, seconds, config, **kw)  # type: ignore[arg-type]


def of(collector: ReportCollector, kind: type[Reported]) -> list:  # type: ignore[type-arg]
    return [e for e in collector.events if isinstance(e, kind)]


def raw_events(
    segments: list[tuple[str, float, float]],
    seconds: float,
    bounds: Sequence[int] | None = None,
    drops: Sequence[AudioDropped] = (),
    **kw: object,
) -> list[object]:
    """Every event the analytics emit, in order (the report keeps only final interruptions).

    ``bounds``: frames where the activity is cut into blocks; ``drops``: audio the device did not hear,
    each fed after the block its start falls in, as the pipeline delivers it (after its silent frames).
    """
    from listener.analytics.replay import activity, frame_blocks
    from listener.analytics.stage import ConversationAnalytics
    from listener.events import EndOfStream, TurnPredictions

    stage = ConversationAnalytics(CONFIG)
    out: list[object] = []
    model = kw.get("model")
    for block in frame_blocks(activity(segments, seconds), bounds=bounds):
        if model is not None:
            out += stage.process(TurnPredictions(0.0, 0.01, *model))  # type: ignore[misc]
        out += stage.process(block)
        for drop in drops:
            if block.start_s <= drop.start_s < block.end_s:
                out += stage.process(drop)
    out += stage.process(EndOfStream(seconds))
    return out
