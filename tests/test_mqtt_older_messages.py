"""Home Assistant's numbers when a message reaches it after newer ones, for real: a real mosquitto, the MQTT stage and
its spool fed visits, a subscriber recording what arrives, and each entity of the device's discovery run over it as
Home Assistant runs it (tests/ha_entity.py, availability included), with the long-term sum its statistics make of
"Interruptions by rep (session)" (``total_increasing``).

A broker outage across a session's end and the next one's start delivers the backlog in ``seq`` order: each session
summed once. A crash (or a power cut) while a backlog drains has the next start send again, after its ``online``,
what was acknowledged but not yet deleted: "Interruptions by rep (session)" went back from B's 1 to A's 0 to 4, read
by Home Assistant as a meter reset and a rise, 12 summed for 7. A start on a full card leaves the file's backlog for
the next start, whose older session then showed as the current one (13 summed for 11). A link lost with PUBACKs in
flight has paho send them again after the reconnect too, but before the device's ``online``: the broker's Last Will
has made the entities unavailable meanwhile, so Home Assistant shows none of them (bench/home_assistant_order.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import cast

import pytest

from listener.outputs.mqtt.discovery import discovery_payload
from tests.full_card import in_a_card_namespace
from tests.ha_entity import HaSensor, statistics_sum
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto, Received, Recorder
from tests.mqtt_feed import connected, stage_on, stops
from tests.mqtt_visits import Player, connected_again, crash_while_draining, visit

A, B, C, D = ("a" * 16, "b" * 16, "c" * 16, "d" * 16)
TWO_VISITS = [*visit(A, 0.0, 4), *visit(B, 30.0, 3)]  # A's 4 interruptions, B's 3: 7 to sum
INTERVAL = {"metrics_interval_s": 2.0}
ORDERS = pytest.mark.parametrize("attributes_first", [False, True], ids=["value-first", "attributes-first"])


def _component(key: str) -> dict[str, object]:
    components = cast(dict[str, dict[str, object]], discovery_payload(BASE, DEVICE_ID, "respeaker-4mic")["cmps"])
    return components[key]


def _shown(messages: list[Received], key: str, attributes_first: bool, bare: bool = False) -> list[str]:
    """The states Home Assistant writes for the entity ``key`` from what arrived on its topic, in arrival order
    (``bare``: with the value template the device had before the seq was kept, its field alone)."""
    component = _component(key)
    if bare:
        field = re.findall(r"value_json\.(\w+)", str(component["value_template"]))[-1]
        component = {"state_topic": component["state_topic"], "value_template": f"{{{{ value_json.{field} }}}}"}
    sensor = HaSensor(component, attributes_first)
    for m in messages:
        if m.topic == f"{BASE}/status":
            sensor.status(m.payload)
        elif m.topic == component["state_topic"]:
            sensor.receive(m.payload)
    return sensor.states


def _metrics(messages: list[Received]) -> list[tuple[int, str, int]]:
    """(seq, session, interruptions_by_rep) of each metrics message, in arrival order."""
    said = [m.json() for m in messages if m.topic == f"{BASE}/metrics"]
    return [
        (int(cast(int, d["seq"])), str(d["session_id"])[0], int(cast(int, d["interruptions_by_rep"]))) for d in said
    ]


def _numbers(states: list[str]) -> list[str]:
    """The numbers among ``states``, each run of one once (an outage's "unavailable" between two alike)."""
    return _each_value([int(float(state)) for state in states if state not in ("unknown", "unavailable")])


def _each_value(values: list[int]) -> list[str]:
    """The states an entity showing every message's value writes (the templates before the seq was kept)."""
    states: list[str] = []
    for v in values:
        if not states or states[-1] != str(v):
            states.append(str(v))
    return states


def _crash_while_draining(broker: Mosquitto, tmp_path: Path) -> list[Received]:
    """What a subscriber receives of the two visits: the device killed once B's first interruption has arrived, then
    started again on the same spool."""
    with Recorder(broker) as rec:
        crash_while_draining(broker, tmp_path, lambda: (B[0], 1) in [(s, n) for _, s, n in _metrics(rec.messages)])
        return rec.wait_for(lambda ms: stops(ms) >= 2)


@ORDERS
def test_a_crash_while_draining_counts_each_session_once(
    broker: Mosquitto, tmp_path: Path, attributes_first: bool
) -> None:
    """A kill (or a power cut) while a backlog drains: the next start sends again what was acknowledged but not yet
    deleted, after its status online. Shown, "Interruptions by rep (session)" went to B's 1, then A's 0 to 4 and B's
    0, 1 again: Home Assistant summed 12 interruptions for 7. The entities now keep the highest seq they took and
    ignore a lower one."""
    got = _crash_while_draining(broker, tmp_path)
    metrics = _metrics(got)
    seqs = [seq for seq, _, _ in metrics]
    assert seqs != sorted(seqs), metrics  # the case: messages again after newer ones
    assert statistics_sum(_shown(got, "interruptions", attributes_first, bare=True)) > 7
    shown = _shown(got, "interruptions", attributes_first)
    assert _numbers(shown) == ["0", "1", "2", "3", "4", "0", "1", "2", "3"] and statistics_sum(shown) == 7, shown


@ORDERS
def test_a_broker_outage_across_a_sessions_end_counts_each_session_once(tmp_path: Path, attributes_first: bool) -> None:
    """The broker stopped after A's second interruption and started again after B's first: the backlog (A's last
    figures, its end, B's start) arrives all at once, in seq order, and each session is summed once (checked; no
    fault found). The broker and the subscriber keep their sessions, as Home Assistant's does on a link's outage."""
    with Mosquitto(tmp_path / "broker", persistent=True) as broker, Recorder(broker, persistent=True) as rec:
        with stage_on(broker, tmp_path, **INTERVAL) as stage:
            rec.wait_for(connected)
            play = Player(stage, TWO_VISITS)
            play.to(9.0)
            assert stage.publisher.flush(5.0) and stage._link is not None
            connects = stage._link.connects
            broker.stop()
            play.to(38.0)
            broker.start()
            connected_again(stage, connects)
            play.to(60.0)
            assert stage.publisher.flush(10.0)
        got = rec.wait_for(lambda ms: stops(ms) >= 1)
    metrics = _metrics(got)
    assert [seq for seq, _, _ in metrics] == sorted(seq for seq, _, _ in metrics), metrics
    values = [n for _, _, n in metrics]
    assert values == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3], metrics
    shown = _shown(got, "interruptions", attributes_first)
    assert _numbers(shown) == _each_value(values) and statistics_sum(shown) == 7, shown


