"""docs/config.md is the schema's own documentation, not a copy that drifts."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from listener.config.presets import PRESETS
from listener.config.reference import render_reference
from listener.config.schema import MIN_PARTIES_APART_DEG, Config

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_the_committed_reference_is_the_schema_rendered_now() -> None:
    # regenerate with: python -m listener.config.reference > docs/config.md
    assert REFERENCE.read_text(encoding="utf-8") == render_reference()


def test_the_command_the_reference_names_writes_it() -> None:
    """docs/config.md and reference.py say to regenerate it with `python -m listener.config.reference`: run
    so, it prints the reference and nothing else."""
    printed = subprocess.run(
        [sys.executable, "-m", "listener.config.reference"], check=True, capture_output=True, text=True, timeout=60
    )
    assert (printed.stdout, printed.stderr) == (render_reference(), "")


def test_every_key_of_every_table_is_listed_with_its_range() -> None:
    text = render_reference()
    for table in dataclasses.fields(Config):
        assert f"## `[{table.name}]`" in text
        for key in dataclasses.fields(table.type if isinstance(table.type, type) else type(table.default)):
            assert f"| `{key.name}` |" in text
    assert "| `port` | `1883` | 1 – 65535 | broker port |" in text
    assert '| `overflow` | `"auto"` | `"auto"`, `"skip"`, `"wait"` |' in text
    assert '| `language` | `"en"` | `"en"` |' in text  # the lexicons shipped, not any text
    assert "| `mic_channels` | not set | a list, each 0 – 31; " in text
    assert "&lt;topic_prefix&gt;" in text


def test_the_rules_the_checks_add_are_listed_not_just_the_type() -> None:
    # "text" for a host, a device id or a pin, and "0.5 – 1" for dominance_off_share, let through values
    # that check-config then refused
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in render_reference().splitlines()}
    assert "0.5 – 1; below dominance_on_share" in rows["`dominance_off_share`"]
    assert "host name or IP address" in rows["`host`"]
    assert '`"counter.3"`' in rows["`device_id`"]
    for key in ("topic_prefix", "discovery_prefix"):
        assert "without +, # or empty levels" in rows[f"`{key}`"]
    for key in ("green_pin", "amber_pin", "red_pin", "blue_pin", "button_pin"):
        assert '`"GPIO0"` – `"GPIO27"`' in rows[f"`{key}`"], key
    assert "each coordinate -1 – 1, mics at least 1 mm apart, at most 32 mics" in rows["`mics`"]


def test_the_array_and_party_rules_check_config_applies_are_listed() -> None:
    # check-config refused a customer 40 deg from the rep, 48000 Hz on the USB array, a mic channel given
    # twice and an LED on a HAT's I2S pin, while the reference allowed "-360 – 360", "16000 – 48000",
    # "0 – 31" and any GPIO
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in render_reference().splitlines()}
    assert f"at least {MIN_PARTIES_APART_DEG:g} deg from rep_azimuth_deg" in rows["`customer_azimuth_deg`"]
    assert "mirror image" in rows["`customer_azimuth_deg`"]
    for preset in PRESETS.values():
        if preset.max_rate_hz < 48000:
            assert f"{preset.name}: {preset.max_rate_hz}" in rows["`sample_rate`"]
    assert "above the highest mic channel" in rows["`channels`"]
    assert "at most its card's channels" in rows["`channels`"]
    assert "one per mic, none twice" in rows["`mic_channels`"]
    assert "at least 2" in rows["`mics`"]
    reserved = {pin for preset in PRESETS.values() for pin in preset.reserved_pins}
    for key in ("green_pin", "amber_pin", "red_pin", "blue_pin", "button_pin"):
        assert "none the array's board uses" in rows[f"`{key}`"], key
        assert "18-21" in rows[f"`{key}`"] and "GPIO5" in rows[f"`{key}`"], key
        # the text is written by hand (schema cannot import the presets): it names exactly their pins
        assert _pins_named(rows[f"`{key}`"].split("a ReSpeaker HAT:", 1)[1]) == reserved, key


def _pins_named(text: str) -> set[int]:
    """GPIO numbers in 'GPIO0-3, 10, 11, 18-21; the 4- and 6-mic boards GPIO5 too' ('4-' and '6-mic' are no pins)."""
    pins: set[int] = set()
    for first, last in re.findall(r"(?:GPIO|, )(\d+)(?:-(\d+))?(?![\d-])", text):
        pins.update(range(int(first), int(last or first) + 1))
    return pins
