"""The MQTT stage against a real mosquitto: topics, discovery, TLS, outages (the spool: test_mqtt_broker_spool.py).

The stage is fed analytics events directly (they are its interface); the
tests in test_mqtt_run.py drive it through ``listener run`` instead.
"""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from pathlib import Path

import pytest

from listener.config import parse_config
from listener.events import (
    AudioDropped,
    DeviceMode,
    DeviceState,
    Event,
    Party,
    SessionEnded,
    SessionStarted,
    SourceState,
)
from listener.outputs.leds import event_time_s
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt.discovery import discovery_payload
from tests.mqtt_broker import BASE, DEVICE_ID, PASSWORD, Mosquitto, Received, Recorder, validate
from tests.mqtt_feed import (
    SID,
    Clocks,
    block,
    connected,
    conversation,
    feed,
    feed_live,
    json_on,
    live_stage_on,
    stage_on,
)
from tests.waiting import wait_until


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_topics_discovery_and_retained_status(broker: Mosquitto, tmp_path: Path, protocol: str) -> None:
    got = _publish_a_conversation(broker, tmp_path, protocol)
    assert [s["state"] for s in json_on(got, "status")] == ["online", "offline"]
    _check_events_and_summary(got)
    _check_metrics_and_state(got)
    seqs = [json.loads(m.payload)["seq"] for m in got if m.topic.startswith(BASE)]
    assert len(seqs) == len(set(seqs))
    spooled = [
        json.loads(m.payload)["seq"] for m in got if m.topic.rsplit("/", 1)[1] in ("event", "metrics", "session")
    ]
    assert spooled == sorted(spooled)
    discovery = [m for m in got if m.topic == f"homeassistant/device/{DEVICE_ID}/config"]
    assert len(discovery) >= 2
    assert json.loads(discovery[0].payload) == discovery_payload(BASE, DEVICE_ID, "respeaker-4mic")
    _check_retained_picture(broker)


def test_a_transcribing_device_offers_home_assistant_its_question_counts(broker: Mosquitto, tmp_path: Path) -> None:
    config = parse_config(
        {
            "mqtt": broker.mqtt_config(),
            "service": {"state_dir": str(tmp_path / "state")},
            "asr": {"enabled": True},  # the stage reads the flag; the recogniser is another stage's
        }
    )
    topic = f"homeassistant/device/{DEVICE_ID}/config"
    with Recorder(broker) as rec, MqttStage(config):
        got = rec.wait_for(lambda ms: any(m.topic == topic for m in ms))
    (discovery, *_) = [json.loads(m.payload) for m in got if m.topic == topic]
    assert discovery == discovery_payload(BASE, DEVICE_ID, "respeaker-4mic", transcribing=True)
    assert {"session_questions", "session_open_questions"} <= set(discovery["cmps"])


@pytest.mark.parametrize("announced_on", ["homeassistant/status", "ha/status"])
def test_a_home_assistant_restart_is_heard_with_another_discovery_prefix(
    broker: Mosquitto, tmp_path: Path, announced_on: str
) -> None:
    """Home Assistant's birth topic is a setting apart from its discovery prefix: changing only the prefix to
    "ha" leaves the announcement on homeassistant/status, which the device did not hear (it listened on
    ha/status alone), so discovery was not sent again after a restart that lost it."""
    config = parse_config(
        {"mqtt": {**broker.mqtt_config(), "discovery_prefix": "ha"}, "service": {"state_dir": str(tmp_path)}}
    )
    topic = f"ha/device/{DEVICE_ID}/config"
    with Recorder(broker) as rec, MqttStage(config):
        rec.wait_for(connected)
        rec.publish(announced_on, b"online")
        got = rec.wait_for(lambda ms: sum(m.topic == topic for m in ms) >= 2)
    assert sum(m.topic == topic for m in got) == 2


