from __future__ import annotations

import dataclasses
import itertools
import math
import typing
from pathlib import Path

import pytest

from listener.config import Config, geometry, load_config, parse_config
from listener.config.rules import rule_of
from listener.errors import ConfigError, ConfigFileError, ConfigSyntaxError, ListenerError

ISSUE_EXAMPLE = """
[array]
sample_rate = 16000
mics = [[0.0457, 0.0, 0.0], [0.0, 0.0457, 0.0], [-0.0457, 0.0, 0.0], [0.0, -0.0457, 0.0]]  # metres
[parties]
rep_azimuth_deg = 0          # in the array's x-y plane, counter-clockwise from +x
customer_azimuth_deg = 180
"""


def test_issue_example_loads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(ISSUE_EXAMPLE)
    config = load_config(path)
    geo = geometry(config)
    assert config.array.sample_rate == 16000
    assert geo.n_mics == 4 and geo.capture_channels == 4 and geo.mode == "doa"
    assert geo.mics_m[1].tolist() == [0.0, 0.0457, 0.0]
    assert config.parties.rep_azimuth_deg == 0.0 and config.parties.customer_azimuth_deg == 180.0


def test_defaults_are_valid_and_frozen() -> None:
    config = parse_config({})
    with pytest.raises(AttributeError):
        config.array.sample_rate = 8000  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "path", "rule"),
    [
        ({"array": {"sampel_rate": 16000}}, "array.sampel_rate", "unknown key"),
        ({"arrray": {}}, "arrray", "unknown key"),
        ({"array": {"sample_rate": 8000}}, "array.sample_rate", "between 16000 and 48000"),
        ({"array": {"sample_rate": "16k"}}, "array.sample_rate", "whole number"),
        ({"array": {"preset": "respeaker-9mic"}}, "array.preset", "one of"),
        ({"array": {"mics": [[0.0, 0.0]]}}, "array.mics[0]", "exactly 3"),
        ({"array": {"preset": "generic"}}, "array.mics", "required"),
        ({"array": {"preset": "respeaker-usb-v2", "sample_rate": 48000}}, "array.sample_rate", "at most 16000"),
        ({"parties": {"rep_channel": 0}}, "parties.customer_channel", "channel-map"),
        ({"parties": {"rep_channel": 1, "customer_channel": 1}}, "parties.customer_channel", "differ"),
        ({"parties": {"rep_azimuth_deg": 0, "customer_azimuth_deg": 30}}, "parties.customer_azimuth_deg", "60 deg"),
        ({"analytics": {"dominance_off_share": 0.7}}, "analytics.dominance_off_share", "hysteresis"),
        ({"analytics": {"dominance_off_share": 0.65}}, "analytics.dominance_off_share", "hysteresis"),  # no band
        ({"analytics": {"rolling_window_s": 10.0}}, "analytics.dominance_min_speech_s", "would never start"),
        ({"analytics": {"session_max_s": 300.0}}, "analytics.session_max_s", "between 600.0 and 86400.0"),
        ({"analytics": {"session_max_s": 1e5}}, "analytics.session_max_s", "between 600.0 and 86400.0"),
        ({"activity": {"frame_ms": 5}}, "activity.frame_ms", "between 10 and 20"),
        ({"array": {"mic_channels": [0, 1]}}, "array.mic_channels", "one channel per mic"),
        # two mics on one channel: the array's directions would come out of one signal twice
        (
            {"array": {"preset": "respeaker-4mic", "mic_channels": [1, 1, 2, 3]}},
            "array.mic_channels",
            "must not repeat a channel",
        ),
        ({"parties": 5}, "parties", "must be a table"),  # `parties = 5` where [parties] belongs
        # a number where a topic level goes: quoted, the number itself is a good prefix, so it is the example
        ({"mqtt": {"topic_prefix": 5}}, "mqtt.topic_prefix", 'must be text in quotes, e.g. topic_prefix = "5"'),
    ],
)
def test_errors_name_key_value_and_rule(data: dict[str, object], path: str, rule: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.path == path
    assert rule in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ListenerError)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # a list key given one number: `mic_channels = 0` for `mic_channels = [0]`
        ({"array": {"mic_channels": 0}}, "config error at array.mic_channels = 0: must be an array"),
        (
            {"array": {"mics": [[0.05, 0.0, 0.0], 5]}},
            "config error at array.mics[1] = 5: must be an array of 3 numbers: mics is an array of arrays, written "
            "mics = [[...], [...]] (metres, one [x, y, z] per mic channel; overrides the preset)",
        ),
        # an empty list: no mic, no channel; said as such, not as a count some later check disputes
        ({"array": {"mics": []}}, "config error at array.mics = []: must not be empty"),
        ({"array": {"mic_channels": []}}, "config error at array.mic_channels = []: must not be empty"),
        # a switch written as text or a number: "yes" and 1 are not taken as true
        ({"leds": {"enabled": "yes"}}, 'config error at leds.enabled = "yes": must be true or false'),
        ({"mqtt": {"tls": 1}}, "config error at mqtt.tls = 1: must be true or false"),
    ],
)
def test_a_value_of_the_wrong_shape_is_refused_saying_what_it_must_be(data: dict[str, object], message: str) -> None:
    """A list key not given a list, an empty list, a true/false key given anything else: the one-line refusal
    names the key, echoes the value and says the shape the key takes."""
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert str(info.value) == message


