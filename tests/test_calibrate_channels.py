"""`listener calibrate` on an array whose channels are not each their own mic: said, and never written.

A dead channel or two channels carrying one signal (a recording made with too few channels, a plug
copying one) gave confident, wrong directions, and --write stored them: analyze and the running
service warned about such audio, calibrate did not.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from listener.cli import main
from tests import alsa_device, calibrate_cases, synth
from tests.alsa_device import AlsaConfig
from tests.calibrate_cases import CONFIG_TEXT, REP_ONLY

alsa_config = alsa_device.alsa_config  # fixtures
rep_alone = calibrate_cases.rep_alone

REFUSED = "not written: the channels are not each their own mic"


def _damaged(samples: np.ndarray, fault: str) -> np.ndarray:
    out = samples.copy()
    if fault == "copied":
        out[:, 2] = out[:, 1]
    else:
        out[:, 3] = 0.0
    return out


@pytest.mark.parametrize(("fault", "said"), [("copied", "channels 1 and 2 of"), ("dead", "channel(s) [3] of")])
def test_a_recording_with_a_dead_or_copied_channel_is_not_written_even_with_force(
    fault: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    samples, _ = synth.render(REP_ONLY, 12.0, seed=3)
    wav = synth.write_wav(tmp_path / f"{fault}.wav", _damaged(samples, fault))
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    with caplog.at_level(logging.WARNING):
        code = main(["calibrate", "--config", str(path), "--input", str(wav), "--write", "--force"])
    assert code == 2
    assert REFUSED in capsys.readouterr().err
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert said in warning and "directions in this analysis are wrong" in warning
    assert path.read_text() == CONFIG_TEXT


def test_the_same_recording_undamaged_is_written(
    rep_alone: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the control: the refusal above is the channels', not the recording's
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    with caplog.at_level(logging.WARNING):
        assert main(["calibrate", "--config", str(path), "--input", str(rep_alone), "--write"]) == 0
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert path.read_text() != CONFIG_TEXT


def test_live_from_an_array_with_a_copied_channel_is_not_written(
    alsa_config: AlsaConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    samples, _ = synth.render(REP_ONLY, 12.0, seed=5)
    signal = np.round(np.clip(_damaged(samples, "copied"), -1.0, 1.0) * 32767).astype(np.int16)
    alsa_config.add("listener_test_array", signal, 16000)
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"\nbuffer_s = 20.0'))
    with caplog.at_level(logging.WARNING):
        assert main(["calibrate", "--config", str(path), "--seconds", "11", "--write"]) == 2
    assert REFUSED in capsys.readouterr().err
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "captured channels 1 and 2 carry the same signal" in warning
    assert path.read_text() == CONFIG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"\nbuffer_s = 20.0')
