"""`listener doctor` says when the default MQTT device id is unstable, which the service only warns of in its
journal at start (doctor holds those warnings back): from the host name, or from the machine id because the
board serial could not be read. Real files for the machine id and serial, the real CLI, a real closed port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from listener.cli import main
from listener.outputs.mqtt import identity
from listener.service.doctor.device_id import EXAMPLE, check_device_id
from tests.doctor_config import config
from tests.mqtt_broker import free_port

MACHINE = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def machine_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's machine id and board serial, as files of the test's (no serial: not a Pi)."""
    path = tmp_path / "machine-id"
    path.write_text(MACHINE + "\n")
    monkeypatch.setattr(identity, "MACHINE_ID", path)
    monkeypatch.setattr(identity, "BOARD_SERIAL", tmp_path / "serial-number")
    return path


def _mqtt_on(tmp_path: Path, **keys: object) -> dict[str, object]:
    return {"enabled": True, "host": "127.0.0.1", "port": free_port(), **keys}


def test_an_id_from_the_host_name_is_a_warn_with_the_fix(tmp_path: Path, machine_id: Path) -> None:
    assert check_device_id(config(tmp_path, mqtt=_mqtt_on(tmp_path))) is None  # the machine id's: stable
    machine_id.unlink()
    check = check_device_id(config(tmp_path, mqtt=_mqtt_on(tmp_path)))
    assert check is not None and check.status == "warn", check
    assert check.detail.startswith(f"{identity.default_device_id()}, the default MQTT device id, is unstable")
    assert f"{machine_id} is missing: run 'systemd-machine-id-setup'" in check.detail
    assert "derived from the host name" in check.detail and "changes if the host is renamed" in check.detail
    assert EXAMPLE in check.fix
    # nothing to say where the id is pinned, or nothing is published under it
    assert check_device_id(config(tmp_path, mqtt=_mqtt_on(tmp_path, device_id="store-12-counter-3"))) is None
    assert check_device_id(config(tmp_path)) is None


def test_an_unreadable_board_serial_is_a_warn(tmp_path: Path, machine_id: Path) -> None:
    """The id comes from the machine id this once: the next start that reads the serial is a new device."""
    (tmp_path / "serial-number").mkdir()
    check = check_device_id(config(tmp_path, mqtt=_mqtt_on(tmp_path)))
    assert check is not None and check.status == "warn", check
    assert "board serial" in check.detail and "cannot be read (Is a directory)" in check.detail
    assert "host name" not in check.detail and EXAMPLE in check.fix


def test_doctor_json_carries_the_warning_after_the_mqtt_check(
    tmp_path: Path, machine_id: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    machine_id.unlink()
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    path = tmp_path / "listener.toml"
    mqtt = _mqtt_on(tmp_path)
    path.write_text(
        f'[array]\ndevice = "gone"\n[service]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mqtt["port"]}\n'
    )
    assert main(["doctor", "--config", str(path), "--json"]) == 1  # no array, no broker
    document = json.loads(capsys.readouterr().out)
    names = [check["name"] for check in document["checks"]]
    assert names[names.index("mqtt") + 1] == "device id", names
    said = document["checks"][names.index("device id")]
    assert said["status"] == "warn" and said["detail"].startswith(document["device_id"]), said
    assert "host name" in said["detail"] and EXAMPLE in said["fix"], said
