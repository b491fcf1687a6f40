"""``[mqtt] suggested_area``: Home Assistant puts a chain's devices in their stores' areas, not one flat list.

The area rides in the discovery message's device block (Home Assistant's ``suggested_area``, abbreviated
``sa`` like the block's other keys); without it the message is the one devices have always sent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from listener.cli import main
from listener.config import parse_config
from listener.outputs.mqtt.discovery import discovery_payload
from listener.outputs.mqtt.identity import config_hash
from listener.outputs.mqtt.spool import encode
from tests.config_rejected import rejected
from tests.mqtt_broker import BASE, DEVICE_ID, Mosquitto, Received, Recorder
from tests.mqtt_feed import stage_on

TOPIC = f"homeassistant/device/{DEVICE_ID}/config"


def _discovery_kept(broker: Mosquitto, tmp_path: Path, **mqtt: object) -> Received:
    """The discovery message the broker keeps, as a Home Assistant started later reads it."""
    with Recorder(broker) as rec, stage_on(broker, tmp_path, **mqtt):
        rec.wait_for(lambda ms: any(m.topic == TOPIC for m in ms))
    with Recorder(broker, client_id="late") as late:
        kept = late.wait_for(lambda ms: any(m.topic == TOPIC for m in ms), timeout_s=5)
    (message,) = [m for m in kept if m.topic == TOPIC]
    assert message.retain
    return message


@pytest.mark.parametrize("area", ["Store 12", "Filiale Köln-Süd"])
def test_the_area_goes_to_home_assistant_in_the_device_block(broker: Mosquitto, tmp_path: Path, area: str) -> None:
    discovery = json.loads(_discovery_kept(broker, tmp_path, suggested_area=area).payload)
    assert discovery["dev"]["sa"] == area
    assert discovery == discovery_payload(BASE, DEVICE_ID, "respeaker-4mic", area=area)


def test_without_an_area_the_discovery_message_is_the_one_sent_before(broker: Mosquitto, tmp_path: Path) -> None:
    # a fleet that sets none sends the bytes it always has: not "sa": "", which Home Assistant reads as no area
    # anyway, but which would change the retained message of every device on its first start after an upgrade
    sent = _discovery_kept(broker, tmp_path)
    assert sent.payload == encode(discovery_payload(BASE, DEVICE_ID, "respeaker-4mic"))
    assert set(json.loads(sent.payload)["dev"]) == {"ids", "name", "mf", "mdl", "sw"}


def test_an_area_is_a_name() -> None:
    assert parse_config({}).mqtt.suggested_area == ""
    for area in ("Store 12", "Filiale Köln-Süd", "店 12", "7", "x" * 100):
        assert parse_config({"mqtt": {"suggested_area": area}}).mqtt.suggested_area == area


@pytest.mark.parametrize(
    ("area", "rule"),
    [
        ("Store\n12", "must not hold control characters (U+000A at character 6)"),
        ("Store 12\x00", "must not hold control characters (U+0000 at character 9)"),
        ("Store \x9b12", "must not hold control characters (U+009B at character 7)"),
        # Home Assistant takes any text but "": these would make an area no one can name
        ("   ", "must hold a letter or digit"),
        ("-", "must hold a letter or digit"),
        # matched ignoring spaces, but a new area is named as written
        (" Store 12", "must not begin or end with a space"),
        ("Store 12\u00a0", "must not begin or end with a space"),
        ("x" * 101, "is 101 characters long; at most 100"),
    ],
)
def test_an_area_that_is_no_name_is_refused_with_the_key_value_and_rule(area: str, rule: str) -> None:
    error = rejected({"mqtt": {"suggested_area": area}}, "mqtt.suggested_area", rule)
    assert str(error).startswith('config error at mqtt.suggested_area = "'), error
    assert error.value == area


def test_a_number_for_an_area_is_told_to_be_quoted() -> None:
    rejected({"mqtt": {"suggested_area": 12}}, "mqtt.suggested_area", 'e.g. suggested_area = "12"')


def test_home_assistants_shorter_words_are_no_key() -> None:
    # "area" is what an installer may type first; the refusal lists the key it meant
    rejected({"mqtt": {"area": "Store 12"}}, "mqtt.area", "unknown key", "suggested_area")


def test_stores_set_up_alike_share_a_config_hash() -> None:
    # the area is the store's own, like the device id: with it in, no two stores' devices would agree
    def store(area: str) -> str:
        return config_hash(parse_config({"mqtt": {"device_id": "counter-3", "suggested_area": area}}))

    assert store("Store 12") == store("Store 7") == store("")
    # and not for want of hashing [mqtt]: a key the stores share still counts
    shared = {"device_id": "counter-3", "suggested_area": "Store 12", "discovery": False}
    assert store("Store 12") != config_hash(parse_config({"mqtt": shared}))


def test_an_area_without_discovery_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "listener.toml"
    config.write_text('[mqtt]\nenabled = true\ndiscovery = false\nsuggested_area = "Store 12"\n')
    assert main(["check-config", str(config)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "suggested_area" in line]
    assert warned == [
        'listener: warning at mqtt.suggested_area = "Store 12": has no effect with mqtt.discovery = false (only the'
        " Home Assistant discovery message carries it): set [mqtt] discovery = true to use it, or delete it"
    ]
    config.write_text('[mqtt]\nenabled = true\nsuggested_area = "Store 12"\n')
    assert main(["check-config", str(config)]) == 0
    assert "suggested_area" not in capsys.readouterr().err
