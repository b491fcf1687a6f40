"""Numbers only where JSON has them: no ``NaN`` or ``Infinity`` in an MQTT payload or ``analyze --json``.

Python's ``json`` writes a float that is NaN or infinite as ``NaN``/``Infinity``, which Home Assistant's and
Node-RED's parsers refuse (the whole message). A figure that may be undefined goes out as ``null``
(docs/integrations/mqtt.md: "``null`` means not defined"); any other is refused where it is written, naming it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jsonschema
import pytest

from listener.analytics.replay import replay
from listener.analytics.report import AudioInfo
from listener.analytics.summary import all_sessions
from listener.cli import main
from listener.config import Config
from listener.errors import NonFiniteNumberError
from listener.events import SessionSummary
from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.spool import encode
from listener.strict_json import dumps
from listener.transcription.summary import CueFigures
from tests import synth
from tests.report_schema import validate

CONFIG = Config()
END_S = 60.0
# the undefined figures of docs/integrations/mqtt.md's session table: null when there is nothing to take them over
UNDEFINED = ("response_gap_median_s", "response_gap_p10_s", "response_gap_p90_s", "patient_gap_fraction")


def strict(text: str | bytes) -> object:
    """Parsed as a strict JSON parser (Home Assistant's, Node-RED's) does: NaN and Infinity are no numbers."""

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


CASES = {
    "nobody spoke": [],
    "the rep only": [("rep", 1.0, 40.0)],
    "the customer only": [("customer", 1.0, 40.0)],
    "no response gap": [("customer", 1.0, 20.0), ("rep", 5.0, 8.0), ("customer", 21.0, 40.0)],
}


@pytest.mark.parametrize("segments", CASES.values(), ids=CASES.keys())
def test_figures_undefined_in_real_cases_go_out_as_null(segments: list[tuple[str, float, float]]) -> None:
    config = dataclasses.replace(CONFIG, analytics=dataclasses.replace(CONFIG.analytics, session_min_speech_s=0.0))
    c = replay(segments, END_S, config)
    whole = all_sessions(c.segments, c.events, END_S, config.analytics)
    report = strict(dumps(c.report(AudioInfo(END_S, 4, 16000), whole), "analyze --json"))
    validate(report)
    assert isinstance(report, dict) and isinstance(report["metrics"], dict)
    assert [report["metrics"][k] for k in UNDEFINED] == [None] * 4
    for summary in c.sessions:
        message = strict(encode(payloads.session(summary, 0, 1, 2) | {"seq": 1}))  # the spool stamps seq
        jsonschema.Draft7Validator(payloads.json_schema("session")).validate(message)
        assert isinstance(message, dict) and [message[k] for k in UNDEFINED] == [None] * 4
    assert c.sessions or not any(party == "customer" for party, _, _ in segments)


def test_analyze_json_of_a_one_party_recording_is_strict_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples, _ = synth.render([u for u in synth.DIALOGUE if u.party == "rep"], 16.0)
    assert main(["analyze", str(synth.write_wav(tmp_path / "rep.wav", samples)), "--json"]) == 0
    report = strict(capsys.readouterr().out)
    assert isinstance(report, dict) and report["metrics"]["rep_share"] == 1.0
    assert report["metrics"]["response_gap_median_s"] is None and report["metrics"]["rep_backchannels_per_min"] is None


def _summary(**figures: float | None) -> SessionSummary:
    c = replay([("customer", 1.0, 20.0), ("rep", 21.0, 40.0)], END_S, CONFIG)
    (summary,) = c.sessions
    return dataclasses.replace(summary, **figures)  # type: ignore[arg-type]


def test_an_undefined_figure_that_is_not_a_number_goes_out_as_null() -> None:
    # a median over response gaps of which one is NaN (np.percentile gives NaN), a rate over no talk (inf)
    summary = _summary(response_gap_median_s=math.nan, rep_backchannels_per_min=math.inf)
    message = strict(encode(payloads.session(summary, 0, 1, 2)))
    assert isinstance(message, dict)
    assert (message["response_gap_median_s"], message["rep_backchannels_per_min"]) == (None, None)
    record = summary.record()
    assert (record["response_gap_median_s"], record["rep_backchannels_per_min"]) == (None, None)
    counts = {f.name: 0 for f in dataclasses.fields(CueFigures) if f.type == "int"}
    cues = CueFigures(**counts, rep_fillers_per_min=math.nan, rep_wpm=math.inf, asr_skipped_s=0.0, asr_partial=False)
    assert (cues.record()["rep_fillers_per_min"], cues.record()["rep_wpm"]) == (None, None)
    figures = payloads.SessionFigures(session_id=summary.session_id, onset_s=0.0)
    metrics = strict(encode(payloads.metrics(figures, 1.0, math.nan, False, 0, 2, 0.0)))
    assert isinstance(metrics, dict) and metrics["rep_share_rolling"] is None


def test_a_figure_that_must_be_a_number_and_is_not_is_refused_naming_it() -> None:
    summary = _summary(rep_talk_s=math.inf)
    with pytest.raises(NonFiniteNumberError, match=r"listener.mqtt.session/1: rep_talk_s is inf, which JSON cannot"):
        encode(payloads.session(summary, 0, 1, 2))
    with pytest.raises(NonFiniteNumberError, match=r"^analyze --json: sessions\[0\].rep_talk_s is inf"):
        dumps({"sessions": [summary.record()]}, "analyze --json")
