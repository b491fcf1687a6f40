"""The dashboards' totals never fall: ``spool_dropped`` (Home Assistant's "Messages lost (spool)", a
``total_increasing`` sensor, the Node-RED flow's "Messages lost", Grafana's ``non_negative_difference``) and
``sessions_today`` ("Sessions today", ``total_increasing`` too) across restarts, a full card and a damaged spool.

Home Assistant reads a fall of a ``total_increasing`` sensor as a meter reset and adds the next value whole to its
long-term sum; Node-RED and Grafana take the rise after it for that many messages lost.

The full card is real: a 2 MB tmpfs in a private mount namespace (tests/test_mqtt_full_card.py's set-up), the MQTT
stage fed visits as the analytics announce them, the broker a real mosquitto.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from pathlib import Path

import pytest

from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.outputs.mqtt.wallclock import local_day
from tests.folders import refusing_writes
from tests.full_card import damage_under, in_a_card_namespace, read_only_for_a_while
from tests.mqtt_broker import BASE, Mosquitto, Received, Recorder
from tests.mqtt_feed import stops

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
    mqtt = json.dumps(broker.mqtt_config(metrics_interval_s=10.0))
    with Recorder(broker) as rec:
        result = in_a_card_namespace(tmp_path, RUNS, mqtt, scenario, timeout_s=180)
        assert result.returncode == 0, result.stderr
        got = rec.wait_for(lambda ms: stops(ms) >= RUN_COUNT, 10)
    at_stops = [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("dropped ")]
    return [m for m in got if m.topic.startswith(f"{BASE}/")], at_stops, result.stderr


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
    sessions = _said(messages, "state", "sessions_today")  # the four visits of the day, never fewer said
    assert sessions == sorted(sessions) and sessions[-1] == 4, sessions
    assert "the card is full" in log, log  # the card did fill, in each scenario
    if scenario == "full-at-start":
        assert "cannot be opened" in log and "opens now that the card has room" in log, log


def test_a_card_that_refuses_writes_for_a_while_keeps_the_totals_rising(tmp_path: Path) -> None:
    """The card refusing writes as sqlite refuses them on one remounted read-only (SQLITE_READONLY: a real remount
    cannot be made under an open spool), messages dropped and a session counted meanwhile, then writable again,
    then a restart: never lower than said before (checked; no fall found)."""
    path, day = tmp_path / SPOOL_FILE, local_day()
    said = []
    with Spool(path, max_messages=3) as spool:
        for n in range(5):
            spool.put("event", {"n": n})
        said.append((spool.dropped, spool.sessions_on(day, started=True)))
        with read_only_for_a_while(spool):
            for n in range(5):
                spool.put("event", {"n": n})
                said.append((spool.dropped, spool.sessions_on(day)))
            spool.count_dropped(2)  # refused by the broker meanwhile
            said.append((spool.dropped, spool.sessions_on(day, started=True)))
            refused = spool.storage
        spool.put("event", {"n": 9})
        said.append((spool.dropped, spool.sessions_on(day)))
    with Spool(path, max_messages=3) as again:
        said.append((again.dropped, again.sessions_on(day)))
    assert refused == "unwritable"
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(said)), said  # neither total falls
    assert said[0] == (2, 1) and said[-1] == said[-2] and said[-1][1] == 2, said
    assert said[-1][0] > said[-3][0] > said[0][0], said  # the drops in memory, and the file's own at the write


def _a_run_that_drops_2_and_counts_3_sessions(path: Path, day: int) -> Spool:
    """A spool of 60 that dropped 2 messages and holds 60, 3 sessions counted today, all in the run before: open again,
    the caller's to close."""
    with Spool(path, max_messages=60) as before:
        for n in range(62):
            before.put("event", {"n": n, "pad": "x" * 200})
        for _ in range(3):
            before.sessions_on(day, started=True)
    spool = Spool(path, max_messages=60)
    spool.open()
    return spool