def test_presets_resolve_channels() -> None:
    usb = geometry(parse_config({"array": {"preset": "respeaker-usb-v2"}}))
    assert usb.capture_channels == 6 and usb.mic_channels == (1, 2, 3, 4) and usb.n_mics == 4
    six = geometry(parse_config({"array": {"preset": "respeaker-6mic"}}))
    assert six.capture_channels == 8 and six.n_mics == 6
    two = geometry(parse_config({"array": {"preset": "respeaker-2mic"}}))
    assert two.n_mics == 2


def test_channel_map_mode() -> None:
    geo = geometry(
        parse_config({"array": {"preset": "respeaker-2mic"}, "parties": {"rep_channel": 1, "customer_channel": 0}})
    )
    assert geo.mode == "channels" and geo.rep_channel == 1 and geo.customer_channel == 0


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="does not exist") as missing:
        load_config(tmp_path / "nope.toml")
    assert isinstance(missing.value, FileNotFoundError)  # what a caller knowing only Python's errors catches
    bad = tmp_path / "bad.toml"
    bad.write_text("[array\nsample_rate = 1")
    with pytest.raises(ConfigSyntaxError, match="not valid TOML") as syntax:
        load_config(bad)
    assert isinstance(syntax.value, ValueError) and not isinstance(syntax.value, OSError)


def test_every_number_in_the_config_has_a_range() -> None:
    """An unbounded number lets a typo such as 1e300 through check-config, to fail (or hang) in the field."""

    def unbounded(cls: type, prefix: str) -> list[str]:
        hints = typing.get_type_hints(cls)
        found = []
        for f in dataclasses.fields(cls):
            kind = hints[f.name]
            if dataclasses.is_dataclass(kind):
                found += unbounded(kind, f"{prefix}{f.name}.")  # type: ignore[arg-type]
            elif {int, float} & set(typing.get_args(kind) or (kind,)) and None in (rule_of(f).low, rule_of(f).high):
                found.append(prefix + f.name)
        return found

    assert unbounded(Config, "") == []


def test_a_round_boards_mics_go_round_counter_clockwise_as_the_readme_writes_them(tmp_path: Path) -> None:
    """Azimuths grow counter-clockwise from +x (presets.py, README): the README's minimal file writes the
    4-mic board's mics so, mic 1 at +y. A preset placing them the other way round would report every direction
    mirrored across x."""
    path = tmp_path / "listener.toml"
    path.write_text(ISSUE_EXAMPLE)
    preset = geometry(parse_config({"array": {"preset": "respeaker-4mic"}})).mics_m
    assert preset.tolist() == geometry(load_config(path)).mics_m.tolist()
    for name, step_deg in (("respeaker-6mic", 60.0), ("respeaker-usb-v2", 90.0)):
        mics = geometry(parse_config({"array": {"preset": name}})).mics_m
        angles = [math.degrees(math.atan2(y, x)) for x, y, _ in mics]
        steps = [(b - a) % 360.0 for a, b in itertools.pairwise(angles)]
        assert steps == pytest.approx([step_deg] * (len(mics) - 1)), name
