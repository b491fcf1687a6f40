"""Bad input to the MQTT output, against a real mosquitto and real SQLite files: the device keeps running.

A host paho cannot even look up, a spool file a power cut left damaged, a folder where the spool
belongs, a missing password or CA file: each is said in one line with its fix, and nothing that
was measured is lost where the device can still keep it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from listener.config import Config, parse_config
from listener.config.mqtt_schema import MqttConfig
from listener.errors import OutputError, OutputFileError
from listener.events import Backchannel, DeviceMode, DeviceState, Party
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt.credentials import PASSWORD_ENV, check_tls_files
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.spool_damage import ForeignSpool, set_aside
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service import doctor
from listener.service.doctor.disk import SPOOL_BYTES_PER_MESSAGE
from tests.doctor_config import config as doctor_config
from tests.mqtt_broker import BASE, Mosquitto, Recorder, kill_process_group, run_listener, service_config
from tests.mqtt_feed import block
from tests.waiting import wait_until

SAMPLE = Path(__file__).parents[1] / "listener" / "data" / "sample" / "conversation.wav"


def _with_host(config: Config, host: str) -> Config:
    # past the config's own host check, as a host it lets through but paho cannot look up would be
    return dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, host=host))


def _client_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.endswith("mqtt.client") and r.levelno == level]


@pytest.mark.parametrize("host", ["192.168..5", "x" * 300])
def test_a_host_paho_cannot_look_up_is_an_unreachable_broker_not_a_dead_thread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, host: str
) -> None:
    # paho caught only OSError around connecting: the UnicodeError of the host's IDNA encoding ended its
    # loop thread with a traceback, and MQTT stayed dead without a warning, a retry or a fault
    mqtt = {"enabled": True, "device_id": "counter-3", "reconnect_min_s": 0.2, "reconnect_max_s": 1.0}
    config = parse_config({"mqtt": {**mqtt, "outage_fault_s": 1.0}, "service": {"state_dir": str(tmp_path)}})
    with caplog.at_level(logging.DEBUG), MqttStage(_with_host(config, host)) as stage:
        stage.process(Backchannel(by=Party.REP, onset_s=0.5, decided_s=1.0, duration_s=0.3))
        # the second attempt is logged at debug: the loop thread lives on, retrying
        wait_until(lambda: _client_records(caplog, logging.DEBUG), 10.0)
        states = [e for e in stage.process(block(1.0)) if isinstance(e, DeviceState)]
        assert [s.mode for s in states] == [DeviceMode.FAULT], caplog.text
        assert stage.spool.depth == 1  # measured, kept for when the host is fixed
    assert _client_records(caplog, logging.DEBUG), "no second attempt: paho's loop thread died"
    (warning,) = _client_records(caplog, logging.WARNING)
    assert 'mqtt.host = "' in warning and "set mqtt.host to the broker's host name or IP address" in warning
    assert "idna" in warning and "spooled" in warning and "\n" not in warning
    assert "Traceback" not in caplog.text


def _damaged_spool(state: Path, kind: str) -> bytes:
    """A spool with messages in it, then cut short (a power cut) or overwritten (a failing card)."""
    path = state / SPOOL_FILE
    with Spool(path, max_messages=1000) as spool:
        for n in range(500):
            spool.put("event", {"n": n, "pad": "x" * 200})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if kind == "truncated" else os.urandom(len(data)))
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_a_damaged_spool_is_set_aside_and_the_device_starts_a_fresh_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    state = tmp_path / "state"
    damaged = _damaged_spool(state, kind)
    with caplog.at_level(logging.WARNING), Spool(state / SPOOL_FILE, max_messages=10) as spool:
        assert spool.depth == 0
        seq = spool.put("event", {"n": 0})
    (aside,) = state.glob(f"{SPOOL_FILE}.corrupt-*[0-9]Z")
    assert aside.read_bytes() == damaged  # kept as it was, nothing destroyed
    # subscribers drop a seq they have seen: the fresh spool counts on above any the old one handed out
    assert seq > 500 and seq >= time.time_ns() // 1_000_000 - 60_000
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"MQTT spool {state / SPOOL_FILE} is damaged" in warning and aside.name in warning
    assert "cannot be resent" in warning and "state_dir" not in warning
    with Spool(state / SPOOL_FILE, max_messages=10) as spool:  # and the fresh one is a sound spool
        assert spool.depth == 1 and spool.counter("seq") == seq and spool.next_seq() > seq


def test_listener_run_over_a_damaged_spool_publishes_what_it_measures(broker: Mosquitto, tmp_path: Path) -> None:
    # it used to exit 2, telling the installer to check that state_dir was writable
    _damaged_spool(tmp_path / "state", "truncated")
    with Recorder(broker) as rec:
        proc = run_listener(service_config(tmp_path, broker), SAMPLE, "--fast")
        try:
            _, err = proc.communicate(timeout=120)
        finally:
            kill_process_group(proc)
        got = rec.wait_for(lambda ms: any(m.topic == f"{BASE}/session" for m in ms))
    text = err.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "is damaged (database disk image is malformed)" in text and "Traceback" not in text
    sessions = [json.loads(m.payload) for m in got if m.topic == f"{BASE}/session"]
    assert sessions and all(s["seq"] > 500 for s in sessions)


def test_a_folder_where_the_spool_belongs_is_named_as_one(tmp_path: Path) -> None:
    path = tmp_path / SPOOL_FILE
    path.mkdir()
    with pytest.raises(OutputError) as err:
        Spool(path, max_messages=10).open()
    text = str(err.value)
    assert f"{path} is a folder" in text and "remove it" in text
    assert "lsattr" not in text and "chown" not in text


def test_doctor_warns_of_a_damaged_spool_without_touching_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    damaged = _damaged_spool(state, "truncated")
    check = doctor.check_state_dir(doctor_config(tmp_path, mqtt={"enabled": True}))
    assert check.status == "warn", check.line()
    assert f"{state / SPOOL_FILE} is damaged" in check.detail and "sets it aside" in check.detail
    assert "writable" in check.detail  # the room figures stay in the line
    # doctor runs as root: a -wal or -shm it left would be root's, and lock the service out of its spool
    assert sorted(p.name for p in state.iterdir()) == [SPOOL_FILE]
    assert (state / SPOOL_FILE).read_bytes() == damaged


def test_doctor_passes_a_sound_spool(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Spool(state / SPOOL_FILE, max_messages=10) as spool:
        spool.put("event", {"n": 0})
    check = doctor.check_state_dir(doctor_config(tmp_path, mqtt={"enabled": True}))
    assert "damaged" not in check.detail, check.line()
    assert sorted(p.name for p in state.iterdir()) == [SPOOL_FILE]


@pytest.mark.parametrize("bad", ["password_file", "ca_file"])
def test_a_missing_credentials_file_is_the_only_line_even_with_a_backlog(
    broker: Mosquitto, tmp_path: Path, bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the spool used to open (and log its backlog) first: three lines, the fatal one last
    monkeypatch.delenv(PASSWORD_ENV, raising=False)  # the environment's password would spare the file a read
    with Spool(tmp_path / "state" / SPOOL_FILE, max_messages=10) as spool:
        spool.put("event", {"n": 0})
    missing = str(tmp_path / "missing.pem")
    extra = {"username": "u", "password_file": missing} if bad == "password_file" else {"tls": True, "ca_file": missing}
    proc = run_listener(service_config(tmp_path, broker, **extra), SAMPLE, "--fast")
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        kill_process_group(proc)
    lines = err.decode(errors="replace").splitlines()
    assert proc.returncode == 2, lines
    assert len(lines) == 1 and f"mqtt.{bad} {missing}" in lines[0], lines


def test_a_set_aside_spool_whose_counter_is_still_readable_goes_on_from_it(tmp_path: Path) -> None:
    """seq must stay above every one handed out: where the damaged file's counter still reads higher than
    the clock's milliseconds (a clock set back, say), the fresh spool counts on from the counter."""
    path = tmp_path / SPOOL_FILE
    with Spool(path, max_messages=10) as spool:
        spool.put("event", {"n": 0})
    far_ahead = 10**15
    with sqlite3.connect(path) as db:
        db.execute("UPDATE counters SET value = ? WHERE name = 'seq'", (far_ahead,))
    db.close()
    assert set_aside(path, sqlite3.DatabaseError("test"))[0] == far_ahead
    assert not path.exists()


