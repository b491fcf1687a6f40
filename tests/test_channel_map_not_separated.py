"""Channel-map mode on two mics that hear both parties alike (side by side, or an array's own mics) is said:
by the channel watch from the audio, and by check-config and doctor from a HAT preset's own card."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from listener.cli import main
from listener.config import config_warnings, geometry, parse_config
from listener.config.presets import PRESETS
from listener.service import doctor
from tests.lapel_talk import write_lapel_talk

WATCHER = "listener.audio.channel_watch"
CONFIG = '[array]\npreset = "generic"\nchannels = 2\n[parties]\nrep_channel = 0\ncustomer_channel = 1\n'
NOT_ONE_PER_PARTY = "are not one per party (too close together, or the array's own mics)"


def _watch_says(tmp_path: Path, leak_db: float, lag_ms: float, caplog: pytest.LogCaptureFixture) -> list[str]:
    config = tmp_path / "cm.toml"
    config.write_text(CONFIG)
    wav = write_lapel_talk(tmp_path, leak_db, lag_ms)
    with caplog.at_level(logging.WARNING, logger=WATCHER):
        assert main(["analyze", str(wav), "--json", "--config", str(config)]) == 0
    return [r.getMessage() for r in caplog.records if r.name == WATCHER]


def test_two_mics_side_by_side_are_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # each voice 0.5 dB down at the other mic: 41.5 s of overlap reported (truth 4.3) and nothing said
    [said] = _watch_says(tmp_path, -0.5, 0.1, caplog)
    assert NOT_ONE_PER_PARTY in said and "channel-map mode needs one mic at each party's mouth" in said
    assert "speech, overlaps and backchannels in this analysis are credited to the parties at random" in said
    assert "fix: clip a mic on each party" in said and "rep_channel and customer_channel" in said


@pytest.mark.parametrize("leak_db", [-6.0, -20.0])
def test_lapel_mics_are_not(tmp_path: Path, caplog: pytest.LogCaptureFixture, leak_db: float) -> None:
    assert _watch_says(tmp_path, leak_db, 3.0, caplog) == []


HAT = {
    "array": {"preset": "respeaker-4mic", "device": "listener_array"},
    "parties": {"rep_channel": 0, "customer_channel": 1},
}


def test_channel_map_mode_on_a_hats_own_mics_is_warned_of(tmp_path: Path) -> None:
    # check-config said ok to channel-map mode on two of the 4-mic array's mics, 4.6 cm apart
    cfg = tmp_path / "hat.toml"
    cfg.write_text(
        '[array]\npreset = "respeaker-4mic"\ndevice = "listener_array"\n'
        "[parties]\nrep_channel = 0\ncustomer_channel = 1\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "listener", "check-config", str(cfg)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0
    assert run.stderr.startswith(
        'listener: warning at parties.rep_channel = 0: channel-map mode with [array] preset = "respeaker-4mic"'
    )
    assert "[parties] rep_channel and customer_channel" in run.stderr
    check = doctor.check_directions(parse_config(HAT))
    assert check.status == "warn" and "an array on one board" in check.detail and "rep_channel" in check.fix


@pytest.mark.parametrize(
    "array",
    [{"preset": "generic", "channels": 2}, {"device": "USB Audio", "channels": 2}],  # the default preset kept
    ids=["generic", "usb interface"],
)
def test_lapel_mics_on_another_card_are_not(array: dict[str, object]) -> None:
    data = {"array": array, "parties": HAT["parties"]}
    config = parse_config(data)
    assert config_warnings(config, data) == []
    assert doctor.check_directions(config).status == "ok"


@pytest.mark.parametrize(
    ("device", "warned"),
    [
        ("seeed-4mic-voicecard", True),
        ("seeed4micvoicec", True),
        ("4mic", True),  # four letters of the card's name: long enough to be a name
        ("USB Mic", False),
        ("mic", False),
        ("4", False),
    ],
)
def test_the_boards_card_is_told_by_its_name_not_by_any_letters_in_it(device: str, warned: bool) -> None:
    """The warning matched any part of the card's hint: "mic" or "4" (a USB lapel receiver's "Mic") were warned of,
    and "seeed-4mic-voicecard", the card as PortAudio and `listener devices` name it, was not."""
    data = {"array": {"preset": "respeaker-4mic", "device": device}, "parties": HAT["parties"]}
    config = parse_config(data)
    assert any("an array on one board" in str(w) for w in config_warnings(config, data)) is warned


def test_the_provisioned_device_spelt_otherwise_is_the_boards_card_for_its_capture_and_its_warning() -> None:
    """The device search reads "Listener-Array" as listener_array, and the channel checks took it for the card: the
    capture, the channel-map warning and doctor did not (the parties' 2 channels asked of the 4-channel card)."""
    data = {"array": {"preset": "respeaker-4mic", "device": "Listener-Array"}, "parties": HAT["parties"]}
    config = parse_config(data)
    assert geometry(config).capture_channels == PRESETS["respeaker-4mic"].capture_channels == 4
    assert any("an array on one board" in str(w) for w in config_warnings(config, data))
    assert doctor.check_directions(config).status == "warn"


def test_a_channel_map_recording_whose_two_channels_are_one_signal_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A mono mic recorded onto both channels of a stereo file, analysed in channel-map mode: one warning that the
    parties cannot be told apart in this analysis and that each party's mic belongs on its own channel (not the live
    array's advice to check `arecord -l` and the wiring)."""
    config = tmp_path / "cm.toml"
    config.write_text(CONFIG)
    samples, rate_hz = sf.read(write_lapel_talk(tmp_path, -12.0), dtype="float32", frames=20 * 16000)
    samples[:, 1] = samples[:, 0]
    wav = tmp_path / "mono on both.wav"
    sf.write(wav, samples, rate_hz)
    with caplog.at_level(logging.WARNING, logger=WATCHER):
        assert main(["analyze", str(wav), "--json", "--config", str(config)]) == 0
    assert [r.getMessage() for r in caplog.records if r.name == WATCHER] == [
        f"the rep's channel 0 and the customer's channel 1 of {wav} carry the same signal (a mono mic on a stereo "
        "input, or a plug copying one channel): the parties cannot be told apart in this analysis: record each "
        "party's mic on its own channel"
    ]