def _publish_a_conversation(broker: Mosquitto, tmp_path: Path, protocol: str) -> list[Received]:
    """A session, the privacy button, the array lost and back, Home Assistant restarting; then the stage closes."""
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path, protocol=protocol)
        with stage:
            rec.wait_for(connected)
            feed(stage, conversation())
            stage.process(DeviceState(t_s=41.0, mode=DeviceMode.PAUSED, detail="privacy button"))
            stage.process(AudioDropped(start_s=41.0, duration_s=1.0, reason="paused"))
            # the array lost and back while paused: the state ends paused, not listening (the retained
            # state slot keeps the latest, so the fault in between may be coalesced away)
            stage.process(SourceState(t_s=42.0, available=False, detail="no audio from the array"))
            stage.process(SourceState(t_s=42.5, available=True, detail="back"))
            rec.wait_for(lambda ms: any(m.topic == f"{BASE}/session" for m in ms))
            rec.publish("homeassistant/status", b"online")  # Home Assistant restarted
            rec.wait_for(lambda ms: sum(m.topic.startswith("homeassistant/device/") for m in ms) >= 2)
        return rec.wait_for(lambda ms: [s["state"] for s in json_on(ms, "status")][-1:] == ["offline"])


def _check_events_and_summary(got: list[Received]) -> None:
    events = json_on(got, "event")
    assert [e["type"] for e in events] == [
        "session_start", "backchannel", "interruption", "interruption_outcome", "dominance_on", "session_end",
    ]  # fmt: skip
    assert events[2]["onset_ms"] == events[3]["onset_ms"] and events[3]["successful"] is True
    assert all(e["session_id"] == SID for e in events)
    (summary,) = json_on(got, "session")
    assert summary["interruptions_by_rep"] == 1 and summary["successful_interruptions_by_rep"] == 1
    assert summary["backchannels_by_rep"] == 1 and summary["dominance_episodes"] == 1
    assert summary["rep_talk_s"] == 22.5 and summary["customer_talk_s"] == 7.0
    assert summary["session_id"] == SID
    assert summary["end_ms"] - summary["start_ms"] == 37_000  # type: ignore[operator]


def _check_metrics_and_state(got: list[Received]) -> None:
    start, *metrics = json_on(got, "metrics")
    # at its start, its counts at 0 (a new cycle for Home Assistant's statistics)
    assert (start["session_id"], start["session_s"]) == (SID, 0.0)
    assert start["rep_share_rolling"] is None and start["rep_share"] is None
    assert (start["rep_talk_s"], start["customer_talk_s"], start["interruptions_by_rep"]) == (0.0, 0.0, 0)
    # every 10 s of audio in the session, then its final figures at its end (37 s long)
    assert [m["session_s"] for m in metrics] == [10.0, 20.0, 30.0, 37.0]
    shares = [pytest.approx(r / (r + 7.0), abs=1e-3) for r in (1.5, 12.5, 22.5, 22.5)]
    assert [m["rep_share_rolling"] for m in metrics] == shares
    assert [(m["rep_talk_s"], m["customer_talk_s"]) for m in metrics] == [(1.5, 7.0), (12.5, 7.0)] + [(22.5, 7.0)] * 2
    assert [m["interruptions_by_rep"] for m in metrics] == [1, 1, 1, 1]
    states = json_on(got, "state")
    assert states[-1]["session_id"] is None and states[-1]["dominating"] is True
    assert states[-1]["mode"] == "paused" and states[-1]["sessions_today"] == 1


def _check_retained_picture(broker: Mosquitto) -> None:
    """A dashboard that subscribes later gets the retained picture, ending with "offline"."""
    with Recorder(broker, client_id="late") as late:
        retained = late.wait_for(lambda ms: len(ms) >= 4, timeout_s=5)
    by_topic = {m.topic: m for m in retained}
    assert all(m.retain for m in retained)
    expected = {f"{BASE}/{t}" for t in ("status", "info", "state")} | {f"homeassistant/device/{DEVICE_ID}/config"}
    assert set(by_topic) == expected
    assert validate(f"{BASE}/status", by_topic[f"{BASE}/status"].payload)["state"] == "offline"
    info = validate(f"{BASE}/info", by_topic[f"{BASE}/info"].payload)
    assert info["spool_dropped"] == 0 and info["array_preset"] == "respeaker-4mic"


def test_tls_with_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LISTENER_MQTT_PASSWORD", raising=False)
    secret = tmp_path / "mqtt-password"
    secret.write_text(PASSWORD + "\n")
    with Mosquitto(tmp_path / "tls", tls=True) as broker, Recorder(broker) as rec:
        with stage_on(broker, tmp_path, password_file=str(secret)) as stage:
            assert stage._link is not None and stage._link.wait_connected(10)
            feed(stage, conversation(), seconds=40)
            got = rec.wait_for(lambda ms: any(m.topic == f"{BASE}/session" for m in ms))
        assert json_on(got, "event")[0]["type"] == "session_start"
        assert len(json_on(got, "session")) == 1


