"""Values that used to pass check-config and failed (or misbehaved) only later."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import pytest

from listener.cli import main
from listener.config import geometry, load_config, parse_config
from listener.config.array_checks import line_axis_deg
from listener.config.schema import Config
from listener.errors import ConfigError, ConfigFileError, ConfigSyntaxError
from tests.config_rejected import rejected

TWO_MIC = {"preset": "respeaker-2mic"}
ALONG_Y = {"mics": [[0.0, 0.03, 0.0], [0.0, -0.03, 0.0]]}
OFF_CENTRE = {"mics": [[0.1, 0.05, 0.0], [0.16, 0.05, 0.0]]}  # mics measured from a corner of the board


@pytest.mark.parametrize(
    ("mics", "path", "words"),
    [
        ([[45.7, 0.0, 0.0], [-45.7, 0.0, 0.0]], "array.mics[0][0]", ("metres", "45.7 looks like millimetres")),
        ([[0.03, 0.0, 0.0], [0.0, 4.57, 0.0]], "array.mics[1][1]", ("4.57 looks like centimetres",)),
        ([[0.03, 0.0, 0.0], [0.0, -2.0, 0.0]], "array.mics[1][1]", ("-2 looks like centimetres (-0.02 m)",)),
        ([[0.03, 0.0, 0.0], [0.0303, 0.0, 0.0003]], "array.mics[1]", ("array.mics[0]", "1 mm apart")),
        ([[0.0, 0.0, 0.0], [0.0, 0.0, 0.05]], "array.mics", ("x-y plane", "channel-map")),
    ],
)
def test_mic_coordinates_are_sane_metres(mics: list[list[float]], path: str, words: tuple[str, ...]) -> None:
    rejected({"array": {"preset": "generic", "mics": mics}}, path, *words)


@pytest.mark.parametrize("value", [1.0000001, 1.2, -1.9])
def test_a_coordinate_just_past_one_metre_is_told_the_rule_checked_and_no_unit_guessed(value: float) -> None:
    """The check is each coordinate from -1 to 1, as docs/config.md says; the message said "at most 1 m from
    the array's origin", another rule, and called 1.2 "centimetres (0.012 m)"."""
    error = rejected(
        {"array": {"preset": "generic", "mics": [[0.03, 0.0, 0.0], [value, 0.0, 0.0]]}}, "array.mics[1][0]"
    )
    assert "each coordinate between -1 and 1 (metres)" in str(error) and "origin" not in str(error)
    assert "looks like" not in str(error), str(error)


def test_non_finite_mic_coordinate_is_rejected() -> None:
    rejected({"array": {"mics": [[float("inf"), 0.0, 0.0], [0.03, 0.0, 0.0]]}}, "array.mics[0][0]", "finite")


def test_stacked_mics_are_fine_in_channel_map_mode() -> None:
    mics = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.05]]
    config = parse_config({"array": {"mics": mics}, "parties": {"rep_channel": 0, "customer_channel": 1}})
    assert geometry(config).mode == "channels"


@pytest.mark.parametrize(
    ("array", "rep", "customer", "fix"),
    [
        (TWO_MIC, 60.0, 300.0, "rep_azimuth_deg = 0 and customer_azimuth_deg = 180"),  # exact mirror images
        (TWO_MIC, 45.0, 300.0, "rep_azimuth_deg = 0 and customer_azimuth_deg = 180"),  # cos 0.71 vs 0.5
        (TWO_MIC, 150.0, 215.0, "rep_azimuth_deg = 180 and customer_azimuth_deg = 0"),  # rep at the -x end
        (ALONG_Y, 0.0, 180.0, "rep_azimuth_deg = 90 and customer_azimuth_deg = 270"),  # broadside both
        (OFF_CENTRE, 60.0, 300.0, "rep_azimuth_deg = 0 and customer_azimuth_deg = 180"),  # a line off the origin
    ],
)
def test_line_array_rejects_mirror_image_parties(
    array: dict[str, object], rep: float, customer: float, fix: str
) -> None:
    parties = {"rep_azimuth_deg": rep, "customer_azimuth_deg": customer}
    error = rejected({"array": array, "parties": parties}, "parties.customer_azimuth_deg", fix)
    assert "parties.rep_azimuth_deg" in str(error) and f"({rep})" in str(error) and error.value == customer


def _line(axis_deg: float, half_m: float = 0.029) -> dict[str, object]:
    """Two mics ``2 * half_m`` apart along ``axis_deg`` in the x-y plane."""
    x, y = (round(half_m * f(math.radians(axis_deg)), 6) for f in (math.cos, math.sin))
    return {"mics": [[x, y, 0.0], [-x, -y, 0.0]]}


