"""shared/metrics.md read sentence by sentence: each threshold it names is a setting whose default is its number,
which docs/metrics.md gives too; and the rules whose edges no other file pins, pinned here exactly at the
threshold and one 10 ms frame past it.

The other edges live beside their rules (test_analytics_rules.py, test_analytics_pauses.py,
test_analytics_sessions.py, test_analytics_edges.py, test_analytics_timeline.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from listener.config import Config, parse_config
from listener.events import (
    AudioDropped,
    FloorChange,
    Interruption,
    LongSilence,
    ResponseGap,
    SessionEnded,
    SessionStarted,
    SessionSummary,
)
from tests.analytics_timelines import CUST, REP, of, raw_events, run, with_analytics

METRICS_MD = Path(__file__).resolve().parents[2] / "shared" / "metrics.md"
DOCS_MD = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
# a number beside a setting, either way round: "1.0 s (`floor_take_s`)", "at most 1.0 s, `backchannel_max_s`",
# "`model_interruption_prob` (0.9)", "4 h (`session_max_s`, 14400 s)"
BESIDE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s|%)?,?\s*\(?`(?:\w+\.)?(\w+)`|`(?:\w+\.)?(\w+)`\s*[,(]\s*(\d+(?:\.\d+)?)")

# (table, key, the sentence of metrics.md that names its number): every threshold the definition names
THRESHOLDS = [
    ("activity", "frame_ms", "per party, 10 ms frames in which that party produces speech"),
    ("activity", "bridge_gap_s", "Activity gaps shorter than 0.2 s inside one party's speech are bridged"),
    ("analytics", "rolling_window_s", "over a rolling window (default 120 s)"),
    ("analytics", "floor_take_s", "A party takes the floor when it speaks for ≥ 1.0 s"),
    ("analytics", "backchannel_max_s", "a short vocalisation (≤ 1.0 s;"),
    ("analytics", "backchannel_proximity_s", "during or within 1.0 s of the floor holder's speech"),
    ("analytics", "interruption_min_s", "X keeps speaking ≥ 1.0 s"),
    ("analytics", "interruption_yield_s", "if Y falls silent within 2.0 s of X's onset"),
    ("analytics", "premature_hold_prob", "hold probability ≥ 0.5 at the rep's onset"),
    ("analytics", "premature_resume_s", "the customer resumes speaking within 1.0 s of the rep's onset"),
    ("analytics", "patient_gap_s", "a gap ≥ 0.6 s after a customer's turn is patient"),
    ("analytics", "stacked_question_s", "a second rep question within 3.0 s with no customer speech between"),
    ("analytics", "long_silence_s", "nobody speaks for ≥ 3.0 s inside a session"),
    ("analytics", "dominance_on_share", "rep share ≥ 0.65"),
    ("analytics", "dominance_min_speech_s", "with ≥ 30 s of speech in the window"),
    ("analytics", "dominance_off_share", "when rep share drops below 0.60"),
    ("analytics", "monologue_dominating_s", "A rep monologue longer than 60 s is dominating too"),
    ("analytics", "echo_min_words", "repeats ≥ 2 content words from the customer's last floor"),
    ("analytics", "session_gap_s", "customer-side speech follows ≥ 30 s without any customer speech"),
    ("analytics", "session_gap_s", "ends after 30 s without customer speech"),
    ("analytics", "session_min_speech_s", "Sessions shorter than 20 s of total speech publish no summary"),
]


def _words(text: str) -> str:
    return " ".join(text.split())  # metrics.md wraps its sentences across lines


@pytest.mark.parametrize(("table", "key", "sentence"), THRESHOLDS, ids=[f"{t}.{k}" for t, k, _ in THRESHOLDS])
def test_every_threshold_metrics_md_names_is_a_setting_whose_default_is_its_number(
    table: str, key: str, sentence: str
) -> None:
    """ "Every threshold named here is a configuration default, not a constant": the sentence is metrics.md's, its
    number the key's default, and the key one of the config's, read from a file like any other."""
    if not METRICS_MD.is_file():
        raise FileNotFoundError(f"{METRICS_MD} is missing: the shared folder must sit beside the checkout")
    assert _words(sentence) in _words(METRICS_MD.read_text(encoding="utf-8")), sentence
    (stated,) = (float(n) for n in re.findall(r"\d+(?:\.\d+)?", sentence))
    default = getattr(getattr(Config(), table), key)
    assert default == stated, f"[{table}] {key} = {default}, metrics.md says {stated}"
    assert getattr(getattr(parse_config({table: {key: default}}), table), key) == default


def test_docs_metrics_md_names_each_threshold_and_gives_the_number_beside_a_setting_as_its_default() -> None:
    """docs/metrics.md restates the definition "in its own words": it names each of the thresholds above by its key,
    and wherever it writes a number beside a setting of [activity] or [analytics], that number is the default."""
    config = Config()
    defaults = {f.name: getattr(t, f.name) for t in (config.activity, config.analytics) for f in dataclasses.fields(t)}
    text = _words(DOCS_MD.read_text(encoding="utf-8"))
    assert {key for _, key, _ in THRESHOLDS} <= set(re.findall(r"`(?:\w+\.)?(\w+)`", text))
    beside = [(m[2] or m[3], float(m[1] or m[4])) for m in BESIDE.finditer(text)]
    stated = [(key, number) for key, number in beside if key in defaults]
    assert len(stated) >= 25, stated  # the page gives its thresholds with their numbers (28 on 2026-12-06)
    assert [(key, number, defaults[key]) for key, number in stated if number != defaults[key]] == []


@pytest.mark.parametrize(("gap_s", "patient"), [(0.59, False), (0.6, True)])
def test_a_response_gap_of_exactly_the_patient_gap_is_patient_and_one_frame_shorter_is_not(
    gap_s: float, patient: bool
) -> None:
    """ "a gap ≥ 0.6 s after a customer's turn is patient": the rep answering 0.6 s after the customer's last word
    was patient, 0.59 s after was not, in the event and in the session's fraction and count."""
    c = run([("customer", 0.0, 12.0), ("rep", 12.0 + gap_s, 25.0)], 60.0)
    assert [(g.gap_s, g.patient) for g in of(c, ResponseGap)] == [(pytest.approx(gap_s), patient)]
    (s,) = c.sessions
    assert (s.patient_gap_fraction, s.patient_gaps) == ((1.0, 1) if patient else (0.0, 0))


