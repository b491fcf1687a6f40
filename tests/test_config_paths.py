"""A relative path in a config file is read from that file's folder: one rule for every path key.

``[turn_model] path = "listener/data/models/turn.int8.onnx"`` passed check-config and worked from the
checkout, then failed from any other folder (the service starts in /var/lib/listener); the TLS, password
and model paths were the same, while state_dir alone refused a relative path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.cli import main
from listener.config import load_config, parse_config
from listener.service.calibrate import write_parties
from listener.transcription.models import models_dir
from tests.config_rejected import rejected
from tests.test_config_limits import PATH_KEYS

RELATIVE = {key: f"sub/{key.replace('.', '-')}" for key in PATH_KEYS}


def _toml(values: dict[str, str]) -> str:
    tables: dict[str, list[str]] = {}
    for key, value in values.items():
        table, name = key.split(".")
        tables.setdefault(table, []).append(f'{name} = "{value}"')
    return "".join(f"[{table}]\n" + "\n".join(lines) + "\n" for table, lines in tables.items())


def test_every_relative_path_is_read_from_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "listener.toml").write_text(_toml(RELATIVE))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working folder is not the file's
    config = load_config(Path("../etc/listener.toml"))  # a relative --config, as typed
    for key, value in RELATIVE.items():
        table, name = key.split(".")
        assert Path(getattr(getattr(config, table), name)).resolve() == etc / value, key
    # where `models fetch --config` unpacks and the service looks
    assert models_dir(config).resolve() == etc / "sub" / "service-state_dir" / "models"


def test_check_config_reads_them_from_the_files_folder_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "listener.toml").write_text('[service]\nstate_dir = "state"\n')
    monkeypatch.chdir("/")
    assert main(["check-config", str(tmp_path / "listener.toml")]) == 0, capsys.readouterr().err


def test_absolute_home_and_empty_paths_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    file = tmp_path / "listener.toml"
    mqtt = '[mqtt]\nca_file = "/etc/ssl/ca.pem"\ncert_file = "~/c.pem"\nkey_file = "~/k.pem"\n'
    file.write_text(mqtt + '[turn_model]\npath = ""\n')
    config = load_config(file)
    assert (config.mqtt.ca_file, config.mqtt.cert_file) == ("/etc/ssl/ca.pem", str(tmp_path / "home" / "c.pem"))
    assert config.turn_model.path == "" and config.asr.model_path == ""  # '' still means the default


@pytest.mark.parametrize("key", PATH_KEYS)
def test_settings_from_no_file_refuse_a_relative_path(key: str) -> None:
    table, name = key.split(".")
    rejected({table: {name: "ca.pem"}}, key, "absolute path (or ~/...)", "folder of the config file")


def test_a_home_folder_of_no_user_is_refused(tmp_path: Path) -> None:
    # kept as written by expanduser, it would have become a folder named '~nosuchuser...' beside the file
    file = tmp_path / "listener.toml"
    file.write_text('[mqtt]\nca_file = "~nosuchuser-listener/ca.pem"\n')
    with pytest.raises(ValueError, match="home folder of no user here"):
        load_config(file)


def test_calibrate_write_keeps_a_file_with_relative_paths(tmp_path: Path) -> None:
    # it validates the edited file with the loader: with no folder it would refuse the file's own paths
    file = tmp_path / "listener.toml"
    file.write_text('[mqtt]\nca_file = "ca.pem"\n[parties]\nrep_azimuth_deg = 0.0\n')
    write_parties(file, 90.0, 270.0)
    config = load_config(file)
    assert config.parties.rep_azimuth_deg == 90.0 and config.mqtt.ca_file == str(tmp_path / "ca.pem")
    assert parse_config({}).mqtt.ca_file == ""