@pytest.mark.parametrize(
    ("array", "rep", "customer"),
    [
        (TWO_MIC, 0.0, 180.0),  # the firmware default
        (TWO_MIC, 30.0, 210.0),
        (TWO_MIC, 90.0, 150.0),  # cos 0 vs -0.87
        ({"preset": "respeaker-4mic"}, 60.0, 300.0),  # an area array hears both sides
        (ALONG_Y, 90.0, 270.0),
    ],
)
def test_line_array_accepts_parties_apart_along_its_axis(array: dict[str, object], rep: float, customer: float) -> None:
    parties = {"rep_azimuth_deg": rep, "customer_azimuth_deg": customer}
    config = parse_config({"array": array, "parties": parties})
    assert (config.parties.rep_azimuth_deg, config.parties.customer_azimuth_deg) == (rep, customer)
    # The near miss: the same parties, heard by a line along the bisector of their directions, are mirror
    # images across it; so are they by any line turned from there by less than asin(0.25 / sin(half their
    # angle)), where the difference of their cosines to the line, 2 sin(half) sin(turn), is below 0.5.
    bisector = (rep + customer) / 2.0
    half = math.radians(abs((customer - rep + 180.0) % 360.0 - 180.0) / 2.0)
    limit = math.degrees(math.asin(0.25 / math.sin(half)))
    for turn in (0.0, limit - 2.0):
        rejected({"array": _line(bisector + turn), "parties": parties}, "parties.customer_azimuth_deg", "mirror images")
    parse_config({"array": _line(bisector + limit + 2.0), "parties": parties})  # just far enough round: heard apart
    parse_config({"array": _line(bisector + 90.0), "parties": parties})  # and best along the line between them


@pytest.mark.parametrize(("rep", "customer"), [(350.0, 20.0), (10.0, 330.0)])
def test_parties_close_across_north_are_too_close(rep: float, customer: float) -> None:
    """350 and 20 deg are 30 deg apart, not 330: their sectors overlap and no array tells them apart."""
    parties = {"rep_azimuth_deg": rep, "customer_azimuth_deg": customer}
    rejected({"parties": parties}, "parties.customer_azimuth_deg", "at least 60 deg")


def test_line_check_skips_channel_map_mode_and_finds_the_axis() -> None:
    parties = {"rep_azimuth_deg": 60.0, "customer_azimuth_deg": 300.0, "rep_channel": 0, "customer_channel": 1}
    parse_config({"array": TWO_MIC, "parties": parties})
    assert line_axis_deg(geometry(parse_config({"array": TWO_MIC})).mics_m) == 0.0
    for name in ("respeaker-4mic", "respeaker-6mic", "respeaker-usb-v2"):
        assert line_axis_deg(geometry(parse_config({"array": {"preset": name}})).mics_m) is None


def _float_keys(cls: type, prefix: str) -> list[str]:
    keys = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            keys += _float_keys(typing.cast(type, tp), f.name)
        elif tp is float:
            keys.append(f"{prefix}.{f.name}")
    return keys


@pytest.mark.parametrize("key", _float_keys(Config, ""))
@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_every_float_must_be_finite(key: str, value: float) -> None:
    table, name = key.split(".")
    rejected({table: {name: value}}, key, "must be a finite number")


def test_float_keys_are_found() -> None:
    assert {"mqtt.metrics_interval_s", "mqtt.outage_fault_s", "parties.rep_azimuth_deg"} <= set(_float_keys(Config, ""))


def test_customer_channel_alone_is_rejected_like_rep_channel_alone() -> None:
    rejected({"parties": {"customer_channel": 1}}, "parties.rep_channel", "required in channel-map mode")


@pytest.mark.parametrize("host", ["", " ", "my broker", "mqtt://192.0.2.10"])
def test_broker_host_must_be_a_host(host: str) -> None:
    rejected({"mqtt": {"enabled": True, "host": host}}, "mqtt.host", "host name or IP address")


@pytest.mark.parametrize("state_dir", ["", "  "])
def test_state_dir_must_not_be_empty(state_dir: str) -> None:
    rejected({"service": {"state_dir": state_dir}}, "service.state_dir", "folder")


def test_language_needs_a_shipped_lexicon() -> None:
    rejected({"asr": {"language": "xx"}}, "asr.language", "no lexicon", "available: en")
    assert parse_config({"asr": {"language": "en"}}).asr.language == "en"


def test_file_that_is_not_utf8_says_save_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[array]\ndevice = "Mikrofon \u00e4"\n'.encode("latin-1"))
    with pytest.raises(ConfigSyntaxError, match="save it as UTF-8") as info:
        load_config(path)
    assert "permissions" not in str(info.value)


