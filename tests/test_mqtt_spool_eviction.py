"""A full spool drops the least needed messages first: superseded metrics snapshots, then events, and whole
session endings (summary, session_end, final metrics) last of all; what is left still goes out in order."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from listener.events import Backchannel, Party
from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.spool import Outgoing, Spool, encode
from listener.outputs.mqtt.stage import SPOOL_FILE
from tests.mqtt_broker import Mosquitto, Received, Recorder, free_port
from tests.mqtt_feed import conversation, feed, json_on, stage_on
from tests.mqtt_links import LinkStandIn
from tests.mqtt_relay import AckHold
from tests.waiting import wait_until

VISITS = 6
RECORDER_SETTLE_S = 0.5  # for what the broker has to reach the test's subscriber
SPOOLED_PER_VISIT = 12  # 6 events, 5 metrics (4 of them rolling snapshots), 1 summary: see conversation()


def _visit_id(n: int) -> str:
    return f"{n:016x}"


def _outage(broker: Mosquitto, tmp_path: Path, spool_max_messages: int) -> list[Received]:
    """VISITS visits while the broker is away, then what the device sends once it is back."""
    broker.stop()
    with stage_on(broker, tmp_path, spool_max_messages=spool_max_messages) as stage:
        for n in range(VISITS):
            feed(stage, conversation(_visit_id(n), t0=100.0 * n), t0=100.0 * n, seconds=100)
    broker.start()
    with Recorder(broker) as rec, stage_on(broker, tmp_path, spool_max_messages=spool_max_messages) as stage:
        got = rec.wait_for(drained, timeout_s=20.0)
    spooled = [m for m in got if m.topic.rsplit("/", 1)[1] in ("event", "metrics", "session")]
    seqs = [json.loads(m.payload)["seq"] for m in spooled]
    assert seqs == sorted(seqs)  # the order of delivery is the order of storing, whatever was dropped
    return got


def drained(messages: list[Received]) -> bool:
    """``info`` is published again with spool_depth 0 once a backlog has gone out."""
    infos = json_on(messages, "info")
    return bool(infos) and infos[-1]["spool_depth"] == 0


def _endings_are_whole(got: list[Received]) -> set[str]:
    """The sessions whose summary arrived, checked to have come with their session_end and final metrics."""
    summarized = {str(s["session_id"]) for s in json_on(got, "session")}
    ended = {str(e["session_id"]) for e in json_on(got, "event") if e["type"] == "session_end"}
    assert summarized == ended, "a summary without its session_end, or the other way round"
    for sid in summarized:
        summary = next(s for s in json_on(got, "session") if s["session_id"] == sid)
        final = [m for m in json_on(got, "metrics") if m["session_id"] == sid][-1]
        assert final["rep_talk_s"] == summary["rep_talk_s"] and final["session_s"] == summary["duration_s"]
    return summarized


def _no_lone_outcomes(got: list[Received]) -> None:
    events = json_on(got, "event")
    asked = {(e["session_id"], e["by"], e["onset_ms"]) for e in events if e["type"] == "interruption"}
    told = {(e["session_id"], e["by"], e["onset_ms"]) for e in events if e["type"] == "interruption_outcome"}
    assert told <= asked, "an interruption_outcome arrived without its interruption"


def test_a_full_spool_drops_superseded_snapshots_and_old_events_before_any_summary(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Dropping strictly the oldest lost whole visits, summaries included, while keeping the later visits'
    rolling metrics snapshots, which their final metrics and summaries repeat."""
    bound = 30  # of 72 messages: room for every visit's summary, session_end and final metrics, and more
    with caplog.at_level(logging.WARNING, logger="listener.outputs.mqtt.spool"):
        got = _outage(broker, tmp_path, bound)
    assert _endings_are_whole(got) == {_visit_id(n) for n in range(VISITS)}
    _no_lone_outcomes(got)
    # the snapshots go first: every visit's rolling ones, before any event
    assert len(json_on(got, "metrics")) == VISITS
    kept = len(json_on(got, "event")) + 2 * VISITS
    assert kept in (bound - 1, bound)  # one less where an interruption took its outcome along
    assert json_on(got, "info")[-1]["spool_dropped"] == VISITS * SPOOLED_PER_VISIT - kept
    told = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert told and "no session summary among them" in told[0] and "info.spool_dropped" in told[0]


