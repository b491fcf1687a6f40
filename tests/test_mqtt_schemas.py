"""The shipped JSON Schemas and AsyncAPI document, and the payload builders against them."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import cast

import jinja2
import jsonschema
import pytest
import yaml

from listener.analytics.summary import Window, summarize
from listener.config import parse_config
from listener.events import (
    Backchannel,
    DeviceMode,
    DominanceChanged,
    Interruption,
    Party,
    Pause,
    ResponseGap,
    SessionEnded,
    SessionStarted,
    SessionSummary,
    SpeechSegment,
)
from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.discovery import discovery_payload
from listener.outputs.mqtt.spool import encode
from listener.service.doctor.mqtt import PROBE_LEAF, PROBE_PAYLOAD
from listener.transcription.summary import CueFigures, CueTally
from tests.ha_entity import HaSensor, This
from tests.mqtt_broker import assert_anonymous, validate

DATA = Path(str(resources.files("listener") / "data"))
SID = "5e1f0c2a9b8d4e37"


@pytest.mark.parametrize("topic", payloads.TOPICS)
def test_schemas_are_valid_draft7_and_closed(topic: str) -> None:
    schema = payloads.json_schema(topic)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["schema"] == {"const": payloads.schema_name(topic)}
    assert {"schema", "ts", "seq"} <= set(schema["required"])


def test_asyncapi_document_lists_every_topic_with_its_schema() -> None:
    doc = yaml.safe_load((DATA / "asyncapi.yaml").read_text())
    assert doc["asyncapi"].startswith("3.")
    channels = doc["channels"]
    for topic in payloads.TOPICS:
        assert channels[topic]["address"] == f"{{topic_prefix}}/{{device_id}}/{topic}"
        message = doc["components"]["messages"][topic]
        ref = message["payload"]["schema"]["$ref"]
        assert (DATA / ref).resolve() == (DATA / "schemas" / f"{topic}.json").resolve()
        for example in message.get("examples", []):
            jsonschema.Draft7Validator(payloads.json_schema(topic)).validate(example["payload"])
    sent = {op["channel"]["$ref"].rsplit("/", 1)[-1] for op in doc["operations"].values() if op["action"] == "send"}
    assert set(payloads.TOPICS) <= sent
    retained = {
        op["channel"]["$ref"].rsplit("/", 1)[-1]
        for op in doc["operations"].values()
        if op["bindings"]["mqtt"].get("retain")
    }
    assert retained == {"status", "info", "state", "homeassistantDiscovery"}


def test_every_session_field_is_described_in_the_schema_and_the_guide() -> None:
    guide = (Path(__file__).parent.parent / "docs" / "integrations" / "mqtt.md").read_text()
    for name, field in payloads.json_schema("session")["properties"].items():
        if name != "schema":
            assert field.get("description"), name
            assert f"`{name}`" in guide, name
    assert "shared/metrics.md" not in guide  # not in this repository: the guide links docs/metrics.md


def test_seq_is_described_alike_everywhere_as_an_order_not_a_loss_count() -> None:
    """seq has gaps with nothing lost (test_mqtt_run.py's broker outage measures them); the schemas, the AsyncAPI
    document and the guides once promised "one up per message" and gaps worth spotting."""
    (seq,) = {payloads.json_schema(topic)["properties"]["seq"]["description"] for topic in payloads.TOPICS}
    asyncapi = " ".join(yaml.safe_load((DATA / "asyncapi.yaml").read_text())["info"]["description"].split())
    guides = " ".join(" ".join((DOCS / name).read_text().split()) for name in ("mqtt.md", "telegraf-grafana.md"))
    for text in (seq, asyncapi):
        assert "every connection attempt takes two" in text and "not to detect loss" in text, text
    assert "Each connection attempt takes two" in guides and "it does not detect loss" in guides
    for text in (seq, asyncapi, guides):
        assert "one up per message" not in text and "spotting gaps" not in text


def test_asyncapi_describes_the_doctor_probe_as_doctor_sends_it() -> None:
    doc = yaml.safe_load((DATA / "asyncapi.yaml").read_text())
    assert doc["channels"]["doctor"]["address"] == f"{{topic_prefix}}/{{device_id}}/{PROBE_LEAF}"
    probe = doc["components"]["messages"]["doctorProbe"]["payload"]
    jsonschema.Draft7Validator(probe).validate(json.loads(PROBE_PAYLOAD))


def _check(topic: str, message: dict[str, object]) -> None:
    message["seq"] = 7
    validate(f"listener/x/{topic}", encode(message))


def test_event_payloads_follow_the_schema() -> None:
    ts = payloads.now_ms()
    events = [
        SessionStarted(session_id=SID, onset_s=1.0, decided_s=1.5),
        Interruption(by=Party.REP, onset_s=3.0, decided_s=4.0, successful=None),
        Backchannel(by=Party.CUSTOMER, onset_s=5.0, decided_s=6.2, duration_s=0.4),
        DominanceChanged(dominating=True, onset_s=7.0, decided_s=7.0, rep_share=0.71, reason="share"),
        DominanceChanged(dominating=False, onset_s=9.0, decided_s=9.0, rep_share=0.55, reason="share"),
        SessionEnded(session_id=SID, onset_s=1.0, decided_s=40.0, end_s=10.0),
    ]
    kinds = []
    for ev in events:
        message = payloads.event(ev, ts, ts - 500, SID)
        assert message is not None
        _check("event", message)
        kinds.append(message["type"])
    assert kinds == ["session_start", "interruption", "backchannel", "dominance_on", "dominance_off", "session_end"]
    outcome = payloads.event(events[1], ts, ts - 500, SID, outcome=True)
    assert outcome is not None and outcome["type"] == "interruption_outcome"
    assert payloads.event(Pause(by=Party.REP, onset_s=1.0, decided_s=1.2, p_shift=0.3), ts, ts, SID) is None


def test_event_schema_rejects_incomplete_events() -> None:
    validator = jsonschema.Draft7Validator(payloads.json_schema("event"))
    base = {"schema": "listener.mqtt.event/1", "ts": 1, "seq": 1, "onset_ms": 1}
    assert not validator.is_valid({**base, "type": "interruption", "session_id": None})
    assert not validator.is_valid({**base, "type": "session_start", "session_id": None})
    assert not validator.is_valid({**base, "type": "said", "session_id": None})
    assert validator.is_valid({**base, "type": "backchannel", "session_id": None, "by": "rep", "duration_s": 0.3})


def _summary() -> SessionSummary:
    segments = [
        SpeechSegment(Party.CUSTOMER, 1.0, 9.0, 9.2),
        SpeechSegment(Party.REP, 8.0, 30.0, 30.2),
        SpeechSegment(Party.CUSTOMER, 31.0, 36.0, 36.2),
    ]
    events = [Interruption(by=Party.REP, onset_s=8.0, decided_s=9.0, successful=True)]
    return summarize(SID, Window(1.0, 36.0), 66.0, segments, events, parse_config({}).analytics)


def test_what_a_payload_always_carries_is_required() -> None:
    """Every key but an event's type-specific ones is always sent, so the schema requires it: a consumer may rely
    on `required`. session's cues (null without transcription, on every summary) was left out."""
    ts = payloads.now_ms()
    info = payloads.DeviceInfo(
        "0.1.0", "0123456789ab", "2.2.0", "5", "respeaker-4mic", "doa", "0123456789ab", None, "abcdef012345", 1.0
    )
    sent = {
        "session": [
            payloads.session(_summary(), ts, ts, ts),
            payloads.session(_summary(), ts, ts, ts, CueTally().metrics()),
        ],
        "metrics": [payloads.metrics(payloads.SessionFigures(SID, 0.0), 10.0, None, False, 0, ts, 0.0)],
        "state": [payloads.state(DeviceMode.LISTENING, False, None, 0, ts, [])],
        "status": [payloads.status("online", ts)],
        "info": [payloads.info(info, payloads.SpoolFigures(0, 0, 0, "ok"), True, ts)],
    }
    for topic, messages in sent.items():
        schema = payloads.json_schema(topic)
        for message in messages:
            assert set(schema["required"]) == set(schema["properties"]) == set(message) | {"seq"}, topic
    cues = payloads.json_schema("session")["properties"]["cues"]
    assert set(cues["required"]) == set(cues["properties"]) == set(CueTally().metrics().record())


def test_metrics_session_state_info_status_follow_their_schemas() -> None:
    ts = payloads.now_ms()
    figures = payloads.SessionFigures(session_id=SID, onset_s=2.0, rep_talk_s=30.5, customer_talk_s=12.25)
    figures.interruptions_by_rep = 2
    _check("metrics", payloads.metrics(figures, 44.0, 0.66, True, 3, ts, 1.25))
    _check("metrics", payloads.metrics(payloads.SessionFigures(SID, 0.0), 10.0, None, False, 0, ts, 0.0))
    summary = _summary()
    message = payloads.session(summary, ts - 60_000, ts - 25_000, ts)
    _check("session", message)
    assert message["interruptions_by_rep"] == 1 and message["rep_talk_s"] == 22.0
    too_short = payloads.session(summary, ts - 60_000, ts - 25_000, ts, CueTally().metrics())
    _check("session", too_short)  # no rep talk: no speaking rate
    assert cast(dict[str, object], too_short["cues"])["rep_wpm"] is None
    cues = dataclasses.replace(CueTally().metrics(), rep_words=31, rep_wpm=82.6667, asr_skipped_s=1.23456)
    with_cues = payloads.session(summary, ts - 60_000, ts - 25_000, ts, cues)
    _check("session", with_cues)
    # every figure, in its order, rates to 3 decimals
    assert list(cast(dict[str, object], with_cues["cues"])) == list(cues.record())
    assert with_cues["cues"] == {**cues.record(), "rep_wpm": 82.667, "asr_skipped_s": 1.235}
    _check("state", payloads.state(DeviceMode.PAUSED, False, None, 4, ts, ["button"]))
    causes = payloads.json_schema("state")["properties"]["causes"]["items"]["enum"]
    assert causes == list(payloads.CAUSES)  # every cause the device keeps, and only those
    _check("state", payloads.state(DeviceMode.FAULT, False, None, 4, ts, ["microphones", "audio"]))
    _check("status", payloads.status("offline", ts))
    info = payloads.DeviceInfo(
        "0.1.0", "0123456789ab", "2.2.0", "5", "respeaker-4mic", "doa", "0123456789ab", None, "abcdef012345", 10.0
    )
    _check("info", payloads.info(info, payloads.SpoolFigures(0, 12, 0, "ok"), True, ts))
    for storage in payloads.STORAGE_STATES:  # every storage the spool says, and only those
        _check("info", payloads.info(info, payloads.SpoolFigures(3, 12, 9, storage), True, ts))
    assert payloads.json_schema("info")["properties"]["storage"]["enum"] == list(payloads.STORAGE_STATES)


def test_anonymity_check_catches_free_text() -> None:
    with pytest.raises(AssertionError, match="free text"):
        assert_anonymous({"reason": "customer said glad to see you"})
    with pytest.raises(AssertionError, match="free text"):
        assert_anonymous({"detail": "broker unreachable for 30 s"})
    assert_anonymous({"type": "backchannel", "session_id": SID, "by": "rep", "n": 3.5, "ok": None})


def test_discovery_ties_sensors_to_the_device_topics() -> None:
    config = discovery_payload("listener/counter-3", "counter-3", "respeaker-4mic")
    assert config["dev"] == {
        "ids": ["counter-3"],
        "name": "Listener counter-3",
        "mf": "listener",
        "mdl": "respeaker-4mic",
        "sw": config["dev"]["sw"],  # type: ignore[index]
    }
    components = config["cmps"]
    assert isinstance(components, dict)
    assert {"rep_share", "interruptions", "sessions_today", "state"} <= set(components)
    for key, comp in components.items():
        if set(comp) == {"p"}:  # withdrawn: the question counts of a device that does not transcribe
            continue
        assert comp["unique_id"] == f"counter-3_{key}"
        assert comp["state_topic"] in (
            "listener/counter-3/metrics",
            "listener/counter-3/state",
            "listener/counter-3/session",
            "listener/counter-3/info",
        )
        field = re.findall(r"value_json\.(\w+)", comp["value_template"])[-1]  # a number's seq guard before it
        topic = comp["state_topic"].rsplit("/", 1)[1]
        assert field in payloads.json_schema(topic)["properties"], (key, field)
    assert components["state"]["options"] == list(payloads.MODES)
    # why it is paused or at fault: the state's causes, an attribute of the state sensor
    assert components["state"]["json_attributes_topic"] == "listener/counter-3/state"
    # per-session counts start again at 0 each session: Home Assistant sums such cycles, never averages them
    assert components["interruptions"]["state_class"] == "total_increasing"
    assert components["sessions_today"]["state_class"] == "total_increasing"
    assert components["rep_share"]["state_class"] == "measurement"
    availability = config["availability"]
    assert isinstance(availability, list)
    assert availability[0]["topic"] == "listener/counter-3/status"


Components = dict[str, dict[str, str]]


def _shown(template: str, message: dict[str, object]) -> str:
    """``template`` rendered as Home Assistant renders it (Jinja2) against ``message`` as the device sends it, for
    an entity that has shown nothing yet (``this``)."""
    return str(jinja2.Environment().from_string(template).render(value_json=json.loads(encode(message)), this=This()))


def _check_the_live_figures(components: Components) -> None:
    """The share in percent, the dominating flag the right way round, and the causes of a state."""
    figures = payloads.SessionFigures(session_id=SID, onset_s=0.0, rep_talk_s=50.0, customer_talk_s=30.0)
    share = components["rep_share"]["value_template"]
    assert float(_shown(share, payloads.metrics(figures, 80.0, 0.625, True, 0, 1, 0.0))) == 62.5
    assert _shown(share, payloads.metrics(figures, 80.0, None, False, 0, 1, 0.0)) == "None"
    dominating = components["dominating"]["value_template"]
    for flag, expected in ((True, "ON"), (False, "OFF")):
        assert _shown(dominating, payloads.state(DeviceMode.LISTENING, flag, SID, 3, 1, [])) == expected
    attributes = components["state"]["json_attributes_template"]
    lost = payloads.state(DeviceMode.FAULT, False, None, 3, 1, ["microphones", "audio"])
    assert json.loads(_shown(attributes, lost)) == {"causes": ["audio", "microphones"]}
    listening = payloads.state(DeviceMode.LISTENING, False, None, 3, 1, [])
    assert json.loads(_shown(attributes, listening)) == {"causes": []}


def _answered_session() -> SessionSummary:
    segments = [  # the customer asks, the rep answers after 0.5 s (the analytics' ResponseGap) and talks on
        SpeechSegment(Party.CUSTOMER, 1.0, 9.0, 9.2),
        SpeechSegment(Party.REP, 9.5, 30.0, 30.2),
        SpeechSegment(Party.CUSTOMER, 31.0, 36.0, 36.2),
    ]
    said = [
        ResponseGap(onset_s=9.5, decided_s=10.5, gap_s=0.5, patient=False),
        Interruption(by=Party.REP, onset_s=20.0, decided_s=21.0, successful=False),
    ]
    return summarize(SID, Window(1.0, 36.0), 66.0, segments, said, parse_config({}).analytics)


def _session_message(summary: SessionSummary, cues: CueFigures | None = None) -> dict[str, object]:
    ts = payloads.now_ms()
    return payloads.session(summary, ts - 35_000, ts, ts, cues)


def _check_the_last_sessions_figures(components: Components, summary: SessionSummary) -> None:
    session = _session_message(summary)
    assert float(_shown(components["session_share"]["value_template"], session)) == round(100 * summary.rep_share, 1)
    assert float(_shown(components["session_length"]["value_template"], session)) == round(summary.duration_s)
    assert summary.response_gap_median_s is not None
    gap = components["session_response_gap"]["value_template"]
    assert float(_shown(gap, session)) == round(summary.response_gap_median_s, 2)
    assert _shown(gap, {**session, "response_gap_median_s": None}) == "None"  # Home Assistant's "unknown"
    assert _shown(components["session_interruptions"]["value_template"], session) == "1"
    backchannels = components["session_backchannels"]["value_template"]
    assert _shown(backchannels, {**session, "backchannels_by_rep": 4, "backchannels_by_customer": 2}) == "4"


def _check_the_questions_only_where_it_transcribes(components: Components, summary: SessionSummary) -> None:
    """The question counts only where the device transcribes: elsewhere they would read "unknown" for ever, so
    they are withdrawn (only the platform: Home Assistant removes them from a device that stopped transcribing)."""
    assert components["session_questions"] == components["session_open_questions"] == {"p": "sensor"}
    transcribing = discovery_payload("listener/counter-3", "counter-3", "respeaker-4mic", transcribing=True)
    asked = cast(Components, transcribing["cmps"])
    assert set(asked) == set(components)
    assert asked["session_questions"]["name"] == "Last session: questions by rep"
    cues = dataclasses.replace(CueTally().metrics(), rep_questions=3, rep_open_questions=2, rep_closed_questions=1)
    with_cues = _session_message(summary, cues)
    assert _shown(asked["session_questions"]["value_template"], with_cues) == "3"
    assert _shown(asked["session_open_questions"]["value_template"], with_cues) == "2"
    no_transcript = _session_message(summary)  # no transcript that session
    assert _shown(asked["session_questions"]["value_template"], no_transcript) == "None"


def test_home_assistant_reads_the_figures_the_device_sends() -> None:
    """Rendered as Home Assistant renders them (Jinja2) against the device's own payloads: the share
    in percent, the dominating flag the right way round, and online/offline from the status topic."""
    config = discovery_payload("listener/counter-3", "counter-3", "respeaker-4mic")
    components = cast(Components, config["cmps"])
    _check_the_live_figures(components)
    # the last session's own figures, from its summary
    summary = _answered_session()
    _check_the_last_sessions_figures(components, summary)
    _check_the_questions_only_where_it_transcribes(components, summary)
    availability = cast(list[dict[str, str]], config["availability"])[0]
    assert _shown(availability["value_template"], payloads.status("online", 1)) == availability["payload_available"]
    offline = _shown(availability["value_template"], payloads.status("offline", 1))
    assert offline == availability["payload_not_available"]


@pytest.mark.parametrize("attributes_first", [False, True], ids=["value-first", "attributes-first"])
def test_home_assistant_numbers_ignore_a_message_older_than_the_one_they_show(attributes_first: bool) -> None:
    """A QoS 1 redelivery, a resend after a power cut, a backlog a full-card start left for the next start: a message
    reaches Home Assistant after newer ones. Each number showed it, and a count's return below nine tenths of the
    value before was a meter reset to its statistics, summed again (tests/test_mqtt_older_messages.py, for real).
    Now each keeps the highest seq it took (its attribute seq, whichever of the two subscriptions runs first) and
    renders a lower one empty, which Home Assistant ignores; the same seq again (the retained message at each
    connect) is taken."""
    config = discovery_payload("listener/counter-3", "counter-3", "respeaker-4mic", transcribing=True)
    components = cast(dict[str, dict[str, object]], config["cmps"])
    numbers = {key: c for key, c in components.items() if "state_class" in c}
    assert len(numbers) == 13  # every sensor but the State enum; the binary sensors read retained topics alone
    device = payloads.DeviceInfo(
        "0.1.0", "0123456789ab", "2.2.0", "5", "respeaker-4mic", "doa", "0123456789ab", None, "abc", 10.0
    )
    cues, summary = CueTally().metrics(), _answered_session()
    made: dict[str, Callable[[int], dict[str, object]]] = {  # a message of each topic: the newer one's figures n + 1
        "metrics": lambda n: payloads.metrics(
            payloads.SessionFigures(SID, 0.0, 5.0, 5.0, n, 0, n, 0), 10.0, 0.1 * n, False, n, 1, 0.0
        ),
        "state": lambda n: payloads.state(DeviceMode.LISTENING, False, SID, n, 1, []),
        "session": lambda n: {
            **(session := payloads.session(summary, 1, 2, 1, cues)),
            **dict.fromkeys(("rep_share", "duration_s", "response_gap_median_s", "interruptions_by_rep"), n),
            "backchannels_by_rep": n,
            "cues": {**cast(dict[str, object], session["cues"]), "rep_questions": n, "rep_open_questions": n},
        },
        "info": lambda n: payloads.info(device, payloads.SpoolFigures(n, n, n, "ok"), True, 1),
    }
    for key, component in numbers.items():
        make = made[str(component["state_topic"]).rsplit("/", 1)[1]]
        sensor = HaSensor(component, attributes_first)
        sensor.status(encode(payloads.status("online", 1)))
        for seq, n in ((100, 2), (101, 3), (100, 2), (99, 1), (101, 3)):  # the newer one, then older ones, then again
            sensor.receive(encode({**make(n), "seq": seq}))
        assert len(sensor.states) == 3 and sensor.this.attributes == {"seq": 101}, (key, sensor.states)  # unknown first


def test_home_assistant_shows_the_messages_the_device_lost() -> None:
    """After an outage that overflowed the spool, Home Assistant's figures fell short of sessions_today and no
    entity said why: info's spool_dropped and spool_depth reached no dashboard."""
    config = discovery_payload("listener/counter-3", "counter-3", "respeaker-4mic")
    components = cast(dict[str, dict[str, str]], config["cmps"])
    lost, waiting = components["spool_dropped"], components["spool_depth"]
    assert (lost["name"], waiting["name"]) == ("Messages lost (spool)", "Messages waiting (spool)")
    for entity in (lost, waiting):
        assert entity["p"] == "sensor" and entity["state_topic"] == "listener/counter-3/info"
        assert entity["entity_category"] == "diagnostic"  # the device's health, not a figure of the store's
    # a count that starts again at 0 with a new spool file: a new cycle, never negative losses; the
    # backlog is a level
    assert (lost["state_class"], waiting["state_class"]) == ("total_increasing", "measurement")
    device = payloads.DeviceInfo(
        "0.1.0", "0123456789ab", "2.2.0", "5", "respeaker-4mic", "doa", "0123456789ab", None, "abc", 10.0
    )
    info = json.loads(encode(payloads.info(device, payloads.SpoolFigures(1417, 3, 0, "ok"), True, payloads.now_ms())))
    assert _shown(lost["value_template"], info) == "1417"
    assert _shown(waiting["value_template"], info) == "3"


def test_home_assistant_shows_a_card_that_refuses_the_spool_and_what_waits_in_memory() -> None:
    """A full card kept the device's messages in memory, lost at a restart: the journal said so, no entity did."""
    config = discovery_payload("listener/counter-3", "counter-3", "respeaker-4mic")
    components = cast(dict[str, dict[str, str]], config["cmps"])
    card, held = components["storage"], components["spool_in_memory"]
    assert (card["name"], held["name"]) == ("Storage (spool)", "Messages in memory (spool)")
    assert (card["p"], card["device_class"], held["p"], held["state_class"]) == (
        "binary_sensor",
        "problem",
        "sensor",
        "measurement",
    )
    for entity in (card, held):
        assert entity["state_topic"] == "listener/counter-3/info" and entity["entity_category"] == "diagnostic"
    device = payloads.DeviceInfo(
        "0.1.0", "0123456789ab", "2.2.0", "5", "respeaker-4mic", "doa", "0123456789ab", None, "abc", 10.0
    )
    shown = {}
    for storage in payloads.STORAGE_STATES:
        info = payloads.info(device, payloads.SpoolFigures(0, 40, 37, storage), True, 1)
        attributes = json.loads(_shown(card["json_attributes_template"], info))
        shown[storage] = (_shown(card["value_template"], info), attributes)
        assert _shown(held["value_template"], info) == "37"
    assert shown == {
        "ok": ("OFF", {"storage": "ok"}),
        "full": ("ON", {"storage": "full"}),
        "unwritable": ("ON", {"storage": "unwritable"}),
    }


def test_session_schema_covers_every_figure_of_the_summary() -> None:
    """A figure added to SessionSummary must be added to session.json (and the docs) too."""
    figures = {f.name for f in dataclasses.fields(SessionSummary)} - set(payloads.SUMMARY_AUDIO_TIMES)
    schema = payloads.json_schema("session")
    # "cues": the transcript's counts, tallied by the MQTT stage beside the analytics' summary
    assert set(schema["properties"]) == figures | {"schema", "ts", "seq", "start_ms", "end_ms", "cues"}


def test_a_session_message_counts_its_patient_gaps_for_a_day_to_pool() -> None:
    """A dashboard pools a day's patience as sum(patient_gaps) / sum(response_gaps): InfluxQL cannot weigh each
    session's patient_gap_fraction by its gaps. The count is the gaps', an integer, as many as the fraction says."""
    segments, said = [], []
    for i, gap_s in enumerate((0.2, 0.7, 0.3, 1.2, 0.1, 0.6, 0.59)):  # 0.7, 1.2 and 0.6 s: three of seven patient
        t = 10.0 * i
        segments += [
            SpeechSegment(Party.CUSTOMER, t, t + 5.0, t + 5.2),
            SpeechSegment(Party.REP, t + 5.0 + gap_s, t + 9.0, t + 9.2),
        ]
        said.append(ResponseGap(onset_s=t + 5.0 + gap_s, decided_s=t + 6.0, gap_s=gap_s, patient=gap_s >= 0.6))
    summary = summarize(SID, Window(0.0, 70.0), 100.0, segments, said, parse_config({}).analytics)
    message = validate("listener/x/session", encode({**_session_message(summary), "seq": 7}))
    assert (message["patient_gaps"], message["response_gaps"], message["patient_gap_fraction"]) == (3, 7, 0.4286)
    assert isinstance(message["patient_gaps"], int)  # 3, not 3.0: a count


DOCS = Path(__file__).resolve().parents[1] / "docs" / "integrations"


def _json_objects(text: str) -> list[dict[str, object]]:
    decoder, out, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) >= 0:
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
    return out


