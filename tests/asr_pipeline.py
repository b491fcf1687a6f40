"""The real transcription stage in the real pipeline, as the vosk tests run it: a config, a probe, a timed stage."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from listener.audio.wav import WavSource
from listener.config import Config, geometry, parse_config
from listener.events import (
    AudioBlock,
    EndOfStream,
    Event,
    Party,
    WordsRecognized,
)
from listener.pipeline import Pipeline, Stage
from listener.service.build import analysis_stages
from listener.transcription.stage import TranscriptionStage

SESSION_GAP_S = 5.0


def asr_config(model: Path, analytics: Mapping[str, object] | None = None, **asr: object) -> Config:
    """The recogniser of ``model`` on, ``asr`` its other settings; [analytics] ``analytics`` (by default a
    session gap of ``SESSION_GAP_S``)."""
    if analytics is None:
        analytics = {"session_gap_s": SESSION_GAP_S}
    return parse_config({"asr": {"enabled": True, "model_path": str(model), **asr}, "analytics": dict(analytics)})


@dataclass
class Probe(Stage):
    """Records what comes out of the pipeline and what the transcription stage holds meanwhile."""

    stage: TranscriptionStage | None = None
    events: list[Event] = field(default_factory=list)
    holding: list[tuple[float, bool]] = field(default_factory=list)

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, AudioBlock | EndOfStream):
            t_s = event.end_s if isinstance(event, AudioBlock) else event.t_s
            self.holding.append((t_s, self.stage is not None and self.stage.detector.holding))
        else:
            self.events.append(event)
        return ()


class TimedTranscription(TranscriptionStage):
    """The real stage, with the wall time of each call on an audio block recorded.

    Also whether it holds words as each customer utterance comes out of it: the stage is
    asked for its next event only after that, so this is deterministic however far the
    recogniser lags (flat out, it may return every word at the session's end).
    """

    block_s: list[float]
    held_with_customer_words: list[bool]

    def process(self, event: Event) -> Iterable[Event]:
        t0 = time.perf_counter()
        out: list[Event] = []
        for emitted in super().process(event):
            if isinstance(emitted, WordsRecognized) and emitted.party is Party.CUSTOMER:
                self.held_with_customer_words.append(self.detector.holding)
            out.append(emitted)
        if isinstance(event, AudioBlock):
            self.block_s.append(time.perf_counter() - t0)
        return out


def run_pipeline(config: Config, wav: Path, block_ms: int = 1000) -> tuple[Probe, TimedTranscription]:
    geo = geometry(config)
    stages = analysis_stages(config, geo)
    index = next(i for i, s in enumerate(stages) if isinstance(s, TranscriptionStage))
    timed = TimedTranscription(config, geo)
    timed.block_s = []
    timed.held_with_customer_words = []
    stages[index] = timed
    probe = Probe(timed)
    with WavSource(wav, geo, block_ms=block_ms) as source, Pipeline([*stages, probe]) as pipeline:
        pipeline.run(source)
    return probe, timed
