"""A full SD card under the spool, for real: a small tmpfs, mounted in a private namespace and filled to the last byte.

A card fills from outside the service (the journal, another program). The listener's promise: never drop a metric
that was measured, keep running, say what is wrong and its fix.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from listener.service.runner import sample_conversation
from tests.full_card import in_a_card_namespace
from tests.mqtt_broker import BASE, Mosquitto, Received, Recorder, kill_process_group, service_config

SPOOLED = ("event", "metrics", "session")

# runs in the private namespace, its folder the tmpfs: the spool filled, the card filled to the last byte, then
# freed; what the spool kept, sent and stored is printed as JSON (its log lines go to stderr)
SPOOL_ON_A_FULL_CARD = """
import json, logging, os, sys
from pathlib import Path
from listener.outputs.mqtt.spool import Spool
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
folder = Path(sys.argv[1])
path, free_again = folder / "mqtt-spool.sqlite3", sys.argv[2] == "free-again"

from tests.full_card import fill_card

def fill():
    fill_card(folder)

def event(n):
    return {"type": "backchannel", "session_id": "s1", "by": "customer", "onset_ms": n}

said = {}
spool = Spool(path, max_messages=1000)
spool.open()
before = [spool.put("event", event(n)) for n in range(2)]
fill()
during = [spool.put("event", event(n)) for n in range(2, 22)]
ending = [("event", {"type": "session_end", "session_id": "s1"}, 1), ("session", {"session_id": "s1"}, 1),
          ("metrics", {"session_id": "s1"}, 1)]
during += spool.put_many(ending)
said["depth_full"], said["held_full"] = spool.depth, getattr(spool, "held", None)
sent = spool.take(0, 5)  # the broker is connected: sent, and acknowledged
spool.delete([row.id for row in sent])
said["depth_acked"], said["held_acked"] = spool.depth, getattr(spool, "held", None)
said["sent"] = [row.seq for row in sent]
if free_again:
    os.unlink(folder / "fill")
    during.append(spool.put("event", event(99)))
said["held_after"] = getattr(spool, "held", None)
said["put"] = before + during
spool.close()
with Spool(path, max_messages=1000) as again:  # a restart: what the file holds
    said["stored"] = [row.seq for row in again.after(0, 100)]
    said["dropped"] = again.dropped
print(json.dumps(said))
"""


def test_messages_a_full_card_refuses_wait_in_memory_are_sent_from_there_and_stored_once_it_has_room(
    tmp_path: Path,
) -> None:
    """Every message the file could not take was dropped (put returned -1), with the broker connected too: now
    each keeps its seq, is sent from memory, and the ones still unsent are written into the file once the card
    has room, so a restart sends them; the broker's acknowledgements the card could not record wait too."""
    result = in_a_card_namespace(tmp_path, SPOOL_ON_A_FULL_CARD, "free-again")
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    put = said["put"]
    assert all(a < b for a, b in itertools.pairwise(put)) and -1 not in put, put  # none dropped, in order
    assert (said["depth_full"], said["held_full"]) == (25, 23)
    assert said["sent"] == put[:5]  # the file's two, then the first three from memory, in order
    assert (said["depth_acked"], said["held_acked"]) == (20, 20)
    assert said["held_after"] == 0
    assert said["stored"] == put[5:], said  # the unsent 20 and the one after the card had room
    assert said["dropped"] == 0
    log = result.stderr
    assert "Traceback" not in log, log
    card = tmp_path / "card"
    assert (
        f"MQTT spool {card / 'mqtt-spool.sqlite3'} cannot be written (database or disk is full): 1 messages wait in "
        "memory (at most 1000), stored once it takes writes again" in log
    ), log
    assert f"the card is full: free at least 1 MB on it (`df -h {card}`;" in log
    assert "`sudo journalctl --vacuum-size=50M`" in log
    assert "takes writes again: the 20 messages kept in memory are stored" in log, log


def test_a_stop_while_the_card_is_still_full_says_how_many_messages_it_loses(tmp_path: Path) -> None:
    result = in_a_card_namespace(tmp_path, SPOOL_ON_A_FULL_CARD, "still-full")
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert said["stored"] == said["put"][:2]  # the file holds what it held before the card filled
    card = tmp_path / "card"
    lost = f"ERROR MQTT spool {card / 'mqtt-spool.sqlite3'} still cannot be written (database or disk is full): "
    assert f"{lost}20 messages waiting in memory are lost at this stop; the card is full" in result.stderr


