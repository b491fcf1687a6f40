"""The MQTT device id: one per board, even from cloned SD cards, and never the serial itself."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from listener.config import parse_config
from listener.outputs.mqtt.identity import (
    DEVICE_ID_COST,
    DEVICE_ID_SALT,
    asr_model_version,
    default_device_id,
    device_info,
    files_fingerprint,
    turn_model_version,
)
from listener.service.doctor import Check, check_turn_model
from listener.transcription.models import model_path
from listener.turns.spec import shipped_model_path, sidecar_path
from tests.doctor_config import config
from tests.forked import said_as


def _files(tmp_path: Path, serial: bytes | None, machine: str) -> tuple[Path, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    machine_id = tmp_path / "machine-id"
    machine_id.write_text(machine + "\n")
    serial_path = tmp_path / "serial-number"
    if serial is not None:
        serial_path.write_bytes(serial)
    return machine_id, serial_path


def test_boards_cloned_from_one_card_get_their_own_ids(tmp_path: Path) -> None:
    clone = "0123456789abcdef0123456789abcdef"  # the same machine id on both cards
    a = default_device_id(*_files(tmp_path / "a", b"10000000a1b2c3d4\x00", clone))
    b = default_device_id(*_files(tmp_path / "b", b"10000000e5f6a7b8\x00", clone))
    assert a != b and a.startswith("listener-") and len(a) == len("listener-") + 12
    assert "a1b2c3d4" not in a  # a salted hash, not the serial
    assert a == default_device_id(*_files(tmp_path / "a", b"10000000a1b2c3d4\x00", "another machine id"))


def test_without_a_board_serial_the_machine_id_names_the_device(tmp_path: Path) -> None:
    machine_id, serial = _files(tmp_path / "plain", None, "0123456789abcdef0123456789abcdef")
    other_machine, _ = _files(tmp_path / "other", None, "fedcba9876543210fedcba9876543210")
    named = default_device_id(machine_id, serial)
    assert named != default_device_id(other_machine, serial)  # the machine id decides it
    zeros = b"0000000000000000\x00"
    blank_machine, blank_serial = _files(tmp_path / "blank", zeros, "0123456789abcdef0123456789abcdef")
    assert default_device_id(blank_machine, blank_serial) == named  # a serial of zeros is no serial


def _warned(machine_id: Path, serial: Path) -> str:
    """What ``default_device_id`` warned, caught by a handler of its own (a forked child has no caplog)."""
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("listener.outputs.mqtt.identity")
    logger.addHandler(handler)
    try:
        default_device_id(machine_id, serial)
    finally:
        logger.removeHandler(handler)
    return "\n".join(said)


def test_a_machine_id_that_cannot_be_used_is_named_with_its_own_fix(tmp_path: Path) -> None:
    """Not 'missing or empty' for every failure: an unreadable or garbled file needs another cure."""
    machine_id, serial = _files(tmp_path, None, "")
    assert "is empty: run 'systemd-machine-id-setup'" in _warned(machine_id, serial)
    machine_id.unlink()
    assert "is missing: run 'systemd-machine-id-setup'" in _warned(machine_id, serial)
    machine_id.write_bytes(b"\xff\xfe not text")
    assert "is not a machine id (it is not text): remove it and run" in _warned(machine_id, serial)
    machine_id.unlink()
    machine_id.mkdir()
    assert "cannot be read (Is a directory)" in _warned(machine_id, serial)
    machine_id.rmdir()
    machine_id.write_text("0123456789abcdef0123456789abcdef\n")
    machine_id.chmod(0o600)
    tmp_path.chmod(0o755)
    said = said_as(65534, lambda: _warned(machine_id, serial))
    if os.geteuid() == 0:
        assert f"cannot be read by this user: make it readable to all ('chmod 444 {machine_id}')" in said
    assert "host name" in said or said == ""  # a user who owns the file reads it and warns nothing


def test_a_board_serial_that_cannot_be_read_is_warned_of(tmp_path: Path) -> None:
    """The id would quietly become the machine id's: a new device on the dashboards."""
    machine_id, serial = _files(tmp_path, None, "0123456789abcdef0123456789abcdef")
    assert _warned(machine_id, serial) == ""  # no device tree: nothing to warn of
    serial.mkdir()
    said = _warned(machine_id, serial)
    assert f"the board serial {serial} cannot be read (Is a directory)" in said
    assert "from the machine id instead" in said and "mqtt.device_id" in said


def test_the_id_is_not_a_plain_hash_anyone_could_match(tmp_path: Path) -> None:
    """Salted: other software that publishes a hash of the same machine id or board serial must not
    give away which listener it runs beside."""
    machine = "0123456789abcdef0123456789abcdef"
    by_machine = default_device_id(*_files(tmp_path / "m", None, machine)).removeprefix("listener-")
    by_serial = default_device_id(*_files(tmp_path / "s", b"10000000a1b2c3d4\x00", machine)).removeprefix("listener-")
    plain = {
        hashlib.sha256(text.encode()).hexdigest()[:12]
        for text in (machine, "serial:10000000a1b2c3d4", "10000000a1b2c3d4")
    }
    assert by_machine not in plain and by_serial not in plain


