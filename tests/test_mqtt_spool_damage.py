"""The spool damaged while the service runs (a failing SD card): set aside as at start, and nothing measured
after it is lost. Before, every message was dropped until a restart, with "free space" given as the fix,
and the drain thread logged a traceback at every retry.

A sound database of another shape where the spool belongs is set aside at start as damage is: it used to
stop the service with "check that service.state_dir exists and is writable", though the folder was fine.

Real parts: the spool's own SQLite file overwritten under it, the MQTT stage and a real mosquitto.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from listener.errors import OutputError
from listener.events import Backchannel, Party
from listener.outputs.mqtt import spool_start
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service import doctor
from tests.doctor_config import config as doctor_config
from tests.folders import immutable, refusing_writes
from tests.full_card import damage_under
from tests.mqtt_broker import Mosquitto, Recorder
from tests.mqtt_feed import json_on, stage_on


def test_a_spool_damaged_while_running_goes_on_in_a_fresh_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / SPOOL_FILE
    with Spool(path, max_messages=1000) as spool:
        seqs = [spool.put("event", {"n": n, "pad": "x" * 200}) for n in range(300)]
        sent = spool.after(0, 300)[-1].id  # the publisher has handed all of them over
        damage_under(spool)
        with caplog.at_level(logging.WARNING):
            after = [spool.put("event", {"n": n}) for n in range(3)]
        assert min(after) > max(seqs) and after == sorted(after)  # subscribers drop a seq they have seen
        assert spool.depth == 3 and spool.dropped == 0
        rows = spool.after(sent, 10)  # numbered on above what was sent: the publisher's place still holds
        assert [r.seq for r in rows] == after
        spool.delete([sent])  # an acknowledgement for a row of the damaged file: nothing to delete
        assert spool.depth == 3
    (aside,) = tmp_path.glob(f"{SPOOL_FILE}.corrupt-*[0-9]Z")
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"MQTT spool {path} is damaged" in warning and aside.name in warning and "dmesg" in warning
    assert "free space" not in warning


def test_events_after_the_damage_reach_the_broker(broker: Mosquitto, tmp_path: Path) -> None:
    with Recorder(broker) as rec:
        stage = stage_on(broker, tmp_path)
        with stage:
            for n in range(50):
                stage.process(Backchannel(by=Party.REP, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
            assert stage.publisher.flush(10.0)
            damage_under(stage.spool)
            for n in range(50, 55):
                stage.process(Backchannel(by=Party.CUSTOMER, onset_s=n, decided_s=n + 0.5, duration_s=0.3))
            assert stage.publisher.flush(10.0)
            assert stage.spool.dropped == 0
            got = rec.wait_for(lambda ms: len(json_on(ms, "event")) >= 55)
    events = json_on(got, "event")
    assert [e["by"] for e in events] == ["rep"] * 50 + ["customer"] * 5  # every one, in order
    onsets = [e["onset_ms"] for e in events]
    assert onsets == sorted(onsets)  # type: ignore[type-var]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 55  # type: ignore[type-var]


def test_damage_that_cannot_be_set_aside_keeps_messages_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state" / SPOOL_FILE
    with Spool(path, max_messages=1000) as spool:
        seqs = [spool.put("event", {"n": n, "pad": "x" * 200}) for n in range(300)]
        damage_under(spool)
        with refusing_writes(path.parent), caplog.at_level(logging.WARNING):
            after = [spool.put("event", {"n": n}) for n in range(3)]
        assert min(after) > max(seqs) and spool.dropped == 0
        assert [r.seq for r in spool.after(0, 10)] == after  # held, to be sent as ever
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"MQTT spool {path} is damaged" in error and "cannot be set aside" in error
    assert "messages wait in memory" in error


FOREIGN = {
    "another table": ("CREATE TABLE foo(x)", "it holds table foo and no outbox"),
    "outbox short of columns": ("CREATE TABLE outbox(id INTEGER PRIMARY KEY, leaf TEXT)", "no column payload, qos"),
    "ids used again": (
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY, leaf TEXT, payload BLOB, qos INTEGER, seq INTEGER)",
        "outbox table's id is not AUTOINCREMENT",
    ),
    "counters without a key": ("CREATE TABLE counters(name TEXT, value INTEGER)", "counters table's key is none"),
    "counters a view": (
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, leaf TEXT, payload BLOB, qos INTEGER, seq INTEGER);"
        "CREATE TABLE tally(name TEXT PRIMARY KEY, value INTEGER); CREATE VIEW counters AS SELECT * FROM tally",
        "its counters is a view, not a table",
    ),
}


def _foreign(path: Path, sql: str) -> bytes:
    """A database another program (or `sqlite3 FILE 'create table ...'`) made where the spool belongs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(sql)
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("kind", FOREIGN)
def test_a_database_of_another_shape_is_set_aside_and_a_fresh_spool_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    sql, problem = FOREIGN[kind]
    path = tmp_path / "state" / SPOOL_FILE
    foreign = _foreign(path, sql)
    with caplog.at_level(logging.WARNING), Spool(path, max_messages=10) as spool:
        seq = spool.put("event", {"n": 0})
        assert spool.depth == 1 and spool.dropped == 0
    (aside,) = path.parent.glob(f"{SPOOL_FILE}.foreign-*[0-9]Z")
    assert aside.read_bytes() == foreign  # kept as it was: none of the spool's tables written into it
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"MQTT spool {path} is not this service's spool" in warning and problem in warning
    assert aside.name in warning and "state_dir" not in warning and "cannot be resent" not in warning
    with Spool(path, max_messages=10) as spool:  # and the fresh one is a sound spool
        assert spool.depth == 1 and spool.counter("seq") == seq and spool.next_seq() > seq


