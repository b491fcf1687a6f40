"""The MQTT spool, device identity and configuration rules (no broker needed)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from listener.config import load_config, parse_config
from listener.errors import ConfigError, OutputError
from listener.outputs.mqtt.client import PASSWORD_ENV, read_password
from listener.outputs.mqtt.identity import config_hash, default_device_id
from listener.outputs.mqtt.spool import Spool, encode


def _msg(n: int) -> dict[str, object]:
    return {"schema": "listener.mqtt.event/1", "ts": 1000 + n, "seq": 0, "n": n}


def test_spool_keeps_order_and_seq_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    with Spool(path, max_messages=100) as spool:
        seqs = [spool.put("event", _msg(n)) for n in range(5)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        first = spool.after(0, 2)
        spool.delete([first[0].id])
        assert spool.depth == 4
    with Spool(path, max_messages=100) as spool:  # a process restart
        assert spool.depth == 4
        rows = spool.after(0, 100)
        assert [json.loads(r.payload)["n"] for r in rows] == [1, 2, 3, 4]
        assert [r.seq for r in rows] == seqs[1:]
        assert all(json.loads(r.payload)["seq"] == r.seq for r in rows)
        assert spool.put("event", _msg(5)) > seqs[-1]
        assert spool.next_seq() > seqs[-1] + 1


def test_spool_commits_reach_the_disk_before_put_returns(tmp_path: Path) -> None:
    # a power cut must not roll back a message (or the seq counter) that may already have been sent
    with Spool(tmp_path / "spool.sqlite3", max_messages=10) as spool:
        assert spool.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert spool.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync at every commit


def test_spool_overflow_drops_oldest_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Spool(tmp_path / "s.sqlite3", max_messages=10) as spool:
        for n in range(25):
            spool.put("event", _msg(n))
        assert spool.depth == 10
        assert spool.dropped == 15
        assert [json.loads(r.payload)["n"] for r in spool.after(0, 100)] == list(range(15, 25))
    assert "spool full" in caplog.text


def test_a_spool_from_before_keeps_its_rows_but_not_their_device_id(tmp_path: Path) -> None:
    # Rows used to hold the full topic: a device renamed (mqtt.device_id set, or a new default id)
    # sent its backlog under its old id, a phantom device. They are re-homed when the spool opens.
    path = tmp_path / "spool.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,"
            " qos INTEGER NOT NULL, seq INTEGER NOT NULL);"
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO counters VALUES ('seq', 40);"
        )
        leaves = ["event", "metrics", "event", "session"]
        rows = [
            (f"listener/listener-0a1b2c3d/{leaf}", encode({**_msg(n), "seq": 37 + n}), 1, 37 + n)
            for n, leaf in enumerate(leaves)
        ]
        db.executemany("INSERT INTO outbox(topic, payload, qos, seq) VALUES (?, ?, ?, ?)", rows)
    with Spool(path, max_messages=5) as spool:
        assert spool.depth == 4
        kept = spool.after(0, 100)
        assert [r.leaf for r in kept] == leaves
        assert [r.seq for r in kept] == [37, 38, 39, 40] and [json.loads(r.payload)["n"] for r in kept] == [0, 1, 2, 3]
        spool.put("event", _msg(4))
        spool.put("event", _msg(5))  # the bound still holds: the oldest goes
        assert [json.loads(r.payload)["n"] for r in spool.after(0, 100)] == [1, 2, 3, 4, 5]
    with Spool(path, max_messages=5) as spool:  # opened again: nothing left to migrate
        assert [r.leaf for r in spool.after(0, 100)] == ["metrics", "event", "session", "event", "event"]


def test_spool_in_unwritable_place_says_what_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="state_dir"):
        Spool(blocker / "spool.sqlite3", 10).open()


def test_device_id_is_a_salted_hash_of_the_machine_id(tmp_path: Path) -> None:
    machine = tmp_path / "machine-id"
    machine.write_text("0123456789abcdef0123456789abcdef\n")
    device = default_device_id(machine)
    assert device.startswith("listener-") and len(device) == len("listener-") + 8
    assert device == default_device_id(machine)
    assert "01234567" not in device
    machine.write_text("fedcba9876543210fedcba9876543210\n")
    assert default_device_id(machine) != device


def test_missing_machine_id_falls_back_to_host_name_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        device = default_device_id(tmp_path / "absent")
    assert device.startswith("listener-")
    assert "host name" in caplog.text and "mqtt.device_id" in caplog.text


def test_password_in_toml_is_rejected_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nenabled = true\nusername = "u"\npassword = "hunter2"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "mqtt.password" in text and "password_file" in text and PASSWORD_ENV in text
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"device_id": "counter/3"}, "mqtt.device_id"),
        ({"device_id": "#"}, "mqtt.device_id"),
        ({"device_id": "-counter"}, "mqtt.device_id"),
        ({"topic_prefix": "a/+/b"}, "mqtt.topic_prefix"),
        ({"topic_prefix": "a//b"}, "mqtt.topic_prefix"),
        ({"reconnect_min_s": 10.0, "reconnect_max_s": 5.0}, "mqtt.reconnect_max_s"),
        ({"cert_file": "/etc/c.pem"}, "mqtt.key_file"),
        ({"protocol": "4"}, "mqtt.protocol"),
    ],
)
def test_bad_mqtt_settings_are_rejected(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config({"mqtt": table})


def test_a_dot_in_the_device_id_is_rejected_naming_the_rule() -> None:
    # Home Assistant ignores a discovery topic whose id level holds anything but [a-zA-Z0-9_-]
    with pytest.raises(ConfigError) as err:
        parse_config({"mqtt": {"device_id": "counter.3"}})
    text = str(err.value)
    assert "mqtt.device_id" in text and "[a-zA-Z0-9_-]" in text and "Home Assistant" in text
    assert parse_config({"mqtt": {"device_id": "Counter_3-b"}}).mqtt.device_id == "Counter_3-b"


def test_password_comes_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    cfg = parse_config({"mqtt": {"username": "u", "password_file": str(secret)}}).mqtt
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert read_password(cfg) == "from-file"
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert read_password(cfg) == "from-env"
    monkeypatch.delenv(PASSWORD_ENV)
    missing = parse_config({"mqtt": {"password_file": str(tmp_path / "nope")}}).mqtt
    with pytest.raises(OutputError, match="password_file"):
        read_password(missing)


def test_config_hash_tracks_the_configuration() -> None:
    a = config_hash(parse_config({}))
    assert a == config_hash(parse_config({}))
    assert a != config_hash(parse_config({"analytics": {"session_gap_s": 60.0}}))
