"""A day's figures per counter and per store, as the shipped dashboards compute them from `session` summaries.

Nothing shipped said how to get "rep talk share per store per day" or "interruptions per session per day": the
Grafana guide's only share panel averaged the two-minute rolling share over time, and the Home Assistant guide
said to average the sessions' rep_share, which weighs a one-minute question like a half-hour consultation (two
sessions, 1 min at 90 % and 10 min at 40 %: 65 % where the rep spoke 44.5 % of the day's talk). A day's share is
the rep's talk over all its talk, as a session's is (shared metrics.md, Talk share). A day's patience likewise is its
patient response gaps over all its response gaps, not a mean of the sessions' patient_gap_fraction, which weighs a
session of two gaps like one of twenty (InfluxQL has no sum of products to weigh them): the summaries count
patient_gaps for it.

The Node-RED roll-up runs in Node.js as test_mqtt_integrations.py runs the flow's functions; the Grafana
queries run in a real InfluxDB 1.x (Debian's ``influxdb``) when ``influxd`` is installed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from listener.outputs.mqtt import payloads
from tests.mqtt_broker import free_port, kill_process_group
from tests.test_mqtt_guide import guide_examples
from tests.test_mqtt_integrations import DOCS, _run_node, _run_node_with_flow

BERLIN = ZoneInfo("Europe/Berlin")
# yesterday: the flow keeps a month of days by Node-RED's clock
DAY = (dt.datetime.now(BERLIN) - dt.timedelta(days=1)).date().isoformat()
# (topic_prefix, device, start, rep talk s, customer talk s, interruptions by the rep, response gaps, patient ones)
SESSIONS = (
    ("listener/store-12", "store-12-counter-3", "09:10", 54.0, 6.0, 3, 2, 2),  # a minute at 90 %, 2 of 2 patient
    ("listener/store-12", "store-12-counter-3", "11:00", 240.0, 360.0, 1, 20, 5),  # ten minutes at 40 %, 5 of 20
    ("listener/store-12", "store-12-counter-4", "15:00", 100.0, 100.0, 2, 10, 6),
    ("listener/store-14", "store-14-counter-1", "10:00", 30.0, 90.0, 0, 4, 1),
)
POOLED_PCT = {"store-12-counter-3": 44.5, "store-12-counter-4": 50.0, "store-14-counter-1": 25.0}  # 294 / 660
STORE_PCT = {"store-12": 45.8, "store-14": 25.0}  # 394 / 860: store 12's two counters pooled
PER_SESSION = {"store-12-counter-3": 2.0, "store-12-counter-4": 2.0, "store-14-counter-1": 0.0}
PATIENT_PCT = {"store-12-counter-3": 31.8, "store-12-counter-4": 60.0, "store-14-counter-1": 25.0}  # 7 / 22
STORE_PATIENT_PCT = {"store-12": 40.6, "store-14": 25.0}  # 13 / 32
MEAN_OF_FRACTIONS_PCT = 62.5  # store-12-counter-3's (100 % + 25 %) / 2


def _summary(
    seq: int, start: str, rep_s: float, customer_s: float, interruptions: int, gaps: int = 3, patient: int = 1
) -> dict[str, Any]:
    """A `session` payload as the device sends it: the guide's example (test_mqtt_guide.py holds it to what the
    device sends) with this session's times and figures."""
    (example,) = [e for e in guide_examples() if e["schema"] == payloads.schema_name("session")]
    start_ms = int(dt.datetime.fromisoformat(f"{DAY}T{start}").replace(tzinfo=BERLIN).timestamp() * 1000)
    talk = rep_s + customer_s
    summary = {**example, "seq": seq, "ts": start_ms + int(talk * 1000) + 31_000, "start_ms": start_ms}
    summary.update(end_ms=start_ms + int(talk * 1000), duration_s=talk, rep_talk_s=rep_s, customer_talk_s=customer_s)
    summary.update(overlap_s=0.0, silence_s=0.0, rep_share=round(rep_s / talk, 4), interruptions_by_rep=interruptions)
    summary["successful_interruptions_by_rep"] = 0
    summary.update(
        response_gaps=gaps, patient_gaps=patient, patient_gap_fraction=round(patient / gaps, 4) if gaps else None
    )
    jsonschema.validate(summary, payloads.json_schema("session"))
    return summary


def _messages() -> list[dict[str, Any]]:
    return [
        {"topic": f"{prefix}/{device}/session", "payload": _summary(i + 1, start, rep_s, cust_s, n, gaps, patient)}
        for i, (prefix, device, start, rep_s, cust_s, n, gaps, patient) in enumerate(SESSIONS)
    ]


