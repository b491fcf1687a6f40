"""`listener leds-off`: what the unit runs after the service stops, however it stopped.

A GPIO line keeps the level it was driven to when its process dies, so lights
left on by a killed service are pins still driven on. Here they are gpiozero's
own mock pins, driven on by hand as a dead process would have left them.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from listener.cli import main
from listener.outputs import gpio
from tests import led_script
from tests.led_script import PINS

factory = led_script.factory  # fixture
breaking_factory = led_script.breaking_factory  # fixture

LIGHTS = {"traffic-light": ("green", "amber", "red"), "rgb": ("red", "green", "blue")}


@pytest.fixture
def shared(factory: MockFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockFactory]:
    """The mock pins as the process-wide factory the command opens its LEDs on."""
    monkeypatch.setattr(gpio, "_shared", factory)
    yield factory


def left_driven(factory: MockFactory, names: tuple[str, ...], level: int) -> None:
    for name in names:
        pin = factory.pin(PINS[name])
        pin.function = "output"
        pin.state = level


def released_dark(factory: MockFactory, names: tuple[str, ...], off: int) -> bool:
    """Each pin was driven to ``off`` after it was left lit, and never lit again on the way (a lamp flashing
    on as the lights are put out), then released as gpiozero does on close.

    Released is an input without pull (lgpio's close): nothing drives the LED, so it is dark either way.
    """
    for name in names:
        pin = factory.pin(PINS[name])
        levels = [float(s.state) for s in pin.states]
        after = levels[levels.index(float(1 - off)) + 1 :]
        if pin.function != "input" or float(off) not in after:
            return False
        # up to its last drive to off: what the release leaves on an input is no drive, whatever it reads
        if float(1 - off) in after[: len(after) - after[::-1].index(float(off))]:
            return False
    return True


def leds_off(tmp_path: Path, leds: str) -> int:
    config = tmp_path / "listener.toml"
    config.write_text(f"[leds]\n{leds}\n")
    return main(["leds-off", "--config", str(config)])


@pytest.mark.parametrize("preset", ["traffic-light", "rgb"])
def test_lights_left_on_by_a_killed_service_go_dark(shared: MockFactory, tmp_path: Path, preset: str) -> None:
    names = LIGHTS[preset]
    left_driven(shared, names, 1)
    assert leds_off(tmp_path, f'preset = "{preset}"') == 0
    assert released_dark(shared, names, off=0)


def test_active_low_lights_go_dark_with_their_pins_high(shared: MockFactory, tmp_path: Path) -> None:
    names = LIGHTS["traffic-light"]
    left_driven(shared, names, 0)  # wired to 3.3 V: lit while the pin is low
    assert leds_off(tmp_path, "active_high = false") == 0
    assert released_dark(shared, names, off=1)


@pytest.mark.parametrize("leds", ['preset = "none"', "enabled = false"])
def test_without_lights_no_pin_is_touched(
    tmp_path: Path, leds: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_pin_library() -> None:
        raise AssertionError("a device without LEDs may lack a pin library; leds-off must not need one")

    monkeypatch.setattr(gpio, "pin_factory", no_pin_library)
    assert leds_off(tmp_path, leds) == 0
    assert capsys.readouterr() == ("", "")


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert leds_off(tmp_path, 'preset = "disco"') == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "leds.preset" in err and "disco" in err, err


def test_without_config_the_installed_one_says_which_lights_there_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run by hand on a device, as doctor is: the installed config, not the built-in pins."""
    import listener.config

    installed = tmp_path / "listener.toml"
    installed.write_text("[leds]\nenabled = false\n")
    monkeypatch.setattr(listener.config, "INSTALLED_CONFIG", installed)

    def no_pin_library() -> None:
        raise AssertionError("the built-in defaults were used: they have LEDs")

    monkeypatch.setattr(gpio, "pin_factory", no_pin_library)
    assert main(["leds-off"]) == 0


@pytest.mark.parametrize(
    ("elsewhere", "named"),
    [
        ('[mqtt]\nhostt = "broker.local"\n', "mqtt.hostt"),  # a key misspelt
        ("[mqtt]\nhost = broker.local\n", "line 4, host = broker.local"),  # no quotes: the file is no TOML at all
        # a channel-map array, valid only beside its [parties]: the rest of the file must not be judged without it
        (
            '[array]\npreset = "generic"\nmics = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]\n[parties]\nmode = "channels"\n'
            'rep_channel = 0\ncustomer_channel = 1\n[mqtt]\nport = "x"\n',
            "mqtt.port",
        ),
    ],
)
def test_a_typo_elsewhere_in_the_config_still_lets_the_lights_go_dark(
    shared: MockFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture, elsewhere: str, named: str
) -> None:
    # the unit runs leds-off after a watchdog kill too: a typo made in [mqtt] since the start left amber lit
    names = LIGHTS["rgb"]
    left_driven(shared, names, 1)
    config = tmp_path / "listener.toml"
    config.write_text('[leds]\npreset = "rgb"  # by the till\n' + elsewhere)
    assert main(["leds-off", "--config", str(config)]) == 0
    assert released_dark(shared, names, off=0)  # the rgb pins of [leds], not the built-in traffic light
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and "switching the LEDs off by [leds] alone" in said[0], said
    assert named in said[0]  # what no longer loads is named


@pytest.mark.parametrize(
    "top", ["note = " + "1" * 5000, "note = " + "[" * 2000 + "]" * 2000], ids=["long number", "deep nesting"]
)
def test_a_value_past_tomls_limits_above_the_leds_still_lets_the_lights_go_dark(
    shared: MockFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture, top: str
) -> None:
    """tomllib's own limits (a number of over 4300 digits, arrays nested past Python's stack) raise ValueError and
    RecursionError, not TOMLDecodeError: leds-off, the unit's ExecStopPost, ended in a traceback with the lights lit."""
    names = LIGHTS["rgb"]
    left_driven(shared, names, 1)
    config = tmp_path / "listener.toml"
    config.write_text(f'{top}\n[leds]\npreset = "rgb"\n')
    assert main(["leds-off", "--config", str(config)]) == 0
    assert released_dark(shared, names, off=0)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and "switching the LEDs off by [leds] alone" in said[0], said


def test_a_value_past_tomls_limits_in_the_leds_table_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert leds_off(tmp_path, "x = " + "1" * 5000) == 2  # which pins the service drove cannot be known
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[leds] table is not valid TOML for the listener" in err, err


def test_a_misspelt_password_elsewhere_is_not_logged_to_the_journal(
    shared: MockFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the unknown-key warning leds-off logs after every stop printed the password in full
    config = tmp_path / "listener.toml"
    config.write_text('[leds]\npreset = "rgb"\n[mqtt]\npasword = "s3cret-typo"\n')
    assert main(["leds-off", "--config", str(config)]) == 0
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and 'mqtt.pasword = "<hidden>"' in said[0], said
    assert "s3cret-typo" not in caplog.text


def test_a_broken_leds_table_is_still_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert leds_off(tmp_path, "preset = rgb") == 2  # which pins the service drove cannot be known
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[leds] table is not valid TOML" in err, err


def test_a_broken_leds_table_is_said_at_the_files_own_line_with_check_configs_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the table was parsed cut out of the file: "Invalid value (at line 3, column 10)" for the file's line 9
    config = tmp_path / "listener.toml"
    config.write_text(
        '# listener\n[array]\npreset = "respeaker-4mic"\n\n# lights\n[leds]\nenabled = true\n#\npreset = rgb\n'
    )
    assert main(["leds-off", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert 'line 9, preset = rgb: put text in double quotes: preset = "rgb"' in err and "(at line 9, column" in err, err


@pytest.mark.parametrize(
    "text",
    [
        '[leds]\npreset = "rgb"\n[[extra]]\nx = 1\n[mqtt]\nhostt = 1\n',  # an array of tables after [leds]
        '[mqtt]\nhostt = """\n[leds]\npreset = "traffic-light"\n"""\n[leds]\npreset = "rgb"\n',  # a header in a string
        'leds.preset = "rgb"\n[mqtt]\nhostt = 1\n',  # dotted keys before any header
        '["leds"] # quoted\npreset = "rgb"\n[mqtt]\nhostt = 1\n',
    ],
)
def test_leds_alone_reads_the_table_as_toml_does(
    shared: MockFactory, tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    # a [[x]] header was taken for [leds] keys (unknown key: the lights stayed lit); a dotted leds.preset was
    # missed (the built-in pins switched off instead of the rgb ones)
    names = LIGHTS["rgb"]
    left_driven(shared, names, 1)
    config = tmp_path / "listener.toml"
    config.write_text(text)
    assert main(["leds-off", "--config", str(config)]) == 0
    assert released_dark(shared, names, off=0)


def test_leds_alone_still_checks_the_pins_the_arrays_hat_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the [array] half of the fallback: a green LED on the HAT's I2S pin is refused, whatever else is broken
    config = tmp_path / "listener.toml"
    config.write_text('[array]\npreset = "respeaker-2mic"\n[leds]\ngreen_pin = "GPIO18"\n[mqtt]\nhostt = 1\n')
    assert main(["leds-off", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "leds.green_pin" in err and "I2S" in err, err


def test_a_broken_array_table_still_lets_the_lights_go_dark(shared: MockFactory, tmp_path: Path) -> None:
    names = LIGHTS["traffic-light"]
    left_driven(shared, names, 1)
    config = tmp_path / "listener.toml"
    config.write_text("[array]\npreset = respeaker-2mic\n[leds]\ncalm_level = 0.5\n")
    assert main(["leds-off", "--config", str(config)]) == 0
    assert released_dark(shared, names, off=0)


@pytest.mark.parametrize("preset", ["traffic-light", "rgb"])
def test_a_pin_that_cannot_be_written_does_not_keep_the_others_lit(
    breaking_factory: MockFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    preset: str,
) -> None:
    # the first pin raising gpiozero's pin error (a pin daemon gone) left all three lit: the board's build stopped there
    monkeypatch.setattr(gpio, "_shared", breaking_factory)
    first, *others = names = LIGHTS[preset]
    left_driven(breaking_factory, names, 1)
    breaking_factory.pin(PINS[first]).broken = True
    assert leds_off(tmp_path, f'preset = "{preset}"') == 2  # the journal says the unit's stop left a light lit
    assert released_dark(breaking_factory, tuple(others), off=0)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the {first} LED on {PINS[first]}" in err and "pigpiod" in err, err


HOLD = """
import sys, time
from pathlib import Path
from listener.service.instance import InstanceLock
with InstanceLock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_the_lights_of_a_run_by_hand_are_left_to_it(
    shared: MockFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The service refused beside an installer's `listener run` exits 75 and is started again every 20 s; after each
    refused start the unit's ExecStopPost put out the lights the run by hand drives (or, where lgpio holds the
    lines, failed on them with an error in the journal every 20 s). They are left to the run that holds the
    state folder; once it has ended, leds-off puts them out as before."""
    state = tmp_path / "state"
    names = LIGHTS["traffic-light"]
    left_driven(shared, names, 1)  # lit by the run by hand
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with caplog.at_level(logging.INFO):
            assert leds_off(tmp_path, f'preset = "traffic-light"\n[service]\nstate_dir = "{state}"') == 0
    finally:
        holder.kill()
        holder.wait()
    for name in names:
        pin = shared.pin(PINS[name])
        assert (pin.function, float(pin.states[-1].state)) == ("output", 1.0), name  # not touched
    assert f"the LEDs are left as they are: another listener runs with [service] state_dir {state}" in caplog.text
    assert leds_off(tmp_path, f'preset = "traffic-light"\n[service]\nstate_dir = "{state}"') == 0
    assert released_dark(shared, names, off=0)
