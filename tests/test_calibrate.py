"""`listener calibrate` on speech rendered onto the 4-mic array (tests/synth.py), from files and live."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from listener.cli import main
from listener.config import load_config
from listener.service.calibrate import edit_parties
from tests import alsa_device, synth
from tests.alsa_device import AlsaConfig

alsa_config = alsa_device.alsa_config  # fixture

U = synth.Utterance
REP_DEG, CUSTOMER_DEG = 40.0, 230.0
REP_ONLY = [
    U("rep", 0.3, "cmu_arctic_us_axb_a0004.wav", REP_DEG),
    U("rep", 4.0, "cmu_arctic_us_axb_a0005.wav", REP_DEG),
    U("rep", 8.0, "cmu_arctic_us_axb_a0006.wav", REP_DEG),
]
WITH_CUSTOMER = [
    *REP_ONLY[:2],
    U("customer", 8.0, "cmu_arctic_us_aew_a0001.wav", CUSTOMER_DEG),
    U("rep", 12.0, "cmu_arctic_us_axb_a0006.wav", REP_DEG),
]

CONFIG_TEXT = """# counter 3, front door side
[array]
preset = "respeaker-4mic"  # the HAT
block_ms = 100

[parties]
# measured by hand, roughly
rep_azimuth_deg = 0.0   # facing the till
customer_azimuth_deg = 180.0
sector_half_width_deg = 50.0

[service]
log_level = "warning"
"""


def angle_error(a_deg: float, b_deg: float) -> float:
    return abs((a_deg - b_deg + 180.0) % 360.0 - 180.0)


@pytest.fixture(scope="module")
def two_talkers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, _ = synth.render(WITH_CUSTOMER, 16.0)
    return synth.write_wav(tmp_path_factory.mktemp("cal") / "two.wav", samples)


@pytest.fixture(scope="module")
def rep_alone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, _ = synth.render(REP_ONLY, 12.0, seed=3)
    return synth.write_wav(tmp_path_factory.mktemp("cal") / "rep.wav", samples)


def printed(out: str) -> dict[str, float]:
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("rep", "customer", "confidence"):
            values[parts[0]] = float(parts[1])
    return values


def test_finds_a_customer_outside_the_configured_sector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the defaults expect the customer at 180 +- 60 deg; the front end discounts 277 deg as "elsewhere"
    utterances = [replace(u, azimuth_deg=25.0 if u.party == "rep" else 277.0) for u in WITH_CUSTOMER]
    samples, _ = synth.render(utterances, 16.0, seed=7)
    wav = synth.write_wav(tmp_path / "elsewhere.wav", samples)
    assert main(["calibrate", "--input", str(wav)]) == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert angle_error(found["rep"], 25.0) <= 10.0
    assert angle_error(found["customer"], 277.0) <= 15.0, out  # not opposite the rep (205 deg)
    assert "(second talker)" in out


def test_finds_rep_and_second_talker(two_talkers: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--input", str(two_talkers)]) == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out
    assert angle_error(found["customer"], CUSTOMER_DEG) <= 15.0, out
    assert "(second talker)" in out
    assert 0.5 <= found["confidence"] <= 1.0
    assert "not written" in out


def test_rep_alone_puts_the_customer_opposite(rep_alone: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--input", str(rep_alone)]) == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out
    assert angle_error(found["customer"], found["rep"] + 180.0) < 0.05
    assert "(opposite the rep)" in out
    assert found["confidence"] >= 0.9


def test_write_keeps_the_rest_of_the_file(
    two_talkers: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    path.chmod(0o640)
    assert main(["calibrate", "--config", str(path), "--input", str(two_talkers), "--write"]) == 0
    found = printed(capsys.readouterr().out)
    text = path.read_text()
    expected = CONFIG_TEXT.replace("rep_azimuth_deg = 0.0", f"rep_azimuth_deg = {found['rep']:.1f}").replace(
        "customer_azimuth_deg = 180.0", f"customer_azimuth_deg = {found['customer']:.1f}"
    )
    assert text == expected  # comments, spacing, other keys and tables untouched
    assert path.stat().st_mode & 0o777 == 0o640
    config = load_config(path)
    assert config.parties.rep_azimuth_deg == found["rep"]
    assert config.parties.customer_azimuth_deg == found["customer"]
    assert config.parties.sector_half_width_deg == 50.0
    assert not [p for p in tmp_path.iterdir() if p.name != "listener.toml"]  # no temporary file left


def test_write_needs_a_config_file(two_talkers: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--input", str(two_talkers), "--write"]) == 2
    assert "--write needs --config FILE" in capsys.readouterr().err


def test_no_speech_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples, _ = synth.render([], 8.0)
    wav = synth.write_wav(tmp_path / "quiet.wav", samples)
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(wav), "--write"]) == 2
    err = capsys.readouterr().err
    assert "s of speech heard" in err
    assert "talk for about 10 s" in err
    assert path.read_text() == CONFIG_TEXT


def test_channel_map_mode_has_nothing_to_calibrate(rep_alone: Path, tmp_path: Path) -> None:
    path = tmp_path / "lapel.toml"
    path.write_text("[array]\npreset = 'respeaker-4mic'\n[parties]\nrep_channel = 0\ncustomer_channel = 1\n")
    assert main(["calibrate", "--config", str(path), "--input", str(rep_alone)]) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[array]\npreset = 'respeaker-4mic'\n", "[array]\npreset = 'respeaker-4mic'\n\n[parties]\n"
         "rep_azimuth_deg = 40.0\ncustomer_azimuth_deg = 220.0\n"),
        ("[parties]\nmode = 'doa'\n\n[leds]\nenabled = false\n", "[parties]\nmode = 'doa'\nrep_azimuth_deg = 40.0\n"
         "customer_azimuth_deg = 220.0\n\n[leds]\nenabled = false\n"),
        ("[parties] # by the till\r\ncustomer_azimuth_deg=1 # x\r\n", "[parties] # by the till\r\n"
         "customer_azimuth_deg=220.0 # x\r\nrep_azimuth_deg = 40.0\n"),
    ],
)  # fmt: skip
def test_edit_parties(text: str, expected: str) -> None:
    edited = edit_parties(text, {"rep_azimuth_deg": 40.0, "customer_azimuth_deg": 220.0})
    assert edited == expected


def test_live_from_the_array(alsa_config: AlsaConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples, _ = synth.render(REP_ONLY, 12.0, seed=5)
    signal = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    alsa_config.add("listener_test_array", signal, 16000)
    path = tmp_path / "listener.toml"
    # the test PCM delivers far faster than real time: a ring that holds the whole recording loses none of it
    path.write_text(CONFIG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"\nbuffer_s = 20.0'))
    assert main(["calibrate", "--config", str(path), "--seconds", "11", "--write"]) == 0
    found = printed(capsys.readouterr().out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0
    assert load_config(path).parties.rep_azimuth_deg == found["rep"]