@pytest.mark.parametrize(("rep_end_s", "summaries"), [(20.49, 0), (20.5, 1)])
def test_a_session_of_exactly_the_minimum_speech_is_summarised_and_one_frame_less_is_not(
    rep_end_s: float, summaries: int
) -> None:
    """ "Sessions shorter than 20 s of total speech publish no summary": the customer's 10.0 s and the rep's 10.0 s
    make 20 s and a summary; the rep's 9.99 s make 19.99 s and none, though the session began and ended."""
    c = run([("customer", 0.0, 10.0), ("rep", 10.5, rep_end_s)], 60.0)
    assert len(of(c, SessionStarted)) == len(of(c, SessionEnded)) == 1
    assert len(c.sessions) == summaries


@pytest.mark.parametrize(("holder_end_s", "successful"), [(5.0, True), (5.01, False)])
def test_the_yield_limit_holds_where_the_floor_changed_before_the_interruption_was_decided(
    holder_end_s: float, successful: bool
) -> None:
    """ "Successful if Y falls silent within 2.0 s of X's onset and X takes the floor", with interruption_min_s 2.5
    (a setting the config takes): the rep, from 3.0 s over the customer, has the floor 0.2 s after the customer's
    last word, before its 2.5 s decide the interruption at 5.5 s. The customer stopping at 5.0 s fell silent
    within 2.0 s, at 5.01 s did not."""
    config = with_analytics(interruption_min_s=2.5)
    c = run([("customer", 0.0, holder_end_s), ("rep", 3.0, 9.0)], 12.0, config)
    assert [(i.by, i.onset_s, i.decided_s, i.successful) for i in of(c, Interruption)] == [
        (REP, 3.0, pytest.approx(5.5), successful)
    ]
    assert [(f.by, f.onset_s) for f in of(c, FloorChange)] == [(CUST, 0.0), (REP, 3.0)]


@pytest.mark.parametrize(("rep_s", "long"), [(13.0, []), (13.01, [(10.0, 3.0)])])
def test_a_long_silence_needs_three_seconds_heard_not_three_seconds_of_clock(
    rep_s: float, long: list[tuple[float, float]]
) -> None:
    """ "nobody speaks for ≥ 3.0 s", and a silence the device did not hear is no known one (docs/metrics.md): 3.0 s
    without speech holding a 10 ms overflow are 2.99 s heard, no long silence; 3.01 s with it are 3.0 s heard."""
    talk = [("customer", 0.0, 10.0), ("rep", rep_s, 20.0), ("customer", 20.5, 30.0)]
    blip = AudioDropped(start_s=11.0, duration_s=0.01, reason="overflow")
    out = raw_events(talk, 40.0, bounds=[1000, 1200], drops=[blip])
    assert [(e.onset_s, e.duration_s) for e in out if isinstance(e, LongSilence)] == long
    (summary,) = [e for e in out if isinstance(e, SessionSummary)]
    assert summary.long_silences == len(long)