def test_node_red_pools_a_days_talk_per_counter_and_per_store() -> None:
    msgs = _messages()
    msgs.insert(2, msgs[1])  # a QoS 1 duplicate of the ten-minute session: counted once
    run = _run_node_with_flow("Day per counter and store", msgs, tz="Europe/Berlin")
    last: dict[str, dict[str, Any]] = {}
    for out in run["outputs"]:
        for message in out[0] if out else []:
            payload = message["payload"]
            last[payload.get("device") or payload["prefix"].rsplit("/", 1)[-1]] = payload
    assert run["outputs"][2] is None
    assert {name: p["rep_share_pct"] for name, p in last.items()} == POOLED_PCT | STORE_PCT
    assert last["store-12-counter-3"]["rep_share_pct"] != 65.0  # the mean of its two sessions' shares
    assert {d: last[d]["interruptions_by_rep_per_session"] for d in PER_SESSION} == PER_SESSION
    assert last["store-12"]["sessions"] == 3 and last["store-12"]["interruptions_by_rep_per_session"] == 2.0
    assert {p["day"] for p in last.values()} == {DAY}
    assert last["store-12-counter-3"]["prefix"] == "listener/store-12"
    assert {name: p["patient_gap_pct"] for name, p in last.items()} == PATIENT_PCT | STORE_PATIENT_PCT
    assert last["store-12-counter-3"]["patient_gap_pct"] != MEAN_OF_FRACTIONS_PCT
    assert (last["store-12"]["patient_gaps"], last["store-12"]["response_gaps"]) == (13, 32)


def _older(payload: dict[str, Any]) -> dict[str, Any]:
    """A summary from a device of a version before patient_gaps: the fraction alone."""
    return {k: v for k, v in payload.items() if k != "patient_gaps"}


def test_node_red_leaves_an_older_versions_gaps_and_a_gapless_day_out_of_the_patient_share() -> None:
    """An older device's gaps have no count of the patient ones to pool: counted in neither sum, they would pull
    the share down. A day whose sessions had no response gap has no share (null), not 0 %."""
    msgs: list[dict[str, object]] = [
        {"topic": "listener/store-9/c-1/session", "payload": _summary(1, "09:00", 60.0, 60.0, 0, 4, 1)},
        {"topic": "listener/store-9/c-1/session", "payload": _older(_summary(2, "10:00", 60.0, 60.0, 0, 10, 9))},
        {"topic": "listener/store-9/c-2/session", "payload": _summary(1, "09:00", 60.0, 60.0, 0, 0, 0)},
    ]
    outputs = _run_node_with_flow("Day per counter and store", msgs, tz="Europe/Berlin")["outputs"]
    (c1, _), (c1_older, store), (c2, store_after) = (out[0] for out in outputs)
    shown = [m["payload"]["patient_gap_pct"] for m in (c1, c1_older, store, c2, store_after)]
    assert shown == [25.0, 25.0, 25.0, None, 25.0]  # c-1's, with the older summary, the store's; c-2's, the store's
    assert (c1_older["payload"]["response_gaps"], c1_older["payload"]["sessions"]) == (4, 2)


def test_node_red_keeps_a_day_out_of_a_summary_stamped_ahead() -> None:
    """A device whose clock runs a year ahead would fill a day to come (the events' counter refuses it too)."""
    now_ms = int(time.time() * 1000)
    ahead = {**_summary(1, "10:00", 60.0, 60.0, 1), "ts": now_ms + 365 * 86_400_000}
    (out,) = _run_node("Day per counter and store", [{"topic": "listener/c-1/session", "payload": ahead}], "UTC")
    assert out is None


def _grafana_queries() -> dict[str, str]:
    """The guide's daily panels on `session`, by what they compute."""
    queries = re.findall(r"```sql\n(.*?)```", (DOCS / "telegraf-grafana.md").read_text(), re.S)
    daily = [q for q in queries if "\"kind\" = 'session'" in q and "time(1d)" in q]
    (share,) = [q for q in daily if 'sum("rep_talk_s")' in q]
    (interruptions,) = [q for q in daily if 'sum("interruptions_by_rep")' in q]
    (patience,) = [q for q in daily if 'sum("patient_gaps")' in q]
    return {"share": share, "interruptions": interruptions, "patience": patience}