def test_a_fresh_spool_carries_on_the_counters_a_set_aside_one_still_reads(tmp_path: Path) -> None:
    """A damaged spool set aside reset sessions_today mid-day (Home Assistant's "Sessions today" dropped) and
    the all-time spool_dropped. Overwritten past its first pages, the file still reads its counters (written
    first), not its outbox: those messages are lost uncounted, as no count of them is left."""
    path = tmp_path / SPOOL_FILE
    with Spool(path, max_messages=400) as spool:
        spool.set_counter("sessions_day", 20261205)
        spool.set_counter("sessions_today", 4)
        for n in range(402):  # two evicted by the bound
            spool.put("event", {"n": n, "pad": "x" * 200})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\xa5" * (len(data) - len(data) // 2))
    with Spool(path, max_messages=10) as fresh:
        assert fresh.depth == 0 and fresh.dropped == 2
        assert (fresh.counter("sessions_day"), fresh.counter("sessions_today")) == (20261205, 4)


def test_the_messages_a_set_aside_spool_still_holds_count_as_dropped(tmp_path: Path) -> None:
    path = tmp_path / SPOOL_FILE
    with Spool(path, max_messages=10) as spool:
        for n in range(12):  # two evicted by the bound, ten held
            spool.put("event", {"n": n})
    _, carried = set_aside(path, sqlite3.DatabaseError("test"))
    assert carried == {"dropped": 12}  # lost with the file as much as the two evicted


