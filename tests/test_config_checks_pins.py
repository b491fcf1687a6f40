"""GPIO pins as check-config checks them: every spelling gpiozero reads, pins used twice, a board's own pins."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from listener.cli import main
from listener.config import parse_config
from listener.config.pins import bcm_number
from listener.config.presets import PRESETS
from listener.errors import ConfigError
from tests.config_rejected import rejected
from tests.provision_root import SCRIPT, script_function


@pytest.mark.parametrize(
    ("leds", "path", "words"),
    [
        ({"green_pin": "banana"}, "leds.green_pin", ("GPIO0", "GPIO27")),
        ({"amber_pin": "GPIO99"}, "leds.amber_pin", ("GPIO0 to GPIO27",)),
        ({"red_pin": "gpio13"}, "leds.red_pin", ("'GPIO0' to 'GPIO27'",)),
        ({"blue_pin": "BOARD1"}, "leds.blue_pin", ("not a GPIO",)),
        ({"button_pin": "GPIO28"}, "leds.button_pin", ("GPIO0 to GPIO27",)),
        ({"red_pin": "GPIO22"}, "leds.red_pin", ('leds.green_pin = "GPIO22"', "pin of their own")),
        ({"amber_pin": "BOARD15"}, "leds.amber_pin", ("GPIO22", "leds.green_pin")),  # header pin 15 is GPIO22
        ({"button_pin": "GPIO23"}, "leds.button_pin", ('leds.amber_pin = "GPIO23"',)),
        ({"green_pin": "GPIO5"}, "leds.green_pin", ("respeaker-4mic", "LED ring's power")),  # the HAT's own pins
        ({"button_pin": "GPIO19"}, "leds.button_pin", ("I2S audio",)),
        ({"preset": "rgb", "blue_pin": "17"}, "leds.button_pin", ('leds.blue_pin = "17"',)),
    ],
)
def test_pins_are_checked_at_load(leds: dict[str, object], path: str, words: tuple[str, ...]) -> None:
    rejected({"leds": leds}, path, *words)


@pytest.mark.parametrize(
    ("key", "spelling", "bcm"),
    [
        ("green_pin", "BCM26", 26),
        ("amber_pin", "J8:31", 6),  # header pin 31
        ("red_pin", "WPI23", 13),  # wiringPi 23 is header pin 33
        ("button_pin", "16", 16),
        ("green_pin", "BOARD15", 22),  # header pin 15: the default green pin, spelled another way
        ("button_pin", "GPIO12", 12),
    ],
)
def test_pins_in_use_may_be_spelled_any_way_gpiozero_reads(key: str, spelling: str, bcm: int) -> None:
    assert MockFactory().board_info.to_gpio(spelling) == f"GPIO{bcm}"  # what gpiozero will open
    config = parse_config({"leds": {key: spelling}})
    assert getattr(config.leds, key) == spelling  # kept as written: gpiozero reads it
    # seen as that GPIO: another pin in use on it, however spelled, is refused (the button is checked
    # after the LEDs, so it is the one named), and the GPIO next to it is not
    led = key if key != "button_pin" else "green_pin"
    other = "green_pin" if key == "button_pin" else "button_pin"
    for same in (f"GPIO{bcm}", f"BCM{bcm}", str(bcm)):
        rejected({"leds": {key: spelling, other: same}}, "leds.button_pin", f"GPIO{bcm} is already leds.{led}")
    neighbour = bcm + 1 if bcm + 1 not in (23, 24) else 25  # GPIO23/24: the amber and red LEDs
    parse_config({"leds": {key: spelling, other: f"GPIO{neighbour}"}})


def test_all_the_spellings_at_once() -> None:
    leds = {"green_pin": "BCM26", "amber_pin": "J8:31", "red_pin": "WPI23", "button_pin": "16"}
    parse_config({"leds": leds})
    rejected({"leds": {**leds, "button_pin": "BOARD37"}}, "leds.button_pin", 'is already leds.green_pin = "BCM26"')
    rejected({"leds": {**leds, "red_pin": "GPIO6"}}, "leds.red_pin", 'is already leds.amber_pin = "J8:31"')
    rejected({"leds": {**leds, "button_pin": "J8:33"}}, "leds.button_pin", 'is already leds.red_pin = "WPI23"')


@pytest.mark.parametrize(
    ("leds", "near_miss", "path"),
    [
        ({"blue_pin": "GPIO22"}, {"preset": "rgb", "blue_pin": "GPIO22"}, "leds.blue_pin"),  # unused by the light
        ({"preset": "none", "button_pin": "GPIO22"}, {"button_pin": "GPIO22"}, "leds.button_pin"),
        ({"enabled": False, "button_pin": "GPIO22"}, {"enabled": True, "button_pin": "GPIO22"}, "leds.button_pin"),
        ({"button_pin": "", "green_pin": "GPIO17"}, {"green_pin": "GPIO17"}, "leds.button_pin"),  # no button
    ],
)
def test_only_the_pins_in_use_must_differ(leds: dict[str, object], near_miss: dict[str, object], path: str) -> None:
    parse_config({"leds": leds})
    rejected({"leds": near_miss}, path, "is already", "pin of their own")


# what the README says a ReSpeaker HAT uses on the header (BCM number -> words of the error)
HAT_PINS = {0: "ID EEPROM", 1: "ID EEPROM", 2: "I2C", 3: "I2C", 10: "SPI", 11: "SPI"}
HAT_PINS |= dict.fromkeys((18, 19, 20, 21), "I2S audio")
LED_RING_POWER = {5: "LED ring's power"}
BOARD_PINS = {
    "respeaker-2mic": HAT_PINS,
    "respeaker-4mic": HAT_PINS | LED_RING_POWER,
    "respeaker-6mic": HAT_PINS | LED_RING_POWER,
    "respeaker-usb-v2": {},  # on USB: the header is all free
}


def test_a_boards_own_pins_are_free_without_that_board() -> None:
    leds = {"green_pin": "GPIO5", "button_pin": "GPIO19"}
    parse_config({"array": {"preset": "respeaker-usb-v2"}, "leds": leds})
    rejected({"array": {"preset": "respeaker-4mic"}, "leds": leds}, "leds.green_pin", "respeaker-4mic", "GPIO5")
    rejected({"array": {"preset": "respeaker-2mic"}, "leds": leds}, "leds.button_pin", "respeaker-2mic", "I2S audio")
    # every pin a HAT uses: refused on each board that uses it, accepted on the others
    assert set(BOARD_PINS) == set(PRESETS)
    for bcm in sorted(set(HAT_PINS) | set(LED_RING_POWER)):
        for preset, board_pins in BOARD_PINS.items():
            config: dict[str, object] = {"array": {"preset": preset}, "leds": {"button_pin": f"GPIO{bcm}"}}
            if bcm in board_pins:
                rejected(config, "leds.button_pin", preset, f"GPIO{bcm}", board_pins[bcm])
            else:
                parse_config(config)
    # a generic array (own mics, no board named) reserves nothing either
    square = [[0.03, 0.0, 0.0], [0.0, 0.03, 0.0], [-0.03, 0.0, 0.0], [0.0, -0.03, 0.0]]
    parse_config({"array": {"preset": "generic", "mics": square}, "leds": {"green_pin": "GPIO18"}})


def test_the_default_pins_are_free_on_every_array() -> None:
    defaults = {"green_pin": 22, "amber_pin": 23, "red_pin": 24, "blue_pin": 25, "button_pin": 17}  # the README's
    used = {"traffic-light": ("green_pin", "amber_pin", "red_pin"), "rgb": ("red_pin", "green_pin", "blue_pin")}
    for preset, board_pins in BOARD_PINS.items():
        for wiring, leds in used.items():
            config = parse_config({"array": {"preset": preset}, "leds": {"preset": wiring}})
            assert {k: bcm_number(getattr(config.leds, k), k) for k in defaults} == defaults
            # the defaults are checked like any pin: the button moved onto an LED in use is refused, onto
            # the LED the wiring leaves unused it is not
            for key in defaults:
                moved: dict[str, object] = {
                    "array": {"preset": preset},
                    "leds": {"preset": wiring, "button_pin": f"GPIO{defaults[key]}"},
                }
                if key in leds:
                    rejected(moved, "leds.button_pin", f"is already leds.{key}")
                elif key != "button_pin":
                    parse_config(moved)
            # and an LED moved onto a pin of the board is refused there
            for bcm in board_pins:
                rejected(
                    {"array": {"preset": preset}, "leds": {"preset": wiring, leds[0]: f"GPIO{bcm}"}},
                    f"leds.{leds[0]}",
                    f"GPIO{bcm}",
                )


def test_pin_names_agree_with_gpiozero() -> None:
    board = MockFactory().board_info  # a Pi with the 40-pin header
    prefixes = ("", "GPIO", "BCM", "BOARD", "J8:", "WPI", "P1:", "gpio")
    for name in [f"{p}{n}" for p in prefixes for n in range(45)] + ["GPIO017", " 5", "banana", ""]:
        try:
            expected: int | None = int(board.to_gpio(name).removeprefix("GPIO"))
        except Exception:
            expected = None
        try:
            got: int | None = bcm_number(name, "leds.green_pin")
        except ConfigError:
            got = None
        assert got == expected, name


@pytest.mark.parametrize(
    "board", ["respeaker-2mic-v1", "respeaker-2mic-v2", "respeaker-4mic", "respeaker-6mic", "respeaker-usb-v2"]
)
def test_the_installed_config_names_its_led_pins_so_a_new_default_cannot_move_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], board: str
) -> None:
    """1549ca6 moved the default LED pins from GPIO5/6/13 to GPIO22/23/24, and the config provision.sh installs
    (and keeps across upgrades) had `[leds] enabled = true` alone: the LEDs followed the defaults, so a device
    wired to the old ones went dark at the upgrade. The template, rendered by provision.sh, names its pins."""
    out = tmp_path / "listener.toml"
    render = f"render {SCRIPT.parent}/listener.toml.in {out} PRESET={board} ARRAY_PRESET=$ARRAY_PRESET"
    done = script_function(f"select_preset {board}; {render} ASR_ENABLED=false ASR_MODEL_PATH=")
    assert done.returncode == 0, done.stderr
    leds = tomllib.loads(out.read_text())["leds"]
    assert [leds.get(key) for key in ("green_pin", "amber_pin", "red_pin")] == ["GPIO22", "GPIO23", "GPIO24"]
    assert main(["check-config", str(out)]) == 0
    assert "leds." not in capsys.readouterr().err  # pins in use, at the defaults: nothing to warn of