def test_grafanas_daily_share_sums_talk_times_not_shares() -> None:
    queries = _grafana_queries()
    assert 'sum("customer_talk_s")' in queries["share"]
    assert not re.search(r'(mean|median)\("rep_share', " ".join(queries.values()))
    assert 'count("duration_s")' in queries["interruptions"]  # the summarised sessions: one duration_s each
    assert 'sum("response_gaps")' in queries["patience"]
    assert not re.search(r'(mean|median)\("patient_gap_fraction', " ".join(queries.values()))


def _line(device: str, store: str, payload: dict[str, Any]) -> str:
    """The point Telegraf's json_v2 input (telegraf-grafana.md) makes of a `session` message: tags from the
    topic, every number a float field, nulls and the nested cues left out, timestamped by ts."""
    skip = {"schema", "ts", "session_id", "cues"}
    fields = ",".join(
        f"{key}={float(value)}"
        for key, value in payload.items()
        if key not in skip and isinstance(value, int | float) and not isinstance(value, bool)
    )
    return f"listener,store={store},device={device},kind=session {fields} {payload['ts']}"


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[str]:
    """A real influxd on free ports with its data under tmp_path; its HTTP address."""
    influxd = shutil.which("influxd")
    if influxd is None:
        pytest.skip("influxd is not installed: scripts/setup --dev installs it (DEV_APT, Debian's influxdb)")
    http, rpc = free_port(), free_port()
    conf = tmp_path / "influxd.conf"
    conf.write_text(
        f'reporting-enabled = false\nbind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{tmp_path}/meta"\n[data]\n  dir = "{tmp_path}/data"\n  wal-dir = "{tmp_path}/wal"\n'
        f'[monitor]\n  store-enabled = false\n[http]\n  bind-address = "127.0.0.1:{http}"\n  log-enabled = false\n'
    )
    proc = subprocess.Popen(
        [influxd, "-config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    base = f"http://127.0.0.1:{http}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/ping", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        kill_process_group(proc)


def _query(base: str, q: str) -> dict[str, Any]:
    data = urllib.parse.urlencode({"db": "dash", "q": q}).encode()
    with urllib.request.urlopen(f"{base}/query", data=data, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def _per_tag(base: str, query: str, tag: str) -> dict[str, float]:
    """The query's one daily value per ``tag`` value, the panel's dashboard range being all time."""
    q = query.replace("$timeFilter", "time > 0").replace('"device" fill', f'"{tag}" fill')
    (result,) = _query(base, q)["results"]
    assert "error" not in result, result
    out = {}
    for series in result["series"]:
        (row,) = series["values"]
        assert row[0].startswith(DAY), row  # the store's local day: tz() in the query
        out[series["tags"][tag]] = round(row[1], 3)
    return out


def test_grafanas_daily_panels_in_influxdb_pool_a_days_sessions(influx: str) -> None:
    _query(influx, "CREATE DATABASE dash")
    points = [_line(m["topic"].split("/")[-2], m["topic"].split("/")[1], m["payload"]) for m in _messages()]
    write = urllib.request.Request(f"{influx}/write?db=dash&precision=ms", data="\n".join(points).encode())
    urllib.request.urlopen(write, timeout=10).close()
    queries = _grafana_queries()
    shares = _per_tag(influx, queries["share"], "device")
    assert {d: round(s, 1) for d, s in shares.items()} == POOLED_PCT
    assert {s: round(v, 1) for s, v in _per_tag(influx, queries["share"], "store").items()} == STORE_PCT
    assert _per_tag(influx, queries["interruptions"], "device") == PER_SESSION
    patience = {d: round(s, 1) for d, s in _per_tag(influx, queries["patience"], "device").items()}
    assert patience == PATIENT_PCT and patience["store-12-counter-3"] != MEAN_OF_FRACTIONS_PCT
    assert {s: round(v, 1) for s, v in _per_tag(influx, queries["patience"], "store").items()} == STORE_PATIENT_PCT
    # an older device's summary (no patient_gaps: 25 % would read 7.1 %), and a day without a response gap (0 / 0,
    # which InfluxDB 1.6 gives as 0 %): left out, as in Node-RED
    older = _older(_summary(9, "16:00", 60.0, 60.0, 0, 10, 9))
    gapless = _summary(1, "16:00", 60.0, 60.0, 0, 0, 0)
    more = [_line("store-14-counter-1", "store-14", older), _line("store-14-counter-2", "store-14", gapless)]
    write = urllib.request.Request(f"{influx}/write?db=dash&precision=ms", data="\n".join(more).encode())
    urllib.request.urlopen(write, timeout=10).close()
    assert {d: round(s, 1) for d, s in _per_tag(influx, queries["patience"], "device").items()} == PATIENT_PCT
