"""Channel-map mode (one mic per party) on any input, and keys its mode never reads.

Two lapel mics on a plain stereo USB interface failed check-config unless the file pretended to be a
ReSpeaker 2-mic HAT: the preset's mic channels were checked against ``channels = 2``, and ``generic``
demanded made-up mic coordinates. And keys no mode reads passed in silence: ``rep_channel`` under
``mode = "doa"``, the azimuths beside the channel keys.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from listener.cli import main
from listener.config import channel_map_mode, config_warnings, geometry, parse_config
from listener.config.loader import read_toml
from listener.service import doctor
from tests import alsa_device
from tests.alsa_device import AlsaConfig, tones
from tests.cli_run import listener_cli, one_line
from tests.config_rejected import rejected
from tests.conftest import f1, frames
from tests.doctor_config import config as doctor_config

LAPELS: dict[str, object] = {"rep_channel": 0, "customer_channel": 1}
STEREO_USB = {"device": "USB Audio", "channels": 2}
TOML_LAPELS = "rep_channel = 0\ncustomer_channel = 1\n"
FIRMWARE_TEMPLATE = Path(__file__).parent.parent / "firmware" / "listener.toml.in"

alsa_config = alsa_device.alsa_config  # fixture


@pytest.mark.parametrize(
    ("array", "n_mics"),
    [
        (STEREO_USB, 4),  # the default preset names no device here: its mics are not used
        ({"device": "USB Audio"}, 4),  # nor its card's 4 channels, which a stereo interface refused at the start
        ({"preset": "generic", **STEREO_USB}, 0),
        ({"preset": "generic", "device": "USB Audio"}, 0),  # the parties' channels say how many are captured
        ({"preset": "respeaker-usb-v2", **STEREO_USB}, 4),  # mics on channels 1-4 of six: not in channel-map mode
    ],
)
def test_two_lapel_mics_on_a_stereo_interface_need_no_array(array: dict[str, object], n_mics: int) -> None:
    geo = geometry(parse_config({"array": array, "parties": LAPELS}))
    assert (geo.mode, geo.capture_channels, geo.n_mics) == ("channels", 2, n_mics)
    assert (geo.rep_channel, geo.customer_channel, geo.device_hints) == (0, 1, ("USB Audio",))


def test_explicit_channel_mode_needs_no_mics_either() -> None:
    parties = {"mode": "channels", "rep_channel": 1, "customer_channel": 0}
    geo = geometry(parse_config({"array": {"preset": "generic"}, "parties": parties}))
    assert (geo.mode, geo.capture_channels, geo.mic_channels) == ("channels", 2, ())


def test_mics_are_not_checked_in_channel_map_mode() -> None:
    # two mics made up to get past the generic preset: neither their spacing nor their channels matter any more
    array = {"preset": "generic", "mics": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], "mic_channels": [0, 5], "channels": 2}
    assert geometry(parse_config({"array": array, "parties": LAPELS})).capture_channels == 2


def test_generic_without_mics_still_needs_them_for_directions_and_says_channel_map_does_not() -> None:
    rejected({"array": {"preset": "generic"}}, "array.mics", "required when array.preset = 'generic'", "rep_channel")


@pytest.mark.parametrize(
    ("array", "parties", "path", "rule"),
    [
        (STEREO_USB, {"rep_channel": 0, "customer_channel": 2}, "parties.customer_channel", "0 to 1"),
        ({"preset": "generic"}, {"rep_channel": 3}, "parties.customer_channel", "required in channel-map mode"),
        # the preset's own card (no device named) has 2 channels: 8 would be made up by the plug
        ({"preset": "respeaker-2mic", "channels": 8}, LAPELS, "array.channels", "card captures 2 channels"),
        ({"preset": "respeaker-2mic"}, {"rep_channel": 0, "customer_channel": 3}, "parties.customer_channel", "0 to 1"),
    ],
)
def test_the_parties_channels_are_still_checked_against_the_captured_ones(
    array: dict[str, object], parties: dict[str, object], path: str, rule: str
) -> None:
    rejected({"array": array, "parties": parties}, path, rule)


def test_a_party_channel_beyond_the_presets_count_says_array_channels_sets_it() -> None:
    rejected(
        {"parties": {"rep_channel": 0, "customer_channel": 5}}, "parties.customer_channel", "0 to 3", "array.channels"
    )


@pytest.mark.parametrize(
    ("parties", "path", "value"),
    [
        ({"mode": "doa", **LAPELS}, "parties.rep_channel", "0"),
        ({"mode": "doa", "customer_channel": 1}, "parties.customer_channel", "1"),
        ({"customer_channel": 3, "mode": "doa", "rep_channel": 2}, "parties.rep_channel", "2"),
    ],
)
def test_channel_keys_under_an_explicit_doa_mode_are_refused(parties: dict[str, object], path: str, value: str) -> None:
    error = rejected({"parties": parties}, path, 'parties.mode = "doa"', 'mode = "channels"', "delete rep_channel")
    assert str(error).startswith(f"config error at {path} = {value}: has no effect with")


@pytest.mark.parametrize(
    ("parties", "one_mic_per_party"),
    [
        ({"mode": "doa"}, False),
        ({"mode": "auto", **LAPELS}, True),
        ({"mode": "channels", **LAPELS}, True),
        (LAPELS, True),
        ({}, False),
    ],
)
def test_modes_without_a_contradiction_pass(parties: dict[str, object], one_mic_per_party: bool) -> None:
    assert channel_map_mode(parse_config({"parties": parties}).parties) is one_mic_per_party


def warned(data: dict[str, object]) -> list[str]:
    return [str(w) for w in config_warnings(parse_config(data), data)]


GENERIC = {"preset": "generic", "channels": 2}  # lapel mics on a stereo interface: not the default HAT's own mics


def test_direction_keys_in_channel_map_mode_are_warned_of_not_defaults() -> None:
    azimuths = {**LAPELS, "rep_azimuth_deg": 90, "customer_azimuth_deg": 270.5}
    assert warned({"array": GENERIC, "parties": azimuths}) == [
        "parties.rep_azimuth_deg = 90: has no effect in channel-map mode (each party is heard on its own mic, "
        "parties.rep_channel and customer_channel, not by direction): delete it",
        "parties.customer_azimuth_deg = 270.5: has no effect in channel-map mode (each party is heard on its own "
        "mic, parties.rep_channel and customer_channel, not by direction): delete it",
    ]
    width = warned({"array": GENERIC, "parties": {"mode": "channels", **LAPELS, "sector_half_width_deg": 30}})
    assert [w.split(":")[0] for w in width] == ["parties.sector_half_width_deg = 30"]
    # defaults are no keys the file writes, and direction mode reads the azimuths
    assert warned({"array": GENERIC, "parties": LAPELS}) == warned({"parties": {"rep_azimuth_deg": 90}}) == []
    assert warned({}) == []


def test_the_provisioned_file_switched_to_channel_map_mode_still_loads(tmp_path: Path) -> None:
    # README: on a provisioned Pi add the channel keys to the installed file, which writes both azimuths
    text = FIRMWARE_TEMPLATE.read_text().replace("@ARRAY_PRESET@", "respeaker-2mic").replace("@ASR_ENABLED@", "false")
    text = text.replace("@ASR_MODEL_PATH@", "").replace("[parties]\n", f"[parties]\n{TOML_LAPELS}")
    path = tmp_path / "listener.toml"
    path.write_text(text)
    keys = [w.split(" = ")[0] for w in warned(read_toml(path))]
    # and channel-map mode on the HAT's own two mics, 5.8 cm apart, is said (they hear both parties alike)
    assert keys == ["parties.rep_azimuth_deg", "parties.customer_azimuth_deg", "parties.rep_channel"]


def test_check_config_says_the_stereo_setup_and_warns_of_unused_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "usb.toml"
    cfg.write_text('[array]\ndevice = "USB Audio"\nchannels = 2\n[parties]\nrep_channel = 0\ncustomer_channel = 1\n')
    ok = listener_cli("check-config", str(cfg))
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr
    shape = "respeaker-4mic, 2 channels, mode channels (rep channel 0, customer channel 1)"
    assert ok.stdout == f"{cfg}: ok ({shape}, input named like 'USB Audio')\n"

    cfg.write_text(
        '[array]\ndevice = "USB Audio"\n[parties]\nrep_channel = 0\ncustomer_channel = 1\nrep_azimuth_deg = 90.0\n'
    )
    warned = listener_cli("check-config", str(cfg))
    assert warned.returncode == 0 and f"{cfg}: ok (" in warned.stdout, warned.stderr
    assert warned.stderr == (
        "listener: warning at parties.rep_azimuth_deg = 90.0: has no effect in channel-map mode (each party is heard"
        " on its own mic, parties.rep_channel and customer_channel, not by direction): delete it\n"
    )

    cfg.write_text('[parties]\nmode = "doa"\nrep_channel = 0\ncustomer_channel = 1\n')
    one_line(listener_cli("check-config", str(cfg)), "config error at parties.rep_channel = 0: has no effect")


def test_analyze_of_two_lapel_mics_on_a_generic_stereo_input(
    dialogue_channels: tuple[Path, list[dict[str, object]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, truth = dialogue_channels
    cfg = tmp_path / "usb.toml"
    cfg.write_text(
        '[array]\npreset = "generic"\ndevice = "USB Audio"\nchannels = 2\n[parties]\nrep_channel = 0\n'
        "customer_channel = 1\n"
    )
    assert main(["analyze", str(path), "--json", "--config", str(cfg)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["audio"]["channels"] == 2
    n = 1700
    for party in ("rep", "customer"):
        assert f1(frames(truth, party, n), frames(report["segments"], party, n)) > 0.85, party


def test_doctor_reads_two_lapel_mics_on_a_generic_stereo_device(tmp_path: Path, alsa_config: AlsaConfig) -> None:
    alsa_config.add("listener_test_usb", tones(16000, 2.0, 2), 16000)
    alsa_config.write()
    array = {"preset": "generic", "device": "listener_test_usb", "channels": 2}
    checks = {c.name: c for c in doctor.check_audio(doctor_config(tmp_path, array=array, parties=LAPELS))}
    assert [checks[n].status for n in ("audio", "preset", "levels")] == ["ok", "ok", "ok"], checks
    assert "generic captures 2 channels" in checks["preset"].detail
    assert "ch0" in checks["levels"].detail and "ch1" in checks["levels"].detail


@pytest.mark.parametrize("preset", ["respeaker-4mic", "generic"])
def test_doctor_takes_a_four_channel_interface_for_two_lapel_mics(
    tmp_path: Path, alsa_config: AlsaConfig, preset: str
) -> None:
    """Two of its four inputs are the parties' mics: the preset line warned "the device offers 4 channels but
    generic captures 2", and told to set preset = respeaker-4mic (the default one also captures 2 here)."""
    alsa_config.add("listener_test_usb", tones(16000, 2.0, 4), 16000)
    alsa_config.write()
    array: dict[str, object] = {"preset": preset, "device": "listener_test_usb"}
    checks = {c.name: c for c in doctor.check_audio(doctor_config(tmp_path, array=array, parties=LAPELS))}
    assert [checks[n].status for n in ("audio", "preset", "levels")] == ["ok", "ok", "ok"], checks
    detail = checks["preset"].detail
    assert (
        detail
        == "channel-map mode captures 2 channels (the rep's 0 and the customer's 1); the device offers 4 channels"
    )