def test_when_summaries_must_go_whole_visits_go_oldest_first_and_the_warning_counts_them(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bound = 10  # room for three visits' endings (3 messages each) and no more
    with caplog.at_level(logging.WARNING, logger="listener.outputs.mqtt.spool"):
        got = _outage(broker, tmp_path, bound)
    kept = _endings_are_whole(got)
    assert kept == {_visit_id(n) for n in range(VISITS - 3, VISITS)}  # the newest three
    _no_lone_outcomes(got)
    told = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert len(told) == 1 and "raise mqtt.spool_max_messages" in told[0]


def test_the_spool_full_warning_counts_the_session_summaries_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), Spool(tmp_path / SPOOL_FILE, max_messages=10) as spool:
        for n in range(40):  # 120 messages: said at the first drop and at the 100th
            sid = _visit_id(n)
            ending: dict[str, object] = {"type": "session_end", "session_id": sid}
            spool.put_many([("event", ending, 1), ("session", {"session_id": sid}, 1), (*_metrics(sid, 30.0), 1)])
        assert spool.depth == 9 and spool.dropped == 111  # whole visits: three of them kept
    told = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert len(told) == 2, told
    assert "3 dropped so far, including 1 session summary (" in told[0]
    assert "102 dropped so far, including 34 session summaries (" in told[1]
    assert "the total ever is in info.spool_dropped" in told[1] and "raise mqtt.spool_max_messages" in told[1]


def _old_spool(path: Path, rows: list[tuple[str, dict[str, object]]]) -> None:
    """A spool as the version before this one wrote it: no kind, no session_id."""
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, leaf TEXT NOT NULL, payload BLOB NOT NULL,"
            " qos INTEGER NOT NULL, seq INTEGER NOT NULL);"
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO counters VALUES ('seq', 100);"
        )
        db.executemany(
            "INSERT INTO outbox(leaf, payload, qos, seq) VALUES (?, ?, 1, ?)",
            [(leaf, encode({**m, "seq": n}), n) for n, (leaf, m) in enumerate(rows)],
        )


def _metrics(sid: str, session_s: float) -> tuple[str, dict[str, object]]:
    return "metrics", {"schema": "listener.mqtt.metrics/1", "session_id": sid, "session_s": session_s}


def test_a_spool_from_before_is_read_as_it_was_and_its_rows_evicted_by_value(tmp_path: Path) -> None:
    """A spool written before rows held their kind: kept whole, its rows keyed from their messages when it
    opens, so its snapshots go first too; and rows an older version adds after a downgrade are keyed again."""
    path = tmp_path / SPOOL_FILE
    sid = _visit_id(1)
    rows: list[tuple[str, dict[str, object]]] = [
        ("event", {"type": "session_start", "session_id": sid}),
        _metrics(sid, 10.0),
        _metrics(sid, 20.0),
        ("event", {"type": "session_end", "session_id": sid}),
        ("session", {"session_id": sid, "duration_s": 25.0}),
        _metrics(sid, 25.0),
    ]
    _old_spool(path, rows)
    with Spool(path, max_messages=6) as spool:
        as_they_were = [{**m, "seq": n} for n, (_, m) in enumerate(rows)]
        assert [json.loads(r.payload) for r in spool.after(0, 100)] == as_they_were
        spool.put("event", {"type": "backchannel", "session_id": _visit_id(2)})
        spool.put("event", {"type": "backchannel", "session_id": _visit_id(2)})
        kept = [json.loads(r.payload) for r in spool.after(0, 100)]
    # the two rolling snapshots went, not the session_start nor the ending
    assert [m.get("type", m.get("session_s")) for m in kept] == [
        "session_start",
        "session_end",
        None,
        25.0,
        "backchannel",
        "backchannel",
    ]
    with sqlite3.connect(path) as db:  # an older version, downgraded to, stores without the new columns
        db.execute(
            "INSERT INTO outbox(leaf, payload, qos, seq) VALUES ('metrics', ?, 1, 999)",
            (encode({**_metrics(_visit_id(2), 5.0)[1], "seq": 999}),),
        )
    with Spool(path, max_messages=7) as spool:
        spool.put(*_metrics(_visit_id(2), 15.0))  # supersedes the downgraded version's snapshot
        assert [json.loads(r.payload).get("session_s") for r in spool.after(0, 100)][-2:] == [None, 15.0]
        assert spool.dropped == 3


