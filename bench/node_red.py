"""The shipped Node-RED flow (docs/integrations/node-red-flow.json) in a real Node-RED, fed by a real device run.

    .venv/bin/python -m bench.node_red [--node-red VERSION] [--tz Europe/Berlin] [--keep DIR]

Node-RED comes from npm into bench/.cache/node-red-VERSION (the newest release whose engines accept
this machine's Node.js unless --node-red says otherwise). A mosquitto on a free port; Node-RED in a
temporary userDir with no auth, started in safe mode so that a websocket on /comms (what the editor's
debug sidebar reads) is listening before the flow runs, and with the persistent context store that
node-red.md recommends. The flow is deployed with POST /flows as a user imports it, edited only as
node-red.md says (the broker's host and port; the MQTT-in topics for another ``topic_prefix``).

Then, as a store would see it: the bundled sample through ``listener run --input --fast``; QoS 1
duplicates (every event and summary published again, same ``seq``); a device killed mid-session
(its Last Will); Node-RED stopped while a device runs, and started again; a retired device's retained
messages cleared; a device under ``topic_prefix = "store/listener"``. Prints what each debug node
showed beside what the device published, and every error and warning Node-RED logged; asserts
nothing. Needs node and npm (scripts/setup installs nodejs; npm from Debian's ``npm``) and mosquitto.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.device_run import SAMPLE, DeviceBench, wait_until
from bench.node_red_process import NODE_RED_FOR_NODE, NodeRed, install, node_version
from bench.signals import ROOT as REPO
from tests.mqtt_broker import DEVICE_ID, Mosquitto, Recorder, kill_process_group

FLOW = REPO / "docs" / "integrations" / "node-red-flow.json"
TAB_ID = next(n["id"] for n in json.loads(FLOW.read_text()) if n["type"] == "tab")  # the flow context's key
AWAY_S = 10.0  # how long Node-RED stays stopped while the device runs
DEBUG_NODES = (
    "Today",
    "Interruption by rep",
    "Counter status",
    "Finished sessions",
    "Day's share, interruptions, patience",
    "Messages lost by counter",
    "Storage by counter",
)


def flow_for(port: int, prefix: str = "listener") -> list[dict[str, Any]]:
    """The shipped flow as node-red.md tells a user to edit it: broker host and port, MQTT-in topics."""
    flow: list[dict[str, Any]] = json.loads(FLOW.read_text())
    for node in flow:
        if node["type"] == "mqtt-broker":
            node.update(broker="127.0.0.1", port=str(port))
        if node["type"] == "mqtt in":
            node["topic"] = node["topic"].replace("listener/", f"{prefix}/", 1)
    return flow


@dataclass
class Bench(DeviceBench):
    red: NodeRed
    recorder: Recorder

    def published(self, since: int) -> list[tuple[str, dict[str, Any] | None, bool]]:
        """What the device published after message ``since``: (leaf topic, payload, retained)."""
        out: list[tuple[str, dict[str, Any] | None, bool]] = []
        for m in self.recorder.messages[since:]:
            payload = json.loads(m.payload) if m.payload else None
            out.append((m.topic.rsplit("/", 1)[-1], payload, m.retain))
        return out


def iso_ms(iso: str | None) -> float | None:
    if iso is None:
        return None
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def report(b: Bench, mark: int, rec: int) -> None:
    """What the device published since ``rec`` beside what each debug node showed since ``mark``."""
    pub = b.published(rec)
    events = [p["type"] for leaf, p, _ in pub if leaf == "event" and p]
    states = [p["sessions_today"] for leaf, p, _ in pub if leaf == "state" and p]
    status = [p["state"] for leaf, p, _ in pub if leaf == "status" and p]
    print(f"  device published: {len(events)} events {dict(sorted(Counter(events).items()))}, "
          f"{sum(leaf == 'session' for leaf, _, _ in pub)} session summaries, status {status}, "
          f"sessions_today {states[-1] if states else '-'}")  # fmt: skip
    for leaf, p, _ in pub:
        if leaf == "session" and p:
            fields = ("start_ms", "duration_s", "rep_share", "interruptions_by_rep", "response_gap_median_s")
            print("    its summary:", {k: p[k] for k in fields})
    sb = b.red.sidebar
    for name in DEBUG_NODES:
        shown = sb.of(name, mark)
        last = shown[-1] if shown else None
        if name in ("Counter status", "Finished sessions"):
            print(f"  {name}: {len(shown)} shown: {json.dumps(shown)}")
        else:
            print(f"  {name}: {len(shown)} shown, last {json.dumps(last)}")
    for err in sb.errors(mark):
        print(f"  sidebar error (level {err['level']}): {err['value']}")


def totals(b: Bench) -> Any:
    ctx = b.red.api("GET", f"/context/flow/{TAB_ID}")
    store: dict[str, Any] = next(iter(ctx.values()), {})
    value = store.get("listener_today", {}).get("msg")
    return json.loads(value) if value else None


def settle(b: Bench, mark: int, name: str, count: int = 1, timeout_s: float = 30.0) -> None:
    """Wait for ``count`` outputs of debug node ``name`` since ``mark``, then a second for stragglers."""
    wait_until(lambda: len(b.red.sidebar.of(name, mark)) >= count, timeout_s, f"{count} x {name}")
    time.sleep(1.0)


def deploy(b: Bench, flow: list[dict[str, Any]]) -> None:
    """POST /flows (the import, then Deploy) and what Node-RED says of it."""
    log_at = b.red.log_size()
    known = {t for module in b.red.api("GET", "/nodes") for t in module["types"]}
    needed = {n["type"] for n in flow} - {"tab"}
    rev = b.red.api("POST", "/flows", {"flows": flow})["rev"]
    wait_until(lambda: "Connected to broker" in b.red.log.read_bytes()[log_at:].decode(errors="replace"), 15,
               "broker connection")  # fmt: skip
    deployed = b.red.api("GET", "/flows")
    same = {n["id"] for n in deployed["flows"]} == {n["id"] for n in flow}
    state = b.red.api("GET", "/flows/state")["state"]
    unknown = sorted(needed - known) or "none"
    print(f"  node types: {len(needed)} needed {sorted(needed)}, unknown to Node-RED: {unknown}")
    print(f"  deployed rev {rev[:12]}: {len(deployed['flows'])} nodes, the same ids: {same}; flows {state}")
    for line in b.red.log_lines(log_at, ("[warn]", "[error]", "Connected to broker")):
        print("  log:", line)


def live_run(b: Bench) -> None:
    mark, rec = b.red.sidebar.mark(), len(b.recorder.messages)
    t0 = time.monotonic()
    rc = b.run_device()
    settle(b, mark, "Counter status", 2)
    print(f"  listener run --input sample --fast: exit {rc} after {time.monotonic() - t0:.1f} s")
    report(b, mark, rec)
    print(f"  flow context listener_today: {json.dumps(totals(b))}")


def duplicates(b: Bench) -> None:
    """Every event and summary of the live run published again, as a QoS 1 redelivery would."""
    mark = b.red.sidebar.mark()
    again = [m for m in b.recorder.messages if m.topic.endswith(("/event", "/session"))]
    for m in again:
        b.recorder.publish(m.topic, m.payload)
    time.sleep(2.0)
    new = {name: len(b.red.sidebar.of(name, mark)) for name in DEBUG_NODES}
    print(f"  republished {len(again)} messages (same seq): debug outputs since {new}; "
          f"errors {len(b.red.sidebar.errors(mark))}")  # fmt: skip


def last_will(b: Bench) -> None:
    """A device that hangs mid-session (SIGSTOP: its connection stays open, as on a power cut, but silent):
    the broker publishes its Last Will after 1.5 x keepalive_s (5 s here), then the device is killed."""
    mark, rec = b.red.sidebar.mark(), len(b.recorder.messages)
    proc = b.device(fast=False)
    started = wait_until(lambda: any(leaf == "event" for leaf, _, _ in b.published(rec)), 60, "session_start")
    frozen_ms = time.time() * 1000
    os.killpg(proc.pid, signal.SIGSTOP)
    print(f"  device frozen {'mid-session' if started else 'before its first event'}")

    def offline() -> list[dict[str, Any]]:
        return [s for s in b.red.sidebar.of("Counter status", mark) if s.get("state") == "offline"]

    wait_until(lambda: bool(offline()), 30, "offline")
    kill_process_group(proc)
    report(b, mark, rec)
    will = [p for leaf, p, _ in b.published(rec) if leaf == "status" and p and p["state"] == "offline"]
    if will and offline():
        since = iso_ms(offline()[-1]["since"]) or 0.0
        print(f"  from the freeze: the Will's ts {(will[-1]['ts'] - frozen_ms) / 1000:+.1f} s, "
              f"'since' shown {(since - frozen_ms) / 1000:+.1f} s")  # fmt: skip


def away(b: Bench) -> None:
    """Node-RED stopped (SIGTERM) while a device runs a session, started again a few seconds later."""
    before = totals(b)
    b.red.stop()
    rec = len(b.recorder.messages)
    rc = b.run_device()
    clock = time.time() - time.monotonic()
    last_status = max((m.at for m in b.recorder.messages[rec:] if m.topic.endswith("/status")), default=0.0)
    offline_ms = 1000 * (clock + last_status)
    time.sleep(AWAY_S)
    b.red.start()
    mark = b.red.sidebar.mark()
    started_ms = time.time() * 1000
    b.red.api("POST", "/flows/state", {"state": "start"})
    settle(b, mark, "Finished sessions", 1, 20)
    print(f"  device ran while Node-RED was stopped (exit {rc}); flows started "
          f"{(started_ms - offline_ms) / 1000:.1f} s after the device's offline")  # fmt: skip
    report(b, mark, rec)
    for s in b.red.sidebar.of("Counter status", mark):
        at = iso_ms(s["since"])
        when = "null" if at is None else f"{(at - offline_ms) / 1000:+.1f} s from the device's offline"
        print(f"    {s['state']} since: {when}")
    print(f"  totals before the stop {json.dumps(before)}\n  totals after the start {json.dumps(totals(b))}")


def clear_retained(b: Bench) -> None:
    """A retired device's retained status, info and state cleared, as mqtt.md says (empty payloads)."""
    mark, log_at = b.red.sidebar.mark(), b.red.log_size()
    for leaf in ("status", "info", "state"):
        b.recorder.publish(f"listener/{DEVICE_ID}/{leaf}", b"", retain=True)
    time.sleep(2.0)
    lines = b.red.log_lines(log_at, ("[warn]", "[error]"))
    print(f"  3 retained topics cleared: {len(lines)} log lines, {len(b.red.sidebar.errors(mark))} sidebar errors")
    for line in lines:
        print("  log:", line)


