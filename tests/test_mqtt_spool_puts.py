"""What a put leaves in the spool: after one that failed part-way, and what a full one drops (no broker needed)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from listener.outputs.mqtt.spool import Outgoing, Spool
from tests.mqtt_feed import numbered


def test_a_message_that_cannot_be_stored_leaves_the_next_one_stored(tmp_path: Path) -> None:
    """A message JSON cannot carry (a NaN figure) is refused whole; the messages after it are stored and sent
    as ever, not dropped as if the disk were full (never drop a metric that was measured)."""
    with Spool(tmp_path / "spool.sqlite3", max_messages=100) as spool:
        first = spool.put("event", numbered(0))
        with pytest.raises(ValueError):
            spool.put_many([("event", numbered(1), 1), ("metrics", {**numbered(2), "rep_talk_s": float("nan")}, 1)])
        after = spool.put("event", numbered(3))
        assert after > first and spool.dropped == 0 and spool.depth == 2
        assert [json.loads(r.payload)["n"] for r in spool.after(0, 100)] == [0, 3]


def _event(kind: str, by: str, onset_ms: int) -> dict[str, object]:
    return {"type": kind, "session_id": "00000000000000ab", "by": by, "onset_ms": onset_ms}


def test_an_interruption_dropped_by_a_full_spool_takes_only_its_own_outcome_along(tmp_path: Path) -> None:
    """An interruption goes with its outcome (same party, same onset): the outcome of another interruption
    of that party, or of the other party's at the same moment, is measured and stays."""
    stored = [
        _event("interruption", "rep", 1000),
        _event("interruption", "rep", 5000),
        _event("interruption_outcome", "rep", 5000),
        _event("interruption", "customer", 1000),
        _event("interruption_outcome", "customer", 1000),
    ]
    with Spool(tmp_path / "spool.sqlite3", max_messages=len(stored)) as spool:
        for message in stored:
            spool.put("event", message)
        spool.put("event", _event("backchannel", "customer", 9000))  # full: the oldest event goes
        kept = [json.loads(r.payload) for r in spool.after(0, 100)]
        assert spool.dropped == 1
    assert [(m["type"], m["by"], m["onset_ms"]) for m in kept] == [
        ("interruption", "rep", 5000),
        ("interruption_outcome", "rep", 5000),
        ("interruption", "customer", 1000),
        ("interruption_outcome", "customer", 1000),
        ("backchannel", "customer", 9000),
    ]


def _ending(sid: str) -> list[Outgoing]:
    end: dict[str, object] = {"type": "session_end", "session_id": sid}
    metrics: dict[str, object] = {"session_id": sid, "session_s": 30.0}
    return [("event", end, 1), ("session", {"session_id": sid}, 1), ("metrics", metrics, 1)]


def test_a_full_spool_drops_no_more_whole_visits_than_it_must(tmp_path: Path) -> None:
    """Endings go a whole session at a time, oldest first, and only as many sessions as make room: one
    visit's ending over the bound costs the oldest visit, not the next one's summary too."""
    with Spool(tmp_path / "spool.sqlite3", max_messages=6) as spool:
        for sid in ("a", "b", "c"):
            spool.put_many(_ending(sid))
        kept = [json.loads(r.payload)["session_id"] for r in spool.after(0, 100)]
        assert spool.dropped == 3
    assert kept == ["b"] * 3 + ["c"] * 3


def test_a_sessions_latest_metrics_outlast_the_events_that_follow_it(tmp_path: Path) -> None:
    """A session's latest metrics count among its ending (kept last): its later events do not supersede it,
    only a later metrics of the same session does."""
    with Spool(tmp_path / "spool.sqlite3", max_messages=3) as spool:
        spool.put("metrics", {"session_id": "a", "session_s": 10.0})
        for onset_ms in (1000, 2000, 3000):
            spool.put("event", {**_event("backchannel", "customer", onset_ms), "session_id": "a"})
        kept = [json.loads(r.payload) for r in spool.after(0, 100)]
    assert [m.get("type", "metrics") for m in kept] == ["metrics", "backchannel", "backchannel"]


def test_a_spool_that_fills_again_after_its_backlog_was_sent_says_so_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The full-spool warning comes once per outage, then every hundredth drop: once the backlog was sent, the
    next overflow is another outage's, news again, though fewer than a hundred were dropped in all."""
    with (
        caplog.at_level(logging.WARNING, logger="listener.outputs.mqtt.spool"),
        Spool(tmp_path / "spool.sqlite3", max_messages=3) as spool,
    ):
        for outage in range(2):
            for n in range(5):
                spool.put("event", numbered(10 * outage + n))
            spool.delete([row.id for row in spool.take(0, 100)])  # back: the backlog sent and acknowledged
        assert spool.dropped == 4 and spool.depth == 0
    told = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert len(told) == 2, told


@pytest.mark.parametrize("then", ["a message stored", "the stop"])
def test_messages_a_full_disk_kept_or_dropped_are_stored_or_counted_after_a_restart(tmp_path: Path, then: str) -> None:
    """What a full disk keeps in memory is written into the file once it can be (the next message stored, or the
    stop with room again); what it dropped beyond the bound is counted in memory meanwhile and then in the file's
    counter, so the restart's ``info`` does not say fewer were dropped than the last one before it did."""
    with Spool(tmp_path / "spool.sqlite3", max_messages=50) as spool:
        db = spool.db
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")  # the disk full
        seqs = [spool.put("event", numbered(n)) for n in range(100)]
        in_file = spool.depth - spool.held  # those the file took before it was full
        assert spool.held == 50 and spool.dropped == 100 - in_file - 50  # the bound holds in memory too
        db.execute("PRAGMA max_page_count = 1073741823")  # space again
        if then == "a message stored":
            seqs.append(spool.put("event", numbered(100)))
            assert spool.held == 0 and [row.seq for row in spool.after(0, 1000)] == seqs[-50:]
    dropped = len(seqs) - 50  # the file's own oldest too, once those from memory are in it: the bound
    with Spool(tmp_path / "spool.sqlite3", max_messages=50) as spool:
        assert spool.dropped == dropped and [row.seq for row in spool.after(0, 1000)] == seqs[-50:]
