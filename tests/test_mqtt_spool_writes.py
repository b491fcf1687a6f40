"""What the spool costs the SD card: syncs and WAL frames per message (docs/reliability.md, "What the device
writes to its card"). Counted, never timed: strace counts the syncs, the WAL's length the frames written."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from listener.events import Backchannel, Party
from listener.outputs.mqtt.spool import ACK_BATCH, Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from tests.mqtt_broker import Mosquitto, Recorder
from tests.mqtt_feed import connected, json_on, numbered, stage_on
from tests.privacy_strace import find_strace
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]  # the checkout, whose listener the traced script imports

# puts ten messages, then deletes them as the publisher does once the broker acknowledged them (five settled
# together, five one at a time), then puts one more; a line on stderr between the steps
_PUT_THEN_DELETE = """
import os, sys
from pathlib import Path
from listener.outputs.mqtt.spool import Spool

def mark(step):
    os.write(2, f"STEP {step}".encode())

with Spool(Path(sys.argv[1]), max_messages=1000) as spool:
    for n in range(10):
        spool.put("event", {"n": n})
        mark("put")
    rows = spool.after(0, 100)
    spool.delete([row.id for row in rows[:5]])
    for row in rows[5:]:
        spool.delete([row.id])
    mark("deleted")
    spool.put("event", {"n": 10})
    mark("put")