SCHEMAS = Path(__file__).resolve().parents[1] / "listener" / "data" / "schemas"
README = Path(__file__).resolve().parents[1] / "README.md"
MQTT_MD = Path(__file__).resolve().parents[1] / "docs" / "integrations" / "mqtt.md"
# a figure of the session summary and the settings of metrics.md's definition its description restates, each named
# with its default: "within 1.0 s of the floor holder's speech" left out, a rep "mm" in the customer's long silence
# read as counted
NAMED = {
    "floor_changes": ("floor_take_s", "session_gap_s"),
    "interruptions_by_rep": ("interruption_min_s",),
    "successful_interruptions_by_rep": ("interruption_yield_s",),
    "backchannels_by_rep": ("backchannel_max_s", "backchannel_proximity_s"),
    "patient_gaps": ("patient_gap_s",),
    "patient_gap_fraction": ("patient_gap_s",),
    "long_silences": ("long_silence_s",),
    "stacked_questions": ("stacked_question_s",),
}


def _descriptions() -> dict[str, str]:
    return {k: v["description"] for k, v in _schema("session")["properties"].items() if "description" in v}


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    return schema


@pytest.mark.parametrize(("field", "keys"), NAMED.items(), ids=list(NAMED))
def test_a_summary_figures_description_names_every_threshold_of_its_definition(field: str, keys: tuple[str]) -> None:
    """The session message's description of a figure is what a dashboard's reader learns the rule from: each
    threshold of metrics.md's definition is in it, as `analytics.<key> (<default>)` or `<key>, <default>`."""
    text = _descriptions()[field]
    for key in keys:
        default = getattr(Config().analytics, key)
        assert re.search(rf"analytics\.{key}(?: \(|, ){default:g}(?:\.0)? s", text), (key, text)


def test_successful_interruptions_say_what_the_yield_limit_counts_from() -> None:
    """ "Successful if Y falls silent within 2.0 s of X's onset": from the interrupter's onset, not its decision."""
    assert "of the rep's onset" in _descriptions()["successful_interruptions_by_rep"]


def test_the_mqtt_guide_and_the_reports_schema_give_the_session_schemas_descriptions() -> None:
    """docs/integrations/mqtt.md says its table of the summary's fields is "the same text" as session.json's, and the
    report's summaries are the same SessionSummary: a definition restated in one is restated in all three."""
    described = _descriptions()
    table = MQTT_MD.read_text(encoding="utf-8").split("### Session summary fields", 1)[1].split("\n### ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| (.*) \|$", table, flags=re.MULTILINE))
    assert rows == {k: described[k] for k in rows} and set(NAMED) <= set(rows)
    in_report = _schema("analysis")["$defs"]["session_summary"]["properties"]
    shared = [k for k, v in in_report.items() if k in described and "description" in v]
    assert len(shared) >= 30 and {k: in_report[k]["description"] for k in shared} == {k: described[k] for k in shared}
    totals = _schema("analysis")["properties"]["metrics"]["properties"]  # the same figures over all the sessions
    assert {k: totals[k]["description"] for k in NAMED} == {k: described[k] for k in NAMED}


def test_every_restatement_of_dominance_gives_the_speech_the_window_needs() -> None:
    """ "rep share ≥ 0.65 with ≥ 30 s of speech in the window": where README, the reps' card and the payloads restate
    the rule, the 30 s are there, so two seconds of talk by the rep alone do not read as amber."""
    readme = _words(README.read_text(encoding="utf-8")).split('"Dominating" is the analytics\' decision', 1)[1]
    amber = [
        r for r in (DOCS_MD.parent / "for-reps.md").read_text(encoding="utf-8").splitlines() if "look: dominating" in r
    ]
    restated = {
        "README.md": readme.split("docs/metrics.md", 1)[0],
        "for-reps.md": amber[0],
        "session.json": _descriptions()["dominance_s"],
    }
    assert {name: "30 s" in text for name, text in restated.items()} == dict.fromkeys(restated, True), restated
