"""What a dashboard sees of a full SD card across the device's runs: ``sessions_today`` and ``seq``, for real.

The card a real 2 MB tmpfs in a private mount namespace, filled to the last byte (tests/test_mqtt_full_card.py's
set-up), the MQTT stage fed visits as the analytics announce them, the broker a real mosquitto, connected
throughout; one child process runs the device's runs one after the other (the tmpfs lives as long as it does).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.wallclock import local_day
from tests.full_card import in_a_card_namespace, read_only_for_a_while
from tests.mqtt_broker import BASE, Mosquitto, Received, Recorder
from tests.mqtt_feed import numbered, stops

# runs in the private namespace, its folder the tmpfs: runs of the MQTT stage (each opened, fed its visits, closed),
# the card filled and freed between or within them as argv[3] says
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
config = parse_config({"mqtt": mqtt, "service": {"state_dir": str(folder)}, "analytics": {"session_min_speech_s": 5.0}})
visits = 0

def visit(stage, count):
    global visits
    for _ in range(count):
        visits += 1
        feed(stage, conversation(f"{visits:016x}"))

def free(stage):  # the card freed between visits: no message stored until the next one, the card tried again
    os.unlink(folder / "fill")
    for second in range(10):
        stage.process(block(100.0 + second))
        time.sleep(0.05)

def run(*steps):
    stage = MqttStage(config)
    stage.open()
    stage.process(block(0.0))  # its first state, before any visit: what a restart says
    time.sleep(0.5)  # connected, that state sent; what the card refuses is sent from memory
    for step in steps:
        step(stage)
    stage.close()

if scenario == "fills-mid-run":
    run(lambda s: visit(s, 2), lambda s: fill_card(folder), lambda s: visit(s, 3), free, lambda s: visit(s, 1))
    run(lambda s: visit(s, 1))
elif scenario == "full-at-start":
    run(lambda s: visit(s, 2))
    fill_card(folder)
    run(lambda s: visit(s, 2), free, lambda s: visit(s, 1))
    run(lambda s: visit(s, 1))
elif scenario == "stop-while-full":
    run(lambda s: visit(s, 1), lambda s: fill_card(folder), lambda s: visit(s, 2))
    os.unlink(folder / "fill")
    run(lambda s: visit(s, 1))
"""


def _runs_of(tmp_path: Path, broker: Mosquitto, scenario: str) -> tuple[list[list[Received]], str]:
    """What the broker delivered to a subscriber of everything in each run (split at its stop's ``offline``), a
    byte-identical re-send of an earlier run's message left out; the child's log."""
    mqtt = json.dumps(broker.mqtt_config(metrics_interval_s=10.0))
    with Recorder(broker) as rec:
        result = in_a_card_namespace(tmp_path, RUNS, mqtt, scenario, timeout_s=180)
        assert result.returncode == 0, result.stderr
        got = rec.wait_for(lambda ms: stops(ms) >= _runs_in(scenario), 10)
    runs: list[list[Received]] = [[]]
    seen: set[bytes] = set()
    for m in got:
        if not m.topic.startswith(f"{BASE}/") or (len(runs) > 1 and m.payload in seen):
            continue
        runs[-1].append(m)
        if m.topic == f"{BASE}/status" and json.loads(m.payload)["state"] == "offline":
            seen |= {r.payload for r in runs[-1]}
            runs.append([])
    return [run for run in runs if run], result.stderr


def _runs_in(scenario: str) -> int:
    return 3 if scenario == "full-at-start" else 2


def _sessions_today(run: list[Received]) -> list[int]:
    return [int(json.loads(m.payload)["sessions_today"]) for m in run if m.topic == f"{BASE}/state"]


@pytest.mark.parametrize(
    ("scenario", "visits"),
    [("fills-mid-run", [6, 7]), ("full-at-start", [2, 5, 6])],
    ids=["fills-mid-run", "full-at-start"],
)
def test_sessions_today_counts_every_visit_on_a_full_card_and_never_drops(
    broker: Mosquitto, tmp_path: Path, scenario: str, visits: list[int]
) -> None:
    """Home Assistant's "Sessions today" with the card full: the count went into the file, which refused it, and was
    read back from there. The card filling after the day's 2nd visit: 3, 3, 4, 3, 3, 4, 3, 3, 4 over the 3rd to 5th
    (one more than the file's count at each session start, the file's between), 4 after the 6th once the card had
    room, 5 after a restart at the 7th: two visits gone from the day's count (three in a run by hand: how much sqlite
    still gets onto a full card varies). A start on the full card after 2 visits: 0 at the start (the spool in memory
    counted from nothing). Now the count is kept in memory while the card refuses it, written once it takes a write,
    and a start on a full card counts on from the file's."""
    runs, log = _runs_of(tmp_path, broker, scenario)
    said = [_sessions_today(run) for run in runs]
    assert [counts[-1] for counts in said] == visits, said  # each run ends on every visit of the day so far
    everything = [count for counts in said for count in counts]
    assert everything == sorted(everything), said  # never lower than said before, in a run or across a restart
    assert "the card is full" in log, log


def test_a_stop_while_the_card_refuses_hands_no_seq_already_delivered_out_again(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A visit on the full card, every message of it sent from memory and acknowledged, the stop while the card
    still refuses: the file's seq counter stayed below the seqs handed out in memory. The next start, the card
    freed, counted on from it, and a consumer that drops a seq it has seen (as the guide says to) lost 14 of the 18
    messages that run delivered: 11 of its visit's 12 spooled (session_start to the summary) and its online, info
    and state. A start now counts on above the clock too, as a new spool does."""
    runs, log = _runs_of(tmp_path, broker, "stop-while-full")
    first, second = ({int(json.loads(m.payload)["seq"]) for m in run} for run in runs)
    assert len(runs) == 2 and min(second) > max(first), (sorted(first), sorted(second))
    kinds = [str(json.loads(m.payload).get("type", m.topic.rsplit("/", 1)[-1])) for m in runs[1]]
    assert {"session_start", "session_end", "session"} <= set(kinds), kinds
    assert "messages wait in memory" in log, log


def _file_sessions(path: Path) -> tuple[int, int]:
    """(sessions_day, sessions_today) as the spool's file holds them: what a power cut now would leave."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = dict(db.execute("SELECT name, value FROM counters WHERE name LIKE 'sessions_%'").fetchall())
    return int(rows.get("sessions_day", 0)), int(rows.get("sessions_today", 0))


@pytest.mark.parametrize("then", ["a-message-stored", "the-stop"])
def test_the_days_sessions_a_card_refuses_are_kept_in_memory_and_written_once_it_takes_a_write(
    tmp_path: Path, then: str
) -> None:
    """The card refuses the writes as sqlite refuses them on a card remounted read-only (SQLITE_READONLY), and takes
    them again (the next message stored, or only the stop): the count said 2, 2, then 1 (the file's), and the next
    start went on from 1."""
    path, day = tmp_path / "mqtt-spool.sqlite3", local_day()
    with Spool(path, max_messages=100) as spool:
        spool.sessions_on(day, started=True)
        with read_only_for_a_while(spool):
            said = [spool.sessions_on(day, started=True) for _ in range(2)] + [spool.sessions_on(day)]
            assert _file_sessions(path) == (day, 1)
        if then == "a-message-stored":
            spool.put("event", numbered(1))
            assert _file_sessions(path) == (day, 3)  # a power cut now keeps it
    assert said == [2, 3, 3]
    with Spool(path, max_messages=100) as again:
        assert again.sessions_on(day) == 3
