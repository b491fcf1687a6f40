"""The config's cross-key rules exactly at their edges: the last value allowed passes, the next is refused.

Each rule was found unpinned by flipping its comparison (a mutation run): no test told `>` from `>=`.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from listener.config import geometry, parse_config
from listener.config.rules import rule_of
from listener.config.schema import Config
from listener.errors import ConfigError
from tests.config_rejected import rejected

FOUR_MICS = [[0.05, 0.0, 0.0], [0.0, 0.05, 0.0], [-0.05, 0.0, 0.0], [0.0, -0.05, 0.0]]


def test_dominance_min_speech_may_equal_the_window_not_exceed_it() -> None:
    parse_config({"analytics": {"rolling_window_s": 60.0, "dominance_min_speech_s": 60.0}})
    rejected(
        {"analytics": {"rolling_window_s": 60.0, "dominance_min_speech_s": 60.5}},
        "analytics.dominance_min_speech_s",
        "would never start",
    )


def test_the_highest_mic_channel_must_be_captured() -> None:
    array = {"preset": "generic", "mics": FOUR_MICS, "channels": 6}
    parse_config({"array": {**array, "mic_channels": [2, 3, 4, 5]}})
    error = rejected(
        {"array": {**array, "mic_channels": [3, 4, 5, 6]}},
        "array.channels",
        "highest mic channel (6, of array.mic_channels)",
    )
    assert str(error).endswith("(6, of array.mic_channels)"), error  # array.channels is set here: no more to say
    # a count the file did not write is said to be the preset's (its card's, another device named)
    rejected(
        {"array": {"preset": "respeaker-4mic", "device": "USB Audio", "mic_channels": [3, 4, 5, 6]}},
        "array.channels",
        "(6, of array.mic_channels) (the count of array.preset = 'respeaker-4mic', not set here)",
    )


def test_a_party_channel_must_be_captured() -> None:
    array = {"preset": "generic", "mics": FOUR_MICS}
    parse_config({"array": array, "parties": {"rep_channel": 3, "customer_channel": 0}})
    rejected(
        {"array": array, "parties": {"rep_channel": 4, "customer_channel": 0}},
        "parties.rep_channel",
        "must be a captured channel, 0 to 3",
    )
    # on a board the card sets the count: "array.channels says how many are captured" sent the installer to a key
    # the board refuses above its card's channels
    rejected(
        {"array": {"preset": "respeaker-4mic"}, "parties": {"rep_channel": 0, "customer_channel": 4}},
        "parties.customer_channel",
        "must be a captured channel, 0 to 3 (the respeaker-4mic board's card captures 4; for another device set",
    )
    # another device named, which merely keeps the default preset: its count is not the board's, and is known only
    # when it opens (which names both counts), so the parties' channels are captured, as on a generic device
    other = parse_config(
        {
            "array": {"preset": "respeaker-4mic", "device": "USB Audio"},
            "parties": {"rep_channel": 0, "customer_channel": 4},
        }
    )
    assert geometry(other).capture_channels == 5


def test_reconnect_max_may_equal_min_not_undercut_it() -> None:
    parse_config({"mqtt": {"reconnect_min_s": 5.0, "reconnect_max_s": 5.0}})
    rejected({"mqtt": {"reconnect_min_s": 5.0, "reconnect_max_s": 4.5}}, "mqtt.reconnect_max_s", "at least")


def test_the_direction_band_must_not_be_empty() -> None:
    parse_config({"activity": {"low_hz": 999.0, "high_hz": 1000.0}})
    rejected({"activity": {"low_hz": 1000.0, "high_hz": 1000.0}}, "activity.high_hz", "must be above")


@pytest.mark.parametrize(("preset", "most_hz"), [("respeaker-usb-v2", 16000), ("respeaker-4mic", 48000)])
def test_a_preset_captures_up_to_its_rate(preset: str, most_hz: int) -> None:
    parse_config({"array": {"preset": preset, "sample_rate": most_hz}})
    if most_hz < 48000:  # above 48000 the schema's own range answers first
        rejected({"array": {"preset": preset, "sample_rate": most_hz + 1}}, "array.sample_rate", f"at most {most_hz}")


def test_a_password_in_the_config_is_refused_with_where_it_belongs_and_not_echoed() -> None:
    """Not merely an unknown key: the one line says where a password goes, and never prints it."""
    with pytest.raises(ConfigError) as info:
        parse_config({"mqtt": {"password": "hunter2-secret"}})
    said = str(info.value)
    assert info.value.path == "mqtt.password"
    assert "never read from the config file" in said and "password_file" in said and "LISTENER_MQTT_PASSWORD" in said
    # where the service reads it from, and a file it can read (a root-owned 0600 one it cannot)
    assert "/etc/listener/secrets.env" in said and "owner listener" in said
    assert "hunter2-secret" not in said


@pytest.mark.parametrize(
    "data",
    [
        # 60 deg exactly: cos 60 deg computes as 0.5000000000000001, 0.4999999999999999 short of the line's rule
        {"array": {"preset": "respeaker-2mic"}, "parties": {"rep_azimuth_deg": 0, "customer_azimuth_deg": 60}},
        {"array": {"preset": "respeaker-2mic"}, "parties": {"rep_azimuth_deg": 360, "customer_azimuth_deg": 300}},
        # 60 deg exactly on the circle: the wrapped difference computes as 59.99999999999999
        {"parties": {"rep_azimuth_deg": 70.2, "customer_azimuth_deg": 130.2}},
        # 1 mm exactly: 0.00099999...
        {"array": {"preset": "generic", "mics": [[0.05, 0.0, 0.0], [0.051, 0.0, 0.0]]}},
    ],
)
def test_a_value_exactly_at_a_documented_bound_is_accepted(data: dict[str, object]) -> None:
    """docs/config.md: "at least 60 deg", "at least 1 mm apart". Some decimals at the bound computed a hair under
    it and were refused, by a message whose own numbers said they should pass."""
    config = parse_config(data)
    for section, values in data.items():
        assert isinstance(values, dict)
        for key, value in values.items():
            parsed = getattr(getattr(config, section), key)
            # kept as given, not nudged onto the bound's computed side: mics come back as tuples
            assert parsed == (tuple(map(tuple, value)) if key == "mics" else value), f"{section}.{key}"


@pytest.mark.parametrize(
    "data",
    [
        {"parties": {"rep_azimuth_deg": 70.2, "customer_azimuth_deg": 130.1}},
        {"array": {"preset": "generic", "mics": [[0.05, 0.0, 0.0], [0.0509, 0.0, 0.0]]}},
    ],
)
def test_a_value_just_inside_a_bound_is_still_refused(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_config(data)


@pytest.mark.parametrize(
    ("data", "path", "other"),
    [
        ({"array": {"preset": "respeaker-usb-v2", "sample_rate": 48000}}, "array.sample_rate", "array.preset"),
        ({"leds": {"green_pin": "GPIO5"}}, "leds.green_pin", "array.preset"),
        ({"array": {"channels": 2}}, "array.channels", "array.preset = 'respeaker-4mic'"),
        # channels not in the file: the count is the preset's, and the mics are the file's mic_channels
        ({"array": {"device": "hw:1", "mic_channels": [0, 1, 2, 4]}}, "array.channels", "array.mic_channels"),
    ],
)
def test_a_cross_key_error_names_the_other_key(data: dict[str, object], path: str, other: str) -> None:
    """docs/config.md: "an error names both keys". These named one, and the last blamed array.channels, which
    the file never set: an installer searching it for the 4 found nothing."""
    rejected(data, path, other)


def test_an_array_takes_at_most_32_mics() -> None:
    """docs/config.md: "at most 32 mics", one per captured channel: the 32nd mic passes, a 33rd is refused."""
    line = [[0.01 * i - 0.16, 0.0, 0.0] for i in range(33)]  # 1 cm apart, all within the 1 m reach
    config = parse_config({"array": {"preset": "generic", "mics": line[:32], "channels": 32}})
    assert config.array.mics is not None and len(config.array.mics) == 32
    error = rejected(
        {"array": {"preset": "generic", "mics": line, "channels": 32}}, "array.mics", "has 33 mics; at most 32"
    )
    assert isinstance(error.value, list) and len(error.value) == 33


def _ranged_keys() -> list[tuple[str, str, type[float], float, float]]:
    """Every number key with a range (docs/config.md's 'low – high'): table, key, int or float, the bounds."""
    keys: list[tuple[str, str, type[float], float, float]] = []
    for section in dataclasses.fields(Config):
        table = typing.get_type_hints(Config)[section.name]
        hints = typing.get_type_hints(table)
        for spec in dataclasses.fields(table):
            rule, kinds = rule_of(spec), set(typing.get_args(hints[spec.name]) or (hints[spec.name],))
            if rule.low is not None and rule.high is not None and kinds & {int, float}:
                keys.append((section.name, spec.name, int if int in kinds else float, rule.low, rule.high))
    return keys


# what the other keys must say for a bound to be reachable at all (the cross-key rules docs/config.md lists)
BESIDE: dict[str, dict[str, dict[str, object]]] = {
    "array.channels": {"array": {"preset": "generic", "mics": [[0.05, 0.0, 0.0], [-0.05, 0.0, 0.0]]}},
    "parties.customer_azimuth_deg": {"parties": {"rep_azimuth_deg": 180.0}},
    "parties.rep_channel": {"array": {"device": "USB Audio", "channels": 32}, "parties": {"customer_channel": 1}},
    "parties.customer_channel": {"array": {"device": "USB Audio", "channels": 32}, "parties": {"rep_channel": 2}},
    "activity.frame_ms": {"turn_model": {"enabled": False}},
    "analytics.rolling_window_s": {"analytics": {"dominance_min_speech_s": 10.0}},
    "analytics.dominance_on_share": {"analytics": {"dominance_off_share": 0.5}},
    "analytics.dominance_min_speech_s": {"analytics": {"rolling_window_s": 600.0}},
}
# bounds no file reaches, as docs/config.md's rule beside the range says: the off share must be below the on share,
# itself at most 1
NEVER = {("analytics.dominance_off_share", "high")}


RANGED = _ranged_keys()


@pytest.mark.parametrize(("table", "key", "kind", "low", "high"), RANGED, ids=[f"{t}.{k}" for t, k, *_ in RANGED])
def test_every_documented_range_holds_exactly_at_both_ends(
    table: str, key: str, kind: type[float], low: float, high: float
) -> None:
    """docs/config.md's 'low – high' includes both bounds; the next value past either is refused, the error naming
    the key, the value and the range."""
    path, beside = f"{table}.{key}", BESIDE.get(f"{table}.{key}", {})
    for end, bound, past in (("low", low, -math.inf), ("high", high, math.inf)):
        if (path, end) not in NEVER:
            data: dict[str, object] = {**beside, table: {**beside.get(table, {}), key: kind(bound)}}
            assert getattr(getattr(parse_config(data), table), key) == bound, (path, end)
        beyond = bound + (1 if past > 0 else -1) if kind is int else math.nextafter(bound, past)
        error = rejected({table: {key: kind(beyond)}}, path)
        assert error.value == beyond and error.rule == f"must be between {low} and {high}", str(error)


@pytest.mark.parametrize(("table", "key", "kind", "low", "high"), RANGED, ids=[f"{t}.{k}" for t, k, *_ in RANGED])
def test_a_value_of_another_type_is_told_the_range_too(
    table: str, key: str, kind: type[float], low: float, high: float
) -> None:
    """``port = true`` (TOML's true is no 1), ``port = "http"``, a table or an array: the error says what the
    key takes, type and range, not the type alone ("must be a whole number" left the installer to look it up)."""
    number = "a whole number" if kind is int else "a number"
    as_table = f"; {key} is a setting of [{table}], not a table: write {key} = ... on a line under [{table}]"
    for wrong in (True, "http", "", {"value": 1}, [low]):
        error = rejected({table: {key: wrong}}, f"{table}.{key}")
        said = f"must be {number} between {low} and {high}" + (as_table if isinstance(wrong, dict) else "")
        assert error.value == wrong and error.rule == said, str(error)