def test_messages_in_flight_when_the_spool_fills_are_neither_dropped_nor_counted(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A message handed to paho awaits its PUBACK in the spool; paho sends it again after a reconnect, so it
    arrives. A full spool dropped such rows first (the oldest) and counted them lost: 10 counted, 9 lost."""
    made, bound, inflight_max = 30, 10, 3
    with Recorder(broker) as rec, AckHold(broker.port) as relay:
        stage = stage_on(broker, tmp_path, port=relay.port, inflight_max=inflight_max, spool_max_messages=bound)
        with stage:
            rec.wait_for(lambda ms: bool(json_on(ms, "status")))
            assert stage.publisher.flush(5.0)
            relay.hold()  # the broker's PUBACKs wait: what the device sends now stays in flight
            for n in range(made):
                stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
                if n == inflight_max - 1:  # those on the wire before the spool fills
                    rec.wait_for(lambda ms: len(json_on(ms, "event")) == inflight_max)
            relay.release()
            assert stage.publisher.flush(10.0)  # the broker has all that is left
            dropped = stage.spool.dropped
        time.sleep(RECORDER_SETTLE_S)
        arrived = {e["seq"] for e in json_on(rec.messages, "event")}
    assert (len(arrived), dropped) == (bound, made - bound)  # what arrived and what is counted lost add up


def test_a_spool_from_before_on_a_full_disk_starts_drops_the_oldest_and_is_keyed_at_a_start_with_space(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keying a spool from before is a write: on a full card it failed, and the spool's start with it (a
    restart loop under systemd, no LEDs), where the version before started and counted what it could not store."""
    path = tmp_path / SPOOL_FILE
    sid = _visit_id(1)
    start: dict[str, object] = {"type": "session_start", "session_id": sid}
    _old_spool(path, [("event", start)] + [_metrics(sid, n) for n in range(299)])
    connect = sqlite3.connect

    def full_disk(where: str, **kwargs: Any) -> sqlite3.Connection:
        # the file may not grow: max_page_count stands in for a full state_dir, as in tests/test_faults.py
        db = connect(where, **kwargs)
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        return db

    monkeypatch.setattr(sqlite3, "connect", full_disk)
    with caplog.at_level(logging.WARNING), Spool(path, max_messages=300) as spool:
        assert spool.put("event", {"type": "backchannel", "session_id": sid, "pad": "x" * 8000}) > 0
        assert spool.held == 1 and spool.dropped == 0  # what it cannot store waits in memory (see spool_held)
        spool.db.execute("PRAGMA max_page_count = 1073741823")  # space again, in this run
        spool.put("event", {"type": "backchannel", "session_id": sid})
        kept = [json.loads(r.payload) for r in spool.after(0, 1000)]
        assert spool.dropped == 2 and len(kept) == 300
    assert kept[0] == {**_metrics(sid, 1)[1], "seq": 2}  # the oldest went (the session_start, a snapshot), as before
    told = [r.getMessage() for r in caplog.records if "could not be added" in r.getMessage()]
    assert len(told) == 1 and "free space on service.state_dir and restart the service" in told[0], told
    full = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert len(full) == 1 and "dropping the oldest" in full[0], full
    monkeypatch.undo()
    with Spool(path, max_messages=300) as spool:  # a start with space keys every row, those of the run before too
        assert spool.db.execute("SELECT COUNT(*) FROM outbox WHERE kind IS NULL").fetchone()[0] == 0
        spool.put("event", {"type": "backchannel", "session_id": sid})
        assert json.loads(spool.after(0, 1)[0].payload)["session_s"] == 2  # a superseded snapshot went


def _endings(broker: Mosquitto, tmp_path: Path, visits: int) -> list[list[Outgoing]]:
    """Each visit's ending as the stage stores it (session_end, summary, final metrics, together), made by a
    stage with no broker to send them to."""
    with stage_on(broker, tmp_path / "maker", port=free_port()) as stage:
        for n in range(visits):
            feed(stage, conversation(_visit_id(n), t0=100.0 * n), t0=100.0 * n, seconds=100)
        rows = [(r.leaf, json.loads(r.payload)) for r in stage.spool.after(0, 1000)]
    endings = []
    for n in range(visits):
        mine = [(leaf, m) for leaf, m in rows if m.get("session_id") == _visit_id(n)]
        final = [r for r in mine if r[0] == "metrics"][-1]
        endings.append([(leaf, m, 1) for leaf, m in mine if leaf == "session" or m.get("type") == "session_end"])
        endings[-1].append((*final, 1))
    return endings


def test_a_session_whose_ending_is_partly_in_flight_is_kept_whole_and_another_goes_instead(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A full spool skipped only the row in flight and dropped the rest of its session's ending: the
    session_end arrived without its summary and final metrics, and as that half group fell short of the room
    needed, another whole session went too (5 dropped for 3 needed)."""
    endings = _endings(broker, tmp_path, 5)
    with Recorder(broker) as rec, AckHold(broker.port) as relay:
        with stage_on(broker, tmp_path, port=relay.port, inflight_max=1, spool_max_messages=10) as stage:
            rec.wait_for(lambda ms: bool(json_on(ms, "status")))
            assert stage.publisher.flush(5.0)
            relay.hold()  # the broker's PUBACKs wait: the first message sent now stays in flight
            stage.spool.put_many(endings[1])
            stage.publisher.spooled()
            rec.wait_for(lambda ms: bool(json_on(ms, "event")))  # visit 1's session_end, on the wire
            for n in (2, 3, 4):  # at the fourth, full: one visit's ending must go
                stage.spool.put_many(endings[n])
            relay.release()
            assert stage.publisher.flush(10.0)
            dropped = stage.spool.dropped
        time.sleep(RECORDER_SETTLE_S)
        got = rec.messages
    assert _endings_are_whole(got) == {_visit_id(n) for n in (1, 3, 4)}
    assert dropped == 3


class _StoringLink(LinkStandIn):
    """The publisher's link, never acknowledging; its first publish comes as the pipeline thread stores a
    message: between the spool's handing rows out and their being in flight."""

    def __init__(self, spool: Spool) -> None:
        super().__init__()
        self.spool = spool
        self.sent: list[int] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> int:
        if not self.sent:
            self.spool.put("event", {"type": "backchannel", "session_id": _visit_id(2), "n": 99})
        self.sent.append(int(json.loads(payload)["n"]))
        return len(self.sent)


def test_a_row_handed_to_paho_is_held_from_the_moment_the_spool_hands_it_out(tmp_path: Path) -> None:
    """Rows were held only once the publisher had put them in flight, after paho took them: a put in between
    dropped one that paho then delivered, and counted it lost (handed [0, 1, 2], row 0 gone, 1 counted)."""
    with Spool(tmp_path / SPOOL_FILE, max_messages=5) as spool:
        for n in range(5):
            spool.put("event", {"type": "backchannel", "session_id": _visit_id(1), "n": n})
        link = _StoringLink(spool)
        with link.publisher(spool, rate_per_s=100, inflight_max=3):
            wait_until(lambda: len(link.sent) >= 3, 5.0)
        left = [json.loads(r.payload)["n"] for r in spool.after(0, 100)]
        assert len(link.sent) == 3 and spool.dropped == 1
    # none acknowledged: every row handed out is still there; the one dropped (and counted) was never sent
    assert set(link.sent) <= set(left) and len(left) == 5 and left[-1] == 99


def _ending(sid: str) -> list[Outgoing]:
    end: dict[str, object] = {"type": "session_end", "session_id": sid}
    return [("event", end, 1), ("session", {"session_id": sid}, 1), (*_metrics(sid, 30.0), 1)]


def _work_to_store_when_full(path: Path, visits: int) -> int:
    """sqlite's work (its virtual machine's steps, in tens) for one message stored into a full spool of
    ``visits`` visits' endings, which must give a whole ending up: the worst case, every class looked at."""
    with Spool(path, max_messages=3 * visits) as spool:
        for first in range(0, visits, 1000):
            spool.put_many([m for n in range(first, min(first + 1000, visits)) for m in _ending(_visit_id(n))])
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0  # go on

        spool.db.set_progress_handler(count, 10)
        spool.put(*_metrics(_visit_id(visits), 5.0))  # a new visit's first snapshot
        spool.db.set_progress_handler(None, 0)
        assert spool.dropped == 3 and json.loads(spool.after(0, 1)[0].payload)["session_id"] == _visit_id(1)
    return steps[0]


def test_what_a_full_spool_drops_is_chosen_at_a_cost_its_size_does_not_raise(tmp_path: Path) -> None:
    """Choosing scanned the whole spool at every message stored while full, on the pipeline thread: 48 ms
    at 50 000 rows, 137 ms at 200 000 here, several times that on a Pi (and spool_max_messages goes to 10 000 000)."""
    small, large = (_work_to_store_when_full(tmp_path / f"{n}.sqlite3", n) for n in (1000, 10000))
    assert large < 1.5 * small, (small, large)


def test_what_consumers_read_of_spool_dropped_no_longer_says_the_oldest_go() -> None:
    """The info schema, the Home Assistant and Node-RED guides and the flow's "Messages lost" node still said
    a full spool dropped the oldest after it had begun to drop the least needed first."""
    docs = Path(__file__).resolve().parents[1] / "docs" / "integrations"
    flow = json.loads((docs / "node-red-flow.json").read_text(encoding="utf-8"))
    texts = {
        "info.json": payloads.json_schema("info")["properties"]["spool_dropped"]["description"],
        "Messages lost": next(node["func"] for node in flow if node.get("name") == "Messages lost"),
        **{name: (docs / name).read_text(encoding="utf-8") for name in ("mqtt.md", "node-red.md")},
    }
    for name, text in texts.items():
        flat = " ".join(text.replace("//", " ").split())
        assert not re.search(r"dropped (\(oldest first\)|the oldest)", flat), name
    assert "the least needed first" in texts["info.json"]
