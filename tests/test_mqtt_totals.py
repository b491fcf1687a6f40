"""The dashboards' totals never fall: ``spool_dropped`` (Home Assistant's "Messages lost (spool)", a
``total_increasing`` sensor, the Node-RED flow's "Messages lost", Grafana's ``non_negative_difference``) and
``sessions_today`` ("Sessions today", ``total_increasing`` too) across restarts, a full card and a damaged spool.

Home Assistant reads a fall of a ``total_increasing`` sensor as a meter reset and adds the next value whole to its
long-term sum; Node-RED and Grafana take the rise after it for that many messages lost.

The full card is real: a 2 MB tmpfs in a private mount namespace (tests/test_mqtt_full_card.py's set-up), the MQTT
stage fed visits as the analytics announce them, the broker a real mosquitto.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mqtt_broker import BASE, Mosquitto, Received, Recorder
from tests.test_mqtt_full_card import CHECKOUT

# runs in the private namespace, its folder the tmpfs: the MQTT stage's runs one after the other; the first drains a
# spool of 10 at a message a second, so a visit's messages overflow it with the broker there (a real drop counted)
RUNS = """
import json, logging, os, sys, time
from pathlib import Path
from listener.config import parse_config
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from listener.outputs.mqtt import MqttStage, spool_start
from tests.full_card import fill_card
from tests.mqtt_feed import block, conversation, feed
spool_start.REOPEN_S = 0.2  # the card tried again every 0.2 s between messages, not 30
folder, mqtt, scenario = Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
visits = 0

def visit(stage):
    global visits
    visits += 1
    feed(stage, conversation(f"{visits:016x}"))

def fill(stage):
    fill_card(folder)

def settle(stage):  # a metrics interval: the info counting the run's drops is sent
    time.sleep(1.5)

def free(stage):  # the card freed between visits: no message stored until the next one, the card tried again
    os.unlink(folder / "fill")
    for second in range(10):
        stage.process(block(100.0 + second))
        time.sleep(0.05)

def run(*steps, **mqtt_extra):
    table = {"mqtt": {**mqtt, **mqtt_extra}, "service": {"state_dir": str(folder)}}
    stage = MqttStage(parse_config({**table, "analytics": {"session_min_speech_s": 5.0}}))
    stage.open()
    stage.process(block(0.0))
    time.sleep(0.5)  # connected; its info sent
    for step in steps:
        step(stage)
    dropped = stage.spool.dropped
    stage.close()
    print("dropped", dropped, flush=True)

run(visit, settle, spool_max_messages=10, drain_rate_per_s=1.0, shutdown_drain_s=0.0, metrics_interval_s=1.0)
if scenario == "full-at-start":
    fill_card(folder)
    run(visit, free, visit)
elif scenario == "fills-mid-run":
    run(fill, visit, free, visit)
run(visit)
"""
RUN_COUNT = 3


def _messages(tmp_path: Path, broker: Mosquitto, scenario: str) -> tuple[list[Received], list[int], str]:
    """Everything the broker delivered to a subscriber of the device's topics over the runs; each run's
    ``spool_dropped`` as its stop came; the child's log."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a file system in a private namespace")
    card = tmp_path / "card"
    card.mkdir()
    (tmp_path / "script.py").write_text(RUNS)
    mqtt = json.dumps(broker.mqtt_config(metrics_interval_s=10.0))
    args = (sys.executable, tmp_path / "script.py", card, mqtt, scenario)
    shell = f"mount -t tmpfs -o size=2m tmpfs {card} && exec " + " ".join(f"'{a}'" for a in args)
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    with Recorder(broker) as rec:
        result = subprocess.run(
            ["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True, timeout=180, env=env
        )
        if "mount" in result.stderr and result.returncode != 0:
            pytest.skip(f"no private mounts here: {result.stderr.strip()}")
        assert result.returncode == 0, result.stderr
        got = rec.wait_for(lambda ms: _offline_count(ms) >= RUN_COUNT, 10)
    at_stops = [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("dropped ")]
    return [m for m in got if m.topic.startswith(f"{BASE}/")], at_stops, result.stderr


def _offline_count(messages: list[Received]) -> int:
    return sum(1 for m in messages if m.topic == f"{BASE}/status" and json.loads(m.payload)["state"] == "offline")


def _said(messages: list[Received], leaf: str, field: str) -> list[int]:
    """``field`` of each ``leaf`` message, once each, in the order made (seq goes on rising across restarts)."""
    seen = {
        int(data["seq"]): int(data[field])
        for data in (json.loads(m.payload) for m in messages if m.topic == f"{BASE}/{leaf}")
    }
    return [seen[seq] for seq in sorted(seen)]


@pytest.mark.parametrize("scenario", ["full-at-start", "fills-mid-run"])
def test_spool_dropped_as_info_and_metrics_say_it_never_falls_across_a_full_card_and_restarts(
    broker: Mosquitto, tmp_path: Path, scenario: str
) -> None:
    """A first run drops messages (a spool of 10 drained too slowly), then a run on the full card, then one with
    room. Started on the full card, info said only that run's drops (0) until the file opened, then the file's
    again: Home Assistant's "Messages lost (spool)" read a meter reset and added the file's count again to its sum;
    Node-RED's flow and Grafana's non_negative_difference took the rise back for that many messages lost."""
    messages, at_stops, log = _messages(tmp_path, broker, scenario)
    info, metrics = _said(messages, "info", "spool_dropped"), _said(messages, "metrics", "spool_dropped")
    # the later runs lose nothing (a spool of 50000 drained at 50 a second): the first run's drops, counted once
    assert len(at_stops) == RUN_COUNT and at_stops[0] > 0 and at_stops == [at_stops[0]] * RUN_COUNT, at_stops
    assert info == sorted(info) and info[-1] == at_stops[-1], (info, at_stops)
    assert metrics == sorted(metrics), metrics
    if scenario == "full-at-start":
        assert "cannot be opened" in log and "opens now that the card has room" in log, log