@pytest.mark.parametrize("device", ["", "listener_array", "seeed-4mic-voicecard"])
def test_on_the_presets_own_card_channel_map_mode_captures_the_card_as_it_is(device: str) -> None:
    geo = geometry(parse_config({"array": {"device": device}, "parties": LAPELS}))
    assert geo.capture_channels == 4


def test_the_readmes_stereo_usb_example_is_channel_map_mode_without_mics() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```toml\n")[1:]]
    (example,) = [b for b in blocks if 'device = "USB Audio"' in b]
    geo = geometry(parse_config(tomllib.loads(example)))
    assert (geo.preset, geo.mode, geo.capture_channels, geo.n_mics) == ("generic", "channels", 2, 0)


THREE_MICS = [[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0], [0.0, 0.03, 0.0]]


@pytest.mark.parametrize("leftover", [{"mics": THREE_MICS}, {"mic_channels": [0, 1, 2]}])
def test_mics_kept_from_direction_mode_leave_the_presets_card_as_it_is(leftover: dict[str, object]) -> None:
    # three leftover mics made the 4-mic card capture 3 channels, and customer_channel = 3 was refused,
    # blaming array.channels, which the file did not set
    data = {"array": {"preset": "respeaker-4mic", **leftover}, "parties": {"rep_channel": 2, "customer_channel": 3}}
    config = parse_config(data)
    assert geometry(config).capture_channels == 4
    said, on_the_array = (str(w) for w in config_warnings(config, data))
    assert on_the_array.startswith('parties.rep_channel = 2: channel-map mode with [array] preset = "respeaker-4mic"')
    assert said.startswith(f"array.{next(iter(leftover))} = ") and "has no effect in channel-map mode" in said
    # a party beyond the card is blamed on the card, not on the leftover key, which counts nothing here
    data["parties"] = {"rep_channel": 2, "customer_channel": 4}
    rejected(data, "parties.customer_channel", "0 to 3 (the respeaker-4mic board's card captures 4; for another")


@pytest.mark.parametrize("counted_by", [{"mics": THREE_MICS}, {"mic_channels": [0, 1, 2]}])
def test_on_a_generic_device_the_error_names_the_mics_that_counted_the_channels(counted_by: dict[str, object]) -> None:
    # a generic device's mics (or their channels) are all that says how many channels it has: not warned of,
    # but named
    key = next(iter(counted_by))
    data = {"array": {"preset": "generic", **counted_by}, "parties": {"rep_channel": 2, "customer_channel": 3}}
    rejected(data, "parties.customer_channel", "0 to 2", f"array.{key} says how many", "set array.channels")
    data["array"] = {"preset": "generic", **counted_by, "channels": 4}
    assert config_warnings(parse_config(data), data) == []


def test_a_generic_device_may_not_count_more_channels_than_capture_takes_in_channel_map_mode() -> None:
    # its mics are not placed in channel-map mode, but they still count its channels: 32 of them are captured,
    # 33 is one too many
    mics = [[i * 0.01, 0.0, 0.0] for i in range(33)]
    parties = {"rep_channel": 0, "customer_channel": 1}
    assert (
        geometry(parse_config({"array": {"preset": "generic", "mics": mics[:32]}, "parties": parties})).capture_channels
        == 32
    )
    rejected({"array": {"preset": "generic", "mics": mics}, "parties": parties}, "array.mics", "33 mics", "at most 32")
