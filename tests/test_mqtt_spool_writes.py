"""What the spool costs the SD card: syncs and WAL frames per message (docs/reliability.md, "What the device
writes to its card"). Counted, never timed: strace counts the syncs, the WAL's length the frames written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from listener.outputs.mqtt.spool import Spool
from tests.mqtt_feed import numbered
from tests.privacy_strace import find_strace

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
    a few WAL frames (the table's page and its two indexes'), not three frames for each row."""
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
    assert 1 <= frames <= 6, frames
