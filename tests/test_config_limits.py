"""Config values that passed check-config and crashed later in paho, the file system or the error echo."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import threading
import typing
from pathlib import Path

import pytest

from listener.config import load_config, parse_config
from listener.config.rules import rule_of
from listener.config.schema import Config
from listener.errors import ConfigError, ConfigFileError, ConfigFileMissingError, ConfigSyntaxError
from listener.transcription.models import models_dir
from tests.config_rejected import rejected


def _path_keys() -> list[str]:
    keys = []
    for section in dataclasses.fields(Config):
        table = typing.get_type_hints(Config)[section.name]
        keys += [f"{section.name}.{f.name}" for f in dataclasses.fields(table) if rule_of(f).path]
    return keys


PATH_KEYS = _path_keys()


def test_every_path_key_is_marked() -> None:
    expected = {"service.state_dir", "turn_model.path", "asr.model_path"}
    expected |= {f"mqtt.{k}" for k in ("password_file", "ca_file", "cert_file", "key_file")}
    assert set(PATH_KEYS) == expected


# --- mqtt.host: paho's thread died on these with "encoding with 'idna' codec failed" ---------------

BAD_HOSTS = ["192.168..5", "a..b", "a" * 300, "a" * 64 + ".lan", ".".join(["a" * 50] * 6), ".", "..", "a\x00b"]
BAD_HOSTS += ["192.168.1.300", "broker:1883", "user@broker", "", " ", "my broker", "mqtt://192.0.2.10"]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_host_must_be_an_address_or_a_dns_name(host: str) -> None:
    error = rejected({"mqtt": {"enabled": True, "host": host}}, "mqtt.host", "host name or IP address", "1-63")
    assert len(str(error)) < 700


@pytest.mark.parametrize(("host", "inner"), [("[::1]", "::1"), ("[fd00::10]", "fd00::10")])
def test_an_ipv6_address_in_brackets_is_told_to_drop_them(host: str, inner: str) -> None:
    # a URL's way of writing one ("mqtt://[::1]:1883"); the host key takes the address alone
    rejected({"mqtt": {"host": host}}, "mqtt.host", f"must be the address without brackets: host = '{inner}'")


GOOD_HOSTS = ["192.0.2.10", "::1", "fe80::1%eth0", "localhost", "broker.local", "broker.local.", "mqtt_broker"]
GOOD_HOSTS += ["a" * 63 + ".lan", ".".join(["a" * 62] * 4) + ".b", "müller.local", "10.0.0.1.nip.io"]


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_real_hosts_pass_and_encode_as_the_socket_layer_does(host: str) -> None:
    assert parse_config({"mqtt": {"host": host}}).mqtt.host == host
    host.encode("idna")  # what failed in paho's thread


def test_longest_name_is_253_characters() -> None:
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(longest) == 253
    parse_config({"mqtt": {"host": longest}})
    rejected({"mqtt": {"host": longest + "b"}}, "mqtt.host", "at most 253")


# --- paths: NUL failed every later system call with "embedded null byte" ----------------------------


@pytest.mark.parametrize("key", PATH_KEYS)
@pytest.mark.parametrize("value", ["/tmp/a\x00b", "/tmp/a\nb", "/tmp/\x1b[2Jx", "/tmp/a\x7fb", "/tmp/a\x9b[2J"])
def test_paths_must_not_hold_control_characters(key: str, value: str) -> None:
    table, name = key.split(".")
    error = rejected({table: {name: value}}, key, "control characters", "remove it")
    assert not any(c in str(error) for c in "\n\x00\x1b\x7f\x9b")


def test_paths_expand_the_home_folder_state_dir_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = parse_config(
        {
            "service": {"state_dir": "~/state"},
            "turn_model": {"path": "~/turn.onnx"},
            "mqtt": {"password_file": "~/pw", "ca_file": "~/ca.pem"},
        }
    )
    assert config.service.state_dir == str(tmp_path / "state")
    assert models_dir(config) == tmp_path / "state" / "models"  # not ./~/state/models
    assert config.turn_model.path == str(tmp_path / "turn.onnx")
    assert (config.mqtt.password_file, config.mqtt.ca_file) == (str(tmp_path / "pw"), str(tmp_path / "ca.pem"))
    assert parse_config({}).mqtt.ca_file == ""  # '' still means the default


@pytest.mark.parametrize("key", sorted(set(PATH_KEYS) - {"service.state_dir"}))  # that one has no '' default
def test_blank_text_in_a_path_key_is_refused(key: str) -> None:
    # it passed check-config and was left as it is: the run looked for a file named ' ' ("turn model   not found")
    table, name = key.split(".")
    for blank in (" ", "  "):
        rejected({table: {name: blank}}, key, 'must be a file or folder path, or "" for the default')
    pair = {"cert_file": "/etc/listener/c.pem", "key_file": "/etc/listener/k.pem"} if "_file" in name else {}
    spaced = parse_config({table: {**pair, name: "/etc/listener/my file"}})  # spaces inside a path are its own
    assert getattr(getattr(spaced, table), name) == "/etc/listener/my file"


@pytest.mark.parametrize("state_dir", ["state", "./state", "~nosuchuser-listener/state"])
def test_state_dir_must_be_absolute(state_dir: str) -> None:
    rejected({"service": {"state_dir": state_dir}}, "service.state_dir", "absolute path (or ~/...)")


# --- topic prefixes: MQTT forbids NUL and topics over 65535 bytes -----------------------------------


@pytest.mark.parametrize("key", ["topic_prefix", "discovery_prefix"])
@pytest.mark.parametrize("value", ["a\x00b", "site/\x1b", "a\x7f", "a\x9b[2J", "a/#", "+", "a//b", "$SYS/x", "$x"])
def test_topic_prefix_must_be_a_topic(key: str, value: str) -> None:
    rejected({"mqtt": {key: value}}, f"mqtt.{key}")


@pytest.mark.parametrize("key", ["topic_prefix", "discovery_prefix"])
def test_a_topic_prefix_starting_with_a_dollar_is_refused_with_the_reason(key: str) -> None:
    # mosquitto drops a client's messages to $SYS, and no subscriber's '#' matches a '$' topic: all would be lost
    rejected({"mqtt": {key: "$SYS/listener"}}, f"mqtt.{key}", "must not start with '$'", "'#' never matches")
    assert getattr(parse_config({"mqtt": {key: "store$/listener"}}).mqtt, key) == "store$/listener"


@pytest.mark.parametrize("key", ["topic_prefix", "discovery_prefix"])
@pytest.mark.parametrize("value", ["listener ", " listener", "store/ listener", "store /listener", "store/\u00a0x"])
def test_a_topic_level_with_a_space_at_its_edge_is_refused(key: str, value: str) -> None:
    # a stray space from an edit published where a subscription to 'listener/#' never looks
    rejected({"mqtt": {key: value}}, f"mqtt.{key}", "must not begin or end a topic level with a space")
    assert getattr(parse_config({"mqtt": {key: "north store/listener"}}).mqtt, key) == "north store/listener"


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "line\nbreak"])
def test_an_mqtt_username_with_control_characters_is_refused(value: str) -> None:
    # MQTT forbids NUL in a string: the broker dropped the connection, and the listener blamed TLS or the port
    rejected({"mqtt": {"username": value}}, "mqtt.username", "control characters")


def test_an_mqtt_username_fits_mqtts_65535_bytes() -> None:
    # one byte more passed check-config, and paho failed to pack it at every connect ("'H' format requires 0 <=
    # number <= 65535"), which the run reported as the broker unreachable: "check mqtt.host and mqtt.port"
    fits = "a" + "é" * 32767  # bytes count, not characters
    assert parse_config({"mqtt": {"username": fits}}).mqtt.username == fits
    error = rejected({"mqtt": {"username": fits + "a"}}, "mqtt.username", "is 65536 UTF-8 bytes long; at most 65535")
    assert len(str(error)) < 800


@pytest.mark.parametrize("key", ["topic_prefix", "discovery_prefix"])
def test_topic_prefix_leaves_room_in_mqtts_65535_bytes(key: str) -> None:
    # 65535 less 128 for '/device/<device_id>/config': 65407 bytes, two UTF-8 bytes an 'é' (bytes count, not
    # characters); exactly the most passes, one byte more is refused
    fits = "a" + "é" * 32703
    assert getattr(parse_config({"mqtt": {key: fits}}).mqtt, key) == fits
    error = rejected({"mqtt": {key: fits + "a"}}, f"mqtt.{key}", "is 65408 UTF-8 bytes long; at most 65407", "65535")
    assert len(str(error)) < 800


# --- nesting and size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 600 + "]" * 600,
        "a = " + "{b=" * 3000 + "1" + "}" * 3000,
        "[array]\nmics = " + "[" * 600 + "]" * 600,
    ],
)
def test_deep_nesting_in_the_parser_is_a_syntax_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigSyntaxError, match="nested hundreds of levels deep"):
        load_config(path)


@pytest.mark.parametrize(("section", "path"), [("", "a"), ("mqtt.", "mqtt.a"), ("array.", "array.a")])
def test_deep_tables_are_echoed_cut_short(tmp_path: Path, section: str, path: str) -> None:
    file = tmp_path / "deep.toml"
    file.write_text(f"[{section}" + ".".join(["a"] * 3000) + "]\n")
    with pytest.raises(ConfigError, match="unknown key") as info:
        load_config(file)
    assert info.value.path == path and "{...}" in str(info.value) and len(str(info.value)) < 800


def test_long_values_are_abbreviated() -> None:
    assert str(ConfigError("x", "a" * 1000, "r")) == f'config error at x = "{"a" * 200}"... (1000 characters): r'
    listed = str(ConfigError("x", list(range(1000)), "r"))
    assert listed.startswith("config error at x = [0, 1, 2") and listed.endswith("...: r") and len(listed) < 250
    deep: object = 1
    for _ in range(5000):
        deep = [deep]
    assert str(ConfigError("x", deep, "r")) == "config error at x = [[[[[[[[[...]]]]]]]]]: r"
    assert str(ConfigError("x", ["short", 1.5], "r")) == 'config error at x = ["short", 1.5]: r'


def test_long_unknown_key_is_abbreviated() -> None:
    error = rejected({"k" * 5000: 1}, '"' + "k" * 200 + '"... (5000 characters)', "unknown key")
    assert len(str(error)) < 500


ONE_MIB_OF_COMMENT = ("# " + "x" * 1021 + "\n") * 1024  # the most a config file may be, as the error says


def test_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text(ONE_MIB_OF_COMMENT)
    assert path.stat().st_size == 1024 * 1024
    assert load_config(path) == Config()  # the limit itself still loads
    path.write_text(ONE_MIB_OF_COMMENT + "\n")
    with pytest.raises(ConfigFileError, match="larger than 1 MiB"):
        load_config(path)


def test_a_piped_config_over_the_size_limit_is_refused_not_cut_short(tmp_path: Path) -> None:
    """``--config <(...)``: a pipe is read as it comes, and one byte over 1 MiB is refused as a file's is, not
    loaded as its first MiB."""
    fifo = tmp_path / "listener.toml"
    os.mkfifo(fifo)

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), fifo.open("w") as pipe:  # the reader stops at the limit
            pipe.write(ONE_MIB_OF_COMMENT + "\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with pytest.raises(ConfigFileError, match="larger than 1 MiB"):
        load_config(fifo)
    writer.join(timeout=5.0)


def test_cli_says_one_line_and_exits_2(tmp_path: Path) -> None:
    cases = {
        "deep.toml": ("a = " + "[" * 600 + "]" * 600, "nested hundreds of levels deep"),
        "tables.toml": ("[" + ".".join(["a"] * 3000) + "]", "config error at a = {a = {"),
        "host.toml": ('[mqtt]\nhost = "192.168..5"', "config error at mqtt.host"),
        "nul.toml": ('[service]\nstate_dir = "/tmp/a\\u0000b"', 'state_dir = "/tmp/a\\u0000b"'),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text + "\n")
        cmd = [sys.executable, "-m", "listener", "check-config", str(tmp_path / name)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, (name, result.stderr[-500:])
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, (name, result.stderr[-500:])
        assert expected in result.stderr, (name, result.stderr)


@pytest.mark.parametrize("key", ["turn_model.path", "asr.model_path", "mqtt.ca_file", "service.state_dir"])
def test_a_path_under_an_unknown_users_home_is_refused_at_load(key: str) -> None:
    # expanduser keeps '~nosuchuser/...' as written: Path.expanduser() on it again raised RuntimeError later,
    # and read from the config's folder it would name a folder called '~nosuchuser-listener' there
    table, name = key.split(".")
    rejected({table: {name: "~nosuchuser-listener/m"}}, key, "home folder of no user here", "absolute path")


def test_a_config_name_with_a_newline_or_too_long_is_said_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileMissingError) as missing:
        load_config(tmp_path / "no\nsuch.toml")
    assert "\n" not in str(missing.value) and "no\\nsuch.toml" in str(missing.value)
    with pytest.raises(ConfigFileError) as long_name:
        load_config(tmp_path / ("x" * 300 + ".toml"))
    assert "(File name too long): shorten the name" in str(long_name.value)
    assert str(tmp_path) in str(long_name.value) and str(long_name.value).count(str(tmp_path)) == 1


def test_a_config_path_through_a_file_is_a_missing_file(tmp_path: Path) -> None:
    # ENOTDIR was "cannot be read (Not a directory): check its permissions", which no permission fixes
    (tmp_path / "some.wav").write_bytes(b"RIFF")
    with pytest.raises(ConfigFileMissingError, match=r"some\.wav/listener\.toml does not exist: check the path"):
        load_config(tmp_path / "some.wav" / "listener.toml")
