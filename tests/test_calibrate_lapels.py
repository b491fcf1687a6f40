"""`listener calibrate` in direction mode on a mic at each party (two lapel mics, no rep_channel/customer_channel):
said in one line with channel-map mode as the fix, the rep's mic named, and nothing written. It said a
confidence of 0.29-0.33 and that the talker at 180 deg talked most, as of an array's rep standing wrong."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.cli import main
from tests import synth
from tests.calibrate_cases import REP_ONLY
from tests.lapel_talk import write_rep_alone

HAT = '[array]\npreset = "respeaker-2mic"\n[parties]\nrep_azimuth_deg = 0.0\ncustomer_azimuth_deg = 180.0\n'
HAT_2MIC = np.array([[0.029, 0.0, 0.0], [-0.029, 0.0, 0.0]])  # respeaker-2mic
SAID = "channels 0 and 1 differ like a mic at each party, not one array's mics: while the rep talked, channel "
FIX = 'fix: channel-map mode: [array] preset = "generic", [parties] rep_channel = {rep} and customer_channel = {other}'


def _calibrate(tmp_path: Path, wav: Path, *extra: str) -> tuple[int, Path]:
    config = tmp_path / "hat.toml"
    config.write_text(HAT)
    return main(["calibrate", "--config", str(config), "--input", str(wav), *extra]), config


@pytest.mark.parametrize(("leak_db", "swapped"), [(-6.0, False), (-20.0, False), (-12.0, True)])
def test_lapel_mics_calibrated_as_an_array_are_said_in_one_line_with_the_rep_s_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], leak_db: float, swapped: bool
) -> None:
    code, _ = _calibrate(tmp_path, write_rep_alone(tmp_path, leak_db, swapped=swapped))
    rep, other = (1, 0) if swapped else (0, 1)
    [line] = capsys.readouterr().out.splitlines()  # no directions, confidence or "not written: run again"
    assert code == 0
    assert line.startswith(SAID + f"{rep} was at least 6 dB louder than channel {other}, above its own noise"), line
    assert FIX.format(rep=rep, other=other) in line and "in place of the azimuths" in line


def test_with_write_nothing_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, config = _calibrate(tmp_path, write_rep_alone(tmp_path, -12.0), "--write", "--force")
    assert code == 2 and config.read_text() == HAT
    err = capsys.readouterr().err
    assert "not written: " + SAID in err and FIX.format(rep=0, other=1) in err


@pytest.mark.parametrize("hot_db", [0.0, 10.0])
def test_the_hats_own_mics_are_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, hot_db: float
) -> None:
    # the rep heard by the 2-mic HAT's own mics, 5.8 cm apart; one channel with 10 dB more gain is still an array
    samples, _ = synth.render(REP_ONLY, 12.0, HAT_2MIC, seed=3)
    samples[:, 1] *= 10 ** (hot_db / 20)
    with caplog.at_level(logging.WARNING):
        code, _ = _calibrate(tmp_path, synth.write_wav(tmp_path / "hat.wav", samples))
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("rep  ") and "confidence" in out
    assert "a mic at each party" not in out


def test_a_dead_channel_is_said_as_dead_not_as_lapel_mics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # the live channel leads a dead one by both measures; the watch's warning says what is wrong
    samples, _ = synth.render(REP_ONLY, 12.0, HAT_2MIC, seed=3)
    samples[:, 1] = 0.0
    with caplog.at_level(logging.WARNING):
        _calibrate(tmp_path, synth.write_wav(tmp_path / "dead.wav", samples))
    captured = capsys.readouterr()
    assert "a mic at each party" not in captured.out + captured.err
    assert any("channel(s) [1] of" in r.getMessage() for r in caplog.records)


def test_too_short_a_recording_is_said_as_lapel_mics_not_as_too_little_speech(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the rep's first 1.5 s: 0.4 s of speech votes, too few to place anyone (an error), but the mics are measured
    wav = write_rep_alone(tmp_path, -12.0)
    samples, rate_hz = sf.read(wav)
    code, _ = _calibrate(tmp_path, synth.write_wav(tmp_path / "short.wav", samples[: round(1.5 * rate_hz)]))
    captured = capsys.readouterr()
    assert code == 0 and captured.out.startswith(SAID) and "only 0.4 s of speech" not in captured.err
