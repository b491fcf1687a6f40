"""The MQTT spool's one sqlite connection, used by three threads at once as the service uses it.

The pipeline thread stores messages (a session's end and its summary together), stamps seqs and counts the
day's sessions; the drain thread takes rows to send, deletes the acknowledged ones and builds the info topic
(drops, depth, storage); paho's thread stamps each connection attempt's status. The connection is opened with
``check_same_thread=False``: only the spool's lock keeps one thread's transaction from meeting another's
statements. With the lock made a no-op, every run failed within half a second ("cannot commit transaction -
SQL statements in progress") and the spool blamed the card: messages held in memory, "free space on
service.state_dir". In a child process: sqlite3's statement cache is not made for two threads at once, and a
crash would end the test run.
"""

from __future__ import annotations

import subprocess
import sys

from tests.cli_run import ENV

RACE_S = 2.0

THREE_THREADS = f"""
import logging, sys, tempfile, threading, time
from pathlib import Path
from listener.outputs.mqtt.spool import Spool

class Said(logging.Handler):  # every warning the spool gives is a failure here: say it on stderr
    def emit(self, record):
        print("WARNING " + record.getMessage(), file=sys.stderr)

logging.getLogger("listener").addHandler(Said(logging.WARNING))
failed, sent = [], []
stop = threading.Event()

def thread(body):
    def run():
        try:
            while not stop.is_set():
                body()
        except BaseException as exc:
            failed.append(repr(exc))
            stop.set()
    return threading.Thread(target=run)

with tempfile.TemporaryDirectory() as folder, Spool(Path(folder) / "spool.sqlite3", 10_000_000) as spool:
    def drain():
        rows = spool.take(sent[-1] if sent else 0, 20)
        sent.extend(row.id for row in rows)
        spool.delete([row.id for row in rows], more_coming=bool(rows))
        spool.count_dropped(0)
        spool.stamp({{"dropped": spool.dropped, "depth": spool.depth, "storage": spool.storage}})

    def paho():
        spool.stamp({{"status": "online"}})

    others = [thread(drain), thread(paho)]
    for other in others:
        other.start()
    puts = 0
    end = time.monotonic() + {RACE_S}
    try:
        while time.monotonic() < end and not stop.is_set():
            spool.put_many([("event", {{"n": puts}}, 1), ("summary", {{"n": puts}}, 1)])
            puts += 2
            spool.stamp({{"state": spool.sessions_on(20250101, started=puts % 40 == 0)}})
            spool.store_waiting()
    finally:
        stop.set()
        for other in others:
            other.join()
    sent += [row.id for row in spool.take(sent[-1] if sent else 0, puts)]  # what the drain had not reached
    print(puts, len(sent), len(set(sent)), spool.held, spool.storage, len(failed))
print(*failed, sep="\\n", file=sys.stderr)
"""


def test_the_spool_serves_the_pipeline_the_drain_and_paho_at_once() -> None:
    done = subprocess.run([sys.executable, "-c", THREE_THREADS], capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr[-2000:]
    puts, sent, unique, held, storage, failed = done.stdout.split()
    # every message stored was taken once, none waits in memory as if the card were full, nothing raised
    assert (sent, unique, held, storage, failed) == (puts, puts, "0", "ok", "0"), done.stdout
    assert int(puts) > 100, puts  # the threads met often enough for the race to have its chances
