"""The turn model in the pipeline: activity, turn predictions, and the pauses ``analyze --json`` lists."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from listener.analytics.report import ReportCollector
from listener.audio.wav import WavSource
from listener.cli import main
from listener.config import geometry, parse_config
from listener.events import (
    ActivityFrames,
    AudioBlock,
    AudioDropped,
    EndOfStream,
    Party,
    SpeechSegment,
    TurnPredictions,
)
from listener.pipeline import EventLog, Pipeline
from listener.service.build import analysis_stages
from listener.turns.onnx_model import OnnxTurnModel


def test_pipeline_emits_activity_and_turn_predictions(dialogue_4ch: tuple[Path, list[dict[str, object]]]) -> None:
    config = parse_config({})
    geo = geometry(config)
    keep = EventLog()
    source = WavSource(dialogue_4ch[0], geo, block_ms=100)
    stages = analysis_stages(config, geo)
    assert isinstance(stages[1], OnnxTurnModel)
    with source, Pipeline([*stages, keep, ReportCollector()]) as pipe:
        seconds = pipe.run(source)
    acts = keep.of(ActivityFrames)
    preds = keep.of(TurnPredictions)
    assert sum(a.n_frames for a in acts) == round(seconds / 0.01)
    assert [(a.start_s, a.n_frames) for a in acts] == [(p.start_s, p.n_frames) for p in preds]
    # each block's predictions come before its frames, so the analytics read even the first block with them
    paired = [e for e in keep.events if isinstance(e, ActivityFrames | TurnPredictions)]
    assert [type(e) for e in paired] == [TurnPredictions, ActivityFrames] * len(acts)
    for a, b in itertools.pairwise(acts):
        assert b.start_s == pytest.approx(a.end_s)
    p_hold = np.concatenate([p.p_hold for p in preds])
    p_bc = np.concatenate([p.p_backchannel for p in preds])
    assert np.all((p_hold >= 0) & (p_hold <= 1)) and np.all((p_bc >= 0) & (p_bc <= 1))
    assert np.concatenate([a.rep_active for a in acts]).mean() > 0.2


def test_analyze_lists_every_pause_with_the_model_p_shift(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(dialogue_4ch[0]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    pauses = [e for e in report["events"] if e["type"] == "pause"]
    segments = report["segments"]
    assert pauses, report["events"]
    for p in pauses:
        assert set(p) == {"type", "t", "by", "decided_s", "p_shift"}
        assert 0.0 <= p["p_shift"] <= 1.0 and p["by"] in ("rep", "customer")
        assert p["decided_s"] >= p["t"] + 0.25 - 1e-6
        assert not any(s["start"] < p["t"] + 0.25 and s["end"] > p["t"] + 0.001 for s in segments), p
        before = [s for s in segments if s["end"] <= p["t"] + 0.001]
        assert before and max(before, key=lambda s: s["end"])["party"] == p["by"]
    # every clear silence after one party's speech is listed
    for s in segments:
        later = [x for x in segments if x["start"] >= s["end"]]
        covered = any(x is not s and x["start"] < s["end"] <= x["end"] for x in segments)
        if later and not covered and min(x["start"] for x in later) - s["end"] >= 0.3:
            assert any(abs(p["t"] - s["end"]) < 0.015 for p in pauses), (s, pauses)
    # the shift probability is the model's, read 0.2 s into the silence
    config = parse_config({})
    keep = EventLog()
    source = WavSource(dialogue_4ch[0], geometry(config), block_ms=1000)
    with source, Pipeline([*analysis_stages(config, geometry(config)), keep]) as pipe:
        pipe.run(source)
    preds = keep.of(TurnPredictions)
    p_hold = np.concatenate([e.p_hold for e in preds])
    for p in pauses:
        assert p["p_shift"] == pytest.approx(1.0 - p_hold[round((p["t"] + 0.2) / 0.01)], abs=1e-3)
    assert len({round(p["p_shift"], 3) for p in pauses}) > 1 or pauses[0]["p_shift"] != 0.5


def test_speech_after_dropped_audio_is_still_heard(dialogue_4ch: tuple[Path, list[dict[str, object]]]) -> None:
    """Audio that never arrived (a privacy pause) must not drag the model's noise floor down."""
    config = parse_config({})
    keep = EventLog()
    source = WavSource(dialogue_4ch[0], geometry(config), block_ms=100)
    with source, Pipeline([*analysis_stages(config, geometry(config)), keep]) as pipe:
        for event in source.events():
            if isinstance(event, AudioBlock) and 4.0 <= event.start_s < 9.0:
                pipe.feed(AudioDropped(event.start_s, event.duration_s, "paused"))
            else:
                pipe.feed(event)
        pipe.feed(EndOfStream(source.duration_s))
    segments = keep.of(SpeechSegment)
    assert not [s for s in segments if s.end_s > 4.1 and s.start_s < 9.0]
    assert any(s.party is Party.CUSTOMER and s.start_s > 11.0 for s in segments)
