"""What the dashboards see of a full SD card: ``info``'s ``storage`` and ``spool_in_memory``, for real.

The card a real 2 MB tmpfs in a private mount namespace, filled to the last byte (tests/test_mqtt_full_card.py's
set-up), the broker a real mosquitto. The journal said that messages waited in memory, lost at a restart; the
retained ``info`` a facilities team watches (Home Assistant, Node-RED, Grafana) said nothing of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from listener.outputs.mqtt.spool import Spool
from tests.full_card import CHECKOUT, in_a_card_namespace, read_only_for_a_while
from tests.mqtt_broker import Mosquitto, Received, Recorder, kill_process_group, service_config
from tests.mqtt_feed import json_on, numbered
from tests.test_mqtt_full_card import _run_on_a_filling_card, _spooled

# runs in the private namespace, its folder the tmpfs: the MQTT stage opened with the broker away, the card filled,
# a conversation fed (every message kept in memory), "fed" said; once the test has made the file argv[3], the card
# freed and only audio fed (no message to store): the card is tried again without one
STAGE_ON_A_FULL_CARD = """
import json, logging, os, sys, time
from pathlib import Path
from listener.config import parse_config
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from listener.outputs.mqtt import MqttStage, spool_start
from tests.mqtt_feed import block, conversation, feed
spool_start.REOPEN_S = 0.3  # the card tried again every 0.3 s, not 30
folder, mqtt, free = Path(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
config = parse_config({"mqtt": mqtt, "service": {"state_dir": str(folder)}, "analytics": {"session_min_speech_s": 5.0}})
stage = MqttStage(config)
stage.open()
from tests.full_card import fill_card
fill_card(folder)
feed(stage, conversation())
print("fed", stage.spool.depth, stage.spool.held, stage.spool.storage, flush=True)
deadline = time.monotonic() + 60
while not free.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
os.unlink(folder / "fill")
for second in range(40, 60):  # 2 s of wall time, no message made
    stage.process(block(float(second)))
    time.sleep(0.1)
said = {"depth": stage.spool.depth, "held": stage.spool.held, "storage": stage.spool.storage}
stage.close()
print(json.dumps(said), flush=True)
"""


def _infos(messages: list[Received]) -> list[dict[str, object]]:
    """The device's ``info`` messages (checked against info.json), each once, in the order made."""
    seen = {int(str(i["seq"])): i for i in json_on(messages, "info")}
    return [seen[seq] for seq in sorted(seen)]


def _storage(messages: list[Received]) -> list[tuple[str, int, int]]:
    """(storage, spool_in_memory, spool_depth) of each ``info``, in the order made."""
    return [(str(i["storage"]), int(str(i["spool_in_memory"])), int(str(i["spool_depth"]))) for i in _infos(messages)]


def _stage_on_a_full_card(tmp_path: Path, broker: Mosquitto) -> subprocess.Popen[bytes]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a file system in a private namespace")
    card = tmp_path / "card"
    card.mkdir()
    (tmp_path / "script.py").write_text(STAGE_ON_A_FULL_CARD)
    mqtt = json.dumps(broker.mqtt_config(metrics_interval_s=1.0))
    args = (sys.executable, tmp_path / "script.py", card, mqtt, tmp_path / "free")
    shell = f"mount -t tmpfs -o size=2m tmpfs {card} && exec " + " ".join(f"'{a}'" for a in args)
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    return subprocess.Popen(
        ["unshare", "-rm", "sh", "-c", shell], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        start_new_session=True,
    )  # fmt: skip


def test_info_says_the_card_is_full_and_how_many_messages_wait_in_memory_then_ok_once_it_takes_them(
    tmp_path: Path,
) -> None:
    """A conversation's messages kept in memory by a full card while the broker is away: the info made at the
    connect says the card is full and counts them; the card freed between visits (no message to store), the
    device tries it again, writes what waits and says "ok" then, not at the next customer."""
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    broker.start()
    try:
        with Recorder(broker, persistent=True) as rec:
            broker.stop()  # away from the start: the recorder's session keeps what comes once it is back
            proc = _stage_on_a_full_card(tmp_path, broker)
            try:
                assert proc.stdout is not None
                fed = proc.stdout.readline().decode().split()
                assert fed[:1] == ["fed"], proc.communicate(timeout=30)[1].decode(errors="replace")
                broker.start()
                # sent from memory once connected: the spool drains, info says so (depth 0), the card still full
                rec.wait_for(lambda ms: ("full", 0, 0) in _storage(ms), 20)
                (tmp_path / "free").touch()
                out, err = (text.decode(errors="replace") for text in proc.communicate(timeout=60))
            finally:
                kill_process_group(proc)
            got = rec.wait_for(lambda ms: _storage(ms)[-1:] == [("ok", 0, 0)], 10)
    finally:
        broker.stop()
    assert proc.returncode == 0, err
    depth, held, storage = int(fed[1]), int(fed[2]), fed[3]
    spooled = len(_spooled(got))
    assert (depth, held, storage) == (spooled, spooled, "full") and spooled >= 10, (fed, spooled)
    said = _storage(got)
    # at the connect: every message the conversation made waits in memory; then sent (0), still full; then ok
    assert said[0] == ("full", spooled, spooled), said
    assert said[-2:] == [("full", 0, 0), ("ok", 0, 0)], said
    assert json.loads(out.splitlines()[-1]) == {"depth": 0, "held": 0, "storage": "ok"}
    assert "takes writes again: every message kept in memory was sent" in err, err
    # the ok came with no message stored after the card was freed: the conversation's last went out before it
    last_spooled = max(int(str(data["seq"])) for _, data in _spooled(got))
    assert int(str(_infos(got)[-1]["seq"])) > last_spooled


def test_listener_run_shows_a_card_that_fills_and_the_messages_an_outage_keeps_in_memory_then_ok(
    tmp_path: Path,
) -> None:
    """``listener run`` of the sample, the card filling as the spool opens, the broker there: info says the card
    is full as it fills (not at a connect), counts at the connect after an 4 s outage the messages it kept in
    memory, and says "ok" once the card is freed; the state (the LEDs' mode) never shows any of it."""
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    broker.start()
    try:
        with Recorder(broker, persistent=True) as rec:
            proc = _run_on_a_filling_card(tmp_path, service_config(tmp_path, broker, metrics_interval_s=2.0))
            try:
                before_outage = _storage(rec.wait_for(lambda ms: [s for s, _, _ in _storage(ms)][-1:] == ["full"], 30))
                broker.stop()
                time.sleep(4.0)
                broker.start()
                rec.wait_for(lambda ms: any(s == "full" and n > 0 for s, n, _ in _storage(ms)), 20)
                (tmp_path / "free").touch()
                err = proc.communicate(timeout=90)[1].decode(errors="replace")
            finally:
                kill_process_group(proc)
            got = rec.wait_for(lambda ms: [s for s, _, _ in _storage(ms)][-1:] == ["ok"], 10)
    finally:
        broker.stop()
    assert proc.returncode == 0, err
    assert before_outage[0][0] == "ok" and before_outage[-1][0] == "full", before_outage  # said as it filled
    said = _storage(got)
    kept = [(n, depth) for s, n, depth in said if s == "full" and n > 0]
    assert kept and all(n == depth for n, depth in kept), said  # every message waiting is one in memory
    assert said[-1] == ("ok", 0, 0), said
    states = json_on(got, "state")
    assert states and {(s["mode"], str(s["causes"])) for s in states} == {("listening", "[]")}
    assert "messages wait in memory" in err and "takes writes again" in err, err


def test_a_start_on_a_full_card_counts_the_whole_spool_in_memory(tmp_path: Path) -> None:
    """Started on a full card the spool itself is in memory: its messages counted as waiting there (they were
    counted as none: ``held`` read only what a running spool keeps beside its file), "ok" once the file opens."""
    script = """
import json, logging, os, sys
from pathlib import Path
from listener.outputs.mqtt import spool_start
from listener.outputs.mqtt.spool import Spool
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
spool_start.REOPEN_S = 0.0
folder = Path(sys.argv[1])
from tests.full_card import fill_card
fill_card(folder)
spool = Spool(folder / "mqtt-spool.sqlite3", max_messages=1000)
spool.open()
said = {"put": [spool.put("event", {"n": n}) for n in range(5)]}
said["full"] = [spool.depth, spool.held, spool.storage]
spool.delete([row.id for row in spool.take(0, 2)])
said["sent"] = [spool.depth, spool.held, spool.storage]
os.unlink(folder / "fill")
spool.store_waiting()
said["freed"] = [spool.depth, spool.held, spool.storage]
spool.close()
print(json.dumps(said))
"""
    result = in_a_card_namespace(tmp_path, script)
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert said["full"] == [5, 5, "full"] and said["sent"] == [3, 3, "full"], said
    assert said["freed"] == [3, 0, "ok"], said
    assert "opens now that the card has room: the 3 messages in memory go into it" in result.stderr


def test_a_card_that_refuses_writes_with_room_on_it_is_unwritable_not_full(tmp_path: Path) -> None:
    """ "free space" would send whoever looks after the device the wrong way: a card remounted read-only (ext4 does
    so when the card fails) has room. Its write refused as sqlite refuses it (SQLITE_READONLY), the message waits in
    memory as for a full card, and the storage says "unwritable"; "ok" once a write gets through."""
    path = tmp_path / "mqtt-spool.sqlite3"
    with Spool(path, max_messages=100) as spool:
        spool.put("event", numbered(1))
        with read_only_for_a_while(spool):
            spool.put("event", numbered(2))
            refused = (spool.depth, spool.held, spool.storage)
        spool.put("event", numbered(3))
        assert (spool.depth, spool.held, spool.storage) == (3, 0, "ok")
    assert refused == (2, 1, "unwritable")
    with Spool(path, max_messages=100) as again:
        assert [json.loads(row.payload)["n"] for row in again.after(0, 10)] == [1, 2, 3]


# runs in the private namespace, its folder the tmpfs: a spool of 50 messages damaged past its first page, the
# card filled, three messages put; then the card freed and what waits in memory stored; the spool reopened
DAMAGED_SPOOL_ON_A_FULL_CARD = """
import json, logging, os, sys
from pathlib import Path
from listener.outputs.mqtt import spool_start
from listener.outputs.mqtt.spool import Spool
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
spool_start.REOPEN_S = 0.0
folder = Path(sys.argv[1])
spool = Spool(folder / "mqtt-spool.sqlite3", max_messages=1000)
spool.open()
said = {"before": [spool.put("event", {"n": n, "pad": "x" * 200}) for n in range(50)]}
from tests.full_card import damage_under, fill_card
damage_under(spool)
fill_card(folder)
said["put"] = [spool.put("event", {"n": n}) for n in range(50, 53)]
said["full"] = [spool.depth, spool.held, spool.storage]
os.unlink(folder / "fill")
said["made"] = spool.store_waiting()
said["freed"] = [spool.depth, spool.held, spool.storage]
spool.close()
with Spool(folder / "mqtt-spool.sqlite3", max_messages=1000) as again:
    said["stored"] = [row.seq for row in again.after(0, 100)]
print(json.dumps(said))
"""


def test_a_damaged_spool_whose_fresh_one_the_full_card_refuses_says_full_until_it_is_made(tmp_path: Path) -> None:
    """A failing card damages the spool while it runs, and the card is full: the file is set aside, but its fresh
    spool cannot be made. The spool went on in memory for good while storage said "ok" and nothing in memory; now
    it says "full" and counts them, and the fresh spool is made (what waits in memory in it) once the card has
    room, between messages."""
    result = in_a_card_namespace(tmp_path, DAMAGED_SPOOL_ON_A_FULL_CARD)
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert said["full"] == [3, 3, "full"], said
    assert said["made"] and said["freed"] == [3, 0, "ok"], said
    assert said["stored"] == said["put"] and min(said["put"]) > max(said["before"]), said
    log = result.stderr
    assert "is damaged" in log and "set aside as" in log, log
    assert "its fresh spool, after the damage, cannot be made (" in log and "the card is full: free at least" in log
    assert "info.storage says full" in log and "opens now that the card has room: the 3 messages" in log, log