def test_a_spool_set_aside_in_the_same_second_as_another_keeps_the_other(tmp_path: Path) -> None:
    """A failing card can damage a fresh spool at once: the set-aside names carry the second only, and the
    second file set aside in it must not be renamed over the first (the rename would replace it silently)."""
    path = tmp_path / "state" / SPOOL_FILE
    foreign = _foreign(path, "CREATE TABLE foo(x)")
    now = dt.datetime.now(dt.UTC)
    stamps = [(now + dt.timedelta(seconds=s)).strftime("%Y%m%dT%H%M%SZ") for s in range(3)]  # the open's second
    earlier = {path.with_name(f"{SPOOL_FILE}.foreign-{stamp}"): stamp.encode() for stamp in stamps}
    for name, data in earlier.items():  # set aside earlier in this second (or the next two)
        name.write_bytes(data)
    with Spool(path, max_messages=10) as spool:
        assert spool.depth == 0
    assert {name: name.read_bytes() for name in earlier} == earlier
    (aside,) = set(path.parent.glob(f"{SPOOL_FILE}.foreign-*")) - set(earlier)
    assert aside.name in {f"{SPOOL_FILE}.foreign-{stamp}-2" for stamp in stamps}, aside
    assert aside.read_bytes() == foreign


def test_a_spool_with_a_table_of_someone_elses_keeps_its_messages(tmp_path: Path) -> None:
    # our outbox holds our messages: a table added beside it is no reason to set them aside unsent
    path = tmp_path / SPOOL_FILE
    with Spool(path, max_messages=10) as spool:
        seq = spool.put("event", {"n": 0})
    _foreign(path, "CREATE TABLE notes(x)")
    with Spool(path, max_messages=10) as spool:
        assert [r.seq for r in spool.after(0, 10)] == [seq]
    assert not list(tmp_path.glob(f"{SPOOL_FILE}.foreign-*"))


def test_a_database_of_another_shape_that_cannot_be_set_aside_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / SPOOL_FILE
    foreign = _foreign(path, "CREATE TABLE foo(x)")
    with refusing_writes(path.parent), pytest.raises(OutputError) as err:
        Spool(path, max_messages=10).open()
    text = str(err.value)
    assert f"MQTT spool {path} is not this service's spool" in text
    # the reason as a person reads it, not the exception's "[Errno 13] ...: 'path' -> 'path'"
    assert re.search(r"cannot be set aside \((Permission denied|Operation not permitted)\): ", text), text
    assert f"move it and its -wal and -shm files out of {path.parent}" in text and "writable" not in text
    assert path.read_bytes() == foreign