def test_folder_says_pass_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="is a folder: pass the TOML file itself"):
        load_config(tmp_path)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "notepad.toml"
    path.write_bytes(b"\xef\xbb\xbf[array]\nsample_rate = 48000\n")
    assert load_config(path).array.sample_rate == 48000


def test_one_mic_error_shows_the_mics() -> None:
    error = rejected({"array": {"mics": [[0.03, 0.0, 0.0]]}}, "array.mics", "at least 2 mics")
    assert error.value == [[0.03, 0.0, 0.0]]
    assert "[[0.03, 0.0, 0.0]]" in str(error)


def test_values_are_shown_as_toml_writes_them() -> None:
    assert "= true:" in str(ConfigError("leds.enabled", True, "r"))
    assert '= "GPIO5":' in str(ConfigError("leds.red_pin", "GPIO5", "r"))
    assert '= ["a", 1.5, inf]:' in str(ConfigError("x", ["a", 1.5, float("inf")], "r"))
    assert "= (not set):" in str(ConfigError("x", None, "r"))


def test_more_mics_than_channels_can_be_captured_is_rejected() -> None:
    mics = [[0.03 * math.cos(k / 5), 0.03 * math.sin(k / 5), 0.0] for k in range(33)]
    rejected({"array": {"preset": "generic", "mics": mics}}, "array.mics", "33 mics", "at most 32")


def test_dominance_can_always_switch_off_below_where_it_switched_on() -> None:
    rejected({"analytics": {"dominance_on_share": 0.5}}, "analytics.dominance_on_share", "0.51")


@pytest.mark.parametrize(
    ("data", "path", "hint"),
    [
        # firmware/README.md said "Set `device_id` in each": at the top level it listed only the tables
        ({"device_id": "counter-3"}, "device_id", "device_id belongs in [mqtt]: move it under [mqtt]"),
        ({"array": {"host": "192.0.2.10"}}, "array.host", "host belongs in [mqtt]: move it under [mqtt]"),
        ({"enabled": True}, "enabled", "belongs in [turn_model], [asr], [leds] or [mqtt]: move it under the one"),
    ],
)
def test_a_key_of_another_table_is_pointed_to_its_table(data: dict[str, object], path: str, hint: str) -> None:
    error = rejected(data, path, "unknown key", hint)
    assert "allowed here" not in str(error)


def test_a_key_of_no_table_still_lists_the_allowed_keys() -> None:
    rejected({"array": {"volume": 11}}, "array.volume", "unknown key; allowed here: block_ms, ")


@pytest.mark.parametrize(
    ("data", "path", "near"),
    [
        ({"array": {"sampel_rate": 16000}}, "array.sampel_rate", "sample_rate"),
        ({"arrray": {"sample_rate": 16000}}, "arrray", "array"),
        ({"mqtt": {"discovery_prefx": "ha"}}, "mqtt.discovery_prefx", "discovery_prefix"),
    ],
)
def test_a_misspelt_key_is_answered_with_the_key_it_was_meant_to_be(
    data: dict[str, object], path: str, near: str
) -> None:
    error = rejected(data, path, f"unknown key; did you mean {near}? Correct the spelling (allowed here: ")
    assert str(error).endswith(")")


def test_reopen_interval_leaves_the_watchdog_fed() -> None:
    # each reopen attempt feeds systemd's 30 s watchdog: 45 s between attempts had the service killed
    rejected({"array": {"reopen_interval_s": 45.0}}, "array.reopen_interval_s", "20")


USB_MICS = [[0.032, 0.0, 0.0], [0.0, 0.032, 0.0], [-0.032, 0.0, 0.0], [0.0, -0.032, 0.0]]


def test_measured_mics_of_a_preset_keep_its_channels() -> None:
    # the USB array's mics are channels 1-4: four measured mics from channel 0 took its processed beam for a mic
    geo = geometry(parse_config({"array": {"preset": "respeaker-usb-v2", "mics": USB_MICS}}))
    assert geo.mic_channels == (1, 2, 3, 4) and geo.capture_channels == 6
    assert geo.mics_m.tolist() == USB_MICS


@pytest.mark.parametrize(
    ("array", "path", "rule"),
    [
        (
            {"preset": "respeaker-usb-v2", "mics": USB_MICS[:3]},
            "array.mics",
            "the respeaker-usb-v2's mics are channels 1-4, not from 0: give 4 mics, or say which channel each is",
        ),
        (
            {"preset": "respeaker-2mic", "mics": USB_MICS},
            "array.mics",
            "the respeaker-2mic's card captures 2 channels (0-1): 4 mics, give at most 2, or set array.device too",
        ),
        (
            {"preset": "respeaker-2mic", "channels": 8},
            "array.channels",
            "the respeaker-2mic's card captures 2 channels (0-1): set array.device too for another array",
        ),
        (
            {"mic_channels": [0, 1, 2, 9]},  # was blamed on array.channels = 4, a key not in the file
            "array.mic_channels",
            "the respeaker-4mic's card captures 4 channels (0-3): name channels among them",
        ),
    ],
)
def test_channels_the_presets_card_does_not_have_are_refused_at_check_config(
    array: dict[str, object], path: str, rule: str
) -> None:
    rejected({"array": array}, path, rule)