def test_the_id_costs_a_slow_hash_to_trace_back_to_the_board_serial(tmp_path: Path) -> None:
    """A Pi's serial varies in 32 bits. The salt is in the code, so a fast salted hash (SHA-256) was reversed
    by trying every serial: 16 million a minute in plain Python (a reviewer's script found one in 8 s)."""
    board = b"10000000a1b2c3d4"
    by_serial = default_device_id(*_files(tmp_path, board + b"\x00", "m")).removeprefix("listener-")
    fast = hashlib.sha256(DEVICE_ID_SALT + b"serial:" + board).hexdigest()
    assert not fast.startswith(by_serial)
    n, r = DEVICE_ID_COST
    assert n * r * 128 >= 8 * 2**20  # each try fills 8 MiB of memory, which also slows a GPU's many tries


def test_info_names_the_recogniser_model_fetched_to_its_default_place(tmp_path: Path) -> None:
    """``[asr] model_path`` left empty means the model ``listener models fetch`` installs: info says which."""
    default = config(tmp_path, asr={"enabled": True})
    fetched_by_hand = config(tmp_path, asr={"enabled": True, "model_path": str(model_path(default))})
    assert asr_model_version(default) is not None
    assert asr_model_version(default) == asr_model_version(fetched_by_hand)
    other = config(tmp_path, asr={"enabled": True, "model_path": str(tmp_path / "vosk-model-en-us-0.22")})
    assert asr_model_version(other) != asr_model_version(default)
    assert asr_model_version(config(tmp_path)) is None  # no recogniser, no model


def test_the_turn_model_fingerprint_changes_with_its_sidecar_and_doctor_prints_it(tmp_path: Path) -> None:
    """models/README.md invites tuning the sidecar's thresholds for field data: a device tuned that way
    published the fleet's fingerprint (of the .onnx alone), and doctor said only "version 1.0.0", as all do."""
    model = tmp_path / "turns.onnx"
    shutil.copyfile(shipped_model_path(), model)
    shutil.copyfile(sidecar_path(shipped_model_path()), sidecar_path(model))
    cfg = parse_config({"turn_model": {"path": str(model)}})
    shipped = turn_model_version(cfg)
    assert shipped == turn_model_version(parse_config({}))  # a copy is the same model
    sidecar = json.loads(sidecar_path(model).read_text())
    sidecar["output"]["vad_on"] = 0.9
    sidecar_path(model).write_text(json.dumps(sidecar))
    tuned = turn_model_version(cfg)
    assert tuned is not None and tuned != shipped
    check = check_turn_model(cfg)
    assert check.status == "ok" and f"fingerprint {tuned}" in check.detail, check


def test_a_device_with_the_turn_model_off_names_no_turn_model_and_doctor_says_the_heuristic_decides() -> None:
    """[turn_model] enabled = false: the info topic must not name the shipped model's fingerprint (the model
    file is still on the card, but it decides nothing), and doctor says which decider is used instead."""
    off = parse_config({"turn_model": {"enabled": False}})
    assert device_info(parse_config({})).turn_model is not None  # the shipped model, where it is on
    assert device_info(off).turn_model is None
    assert check_turn_model(off) == Check("turn model", "ok", "disabled: the heuristic decider is used")


def test_a_models_fingerprint_is_the_same_in_every_release(tmp_path: Path) -> None:
    """A fleet's dashboards group devices by the turn model fingerprint MQTT's info sends: its digits, and each
    file's length before its bytes (so moving bytes from the model to its sidecar is another pair), are fixed."""
    model, sidecar = tmp_path / "turns.onnx", tmp_path / "turns.json"
    model.write_bytes(b"onnx bytes")
    sidecar.write_bytes(b'{"version": "1.0.0"}')
    assert files_fingerprint(model, sidecar) == files_fingerprint(b"onnx bytes", sidecar) == "62b0edbbcffc"
    assert files_fingerprint(b"onnx byte", b's{"version": "1.0.0"}') != "62b0edbbcffc"
    assert files_fingerprint(model, tmp_path / "absent.json") is None


def test_a_boards_id_is_the_same_in_every_release(tmp_path: Path) -> None:
    """ "Stable across restarts and re-installs of the software": Home Assistant and the dashboards know a
    device by its id, and a new one is a new device with no history. A change of salt, cost or length must
    be a deliberate one, made with a note for the fleets already installed."""
    machine_id, serial = _files(tmp_path, b"10000000a1b2c3d4\x00", "0123456789abcdef0123456789abcdef")
    assert default_device_id(machine_id, serial) == "listener-590f3269958c"
    assert default_device_id(machine_id, tmp_path / "no-serial") == "listener-ca01d44fd12c"