def test_a_file_whose_move_aside_fails_half_way_keeps_its_wal_beside_it(tmp_path: Path) -> None:
    """The -wal and -shm were renamed, the file itself was not: the next start found it parted from the -wal that
    held its last commits. Here another program's database, its table in its -wal: the file alone was empty, and
    became the spool; a damaged spool's copy, set aside alone, was read without its -wal's counters."""
    path = tmp_path / "state" / SPOOL_FILE
    path.parent.mkdir()
    theirs = sqlite3.connect(path)
    theirs.execute("PRAGMA journal_mode=WAL")
    theirs.execute("CREATE TABLE foo(x)")
    theirs.execute("INSERT INTO foo VALUES (1)")
    theirs.commit()
    files = {Path(f"{path}{suffix}"): Path(f"{path}{suffix}").read_bytes() for suffix in ("", "-wal", "-shm")}
    theirs.close()  # which checkpoints it and removes the -wal: the files are put back as the program left them
    for file, data in files.items():
        file.write_bytes(data)
    with immutable(path), pytest.raises(OutputError) as err:
        Spool(path, max_messages=10).open()
    assert "(it holds table foo and no outbox) and cannot be set aside (Operation not permitted)" in str(err.value)
    assert f"move it and its -wal and -shm files out of {path.parent}" in str(err.value)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(file.name for file in files)  # all where they were
    with Spool(path, max_messages=10):  # the next start sets them aside together
        pass
    (aside,) = path.parent.glob(f"{SPOOL_FILE}.foreign-*[0-9]Z")
    kept = sqlite3.connect(f"{aside.as_uri()}?mode=ro", uri=True)
    assert kept.execute("SELECT x FROM foo").fetchall() == [(1,)]
    kept.close()


def test_doctor_warns_of_a_database_of_another_shape_without_touching_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    foreign = _foreign(state / SPOOL_FILE, "CREATE TABLE foo(x)")
    check = doctor.check_state_dir(doctor_config(tmp_path, mqtt={"enabled": True}))
    assert check.status == "warn", check.line()
    assert f"{state / SPOOL_FILE} is not the service's spool" in check.detail and "table foo" in check.detail
    assert f"{SPOOL_FILE}.foreign-<time>" in check.detail and "SD card" not in check.fix
    assert sorted(p.name for p in state.iterdir()) == [SPOOL_FILE] and (state / SPOOL_FILE).read_bytes() == foreign


def test_damage_that_cannot_be_set_aside_shows_on_the_dashboards_and_is_set_aside_once_the_folder_lets_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool went on in memory for good, while info said storage "ok" and nothing in memory: the dashboards
    said all was well with every message at risk. Now storage says "unwritable" and the messages in memory are
    counted; the file is tried again (here at every put), set aside once the folder lets it, and what waited in
    memory goes into the fresh spool: a restart sends it."""
    monkeypatch.setattr(spool_start, "REOPEN_S", 0.0)
    caplog.set_level(logging.INFO)
    path = tmp_path / "state" / SPOOL_FILE
    with Spool(path, max_messages=1000) as spool:
        seqs = [spool.put("event", {"n": n, "pad": "x" * 200}) for n in range(300)]
        damage_under(spool)
        with refusing_writes(path.parent):
            during = [spool.put("event", {"n": n}) for n in range(300, 303)]
            refused = (spool.depth, spool.held, spool.storage)
        sent = spool.take(0, 1)  # the broker connected: one sent from memory, and acknowledged
        spool.delete([row.id for row in sent])
        after = [spool.put("event", {"n": n}) for n in range(303, 305)]  # the folder lets the file be set aside
        freed = (spool.depth, spool.held, spool.storage)
    assert refused == (3, 3, "unwritable"), refused
    assert freed == (4, 0, "ok"), freed
    assert max(seqs) < min(during) and during + after == sorted(during + after)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot be set aside" in errors[0], errors
    assert "messages wait in memory" in errors[0] and "info.storage says unwritable" in errors[0], errors
    assert f"MQTT spool {path} opens now that the card takes writes: the 2 messages in memory go into it" in [
        r.getMessage() for r in caplog.records
    ]
    assert len(list(path.parent.glob(f"{SPOOL_FILE}.corrupt-*[0-9]Z"))) == 1  # set aside once the folder let it
    with Spool(path, max_messages=1000) as again:  # a restart: the fresh spool holds what was not sent
        assert [row.seq for row in again.after(0, 10)] == during[1:] + after
        assert again.storage == "ok" and again.next_seq() > max(after)


def test_a_stop_while_the_damaged_file_cannot_be_set_aside_says_what_it_loses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The messages in memory went with the stop, nothing said."""
    path = tmp_path / "state" / SPOOL_FILE
    spool = Spool(path, max_messages=1000)
    spool.open()
    for n in range(300):
        spool.put("event", {"n": n, "pad": "x" * 200})
    damage_under(spool)
    with refusing_writes(path.parent), caplog.at_level(logging.ERROR):
        for n in range(3):
            spool.put("event", {"n": n})
        spool.close()
    (lost,) = [r.getMessage() for r in caplog.records if "lost at this stop" in r.getMessage()]
    assert lost.startswith(f"MQTT spool {path} is damaged (") and "cannot be set aside (" in lost, lost
    assert lost.endswith(
        f"move it and its -wal and -shm files out of {path.parent}, then start again; "
        "3 messages waiting in memory are lost at this stop"
    ), lost