# a spool with a backlog from before (the broker away), then a start on the card filled to the last byte: the
# spool in memory, messages put (and some sent: argv[2]), the card freed, the file opened again. argv[3]: how far
# ahead of the clock (ms) the spool was numbered, its row ids and seqs: a start in memory on a clock an hour later
# whose rows it took up, the Pi now booted on the time it last saved
START_ON_A_FULL_CARD = """
import json, logging, os, sys, time
from pathlib import Path
from listener.outputs.mqtt import spool as spool_module
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.spool_file import connect
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
folder = Path(sys.argv[1])
path, sent, ahead_ms = folder / "mqtt-spool.sqlite3", int(sys.argv[2]), int(sys.argv[3])
if hasattr(spool_module, "FullCardStart"):  # every put tries the file: the test need not wait 30 s
    sys.modules[spool_module.FullCardStart.__module__].REOPEN_S = 0.0

def event(n):
    return {"type": "backchannel", "session_id": "s1", "by": "customer", "onset_ms": n}

if ahead_ms:
    ahead = time.time_ns() // 1_000_000 + ahead_ms
    connect(path, seq_from=ahead, id_from=ahead).db.close()
with Spool(path, max_messages=1000) as before:
    backlog = [before.put("event", event(n)) for n in range(3)]
time.sleep(0.01)  # a restart: the clock has moved on past the 3 seqs, as it moves faster than messages are made
from tests.full_card import fill_card
fill_card(folder)
said = {"backlog": backlog}
spool = Spool(path, max_messages=1000)
spool.open()  # the card full: it stopped the start
said["put"] = [spool.put("event", event(n)) for n in range(3, 8)]
said["depth_full"] = spool.depth
rows = spool.take(0, sent)
spool.delete([row.id for row in rows])
said["sent"] = [row.seq for row in rows]
os.unlink(folder / "fill")
said["put"].append(spool.put("event", event(8)))
said["freed"] = [spool.held, spool.storage]
said["next"] = [row.seq for row in spool.after(rows[-1].id if rows else 0, 100)]  # the publisher's next
spool.close()
with Spool(path, max_messages=1000) as again:
    said["stored"] = [row.seq for row in again.after(0, 100)]
    said["dropped"] = again.dropped
print(json.dumps(said))
"""


@pytest.mark.parametrize("ahead_ms", [0, 3_600_000], ids=["clock-right", "spool-numbered-an-hour-ahead"])
@pytest.mark.parametrize("sent", [0, 2], ids=["none-sent-yet", "two-sent-from-memory"])
def test_a_start_on_a_full_card_runs_in_memory_and_takes_the_file_up_once_it_has_room(
    tmp_path: Path, sent: int, ahead_ms: int
) -> None:
    """The start stopped ("cannot be opened (disk I/O error): the card is full"), exit 2, which the unit does not
    restart: dark LEDs and nothing measured until someone freed space and restarted it. Now the spool starts in
    memory, and once the card has room its file opens again: what waits in memory goes into it, its backlog from
    before is sent first if nothing was sent meanwhile (else it stays for the next start), nothing is dropped.

    A file numbered ahead of the clock (its ids and seqs) was never taken up: the spool in memory numbered from the
    clock alone, below it, so it ran in memory all run, the card said full once it had room, and its seqs lay below
    the file's. It now numbers on above the file's, read without a write."""
    result = in_a_card_namespace(tmp_path, START_ON_A_FULL_CARD, str(sent), str(ahead_ms))
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    backlog, put = said["backlog"], said["put"]
    assert -1 not in put and min(put) > max(backlog) and put == sorted(put), said
    assert said["depth_full"] == 5 and said["sent"] == put[:sent]
    assert said["freed"] == [0, "ok"], said
    unsent = put[sent:]
    # the publisher takes the file's backlog first, then what came from memory; or, having sent from memory, goes on
    assert said["next"] == (unsent if sent else backlog + unsent), said
    assert said["stored"] == backlog + unsent and said["dropped"] == 0, said
    spool = tmp_path / "card" / "mqtt-spool.sqlite3"
    log = result.stderr
    assert f"ERROR MQTT spool {spool} cannot be opened (" in log and "the card is full: free at least 1 MB" in log
    assert "the device runs on, its messages waiting in memory (at most 1000;" in log, log
    later = " (at the next start: newer ones were sent meanwhile)" if sent else ""
    reopened = f"opens now that the card has room: the {5 - sent} messages in memory go into it; the 3 messages it "
    assert f"{reopened}held from before are sent{later}" in log, log


