"""`listener calibrate` on speech rendered onto the 4-mic array (tests/synth.py), from files and live."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from listener.cli import main
from listener.config import load_config
from listener.service.calibrate import CalibrationError, Votes, estimate
from tests import alsa_device, calibrate_cases, synth
from tests.alsa_device import AlsaConfig
from tests.calibrate_cases import (
    CONFIG_TEXT,
    CUSTOMER_DEG,
    REP_DEG,
    REP_ONLY,
    WITH_CUSTOMER,
    U,
    angle_error,
    calibrate_rendered,
    printed,
)

alsa_config = alsa_device.alsa_config  # fixtures
two_talkers = calibrate_cases.two_talkers
rep_alone = calibrate_cases.rep_alone


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
    assert "warning" not in out, "an area array tells these directions apart"


def test_no_speech_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples, _ = synth.render([], 8.0)
    wav = synth.write_wav(tmp_path / "quiet.wav", samples)
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(wav), "--write"]) == 2
    err = capsys.readouterr().err
    assert "s of speech heard" in err
    assert "talk for about 10 s" in err
    # silence, not a noise; the first second, which never votes, is not counted in either figure
    assert "of 7.0 s after the first 1 s, only 0.0 s rose above the room's steady noise" in err
    assert path.read_text() == CONFIG_TEXT


def test_channel_map_mode_on_the_arrays_own_mics_cannot_tell_whose_mic_is_whose(
    rep_alone: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Channel-map mode checks which mic hears the rep loudest (no directions to learn); two mics 6.5 cm apart on
    one board hear the rep alike, so it is not known, and nothing is written."""
    path = tmp_path / "lapel.toml"
    text = "[array]\npreset = 'respeaker-4mic'\n[parties]\nrep_channel = 0\ncustomer_channel = 1\n"
    path.write_text(text)
    assert main(["calibrate", "--config", str(path), "--input", str(rep_alone)]) == 0
    assert "neither mic clearly hears the rep loudest" in capsys.readouterr().out
    assert main(["calibrate", "--config", str(path), "--input", str(rep_alone), "--write"]) == 2
    assert path.read_text() == text


