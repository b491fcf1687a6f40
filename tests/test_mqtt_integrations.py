"""The shipped integrations (docs/integrations): the Node-RED flow run in Node.js, Telegraf and Grafana text,
and mqtt.md's tables of topics and Home Assistant entities against what the device sends.

The devices count ``sessions_today`` from local midnight and a Last Will's ``ts``
is when the connection it guards was made: consumers must bucket by local
date and date an ``offline`` by its arrival.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import yaml

from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.discovery import discovery_payload

DOCS = Path(__file__).resolve().parents[1] / "docs" / "integrations"
DATA = Path(__file__).resolve().parents[1] / "listener" / "data"
NODE = shutil.which("node") or shutil.which("nodejs")
DAY_MS = 86_400_000

# Runs one function node's body the way Node-RED does (msg, node, context, flow), one message at a time.
HARNESS = """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const store = (s) => ({ get: (k) => s[k], set: (k, v) => { s[k] = v; } });
const flowStore = {}, context = store({}), flow = store(flowStore), warnings = [];
const node = { status: () => {}, warn: (text) => { warnings.push(text); } };
const run = new Function("msg", "node", "context", "flow", input.func);
const outputs = input.msgs.map((m) => run(m, node, context, flow));
console.log(JSON.stringify({ outputs: outputs, flow: flowStore, warnings: warnings }));
"""


def _function(name: str) -> str:
    flow = json.loads((DOCS / "node-red-flow.json").read_text())
    (node,) = [n for n in flow if n["type"] == "function" and n["name"] == name]
    return str(node["func"])


def _run_node(name: str, msgs: list[dict[str, object]], tz: str) -> list[Any]:
    """What the function node returned for each message."""
    outputs: list[Any] = _run_node_with_flow(name, msgs, tz)["outputs"]
    return outputs


def _run_node_with_flow(name: str, msgs: list[dict[str, object]], tz: str) -> dict[str, Any]:
    """``outputs`` (one per message), ``flow``, the flow context the node left, and the node's ``warnings``."""
    if NODE is None:
        pytest.skip("Node.js is not installed")
    env = {**os.environ, "TZ": tz}
    stdin = json.dumps({"func": _function(name), "msgs": msgs})
    done = subprocess.run([NODE, "-e", HARNESS], input=stdin, capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


def test_node_red_counts_per_local_day_as_the_devices_do() -> None:
    # 20:30 on 2 March in New York is 01:30 on 3 March UTC: the store's day is the 2nd
    start = {"seq": 5, "ts": _ms("2026-03-02T20:30:00-05:00"), "type": "session_start"}
    evening: dict[str, object] = {"topic": "listener/counter-3/event", "payload": start}
    (out,) = _run_node("Count per counter and day", [evening], tz="America/New_York")
    counts = out[0]
    assert counts["topic"] == "counter-3/2026-03-02"
    assert counts["payload"]["day"] == "2026-03-02" and counts["payload"]["sessions"] == 1


def _session_start(device: str, seq: int, ts_ms: int) -> dict[str, object]:
    return {"topic": f"listener/{device}/event", "payload": {"seq": seq, "ts": ts_ms, "type": "session_start"}}


def _berlin_day(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, ZoneInfo("Europe/Berlin")).date().isoformat()


def test_node_red_keeps_a_month_of_daily_counts() -> None:
    """One key per counter and day grew for ever in the flow context (a persistent store rewrites it whole):
    counts older than 31 days before today are dropped, the month's are kept."""
    now_ms = int(time.time() * 1000)
    stamps = [now_ms - 35 * DAY_MS, now_ms - 16 * DAY_MS, now_ms]
    msgs = [_session_start("counter-3", i, ts) for i, ts in enumerate(stamps)]
    flow = _run_node_with_flow("Count per counter and day", msgs, tz="Europe/Berlin")["flow"]
    assert sorted(flow["listener_today"]) == [f"counter-3/{_berlin_day(ts)}" for ts in stamps[1:]]


def test_node_red_keeps_every_counters_days_when_one_clock_reads_a_year_ahead() -> None:
    """Days were pruned 31 days before the event's own ts: one device whose clock read a year ahead (set by hand
    with a typo in the year) wiped every counter's daily totals, and its sessions were counted on a day to come."""
    now_ms = int(time.time() * 1000)
    msgs = [_session_start(f"counter-{n}", d, now_ms - d * DAY_MS) for n in (1, 2) for d in range(5)]
    msgs += [_session_start("counter-9", 100 + i, now_ms + 365 * DAY_MS + i) for i in range(2)]
    msgs += [_session_start("counter-9", 102, now_ms)]  # its clock set right: counted again
    run = _run_node_with_flow("Count per counter and day", msgs, tz="Europe/Berlin")
    days = sorted(run["flow"]["listener_today"])
    kept = sorted(f"counter-{n}/{_berlin_day(now_ms - d * DAY_MS)}" for n in (1, 2) for d in range(5))
    assert days == sorted([*kept, f"counter-9/{_berlin_day(now_ms)}"])
    assert run["outputs"][10:12] == [None, None]
    (warning,) = run["warnings"]  # once, not for each event
    assert warning.startswith("counter-9's clock reads ") and "ahead of Node-RED's" in warning and "NTP" in warning


def test_node_red_names_the_device_under_any_topic_prefix() -> None:
    # topic_prefix may have levels of its own ("store/listener"): the device is the second-to-last
    start = {"seq": 5, "ts": _ms("2026-03-02T12:00:00+00:00"), "type": "session_start"}
    msgs: list[dict[str, object]] = [
        {"topic": topic, "payload": start} for topic in ("store/listener/counter-3/event", "listener/counter-4/event")
    ]
    first, second = _run_node("Count per counter and day", msgs, tz="UTC")
    assert (first[0]["payload"]["device"], second[0]["payload"]["device"]) == ("counter-3", "counter-4")
    online = {"ts": 0, "state": "online"}
    status: dict[str, object] = {"topic": "store/listener/counter-3/status", "payload": online, "retain": True}
    summary = {"seq": 1, "start_ms": 0, "duration_s": 60.0, "rep_share": 0.5}
    session: dict[str, object] = {"topic": "store/listener/counter-3/session", "payload": summary}
    assert _run_node("Online / offline", [status], tz="UTC")[0]["payload"]["device"] == "counter-3"
    assert _run_node("Summarize", [session], tz="UTC")[0]["payload"]["device"] == "counter-3"


def test_node_red_dates_an_offline_by_its_arrival() -> None:
    now_ms = int(time.time() * 1000)
    connected_ms = now_ms - 3 * 86_400_000  # the Will of a connection made three days ago
    will = {"schema": "listener.mqtt.status/1", "ts": connected_ms, "seq": 9, "state": "offline"}
    online = {"schema": "listener.mqtt.status/1", "ts": connected_ms, "seq": 8, "state": "online"}
    msgs = [
        {"topic": "listener/counter-3/status", "payload": online, "retain": False},
        {"topic": "listener/counter-3/status", "payload": will, "retain": False},
        {"topic": "listener/counter-3/status", "payload": will, "retain": True},  # on subscribing: since unknown
    ]
    up, down, retained = (m["payload"] for m in _run_node("Online / offline", msgs, tz="UTC"))
    assert _ms(up["since"]) == connected_ms
    assert abs(_ms(down["since"]) - now_ms) < 60_000, down
    assert retained["state"] == "offline" and retained["since"] is None


def test_node_red_shows_each_session_summary_once() -> None:
    # a QoS 1 duplicate after a reconnect carries the same seq: "Finished sessions" must not list it twice
    summary = {"seq": 41, "start_ms": 1_796_000_000_000, "duration_s": 300.0, "rep_share": 0.62}
    other = {**summary, "seq": 57}
    msgs: list[dict[str, object]] = [
        {"topic": "listener/counter-3/session", "payload": p} for p in (summary, summary, other)
    ]
    first, repeat, second = _run_node("Summarize", msgs, tz="UTC")
    assert first["payload"]["minutes"] == 5.0 and first["payload"]["rep_share_pct"] == 62
    assert repeat is None and second is not None


def test_node_red_signals_only_fresh_interruptions() -> None:
    """A backlog drained after an outage fired "Rep interrupting" 27 times in 19.6 s for interruptions up to
    101 s old (bench.node_red; in a real outage hours or days old): a lamp wired to it flashed for stale news."""
    now_ms = int(time.time() * 1000)

    def event(seq: int, onset_ms: int, kind: str = "interruption", by: str = "rep") -> dict[str, object]:
        payload = {"seq": seq, "ts": onset_ms + 1200, "type": kind, "by": by, "onset_ms": onset_ms}
        return {"topic": "listener/counter-3/event", "payload": payload}

    msgs = [
        event(1, now_ms - 3_000),  # live: begun 3 s ago
        event(2, now_ms - 101_000),  # from the drained backlog
        event(3, now_ms - 26 * 3_600_000),  # an outage overnight
        event(4, now_ms - 2_000, by="customer"),
        event(5, now_ms - 2_000, kind="interruption_outcome"),  # completes one already passed
    ]
    passed = _run_node("Rep interrupting", msgs, tz="UTC")
    assert [out is not None for out in passed] == [True, False, False, False, False]
    assert passed[0]["payload"]["seq"] == 1


def test_node_red_warns_when_a_device_lost_messages() -> None:
    """After an outage that overflowed the spool the flow's totals showed 7 sessions for the day where the
    device's sessions_today said 14, and nothing said why: info's spool_dropped reached no dashboard."""

    made = payloads.DeviceInfo(
        "0.1.0", "0123456789ab", "2.2.0", "5", "respeaker-4mic", "doa", "0123456789ab", None, "abc", 10.0
    )

    def info(device: str, dropped: int, seq: int) -> dict[str, object]:
        figures = payloads.SpoolFigures(dropped, 0, 0, "ok")
        payload = {**payloads.info(made, figures, True, _ms("2026-03-02T18:00:00+00:00")), "seq": seq}
        return {"topic": f"store/listener/{device}/info", "payload": payload, "retain": False}

    msgs = [
        {**info("counter-3", 20, 1), "retain": True},  # on subscribing: losses of long ago, the start
        info("counter-3", 20, 1),  # again after a re-subscription
        info("counter-3", 1437, 9),  # the connect after a long outage
        info("counter-3", 1437, 12),  # once more when that backlog has drained
        info("counter-4", 3, 4),  # another device, first seen
        info("counter-3", 0, 20),  # a new spool file counts from 0
        info("counter-3", 5, 23),
    ]
    run = _run_node_with_flow("Messages lost", msgs, tz="UTC")
    shown = [out and out["payload"] for out in run["outputs"]]
    assert shown[:2] == [None, None] and shown[3:6] == [None, None, None]
    assert shown[2] == {
        "device": "counter-3",
        "lost": 1417,
        "spool_dropped": 1437,
        "reported": "2026-03-02T18:00:00.000Z",
    }
    assert shown[6]["lost"] == 5
    assert len(run["warnings"]) == 2 and "1417 messages lost" in run["warnings"][0]
    flow = json.loads((DOCS / "node-red-flow.json").read_text())
    (source,) = [n for n in flow if n["type"] == "mqtt in" and n["topic"] == "listener/+/info"]
    (function,) = [n for n in flow if n["type"] == "function" and n["name"] == "Messages lost"]
    assert function["id"] in source["wires"][0] and source["datatype"] == "json"


def _storage_info(device: str, storage: str, in_memory: int) -> dict[str, object]:
    """An info message as the flow receives it from ``device``, its card's ``storage`` and what waits in memory."""
    made = payloads.DeviceInfo(
        "0.1.0", "0123456789ab", "2.2.0", "5", "respeaker-4mic", "doa", "0123456789ab", None, "abc", 10.0
    )
    figures = payloads.SpoolFigures(0, in_memory, in_memory, storage)
    payload = payloads.info(made, figures, True, _ms("2026-03-02T18:00:00+00:00"))
    return {"topic": f"store/listener/{device}/info", "payload": payload, "retain": False}


def _storage_infos() -> list[dict[str, object]]:
    old = _storage_info("counter-5", "ok", 0)
    del cast(dict[str, object], old["payload"])["storage"]  # a device of a version before it
    return [
        _storage_info("counter-3", "ok", 0),  # first seen, healthy: nothing to say
        _storage_info("counter-3", "full", 0),  # the card filled with the broker connected
        _storage_info("counter-3", "full", 212),  # the connect after an outage: still full, more at risk, said already
        _storage_info("counter-3", "ok", 0),  # it took them
        _storage_info("counter-4", "unwritable", 3),  # another device, first seen with its card refusing writes
        old,
    ]


def test_node_red_warns_when_a_devices_card_refuses_the_spool_and_when_it_takes_it_again() -> None:
    """A full SD card kept a device's messages in its memory, lost at its restart: the journal said so, the flow
    did not. info's storage says it: warned when it leaves "ok" (a device first seen so too), shown when back."""
    run = _run_node_with_flow("Storage", _storage_infos(), tz="UTC")
    shown = [out and out["payload"] for out in run["outputs"]]
    assert shown[0] is None and shown[2] is None and shown[5] is None
    assert [s["storage"] for s in (shown[1], shown[3], shown[4])] == ["full", "ok", "unwritable"]
    assert shown[4] == {
        "device": "counter-4",
        "storage": "unwritable",
        "spool_in_memory": 3,
        "reported": "2026-03-02T18:00:00.000Z",
    }
    warned = run["warnings"]
    assert len(warned) == 2, warned
    assert warned[0].startswith("counter-3: its SD card is full, 0 messages wait in its memory"), warned
    assert "free space on it (df -h" in warned[0]
    assert warned[1].startswith("counter-4: its SD card is unwritable, 3 messages") and "dmesg" in warned[1]
    flow = json.loads((DOCS / "node-red-flow.json").read_text())
    (source,) = [n for n in flow if n["type"] == "mqtt in" and n["topic"] == "listener/+/info"]
    (function,) = [n for n in flow if n["type"] == "function" and n["name"] == "Storage"]
    (debug,) = [n for n in flow if n["type"] == "debug" and n["name"] == "Storage by counter"]
    assert function["id"] in source["wires"][0] and function["wires"] == [[debug["id"]]]


def test_node_red_keeps_its_subscriptions_while_it_is_away() -> None:
    """A clean session would make the broker forget Node-RED at each restart, and the sessions that end
    meanwhile would never reach the dashboard: a persistent session with a fixed client id keeps them."""
    flow = json.loads((DOCS / "node-red-flow.json").read_text())
    (broker,) = [n for n in flow if n["type"] == "mqtt-broker"]
    assert broker["cleansession"] is False and broker["autoUnsubscribe"] is False and broker["clientid"]
    qos = {n["name"]: str(n["qos"]) for n in flow if n["type"] == "mqtt in"}
    # status at QoS 0: an offline queued while Node-RED was away would be dated by its late arrival (the
    # retained status comes again at each subscription); bench.node_red measured 11 s late at QoS 1
    # info at QoS 1: one sent while Node-RED is away is queued and its rise of spool_dropped warned at its start
    assert qos == {"Listener events": "1", "Session summaries": "1", "Listener status": "0", "Listener info": "1"}


def _telegraf_conf() -> str:
    text = (DOCS / "telegraf-grafana.md").read_text()
    (conf,) = re.findall(r"## telegraf.conf\s+```toml\n(.*?)```", text, re.S)
    return str(conf)


def test_telegraf_subscribes_to_status_dated_by_arrival() -> None:
    inputs = _telegraf_conf().split("[[inputs.mqtt_consumer]]")[1:]
    status = [i for i in inputs if '"listener/+/status"' in i]
    assert len(status) == 1, "state is valid only while status is online: Telegraf must store status"
    # no timestamp from ts: a Last Will's ts is when its connection was made
    assert not re.search(r"^\s*timestamp_path\s*=", status[0], re.M)


def test_grafana_days_are_local_days() -> None:
    text = (DOCS / "telegraf-grafana.md").read_text()
    queries = re.findall(r"```sql\n(.*?)```", text, re.S)
    daily = [q for q in queries if "time(1d)" in q]
    assert daily and all(re.search(r"tz\('[A-Za-z_]+/[A-Za-z_]+'\)\s*$", q.strip()) for q in daily), daily
    assert "valid only while" in text  # state, after a crash: read it with status


def test_grafana_shows_the_messages_a_device_lost() -> None:
    """spool_dropped and spool_depth come only in info, which Telegraf did not take: after an outage that
    overflowed the spool the sessions counted from events fell short of sessions_today and no panel said why."""
    inputs = _telegraf_conf().split("[[inputs.mqtt_consumer]]")[1:]
    (dated,) = [i for i in inputs if re.search(r'^\s*timestamp_path\s*=\s*"ts"', i, re.M)]
    assert '"listener/+/info"' in dated  # dated by its ts: made at the connect that reported the loss
    queries = re.findall(r"```sql\n(.*?)```", (DOCS / "telegraf-grafana.md").read_text(), re.S)
    on_info = [q for q in queries if "\"kind\" = 'info'" in q]
    named = {f for q in on_info for f in re.findall(r'"(spool_\w+|storage)"', q)}
    # and a card that refuses the spool (storage), the messages waiting in memory meanwhile
    spool = {"spool_dropped", "spool_depth", "spool_in_memory", "storage"}
    assert named == spool <= set(payloads.json_schema("info")["properties"])
    # the rise since the info before: a new spool file counting from 0 is no loss
    assert any('non_negative_difference("spool_dropped")' in q for q in on_info)


def _table(text: str, heading: str) -> list[list[str]]:
    """The cells of each body row of the first table after ``heading``."""
    table = "| " + text.split(heading, 1)[1].split("\n\n| ", 1)[1].split("\n\n", 1)[0]
    return [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in table.splitlines()[2:]]


def test_the_guides_topic_table_says_what_is_retained_and_its_qos_as_the_device_sends_them() -> None:
    """mqtt.md's topic table against the AsyncAPI document's bindings (which the device's retained topics are
    held to, test_mqtt_schemas.py, as a real broker sees them, test_mqtt_broker.py): a dashboard author reads
    here whether a topic is there to read at subscribe time."""
    operations = yaml.safe_load((DATA / "asyncapi.yaml").read_text())["operations"]
    bindings = {op["channel"]["$ref"].rsplit("/", 1)[-1]: op["bindings"]["mqtt"] for op in operations.values()}
    rows = _table((DOCS / "mqtt.md").read_text(), "## Topics")
    channels = set()
    for topic, retained, qos, *_ in rows:
        channel = "homeassistantDiscovery" if topic.endswith("/config`") else topic.strip("`")
        channels.add(channel)
        assert retained == ("yes" if bindings[channel]["retain"] else "no"), (topic, retained)
        assert int(qos.split()[0]) == bindings[channel]["qos"], (topic, qos)
    assert channels == {*payloads.TOPICS, "homeassistantDiscovery", "doctor"}


def test_the_guides_home_assistant_table_names_each_entity_its_topic_and_field() -> None:
    """Every entity discovery offers (a transcribing device's, the question counts too) is a row of mqtt.md's
    table, with the topic and field it reads, and every row is an entity."""
    config = discovery_payload("listener/counter-3", "counter-3", "respeaker-4mic", transcribing=True)
    offered = {
        (str(c["name"]), str(c["state_topic"]).rsplit("/", 1)[1]): re.findall(
            r"value_json\.([\w.]+)", c["value_template"]
        )[-1]
        for c in cast(dict[str, dict[str, str]], config["cmps"]).values()
    }
    listed: dict[tuple[str, str], str] = {}
    for entity, source, value in _table((DOCS / "mqtt.md").read_text(), "## Home Assistant"):
        name = entity
        while qualified := re.fullmatch(r"(.*?)\s*\((?:binary sensor|diagnostic[^)]*|only with [^)]*)\)", name):
            name = qualified.group(1)
        prefix, _, names = name.rpartition(": ")  # "Last session: questions by rep, open questions by rep"
        for one in names.split(", "):
            listed[(f"{prefix}: {one}" if prefix else one, source.strip("`"))] = value
    assert set(listed) == set(offered)
    for key, field in offered.items():
        assert f"`{field}`" in listed[key], (key, listed[key])


def test_every_field_a_grafana_query_reads_is_in_its_messages_schema() -> None:
    """A field misspelt in a panel reads as no data, like a quiet counter."""
    text = (DOCS / "telegraf-grafana.md").read_text()
    queries = re.findall(r"```(?:sql|flux)\n(.*?)```", text, re.S)
    assert len(queries) >= 9, "the guide's queries are no longer found: none would be checked"  # 8 InfluxQL, 1 Flux
    tags = {"device", "kind"}  # the topic's, from topic_parsing
    for query in queries:
        kind = re.search(r"\"kind\" = '(\w+)'|r\.kind == \"(\w+)\"", query)
        topic = "status" if '"listener_status"' in query else next(k for k in kind.groups() if k) if kind else None
        assert topic in payloads.TOPICS, query
        read = re.findall(r"\w+\(\"(\w+)\"\)|r\._field == \"(\w+)\"", query)
        where = re.findall(r"\"(\w+)\" = '", query)
        fields = {f for pair in read for f in pair if f} | set(where)
        assert fields, query
        assert fields - tags <= set(payloads.json_schema(topic)["properties"]), (query, fields)