# a spool whose last commits, numbered an hour ahead of the clock (a run that took up a start in memory on a later
# clock), are in its -wal, cut by a power cut, its -shm then lost (the card copied without it): the start on the full
# card reads the file alone, numbered below the clock; the card freed, the file opens and its rows are seen
START_ON_A_FILE_READ_SHORT = """
import json, logging, os, subprocess, sys
from pathlib import Path
from listener.outputs.mqtt import spool_start
from listener.outputs.mqtt.spool import Spool
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
spool_start.REOPEN_S = 0.0
folder = Path(sys.argv[1])
path = folder / "mqtt-spool.sqlite3"
CUT = '''
import json, os, sys, time
from pathlib import Path
from listener.outputs.mqtt.spool import Spool
spool = Spool(Path(sys.argv[1]), max_messages=1000)
spool.open()
ahead = time.time_ns() // 1_000_000 + 3_600_000
spool.db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'", (ahead,))
spool.db.execute("UPDATE counters SET value = ? WHERE name = 'seq'", (ahead,))
print(json.dumps([spool.put("event", {"n": n}) for n in (1, 2)]), flush=True)
os._exit(0)
'''
with Spool(path, max_messages=1000) as before:
    backlog = [before.put("event", {"n": 0})]
backlog += json.loads(subprocess.run([sys.executable, "-c", CUT, str(path)], capture_output=True, check=True).stdout)
os.unlink(f"{path}-shm")
from tests.full_card import fill_card
fill_card(folder)
spool = Spool(path, max_messages=1000)
spool.open()
said = {"backlog": backlog, "put": [spool.put("event", {"n": n}) for n in range(3, 6)]}
os.unlink(folder / "fill")
said["opened"] = spool.store_waiting()
said["freed"] = [spool.held, spool.storage]
said["next"] = [row.seq for row in spool.after(0, 100)]
said["after"] = spool.put("event", {"n": 6})
spool.close()
with Spool(path, max_messages=1000) as again:
    said["stored"] = [row.seq for row in again.after(0, 100)]
print(json.dumps(said))
"""


def test_a_file_numbered_above_the_spool_in_memory_is_renumbered_below_it_and_taken_up(tmp_path: Path) -> None:
    """Where the start cannot read how far the file is numbered (its last commits in a -wal without its -shm), the
    spool in memory numbers from the clock, and the file, once it opens, may be numbered above it: it was left for
    the next start, the spool in memory all run and the card said full with room on it. Its rows are now numbered
    below the memory's, in their order: sent first (nothing was sent from memory), stored, nothing lost; a new
    message's seq above every one."""
    result = in_a_card_namespace(tmp_path, START_ON_A_FILE_READ_SHORT)
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    backlog, put = said["backlog"], said["put"]
    assert said["opened"] and said["freed"] == [0, "ok"], said
    assert said["next"] == backlog + put, said
    assert said["after"] > max(backlog + put), said
    assert said["stored"] == backlog + put + [said["after"]], said
    assert "its 3 messages from before are numbered below this start's, in order" in result.stderr, result.stderr


# ``listener run`` in the private namespace: the card filled before it starts (``full_at_start``: the "fill" file
# made first) or as soon as the spool is open, and freed once the test makes the file ``free`` beside it
RUN_ON_A_FILLING_CARD = """
card={card}
[ {full_at_start} = 0 ] || cat /dev/zero > "$card/fill" 2>/dev/null
( [ -e "$card/fill" ] || {{ while [ ! -e "$card/mqtt-spool.sqlite3-shm" ]; do sleep 0.05; done
                           cat /dev/zero > "$card/fill" 2>/dev/null; }}
  while [ ! -e {free} ]; do sleep 0.05; done
  rm "$card/fill" ) &
exec {listener}
"""


def _run_on_a_filling_card(tmp_path: Path, config: Path, full_at_start: bool = False) -> subprocess.Popen[bytes]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a file system in a private namespace")
    card = tmp_path / "state"
    card.mkdir()
    listener = f"{sys.executable} -m listener run --config {config} --input {sample_conversation()}"
    full = int(full_at_start)
    script = RUN_ON_A_FILLING_CARD.format(card=card, free=tmp_path / "free", listener=listener, full_at_start=full)
    shell = f"mount -t tmpfs -o size=2m tmpfs {card} && {script}"
    return subprocess.Popen(["unshare", "-rm", "sh", "-c", shell], stderr=subprocess.PIPE, start_new_session=True)