def test_live_from_the_array(alsa_config: AlsaConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples, _ = synth.render(REP_ONLY, 12.0, seed=5)
    signal = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    alsa_config.add("listener_test_array", signal, 16000)
    path = tmp_path / "listener.toml"
    # the test PCM delivers far faster than real time: a ring that holds the whole recording loses none of it
    text = CONFIG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"\nbuffer_s = 20.0')
    # a state folder of its own: the default is the machine's service folder (/var/lib/listener), its lock too
    path.write_text(text.replace("[service]\n", f'[service]\nstate_dir = "{tmp_path / "state"}"\n'))
    assert main(["calibrate", "--config", str(path), "--seconds", "11", "--write"]) == 0
    found = printed(capsys.readouterr().out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0
    assert load_config(path).parties.rep_azimuth_deg == found["rep"]


# --- which talker is the rep -----------------------------------------------------


MATCHED_TEXT = CONFIG_TEXT.replace("rep_azimuth_deg = 0.0", "rep_azimuth_deg = 40.0").replace(
    "customer_azimuth_deg = 180.0", "customer_azimuth_deg = 230.0"
)


def test_a_louder_customer_who_talks_more_is_not_taken_for_the_rep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the config already says rep 40, customer 230; the customer talks twice as long, 6 dB louder
    utterances = [
        U("rep", 0.3, "cmu_arctic_us_axb_a0004.wav", REP_DEG),
        U("customer", 4.0, "cmu_arctic_us_aew_a0001.wav", CUSTOMER_DEG, gain=2.0),
        U("customer", 8.0, "cmu_arctic_us_aew_a0002.wav", CUSTOMER_DEG, gain=2.0),
        U("customer", 12.0, "cmu_arctic_us_aew_a0003.wav", CUSTOMER_DEG, gain=2.0),
    ]
    # the talker who said least is the rep only on the configured directions' word: --force gives it
    code, path = calibrate_rendered(tmp_path, utterances, 16.0, MATCHED_TEXT, seed=11)
    assert code == 2
    captured = capsys.readouterr()
    assert "talked most; if the rep stands at 2" in captured.err and "--force" in captured.err, captured.err
    assert path.read_text() == MATCHED_TEXT
    wav = tmp_path / "case11.wav"
    assert main(["calibrate", "--config", str(path), "--input", str(wav), "--write", "--force"]) == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out
    assert angle_error(found["customer"], CUSTOMER_DEG) <= 15.0, out
    assert found["confidence"] >= 0.5, out
    stored = load_config(path).parties
    assert (stored.rep_azimuth_deg, stored.customer_azimuth_deg) == (found["rep"], found["customer"])


def test_two_talkers_equally_far_from_the_config_are_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # configured 0 / 180, talkers at 90 / 270: either could be the rep
    utterances = [replace(u, azimuth_deg=90.0 if u.party == "rep" else 270.0) for u in WITH_CUSTOMER]
    code, path = calibrate_rendered(tmp_path, utterances, 16.0, CONFIG_TEXT, "--force", seed=12)
    assert code == 2
    captured = capsys.readouterr()
    assert "which one is the rep is a guess" in captured.err
    assert "rep talking alone for about 10 s" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert path.read_text() == CONFIG_TEXT


# --- writing only what is sure and valid -------------------------------------------


@pytest.fixture(scope="module")
def little_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, _ = synth.render([U("rep", 1.3, "cmu_arctic_us_axb_a0004.wav", REP_DEG, max_s=1.8)], 5.0, seed=13)
    return synth.write_wav(tmp_path_factory.mktemp("cal") / "little.wav", samples)


def test_low_confidence_is_not_written(little_speech: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(little_speech), "--write"]) == 2
    captured = capsys.readouterr()
    assert printed(captured.out)["confidence"] < 0.5
    (line,) = captured.err.strip().splitlines()
    # the one talker came from one direction: what is short is the speech, so that is what it says; from a
    # file, a longer file (--seconds, how long to listen live, is refused with --input)
    assert "low confidence" in line and "s of clear speech" in line and "--force" in line
    assert "record a longer file" in line and "--seconds" not in line
    assert path.read_text() == CONFIG_TEXT


def test_a_refusal_without_write_is_not_followed_by_an_invitation_to_write(
    little_speech: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(little_speech)]) == 0
    out = capsys.readouterr().out
    assert "low confidence" in out
    assert "run again with --write" not in out, out  # --write would refuse it: the refusal says what to do
    # its "(or add --force)" alone was refused by the command line: --force takes effect only with --write
    assert "(or add --force) (--force goes with --write)" in out, out


def test_force_writes_a_low_confidence_result(little_speech: Path, tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(little_speech), "--write", "--force"]) == 0
    assert angle_error(load_config(path).parties.rep_azimuth_deg, REP_DEG) <= 10.0


def test_a_talker_between_the_configured_sectors_is_heard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # configured rep 0, customer 90: their sectors (even widened to 90 deg) never reach 225
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT.replace("customer_azimuth_deg = 180.0", "customer_azimuth_deg = 90.0"))
    samples, _ = synth.render([replace(u, azimuth_deg=225.0) for u in REP_ONLY], 12.0, seed=14)
    wav = synth.write_wav(tmp_path / "behind.wav", samples)
    assert main(["calibrate", "--config", str(path), "--input", str(wav)]) == 0
    found = printed(capsys.readouterr().out)
    assert angle_error(found["rep"], 225.0) <= 10.0
    assert found["confidence"] >= 0.9