def test_tls_verifies_the_broker_and_refuses_bad_passwords(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Mosquitto(tmp_path / "tls", tls=True) as broker, caplog.at_level(logging.WARNING):
        monkeypatch.setenv("LISTENER_MQTT_PASSWORD", PASSWORD)
        # no ca_file: the system CAs do not know the test CA, and verification is on by default
        with stage_on(broker, tmp_path / "a", ca_file="") as stage:
            assert stage._link is not None and not stage._link.wait_connected(2.0)
            feed(stage, conversation(), seconds=40)
            assert stage.spool.depth > 0  # measured, kept
        assert f"127.0.0.1:{broker.port} (TLS) is unreachable" in caplog.text
        assert "CA file" in caplog.text
        caplog.clear()
        monkeypatch.setenv("LISTENER_MQTT_PASSWORD", "wrong")
        with stage_on(broker, tmp_path / "b") as stage:
            assert stage._link is not None and not stage._link.wait_connected(2.0)
        assert "refused the connection" in caplog.text and "password" in caplog.text


def test_long_outage_shows_a_fault_and_clears_it(broker: Mosquitto, tmp_path: Path) -> None:
    broker.stop()
    # live (the wall clock followed): the outage is counted in wall seconds, whatever audio arrived
    with live_stage_on(broker, tmp_path, outage_fault_s=1.0) as stage:
        assert not any(isinstance(e, DeviceState) for e in stage.process(block(0.0)))
        time.sleep(1.2)
        states = [e for e in stage.process(block(1.0)) if isinstance(e, DeviceState)]
        assert [s.mode for s in states] == [DeviceMode.FAULT] and "broker unreachable" in states[0].detail
        assert not any(isinstance(e, DeviceState) for e in stage.process(block(2.0)))  # said once
        broker.start()
        assert stage._link is not None and stage._link.wait_connected(10)
        # what the drain sent on reconnecting, before the stage was told the broker is back: no broker fault
        assert _retained_state(broker, "early") == ("listening", [])
        states = [e for e in stage.process(block(3.0)) if isinstance(e, DeviceState)]
        assert [s.mode for s in states] == [DeviceMode.LISTENING]
        # the fault is the lights' (the stages after this one): the state a dashboard gets never names the broker
        assert _retained_state(broker, "late") == ("listening", [])


def _retained_state(broker: Mosquitto, client_id: str) -> tuple[object, object]:
    """The retained ``state`` as a dashboard subscribing now gets it: its mode and causes."""
    with Recorder(broker, ("listener/+/state",), client_id=client_id) as late:
        (state,) = json_on(late.wait_for(lambda ms: bool(json_on(ms, "state")), timeout_s=5), "state")
    return state["mode"], state["causes"]


def _latest_state(messages: list[Received]) -> tuple[object, object] | None:
    states = json_on(messages, "state")
    return (states[-1]["mode"], states[-1]["causes"]) if states else None


def _shows(expected: tuple[str, list[str]], messages: list[Received]) -> bool:
    return _latest_state(messages) == expected


def test_the_retained_state_says_why_it_is_at_fault_or_paused(broker: Mosquitto, tmp_path: Path) -> None:
    """A facilities team watching many devices tells an unplugged array from a dead mic or a privacy pause by
    the state's causes: the names of what holds the mode shown, never the detail (it names the device)."""
    fault, paused, listening = DeviceMode.FAULT, DeviceMode.PAUSED, DeviceMode.LISTENING
    steps: list[tuple[list[Event], tuple[str, list[str]]]] = [
        ([SourceState(t_s=1.0, available=False, detail="no audio from hw:CARD=seeed4micvoicec")], ("fault", ["audio"])),
        # a dead channel as well: still a fault, now for two causes, and said so
        (
            [DeviceState(t_s=2.0, mode=fault, detail="channel 3 silent", cause="microphones")],
            ("fault", ["audio", "microphones"]),
        ),
        ([SourceState(t_s=3.0, available=True, detail="back")], ("fault", ["microphones"])),
        # the button pressed during the fault: the fault still shows, then the pause once the mic is back
        (
            [
                DeviceState(t_s=4.0, mode=paused, detail="privacy button", cause="button"),
                DeviceState(t_s=5.0, mode=listening, detail="every channel heard", cause="microphones"),
            ],
            ("paused", ["button"]),
        ),
        ([DeviceState(t_s=6.0, mode=listening, detail="privacy button", cause="button")], ("listening", [])),
    ]
    with Recorder(broker) as rec, stage_on(broker, tmp_path) as stage:
        rec.wait_for(connected)
        stage.process(block(0.0))
        assert _retained_state(broker, "late-0") == ("listening", [])
        for n, (events, expected) in enumerate(steps, 1):
            for event in events:
                stage.process(event)
            got = rec.wait_for(partial(_shows, expected))
            assert _latest_state(got) == expected
            assert _retained_state(broker, f"late-{n}") == expected


def test_retained_topics_go_out_when_the_connection_is_up_before_the_loop_starts(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a loaded machine paho's thread can connect, and the drain thread publish the retained
    # topics, before loop_start() has even returned. Made certain here: loop_start() returns only
    # once the connection is up and the drain thread has had time to publish.
    import paho.mqtt.client as paho

    original = paho.Client.loop_start

    def late_return(client: paho.Client) -> object:
        result = original(client)
        wait_until(client.is_connected, 5.0)
        time.sleep(0.3)
        return result

    monkeypatch.setattr(paho.Client, "loop_start", late_return)
    # the state waits for the source's first word (test_the_first_state_without_an_array_is_fault)
    with Recorder(broker) as rec, stage_on(broker, tmp_path):
        got = rec.wait_for(lambda ms: {"status", "info"} <= {m.topic.rsplit("/", 1)[1] for m in ms}, 5)
    leaves = {m.topic.rsplit("/", 1)[1] for m in got if m.topic.startswith(BASE)}
    assert {"status", "info"} <= leaves
    assert [s["state"] for s in json_on(got, "status")][:1] == ["online"]


def test_a_live_stage_follows_the_wall_clock_when_ntp_steps_it(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A Pi boots with the time it saved at shutdown; NTP then steps the clock (here by an hour, 10 s
    # into the run). Events after the step carry the corrected wall time; an interruption's outcome,
    # published after the step, keeps the onset_ms its event was published with before it; so does
    # the session summary's start_ms.
    base_ms, step_ms = 1_790_000_000_000, 3_600_000
    clocks = Clocks(monkeypatch, base_ms)
    config = parse_config({"mqtt": broker.mqtt_config(), "service": {"state_dir": str(tmp_path / "state")}})
    with Recorder(broker) as rec, MqttStage(config, follow_wall_clock=True) as stage:
        feed_live(stage, conversation(), lambda second: clocks.at((second + 1) * 1000, step_ms if second >= 9 else 0))
        got = rec.wait_for(lambda ms: any(m.topic == f"{BASE}/session" for m in ms))
    onsets = {(e["type"], e["onset_ms"]) for e in json_on(got, "event")}
    assert ("session_start", base_ms + 1000) in onsets  # before the step: the clock as it was
    assert ("backchannel", base_ms + 5000) in onsets
    assert ("interruption", base_ms + 7500) in onsets and ("interruption_outcome", base_ms + 7500) in onsets
    assert ("dominance_on", base_ms + step_ms + 30200) in onsets  # after the step: the corrected clock
    assert any("wall clock moved +3600.0 s" in r.getMessage() for r in caplog.records)
    # the session's summary, published after the step, starts when its session_start said it did, and
    # ends its length later, as its session_end event says (not on the stepped clock: an hour longer)
    (summary,) = json_on(got, "session")
    (end,) = [e for e in json_on(got, "event") if e["type"] == "session_end"]
    assert summary["start_ms"] == end["onset_ms"] == base_ms + 1000
    assert summary["end_ms"] == end["onset_ms"] + round(1000 * end["duration_s"]) == base_ms + 38000  # type: ignore[operator]


def test_sessions_today_starts_again_at_local_midnight(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from listener.outputs.mqtt import stage as stage_module

    day = {"today": 20260302}
    monkeypatch.setattr(stage_module, "local_day", lambda: day["today"])

    def sessions_today(messages: list[Received]) -> object:
        states = json_on(messages, "state")
        return states[-1]["sessions_today"] if states else None

    with Recorder(broker) as rec, stage_on(broker, tmp_path) as stage:
        stage.process(SessionStarted(session_id=SID, onset_s=1.0, decided_s=1.5))
        stage.process(SessionEnded(session_id=SID, onset_s=1.0, decided_s=9.0, end_s=8.0))
        stage.process(block(9.0))
        assert sessions_today(rec.wait_for(lambda ms: sessions_today(ms) == 1)) == 1
        day["today"] = 20260303  # nothing happens overnight but the audio going on
        stage.process(block(10.0))
        got = rec.wait_for(lambda ms: sessions_today(ms) == 0, timeout_s=5)
    assert sessions_today(got) == 0


def test_the_session_summary_carries_its_content_cues_and_never_words(broker: Mosquitto, tmp_path: Path) -> None:
    from listener.events import Acknowledgement, Echo, Question, WordsRecognized

    config = parse_config(
        {
            "mqtt": broker.mqtt_config(),
            "service": {"state_dir": str(tmp_path / "state")},
            "asr": {"enabled": True},
        }
    )
    cues: list[Event] = [
        WordsRecognized(party=Party.CUSTOMER, start_s=1.0, end_s=7.5, decided_s=8.0, n_words=18),
        WordsRecognized(party=Party.REP, start_s=7.5, end_s=20.0, decided_s=20.5, n_words=30),
        Question(by=Party.REP, onset_s=9.0, end_s=10.5, decided_s=11.0, open_ended=True, followup=True),
        Question(by=Party.REP, onset_s=14.0, end_s=15.0, decided_s=15.5, open_ended=False, followup=False),
        Echo(by=Party.REP, onset_s=16.0, decided_s=17.0, summary=True),
        Acknowledgement(by=Party.REP, onset_s=18.0, decided_s=18.5),
        Question(by=Party.REP, onset_s=45.0, end_s=46.0, decided_s=46.5, open_ended=True, followup=False),  # later
    ]
    events = sorted([*conversation(), *cues], key=lambda e: event_time_s(e) or 0.0)
    with Recorder(broker) as rec, MqttStage(config) as stage:
        feed(stage, events, seconds=50)
        got = rec.wait_for(lambda ms: bool(json_on(ms, "session")))
    (session,) = json_on(got, "session")  # validated against the schema: numbers and one flag only
    figures = session["cues"]
    assert isinstance(figures, dict)
    assert (figures["rep_questions"], figures["rep_open_questions"], figures["rep_followups"]) == (2, 1, 1)
    assert (figures["rep_echoes"], figures["rep_summaries"], figures["rep_acknowledgements"]) == (1, 1, 1)
    assert (figures["rep_words"], figures["customer_words"], figures["asr_partial"]) == (30, 18, False)
    assert figures["rep_wpm"] == pytest.approx(30 / (22.5 / 60.0), abs=0.1)


def test_without_transcription_the_session_summary_says_so(broker: Mosquitto, tmp_path: Path) -> None:
    with Recorder(broker) as rec, stage_on(broker, tmp_path) as stage:
        feed(stage, conversation())
        got = rec.wait_for(lambda ms: bool(json_on(ms, "session")))
    assert json_on(got, "session")[0]["cues"] is None


def test_metrics_say_how_much_audio_the_device_could_not_keep_up_with(broker: Mosquitto, tmp_path: Path) -> None:
    # an overloaded Pi drops audio at the capture ring; the facilities team sees it on the dashboard
    # (a privacy pause or a lost array is not an overflow: the state topic shows those)
    events = conversation()
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path)
        with stage:
            rec.wait_for(connected)
            feed(stage, events[:2], seconds=10)
            stage.process(AudioDropped(start_s=10.0, duration_s=0.5, reason="overflow"))
            stage.process(AudioDropped(start_s=10.5, duration_s=0.25, reason="device_lost"))
            stage.process(block(10.75, 0.25))
            feed(stage, events[2:], t0=11.0, seconds=29)
            got = rec.wait_for(lambda ms: any(m.topic == f"{BASE}/session" for m in ms))
    before, *metrics = json_on(got, "metrics")  # the first at the session's start, before the overflow
    assert before["audio_overflow_s"] == 0.0
    assert len(metrics) >= 2 and all(m["audio_overflow_s"] == 0.5 for m in metrics)  # all after it, none lost