def _spooled(messages: list[Received]) -> list[tuple[str, dict[str, object]]]:
    """The spooled messages (their topic's leaf, the message) as they arrived, duplicates (same seq) once."""
    seen: dict[object, tuple[str, dict[str, object]]] = {}
    for m in messages:
        leaf = m.topic.rsplit("/", 1)[-1]
        if m.topic.startswith(f"{BASE}/") and leaf in SPOOLED:
            data = json.loads(m.payload)
            seen.setdefault(data["seq"], (leaf, data))
    return list(seen.values())


def _kinds(messages: list[tuple[str, dict[str, object]]]) -> list[str]:
    return [str(data.get("type", leaf)) for leaf, data in messages]


def _measured(tmp_path: Path) -> list[str]:
    """What a ``listener run --fast`` of the sample sends, with room on the disk and the broker there."""
    with Mosquitto(tmp_path / "fast" / "broker") as broker, Recorder(broker) as rec:
        fast = service_config(tmp_path / "fast", broker)
        run = [sys.executable, "-m", "listener", "run", "--config", str(fast), "--input", str(sample_conversation())]
        subprocess.run([*run, "--fast"], check=True, capture_output=True, timeout=120)
        expected = _kinds(_spooled(rec.wait_for(lambda ms: len(_spooled(ms)) >= 13, 10)))
    assert len(expected) >= 10 and "session" in expected  # the sample's visit, whole
    return expected


def test_listener_run_on_a_card_that_fills_loses_nothing_through_an_outage_and_sends_it_in_order(
    tmp_path: Path,
) -> None:
    """The sample conversation in real time with the card full from the spool's opening: the broker away from
    the first event for 8 s, the card freed 4 s into that. Before, 8 of the 13 spooled messages were lost (the
    session summary among them) and each failed delete of an acknowledged row was a traceback, twice a second."""
    expected = _measured(tmp_path)
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    broker.start()
    try:
        with Recorder(broker, persistent=True) as rec:
            proc = _run_on_a_filling_card(tmp_path, service_config(tmp_path, broker))
            try:
                rec.wait_for(lambda ms: any(m.topic == f"{BASE}/event" for m in ms), 30)
                broker.stop()
                time.sleep(4.0)
                (tmp_path / "free").touch()
                time.sleep(4.0)
                broker.start()
                err = proc.communicate(timeout=90)[1].decode(errors="replace")
            finally:
                kill_process_group(proc)
            got = _spooled(rec.wait_for(lambda ms: len(_spooled(ms)) >= len(expected), 20))
    finally:
        broker.stop()
    assert proc.returncode == 0, err
    assert _kinds(got) == expected, err  # everything measured, in the order it was measured
    seqs = [int(str(data["seq"])) for _, data in got]
    assert seqs == sorted(seqs)
    assert "Traceback" not in err, err
    assert "the card is full: free at least 1 MB on it" in err, err
    assert "messages wait in memory" in err and "takes writes again" in err, err


def freed_10_s_in(
    proc: subprocess.Popen[bytes], rec: Recorder, free: Path, n_expected: int
) -> tuple[str, list[Received]]:
    """The run's stderr and what the broker got, the card freed (``free`` made) 10 s after its first event."""
    try:
        rec.wait_for(lambda ms: any(m.topic == f"{BASE}/event" for m in ms), 30)
        time.sleep(10.0)
        free.touch()
        err = proc.communicate(timeout=90)[1].decode(errors="replace")
    finally:
        kill_process_group(proc)
    return err, rec.wait_for(lambda ms: len(_spooled(ms)) >= n_expected, 20)


def test_listener_run_started_on_a_full_card_runs_and_sends_everything_it_measures(tmp_path: Path) -> None:
    """The card full to the last byte at the start, freed 10 s into the run, the broker there: the run stopped
    at its start with exit 2 (which the unit does not restart: the device stayed dark and measured nothing)."""
    expected = _measured(tmp_path)
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        proc = _run_on_a_filling_card(tmp_path, service_config(tmp_path, broker), full_at_start=True)
        err, received = freed_10_s_in(proc, rec, tmp_path / "free", len(expected))
        got = _spooled(received)
    assert proc.returncode == 0, err
    assert _kinds(got) == expected, err
    assert "Traceback" not in err, err
    started = "cannot be opened (database or disk is full): the card is full: free at least 1 MB on it"
    assert started in err and "the device runs on, its messages waiting in memory" in err, err
    assert "opens now that the card has room" in err, err  # at the stop at the latest (tried every 30 s)