def test_noise_bursts_are_not_speech(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # six 0.7 s bursts of hiss from 300 deg (a coffee machine), well above the floor
    rng = np.random.default_rng(15)
    hiss = np.zeros(10 * synth.RATE_HZ)
    for k in range(6):
        start = int((0.5 + 1.5 * k) * synth.RATE_HZ)
        hiss[start : start + int(0.7 * synth.RATE_HZ)] = rng.normal(0.0, 0.05, int(0.7 * synth.RATE_HZ))
    samples = synth.from_direction(hiss, 300.0) + rng.normal(0.0, 2e-3, (hiss.size, 4))
    wav = synth.write_wav(tmp_path / "hiss.wav", samples.astype(np.float32))
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(wav), "--write"]) == 2
    err = capsys.readouterr().err
    assert "only 0.0 s of speech heard (at least 1.0 s needed)" in err
    assert "rose above the room's noise but did not sound like a voice" in err  # noise, not silence
    assert path.read_text() == CONFIG_TEXT


# --- what is printed -------------------------------------------------------------------


def test_azimuths_are_printed_below_360() -> None:
    # votes either side of 0 deg whose mean is 359.97: rounded, that is 0.0, never 360.0
    doa = np.array([350.0] * 300 + [10.0] * 299)
    result = estimate(Votes(doa, np.ones(doa.size), 0.01), load_config(None))
    assert result.rep_azimuth_deg == 0.0
    assert result.customer_azimuth_deg == 180.0


def test_too_little_speech_is_not_rounded_up_to_enough() -> None:
    votes = Votes(np.full(96, 40.0), np.ones(96), 0.01)  # 0.96 s
    with pytest.raises(CalibrationError, match=r"only 0\.9 s of speech heard \(at least 1\.0 s needed\)"):
        estimate(votes, load_config(None))


def test_a_recording_as_long_as_the_settling_says_none_of_it_counted() -> None:
    # 1.0 s: all of it is the first SETTLE_S, while the listener learns the room's noise, so nothing could vote
    votes = Votes(np.zeros(0), np.zeros(0), 0.01, heard_s=1.0, loud_s=0.0)
    with pytest.raises(CalibrationError, match=r"only 1\.0 s long, and its first 1\.0 s never counts \(the listener"):
        estimate(votes, load_config(None))


def test_live_calibration_without_an_array_says_so_before_inviting_the_rep_to_talk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT.replace("[array]\n", '[array]\ndevice = "no_such_array_here"\n'))
    assert main(["calibrate", "--config", str(path), "--seconds", "4"]) == 2
    captured = capsys.readouterr()
    assert "listening for" not in captured.out  # nobody is asked to talk to a device that cannot hear
    assert "no_such_array_here" in captured.err and len(captured.err.strip().splitlines()) == 1


# --- an echo is not a second talker ----------------------------------------------------

ECHO_DEG = 250.0


def with_echo(utterances: list[synth.Utterance]) -> list[synth.Utterance]:
    """The rep's words again, 50 ms later and 2 dB down, from a far wall at ECHO_DEG: votes among the rep's own."""
    reps = [u for u in utterances if u.party == "rep"]
    return [
        *utterances,
        *(replace(u, party="echo", start_s=u.start_s + 0.05, azimuth_deg=ECHO_DEG, gain=0.8) for u in reps),
    ]


def test_an_echo_of_the_rep_is_not_a_second_talker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rep_and_echo = with_echo(REP_ONLY)
    samples, _ = synth.render(rep_and_echo, 12.0, seed=19)
    wav = synth.write_wav(tmp_path / "echo.wav", samples)
    assert main(["calibrate", "--input", str(wav)]) == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out
    assert "(opposite the rep)" in out, out  # not the echo's direction as a "second talker"
    rep_share = float(out.split("s of speech, ")[1].split(" %")[0]) / 100.0
    assert found["confidence"] <= rep_share + 0.005, out  # what the rep's votes alone earn, no more


def test_a_customer_taking_turns_is_a_second_talker_despite_an_echo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples, _ = synth.render(with_echo(WITH_CUSTOMER), 16.0, seed=20)
    wav = synth.write_wav(tmp_path / "echo_customer.wav", samples)
    assert main(["calibrate", "--input", str(wav)]) == 0
    out = capsys.readouterr().out
    found = printed(out)
    assert angle_error(found["rep"], REP_DEG) <= 10.0, out
    assert angle_error(found["customer"], CUSTOMER_DEG) <= 15.0, out
    assert "(second talker)" in out, out