@pytest.mark.parametrize("folder", ["lets-it-be-set-aside", "refuses-it-then-lets-it"])
def test_a_spool_damaged_while_running_counts_its_totals_on_from_what_it_said(tmp_path: Path, folder: str) -> None:
    """The damage hides the file's counters from the read that sets it aside (an index page overwritten): its fresh
    spool counted from 0, "Messages lost" 2 -> 0 and "Sessions today" 3 -> 0 -> 1 mid-day; where the folder refused
    the move, the same in memory, and again from the set-aside file's unreadable counters once it let it. The
    running spool knows what it said: its fresh spool goes on from that (the 60 messages the damaged file held are
    counted lost only where its counters can be read, as at a start)."""
    path, day = tmp_path / "state" / SPOOL_FILE, local_day()
    spool = _a_run_that_drops_2_and_counts_3_sessions(path, day)
    said = [(spool.dropped, spool.sessions_on(day))]
    damage_under(spool)
    with refusing_writes(path.parent) if folder.startswith("refuses") else contextlib.nullcontext():
        spool.put("event", {"n": 100})
        said.append((spool.dropped, spool.sessions_on(day)))
        said.append((spool.dropped, spool.sessions_on(day, started=True)))
        refused = spool.storage
    spool.put("event", {"n": 101})  # the file set aside now, where the folder refused it
    said.append((spool.dropped, spool.sessions_on(day)))
    spool.close()
    with Spool(path, max_messages=60) as again:
        said.append((again.dropped, again.sessions_on(day)))
    assert refused == ("unwritable" if folder.startswith("refuses") else "ok")
    assert said == [(2, 3), (2, 3), (2, 4), (2, 4), (2, 4)], said
    assert len(list(path.parent.glob(f"{SPOOL_FILE}.corrupt-*[0-9]Z"))) == 1


# runs in the private namespace, its folder the tmpfs: a spool that dropped 2 and counted 3 sessions, damaged while
# the card is full (its fresh spool cannot be made: the spool in memory), a session counted, the card freed
DAMAGED_ON_A_FULL_CARD = """
import json, os, sys
from pathlib import Path
from listener.outputs.mqtt import spool_start
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.wallclock import local_day
from tests.full_card import damage_under, fill_card
from tests.test_mqtt_totals import _a_run_that_drops_2_and_counts_3_sessions
spool_start.REOPEN_S = 0.0
folder, day = Path(sys.argv[1]), local_day()
spool = _a_run_that_drops_2_and_counts_3_sessions(folder / "mqtt-spool.sqlite3", day)
said = [[spool.dropped, spool.sessions_on(day, started=True), spool.storage]]
damage_under(spool)
fill_card(folder)
spool.put("event", {"n": 100})
said.append([spool.dropped, spool.sessions_on(day), spool.storage])
said.append([spool.dropped, spool.sessions_on(day, started=True), spool.storage])
os.unlink(folder / "fill")
spool.store_waiting()
said.append([spool.dropped, spool.sessions_on(day), spool.storage])
spool.close()
with Spool(folder / "mqtt-spool.sqlite3", max_messages=60) as again:
    said.append([again.dropped, again.sessions_on(day), again.storage])
print(json.dumps(said))
"""


def test_a_spool_damaged_on_a_full_card_counts_its_totals_on_once_the_card_has_room(tmp_path: Path) -> None:
    """Its fresh spool in memory counted from 0 (hidden counters), and once the card had room the day's sessions went
    into the file as the memory's count less the count at the start: 5 -> 0 -> 1 -> -2, -2 after a restart too ("less
    the start's" is right for a start on a full card, whose memory began from the file's, not after damage, where
    even a readable count gave 3 for 6). "Messages lost" 2 -> 0 for good."""
    result = in_a_card_namespace(tmp_path, DAMAGED_ON_A_FULL_CARD)
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert said == [[2, 4, "ok"], [2, 4, "full"], [2, 5, "full"], [2, 5, "ok"], [2, 5, "ok"]], said


def test_a_start_on_a_spool_damaged_past_its_counters_index_counts_its_totals_on(tmp_path: Path) -> None:
    """A file damaged at rest (a power cut, a failing card) past its fourth page: the counters' table is whole, its
    index is not, and the lookup through it found none, so the fresh spool counted from 0: "Messages lost" 2 -> 0
    and "Sessions today" 3 -> 0 mid-day. Read past the index, they go on (the messages the file held stay
    uncounted: the outbox's pages are gone)."""
    path, day = tmp_path / "state" / SPOOL_FILE, local_day()
    spool = _a_run_that_drops_2_and_counts_3_sessions(path, day)
    damage_under(spool)
    spool.close()
    with Spool(path, max_messages=60) as again:
        assert (again.dropped, again.sessions_on(day), again.depth) == (2, 3, 0)
    assert len(list(path.parent.glob(f"{SPOOL_FILE}.corrupt-*[0-9]Z"))) == 1
