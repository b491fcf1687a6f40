"""listener/data/schemas/analysis.json, the JSON Schema of ``analyze --json``: valid, complete, and what real
reports follow."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from listener.analytics.report import AudioInfo, ReportCollector
from listener.analytics.summary import all_sessions
from listener.config import parse_config
from listener.events import Reported, SessionSummary
from listener.transcription.summary import CueFigures
from tests import synth
from tests.report_schema import SCHEMA, validate
from tests.test_analyze import analyze_json
from tests.test_analyze_report import SAMPLE

CONTRACT = ["schema", "audio", "segments", "events", "metrics", "sessions"]  # README.md, "analyze --json"


def kinds() -> dict[str, type[Reported]]:
    """Every event type a report's ``events`` can hold (a summary goes in ``sessions``)."""
    out: dict[str, type[Reported]] = {}
    todo: list[type[Reported]] = [Reported]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls is not Reported and cls.kind != SessionSummary.kind:  # by kind: slots=True makes a second class
            out[cls.kind] = cls
    return out


def reported_keys(cls: type[Reported]) -> set[str]:
    return {"type"} | {"t" if f.name == "onset_s" else f.name for f in dataclasses.fields(cls)}


def test_the_schema_is_valid_and_requires_the_contract() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["required"] == CONTRACT and SCHEMA["additionalProperties"] is False
    assert SCHEMA["properties"]["schema"] == {"const": "listener.analysis/1"}
    assert SCHEMA["properties"]["metrics"]["required"] == ["rep_talk_s", "customer_talk_s", "rep_share"]


def test_the_schema_lists_every_event_type_and_figure() -> None:
    defs = SCHEMA["$defs"]
    listed = {ref["$ref"].removeprefix("#/$defs/event_") for ref in defs["event"]["oneOf"]}
    assert listed == set(kinds())
    for kind, cls in kinds().items():
        event = defs[f"event_{kind}"]
        assert set(event["properties"]) == set(event["required"]) == reported_keys(cls), kind
        assert event["properties"]["type"] == {"const": kind}
    assert set(defs["session_summary"]["required"]) == reported_keys(SessionSummary)
    # metrics: the timeline's and the sessions' figures a report always has, and the cue figures of [asr]
    always = ReportCollector().report(AudioInfo(0.0, 4, 16000), all_sessions([], [], 0.0, parse_config({}).analytics))
    cues = {f.name for f in dataclasses.fields(CueFigures)} | {"cue_sessions"}
    metrics = always["metrics"]
    assert isinstance(metrics, dict) and set(SCHEMA["properties"]["metrics"]["properties"]) == set(metrics) | cues
    validate(always)


def test_real_reports_follow_the_schema(
    two_short_visits: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = synth.write_wav(tmp_path / "quiet.wav", np.random.default_rng(0).normal(0, 1e-3, (16000 * 5, 4)))
    for path in (SAMPLE, quiet, two_short_visits):
        report = analyze_json(path, capsys=capsys)
        validate(report)
    assert report["sessions"] == [] and report["metrics"]["sessions"] == 2


def test_a_report_that_breaks_the_contract_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """The schema is no blank cheque: a missing key, a string for a number, an unknown event all fail."""
    report = analyze_json(SAMPLE, capsys=capsys)
    assert isinstance(report, dict)
    broken = [
        {k: v for k, v in report.items() if k != "sessions"},
        report | {"metrics": report["metrics"] | {"rep_share": "69 %"}},
        report | {"events": [*report["events"], {"type": "sneeze", "t": 1.0, "decided_s": 1.0}]},
        report | {"sessions": [report["sessions"][0] | {"monologues": None}]},
    ]
    for bad in broken:
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)