def test_the_provisioned_device_over_the_presets_card_is_checked_as_the_card() -> None:
    # listener_array is a plug over the preset's card: 8 channels from the 2-mic HAT would be repeats, unsaid
    array = {"preset": "respeaker-2mic", "device": "listener_array", "channels": 8}
    rejected({"array": array}, "array.channels", "the respeaker-2mic's card captures 2 channels (0-1)")


def test_another_card_named_by_device_may_have_more_channels() -> None:
    geo = geometry(parse_config({"array": {"preset": "respeaker-2mic", "device": "usb", "channels": 8}}))
    assert geo.capture_channels == 8


def test_an_infinite_value_is_told_the_range_it_must_be_in() -> None:
    # "= inf: must be a finite number" gave no range: a second pass was needed to learn it
    rejected(
        {"parties": {"rep_azimuth_deg": float("inf")}},
        "parties.rep_azimuth_deg",
        "finite number between -360.0 and 360.0",
    )


@pytest.mark.parametrize("device", ["-", "   ", "()", ":,"])
def test_a_device_name_without_letters_or_digits_is_refused(device: str) -> None:
    # matched ignoring punctuation, it was part of every device's name: the first input found was taken
    rejected({"array": {"device": device}}, "array.device", "letters or digits", "listener devices")


def test_a_device_name_in_any_script_is_accepted() -> None:
    assert parse_config({"array": {"device": "микрофон"}}).array.device == "микрофон"


def test_two_byte_order_marks_are_read_as_one(tmp_path: Path) -> None:
    # a file converted to "UTF-8 with BOM" twice got only the parser's "Invalid statement" at line 1
    path = tmp_path / "twice.toml"
    path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf[array]\nsample_rate = 48000\n")
    assert load_config(path).array.sample_rate == 48000


def test_a_number_too_large_to_hold_is_said_to_be_read_as_inf(tmp_path: Path) -> None:
    # the error echoed "buffer_s = inf" for a file that says 1e400, with no word of why
    path = tmp_path / "huge.toml"
    path.write_text("[array]\nbuffer_s = 1e400\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        "config error at array.buffer_s = inf: must be a finite number between 0.5 and 60.0 "
        "(a number too large to hold, such as 1e400, is read as inf)"
    )
    path.write_text("[mqtt]\nkeepalive_s = -1e400\n")  # a whole number's key says it too
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).endswith(
        "must be a whole number between 5 and 3600 (a number too large to hold, such as -1e400, is read as -inf)"
    )
    path.write_text("[array]\nbuffer_s = nan\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "1e400" not in str(info.value)


@pytest.mark.parametrize(("preset", "mics", "captured"), [("respeaker-4mic", 3, 4), ("respeaker-6mic", 4, 8)])
def test_fewer_measured_mics_than_the_board_has_are_still_on_its_card(preset: str, mics: int, captured: int) -> None:
    """One mic left out of the measured positions: the card still captures its channels (a 4-channel recording
    from it was refused as 'the array has 3 mics', and live capture asked the card for 3)."""
    geo = geometry(parse_config({"array": {"preset": preset, "mics": USB_MICS[:mics]}}))
    assert geo.capture_channels == captured and geo.mic_channels == tuple(range(mics))


@pytest.mark.parametrize("device", ["Listener_Array", "listener-array", "LISTENER_ARRAY"])
def test_the_provisioned_device_is_the_card_however_it_is_spelt(device: str) -> None:
    # the device search reads names in any case, punctuation aside: so does the card's channel check
    array = {"preset": "respeaker-2mic", "device": device, "channels": 8}
    rejected({"array": array}, "array.channels", "the respeaker-2mic's card captures 2 channels (0-1)")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[analytics]\ninterruption_exact = true\n", "analytics.interruption_exact = true: no longer a setting"),
        ("[parties]\nelevation_deg = 35.0\n", "parties.elevation_deg = 35.0: no longer a setting"),
    ],
)
def test_a_key_an_upgrade_retired_is_told_as_retired_not_as_a_typo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    """provision.sh keeps an installed config across upgrades: a key a release removed read "unknown key; allowed
    here: ...", as if misspelt, with nothing to say that deleting it is the fix."""
    config = tmp_path / "listener.toml"
    config.write_text(text)
    assert main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert said in err and "this version of the listener retired it" in err and err.endswith("delete the line\n"), err
    assert "unknown key" not in err