def test_a_foreign_file_set_aside_carries_no_counters(tmp_path: Path) -> None:
    path = tmp_path / SPOOL_FILE
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER)")
        db.execute("INSERT INTO counters VALUES ('sessions_today', 99)")
    db.close()
    assert set_aside(path, ForeignSpool("not ours"))[1] == {}


def test_doctor_says_both_a_damaged_spool_and_too_little_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The damage warning took the line's place and its fix, so the low room's fix was never said."""
    state = tmp_path / "state"
    _damaged_spool(state, "truncated")
    disk = shutil.disk_usage
    full_spool = MqttConfig().spool_max_messages * SPOOL_BYTES_PER_MESSAGE
    monkeypatch.setattr(shutil, "disk_usage", lambda path: disk(path)._replace(free=2 * full_spool))
    check = doctor.check_state_dir(doctor_config(tmp_path, mqtt={"enabled": True}))
    assert check.status == "warn", check.line()
    assert "too little room (free space there, or lower mqtt.spool_max_messages)" in check.detail
    assert f"and {state / SPOOL_FILE} is damaged" in check.detail and "check the SD card" in check.fix


def test_a_tls_file_that_is_a_folder_is_said_to_be_one(tmp_path: Path) -> None:
    # Path.is_file alone said "does not exist" of a folder that plainly does
    folder = tmp_path / "certs"
    folder.mkdir()
    config = parse_config({"mqtt": {"enabled": True, "tls": True, "ca_file": str(folder)}}).mqtt
    with pytest.raises(OutputFileError) as info:
        check_tls_files(config)
    assert str(info.value) == f"mqtt.ca_file {folder} is a folder: point it at a PEM file, or set it to ''"