"""


def _syncs_per_step(tmp_path: Path) -> list[tuple[str, int]]:
    """(step, the syncs made since the step before) for the script above, traced."""
    tool = find_strace()
    if tool is None:
        pytest.skip("strace is not installed (or may not trace here): add it to scripts/setup's DEV_APT")
    trace = tmp_path / "trace"
    script = [sys.executable, "-c", _PUT_THEN_DELETE, str(tmp_path / "spool.sqlite3")]
    cmd = [tool, "-f", "-qq", "-o", str(trace), "-e", "trace=fsync,fdatasync,write", *script]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    steps, syncs = [], 0
    for line in trace.read_text().splitlines():
        call = line.split(None, 1)[1] if line[:1].isdigit() else line
        if call.startswith(("fsync(", "fdatasync(")):
            syncs += 1
        elif call.startswith("write(2,") and '"STEP ' in call:
            steps.append((call.split('"STEP ', 1)[1].split('"', 1)[0], syncs))
            syncs = 0
    return steps


def test_a_put_syncs_before_it_returns_and_deleting_what_was_acknowledged_waits_for_no_sync(tmp_path: Path) -> None:
    """Each stored message is on the card when put returns (a power cut keeps it); a delete lost to a power cut
    only sends a message twice, so it makes no sync of its own and is made durable by the next put's. Every
    acknowledgement cost a sync before: half the syncs a connected broker cost the card, and one per message
    while a backlog drained (a start sending an hour of conversation spooled while the broker was away, 891
    messages: 905 syncs, 14 now)."""
    steps = _syncs_per_step(tmp_path)
    assert [step for step, _ in steps] == ["put"] * 10 + ["deleted", "put"], steps
    assert all(syncs >= 1 for step, syncs in steps if step == "put"), steps
    assert dict(steps)["deleted"] == 0, steps


def test_acknowledgements_settled_together_are_deleted_in_one_transaction(tmp_path: Path) -> None:
    """The publisher settles every acknowledgement that arrived since its last step at once: one transaction,
    the few pages the twenty rows and their index entries lie on, not three frames for each row (60)."""
    path = tmp_path / "spool.sqlite3"
    with Spool(path, max_messages=1000) as spool:
        for n in range(20):
            spool.put("event", numbered(n))
        page_bytes = int(spool.db.execute("PRAGMA page_size").fetchone()[0])
        wal = Path(f"{path}-wal")
        before = wal.stat().st_size
        spool.delete([row.id for row in spool.after(0, 100)])
        frames = (wal.stat().st_size - before) // (page_bytes + 24)  # a frame: its page and a 24-byte header
        assert spool.depth == 0
    assert 1 <= frames < 20, frames  # fewer than one a row


def test_a_backlog_drained_deletes_its_rows_a_batch_at_a_time(broker: Mosquitto, tmp_path: Path) -> None:
    """A start that sends what an outage left: the rows acknowledged while more of the backlog is to send (or in
    flight) are deleted together, ACK_BATCH at a time, and the last of them once all is sent. Each acknowledgement was a
    transaction of its own, rewriting the table's and its indexes' pages: an hour of conversation spooled (891
    messages) then cost 13.6 MB of WAL to delete, more than its puts had written."""
    backlog = 4 * ACK_BATCH
    with Spool(tmp_path / "state" / SPOOL_FILE, max_messages=10 * backlog) as spool:
        for n in range(backlog):
            spool.put("event", numbered(n))
    commits: list[str] = []
    # two seconds of drain: a local broker acknowledges each message before the next token, so rarely is one
    # in flight as the next acknowledgement comes; the rows still to send say that more follow
    stage = stage_on(broker, tmp_path, drain_rate_per_s=2.0 * ACK_BATCH)
    with stage:
        # paho's thread sends nothing before the broker's CONNACK: the drain has not begun yet
        stage.spool.db.set_trace_callback(lambda sql: commits.append(sql) if sql.startswith("COMMIT") else None)
        assert wait_until(lambda: stage.spool.depth == 0, 30.0), f"spool depth {stage.spool.depth}"
        assert stage.publisher.flush(5.0)
    with Spool(tmp_path / "state" / SPOOL_FILE, max_messages=10 * backlog) as spool:
        assert spool.depth == 0 and not spool.after(0, 10)  # every acknowledged row deleted, the last ones too
    assert 1 <= len(commits) <= backlog // ACK_BATCH + 2, len(commits)


def test_acknowledged_rows_whose_delete_waits_are_no_reason_to_drop_a_message(tmp_path: Path) -> None:
    """Rows acknowledged while others are in flight wait for their delete: a full spool's next put deletes
    them first rather than drop a message to make room, and a stop deletes them too."""
    path = tmp_path / "spool.sqlite3"
    with Spool(path, max_messages=10) as spool:
        for n in range(10):
            spool.put("event", numbered(n))
        rows = spool.take(0, 10)
        spool.delete([row.id for row in rows[:4]], more_coming=True)  # the other six still in flight
        assert spool.depth == 6
        spool.put("event", numbered(10))
        assert spool.dropped == 0 and spool.depth == 7
        spool.delete([rows[4].id], more_coming=True)
    with Spool(path, max_messages=10) as spool:
        assert [json.loads(row.payload)["n"] for row in spool.after(0, 100)] == [5, 6, 7, 8, 9, 10]


def _rows_in_file(path: Path) -> int:
    """The rows the spool file holds, read through its WAL as another process (doctor) reads it."""
    with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def test_a_delete_that_waited_for_more_to_send_is_made_once_there_is_none(broker: Mosquitto, tmp_path: Path) -> None:
    """One token a second: the drain took its one message as all it had room for, so more might follow, and its
    acknowledgement's delete waited. It is made once the spool is found to hold no more, not left for the next
    message (the session's last one, hours before the next) and sent again after the evening's power cut."""
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path, drain_rate_per_s=1.0)
        with stage:
            rec.wait_for(connected)
            stage.process(Backchannel(by=Party.REP, onset_s=1.0, decided_s=1.5, duration_s=0.3))
            assert rec.wait_for(lambda ms: len(json_on(ms, "event")) == 1)
            spooled = tmp_path / "state" / SPOOL_FILE
            assert wait_until(lambda: _rows_in_file(spooled) == 0, 10.0), "the acknowledged row is still stored"


def test_a_message_stored_costs_a_few_kilobytes_of_wal_not_five_4_kib_pages(tmp_path: Path) -> None:
    """A put rewrites the pages it changes (the outbox's, its two indexes', the seq counter's, AUTOINCREMENT's):
    five whole pages for a message of a few hundred bytes. A new spool's pages are 1 KiB, not sqlite's 4 KiB:
    20.6 KB of WAL per message stored was 5.2 KB (an hour of conversation, connected: 33 MB written, 11.5 MB)."""
    path = tmp_path / "spool.sqlite3"
    with Spool(path, max_messages=1000) as spool:
        spool.put("event", numbered(0))  # the WAL's header and the first commit's frames
        wal = Path(f"{path}-wal")
        before = wal.stat().st_size
        for n in range(1, 21):
            spool.put("metrics", {**numbered(n), "session_id": "a1b2c3d4e5f60718", "rep_talk_s": 12.5})
        per_message = (wal.stat().st_size - before) / 20
    assert per_message <= 6 * 1048, per_message  # at most six frames of a 1 KiB page and its 24-byte header


def test_a_spool_made_with_4_kib_pages_keeps_them_and_its_messages(tmp_path: Path) -> None:
    """A spool an earlier version made (sqlite's 4 KiB pages) is used as it is: its page size cannot change
    in WAL mode without rewriting the file, and its messages are still to be sent."""
    path = tmp_path / "spool.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA page_size=4096")
        db.execute("PRAGMA journal_mode=WAL")
    with Spool(path, max_messages=1000) as spool:
        seqs = [spool.put("event", numbered(n)) for n in range(3)]
    with Spool(path, max_messages=1000) as spool:
        assert [row.seq for row in spool.after(0, 10)] == seqs
        assert int(spool.db.execute("PRAGMA page_size").fetchone()[0]) == 4096


def test_a_drain_step_with_nothing_to_delete_does_not_call_the_spool(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each drain step ended with a delete of no rows, for the deletes that waited for a backlog: a call into the
    spool under its lock for nothing, once a message sent live (257 calls for 300 messages; none ran a statement)."""
    calls: list[tuple[int, bool]] = []  # rows given, and whether acknowledged rows waited for their delete
    real = Spool.delete

    def counted(spool: Spool, ids: list[int], more_coming: bool = False) -> None:
        calls.append((len(ids), spool.deletes_waiting))
        real(spool, ids, more_coming)

    monkeypatch.setattr(Spool, "delete", counted)
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path, drain_rate_per_s=1000.0)
        with stage:
            rec.wait_for(connected)
            for n in range(10):
                stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
                assert stage.publisher.flush(5.0)
            assert stage.spool.depth == 0 and _rows_in_file(tmp_path / "state" / SPOOL_FILE) == 0
    assert sum(rows for rows, _ in calls) >= 10  # each event's row deleted
    assert (0, False) not in calls, calls