def test_payload_examples_in_the_docs_follow_the_schemas() -> None:
    text = (DOCS / "mqtt.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    examples = [obj for block in blocks for obj in _json_objects(block)]
    topics = set()
    for example in examples:
        topic = str(example["schema"]).split(".")[2].split("/")[0]
        jsonschema.Draft7Validator(payloads.json_schema(topic)).validate(example)
        assert_anonymous(example)
        topics.add(topic)
    assert topics == set(payloads.TOPICS)


def test_the_guide_clears_a_retired_devices_discovery_before_its_topics() -> None:
    """Home Assistant renders each entity's templates against an empty payload on a topic it still follows: the
    guide's status, info and state cleared first made 2025.4 log 37 template errors (bench/home_assistant.py),
    the discovery config cleared first removes the entities, and their subscriptions, before."""
    text = (DOCS / "mqtt.md").read_text()
    block = text.split("**Renaming or retiring a device**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    cleared = [line for line in block.splitlines() if "mosquitto_pub" in line]
    assert "homeassistant/device/counter-3/config" in cleared[0]
    assert any("listener/counter-3/$t" in line for line in cleared[1:])
    assert all(" -r -n " in line for line in cleared)  # empty and retained: what clears a retained topic
    assert any("for t in status info state;" in line for line in cleared[1:])  # every retained topic of the device


def test_node_red_flow_is_wired_to_real_topics() -> None:
    flow = json.loads((DOCS / "node-red-flow.json").read_text())
    ids = {node["id"] for node in flow}
    for node in flow:
        for outputs in node.get("wires", []):
            assert set(outputs) <= ids, node["name"]
    subscribed = {n["topic"] for n in flow if n["type"] == "mqtt in"}
    assert subscribed == {"listener/+/event", "listener/+/status", "listener/+/session", "listener/+/info"}
    functions = " ".join(n["func"] for n in flow if n["type"] == "function")
    used_fields = ("seq", "ts", "type", "by", "state", "start_ms", "duration_s", "rep_share", "response_gap_median_s")
    for used in (*used_fields, "onset_ms", "spool_dropped"):
        assert used in functions
        assert any(used in payloads.json_schema(t)["properties"] for t in payloads.TOPICS), used


def test_home_assistant_subscribes_at_the_qos_the_device_sends_its_entities_topics_at() -> None:
    """Discovery's qos is what Home Assistant subscribes with: at 0, the broker would hand it the device's QoS 1
    messages at most once, the last hop losing what the spool kept through an outage."""
    operations = yaml.safe_load((DATA / "asyncapi.yaml").read_text())["operations"]
    sent = {operations[f"send{topic.title()}"]["bindings"]["mqtt"]["qos"] for topic in ("state", "metrics", "session")}
    assert {discovery_payload("listener/counter-3", "counter-3", "respeaker-4mic")["qos"]} == sent == {1}
