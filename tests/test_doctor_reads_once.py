"""One `listener doctor` run reads each system file its checks share once: the secrets file, /proc/meminfo, the
machine id and the board serial; and warns of an unstable default device id once. A second run reads them afresh.
Opens are counted by a Python audit hook (every open(), os.open() and Path.read_*() raises one); real files in
the test's folder, a real TLS mosquitto refusing the login, the real CLI."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from listener.cli import main
from listener.outputs.mqtt import identity
from listener.service.doctor import memory as doctor_memory
from tests.mqtt_broker import Mosquitto

MIB = 1 << 20
UNSTABLE = "the MQTT device id is derived from the host name"
_recording: list[collections.Counter[str]] = []  # the count in progress, when a test counts


def _count_open(event: str, args: tuple[object, ...]) -> None:
    # an audit hook cannot be removed, and what it raises fails the open: it only counts, while a test asks
    if event == "open" and _recording and isinstance(args[0], (str, os.PathLike)):
        _recording[-1][os.fspath(args[0])] += 1


_hooked: list[bool] = []


@contextlib.contextmanager
def opens() -> Iterator[collections.Counter[str]]:
    """How often each path is opened meanwhile."""
    if not _hooked:
        sys.addaudithook(_count_open)
        _hooked.append(True)
    counted: collections.Counter[str] = collections.Counter()
    _recording.append(counted)
    try:
        yield counted
    finally:
        _recording.remove(counted)


@pytest.fixture
def system(tmp_path: Path, secrets: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The files doctor reads, in the test's folder: a missing machine id (the id then comes from the host name,
    unstable), no board serial, a /proc whose meminfo leaves no room for a second vosk model, and secrets.env."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal:        1870000 kB\nMemAvailable:     204800 kB\n")
    monkeypatch.setattr(doctor_memory, "PROC", proc)
    monkeypatch.setattr(identity, "MACHINE_ID", tmp_path / "machine-id")
    monkeypatch.setattr(identity, "BOARD_SERIAL", tmp_path / "serial-number")
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.delenv("LISTENER_MQTT_PASSWORD", raising=False)
    return {
        "secrets": secrets,
        "meminfo": proc / "meminfo",
        "machine-id": tmp_path / "machine-id",
        "serial": tmp_path / "serial-number",
    }


def big_model(tmp_path: Path) -> Path:
    """A vosk model folder of 300 MiB on disk (a sparse graph): with 200 MiB available, doctor does not load it."""
    path = tmp_path / "model"
    (path / "am").mkdir(parents=True)
    (path / "am" / "final.mdl").write_bytes(b"\x00")
    with (path / "graph.fst").open("wb") as f:
        f.truncate(300 * MIB)
    return path


def test_one_run_reads_each_shared_file_once_and_warns_of_the_unstable_id_once(
    tmp_path: Path, system: dict[str, Path], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Before, one run read secrets.env 6 times, meminfo twice, the machine id and serial 4 times, and logged the
    unstable id's warning 3 times (each look at the device id: probe topic, client id, --json's device_id)."""
    system["secrets"].write_text("LISTENER_MQTT_PASSWORD=s3cret\\\n")  # a backslash systemd drops
    caplog.set_level(logging.DEBUG, logger="listener")  # log_level = "debug": doctor holds nothing back
    with Mosquitto(tmp_path / "broker", tls=True) as broker:  # refuses a login without a password
        path = tmp_path / "listener.toml"
        path.write_text(
            f'[array]\ndevice = "gone"\n[service]\nstate_dir = "{tmp_path / "state"}"\n'
            f'[turn_model]\nenabled = false\n[asr]\nenabled = true\nmodel_path = "{big_model(tmp_path)}"\n'
            f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\ntls = true\n'
            f'ca_file = "{broker.ca_file}"\nusername = "counter"\n'
        )
        with opens() as counted:
            assert main(["doctor", "--config", str(path), "--json"]) == 1
    assert {name: counted[str(file)] for name, file in system.items()} == {
        "secrets": 1,
        "meminfo": 1,
        "machine-id": 1,
        "serial": 1,
    }
    warned = [r for r in caplog.records if r.name == identity.__name__ and UNSTABLE in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in warned]
    said = {c["name"]: c["detail"] for c in json.loads(capsys.readouterr().out)["checks"]}  # secrets: its last
    # every check that looks at a shared file still says what it said: the one reading serves them all
    assert "line 1 sets LISTENER_MQTT_PASSWORD, but systemd drops the backslash" in said["mqtt"]
    assert said["memory"].startswith("1826 MiB of RAM, 200 MiB available")
    assert "not loaded to check it: loading needs about 758 MiB and 200 MiB is available" in said["asr model"]
    assert UNSTABLE in said["device id"]
    assert said["secrets"].endswith(
        "line 1 sets LISTENER_MQTT_PASSWORD, but systemd drops the backslash at the"
        " end of line 1, so the password the service sends is not the one written"
    )


def test_each_run_reads_the_files_afresh(
    tmp_path: Path, system: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is kept from one run to the next: a secrets file fixed between two runs is judged as it is now."""
    path = tmp_path / "listener.toml"
    path.write_text(f'[array]\ndevice = "gone"\n[service]\nstate_dir = "{tmp_path / "state"}"\n')
    said = []
    for text in ("LISTENER_MQTT_PASSWORD=s3cret\\\n", "LISTENER_MQTT_PASSWORD=s3cret\n"):
        system["secrets"].write_text(text)
        with opens() as counted:
            main(["doctor", "--config", str(path), "--json"])
        assert (counted[str(system["secrets"])], counted[str(system["machine-id"])]) == (1, 1)
        said.append([c["detail"] for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "secrets"])
    assert any("drops the backslash" in detail for detail in said[0]), said[0]
    assert not any("drops the backslash" in detail for detail in said[1]), said[1]