def other_prefix(b: Bench) -> None:
    """A device under topic_prefix = "store/listener", the flow's MQTT-in topics changed to match."""
    deploy(b, flow_for(b.broker.port, "store/listener"))
    live_run_prefix = b.red.sidebar.mark(), len(b.recorder.messages)
    rc = b.run_device("store/listener")
    settle(b, live_run_prefix[0], "Counter status", 2)
    print(f"  listener run with topic_prefix store/listener: exit {rc}")
    report(b, *live_run_prefix)
    print(f"  flow context listener_today: {json.dumps(totals(b))}")


SCENARIOS: tuple[tuple[str, Callable[[Bench], None]], ...] = (
    ("a device's run of the bundled sample", live_run),
    ("QoS 1 duplicates", duplicates),
    ("a device hung mid-session (its Last Will)", last_will),
    ("Node-RED away while a device runs", away),
    ("a retired device's retained messages cleared", clear_retained),
    ("another topic_prefix", other_prefix),
)


def run(exe: Path, version: str, folder: Path, tz: str) -> None:
    with Mosquitto(folder / "broker") as broker, Recorder(broker, topics=("listener/#", "store/#")) as recorder:
        red = NodeRed(exe, folder / "node-red", tz)
        b = Bench(broker=broker, folder=folder, red=red, recorder=recorder)
        try:
            red.start()
            node = ".".join(map(str, node_version()))
            print(f"Node-RED {version} on Node.js {node}.x, TZ={tz}, admin API on 127.0.0.1:{red.port}")
            print(f"mosquitto on 127.0.0.1:{broker.port}; the device: listener run --input {SAMPLE.name}")
            print("\n== the shipped flow imported and deployed (broker host and port edited)")
            deploy(b, flow_for(broker.port))
            for title, scenario in SCENARIOS:
                print(f"\n== {title}")
                scenario(b)
        finally:
            red.stop()
        print("\n== every warning and error Node-RED logged (less its start-up notices about credentials, projects)")
        for line in red.log_lines() or ["  none"]:
            print(" ", line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--node-red", help="Node-RED version from npm (default: the newest this Node.js runs)")
    parser.add_argument("--tz", default="Europe/Berlin", help="Node-RED's time zone (the stores')")
    parser.add_argument("--keep", type=Path, help="keep the broker's, Node-RED's and the device's files here")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        print(f"node_red: needs {' and '.join(missing)} (apt-get install nodejs npm)", file=sys.stderr)
        return 2
    node = node_version()
    version = args.node_red or next((v for least, v in NODE_RED_FOR_NODE if node >= least), None)
    if version is None:
        print(f"node_red: Node.js {node[0]}.{node[1]} is older than any Node-RED this bench knows", file=sys.stderr)
        return 2
    exe = install(version)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(exe, version, args.keep, args.tz)
    else:
        with tempfile.TemporaryDirectory(prefix="node-red-bench-") as tmp:
            run(exe, version, Path(tmp), args.tz)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
