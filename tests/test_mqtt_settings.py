"""The device identity and the [mqtt] configuration rules (no broker needed): the default device id, the
password kept out of the TOML, settings refused naming the key, and the config hash that devices set up alike
share."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from listener.config import load_config, parse_config
from listener.errors import ConfigError, OutputError
from listener.outputs.mqtt.credentials import PASSWORD_ENV, read_password
from listener.outputs.mqtt.identity import config_hash, default_device_id


def test_device_id_is_a_salted_hash_of_the_machine_id(tmp_path: Path) -> None:
    machine = tmp_path / "machine-id"
    machine.write_text("0123456789abcdef0123456789abcdef\n")
    device = default_device_id(machine)
    assert device.startswith("listener-") and len(device) == len("listener-") + 12
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
    with pytest.raises(OutputError, match="password_file") as err:
        read_password(missing)
    assert f"{tmp_path / 'nope'} cannot be read (No such file or directory): check the path" in str(err.value)
    assert "[Errno" not in str(err.value)
    secret.write_text("\n")  # made, never filled in: "bad login" from the broker would not say which file
    with pytest.raises(OutputError) as err:
        read_password(cfg)
    assert str(err.value) == (
        f"mqtt.password_file {secret} is empty: write mqtt.username's password into it (one line), or set "
        f"{PASSWORD_ENV} instead"
    )


def test_a_username_without_any_password_logs_in_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the environment nor password_file: no password is sent (a broker may take the username alone)."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert read_password(parse_config({"mqtt": {"username": "u"}}).mqtt) is None


def test_config_hash_tracks_the_configuration() -> None:
    a = config_hash(parse_config({}))
    assert a == config_hash(parse_config({}))
    assert a != config_hash(parse_config({"analytics": {"session_gap_s": 60.0}}))


def test_devices_set_up_alike_share_a_config_hash() -> None:
    # each counter has its own id, broker login, client certificate and calibrated directions
    def device(n: int, **more: object) -> dict[str, object]:
        mqtt: dict[str, object] = {"device_id": f"counter-{n}", "username": f"counter{n}", "host": "broker.lan"}
        mqtt |= {"password_file": f"/etc/listener/pw{n}"}
        mqtt |= {"cert_file": f"/etc/listener/c{n}.pem", "key_file": f"/etc/listener/k{n}.pem"}
        parties = {"rep_azimuth_deg": 10.0 * n, "customer_azimuth_deg": 170.0 + n}
        return {"mqtt": mqtt, "parties": parties, **more}

    assert config_hash(parse_config(device(1))) == config_hash(parse_config(device(2)))
    assert config_hash(parse_config(device(1))) != config_hash(parse_config(device(1, leds={"enabled": False})))


def test_stores_set_up_alike_share_a_config_hash_under_their_own_topic_prefixes() -> None:
    # the chain's advice (mqtt.md, "Many stores"): each store a topic level of its own and an area, each device
    # an id unique across the chain; the prefix is already the topic the hash arrives on
    def counter(store: int, **more: object) -> str:
        mqtt = {"topic_prefix": f"listener/store-{store}", "device_id": f"store-{store}-counter-3"}
        return config_hash(parse_config({"mqtt": mqtt | {"suggested_area": f"Store {store}"}, **more}))

    assert counter(12) == counter(7) == config_hash(parse_config({}))
    assert counter(12) != counter(12, leds={"enabled": False})  # the set-up itself still counts


def test_stores_with_brokers_of_their_own_share_a_config_hash() -> None:
    # each store's broker has its own address; a device naming another broker never reaches this one's dashboard
    def counter(host: str, **mqtt: object) -> str:
        return config_hash(parse_config({"mqtt": {"host": host, "port": 8883, "tls": True} | mqtt}))

    assert counter("broker.store-12.lan") == counter("192.0.2.7") == counter("192.0.2.7", keepalive_s=30)
    # what a fleet sets alike on purpose still counts: a device on another listener of the same broker reaches it
    assert counter("192.0.2.7") != counter("192.0.2.7", port=1883, tls=False)
    assert counter("192.0.2.7") != counter("192.0.2.7", port=8884)
    assert counter("192.0.2.7") != counter("192.0.2.7", tls_insecure=True)
    assert counter("192.0.2.7") != counter("192.0.2.7", ca_file="/etc/listener/ca.pem")
    assert counter("192.0.2.7") != counter("192.0.2.7", keepalive_s=60)