# runs in a private mount namespace, its folder a 2 MB tmpfs (tests/test_mqtt_full_card.py's set-up): run 1 loses
# its link for good after A's second interruption (a relay that hangs up on every later connection), so the rest of
# A stays in the file; run 2 starts on the full card, B and C sent from memory, the card freed during C; run 3
# sends the file's backlog from before run 2, then D
RUNS = """
import json, logging, os, sys, time
from pathlib import Path
from listener.config import parse_config
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from listener.outputs.mqtt import MqttStage, spool_start
from tests.full_card import fill_card
from tests.mqtt_feed import block
from tests.mqtt_relay import AckHold
from tests.mqtt_visits import Player, visit
spool_start.REOPEN_S = 0.2
folder, mqtt = Path(sys.argv[1]), json.loads(sys.argv[2])
A, B, C, D = ("a" * 16, "b" * 16, "c" * 16, "d" * 16)

def run(events, until_s, steps=(), **extra):
    table = {"mqtt": {**mqtt, "metrics_interval_s": 2.0, **extra}, "service": {"state_dir": str(folder)}}
    stage = MqttStage(parse_config({**table, "analytics": {"session_min_speech_s": 1.0}}))
    stage.open()
    stage.process(block(0.0))
    time.sleep(0.5)
    play = Player(stage, events)
    for at_s, step in steps:
        play.to(at_s)
        step(stage)
    play.to(until_s)
    stage.publisher.flush(5.0)
    stage.close()

def free(stage):
    os.unlink(folder / "fill")
    time.sleep(0.5)

with AckHold(mqtt["port"], hang_up=frozenset(range(2, 10000))) as relay:
    def cut(stage):
        stage.publisher.flush(5.0)
        relay.drop()
    run(visit(A, 0.0, 4), 30.0, [(9.0, cut)], port=relay.port, shutdown_drain_s=0.0)
fill_card(folder)
run([*visit(B, 0.0, 2), *visit(C, 20.0, 3)], 50.0, [(30.0, free)])
run(visit(D, 0.0, 2), 20.0)
"""


def _three_runs(tmp_path: Path, broker: Mosquitto) -> tuple[list[Received], str]:
    with Recorder(broker) as rec:
        result = in_a_card_namespace(tmp_path, RUNS, json.dumps(broker.mqtt_config()), timeout_s=180)
        assert result.returncode == 0, result.stderr
        got = rec.wait_for(lambda ms: stops(ms) >= 3)
    return got, result.stderr


@ORDERS
def test_a_backlog_left_by_a_full_card_start_never_shows_as_the_current_session(
    broker: Mosquitto, tmp_path: Path, attributes_first: bool
) -> None:
    """A's last figures, left in the file by a start on the full card, arrived at the next start after C's: Home
    Assistant showed A (2, 3, 4) as the current session and A's summary as the last session's, and summed 13
    interruptions for 11 (A's first 2 again, its fall from C's 3 taken for a reset). Now they are older than what
    the entities show, and ignored: the dashboard keeps C until D, and the sum misses A's 2 it never showed (9)."""
    got, log = _three_runs(tmp_path, broker)
    assert "opens now that the card has room" in log, log
    metrics = _metrics(got)
    late = [i for i, (seq, _, _) in enumerate(metrics) if any(seq < before for before, _, _ in metrics[:i])]
    assert late and {metrics[i][1] for i in late} == {A[0]}, metrics  # the case: A's rest after C's
    assert statistics_sum(_each_value([n for _, _, n in metrics])) == 13
    shown = _shown(got, "interruptions", attributes_first)
    assert _numbers(shown) == ["0", "1", "2", "0", "1", "2", "0", "1", "2", "3", "0", "1", "2"], shown
    assert statistics_sum(shown) == 9
    # the last session's figures: B's 2, C's 3, D's 2, never A's 4 between C and D
    assert _numbers(_shown(got, "session_interruptions", attributes_first)) == ["2", "3", "2"]
