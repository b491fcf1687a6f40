"""`listener calibrate` of audio with no sound on any channel: one line, the silence and its fix, exit 2.

It said the channel watch's warning ("carries no sound on any channel ...: record it again with the mixer's
capture on"), then refused with "only 0.0 s of speech heard ...: the rep should talk for about 10 s close to the
counter": two lines for one problem, the second sending the rep closer to mics that were muted. `analyze` and
`run --input` report such a file with the warning (exit 0); calibrate refuses it, so the warning is the refusal.
A warning of another problem (a dead channel beside live ones) is still said, before the result it spoils.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.cli import main
from tests import alsa_device
from tests.alsa_device import AlsaConfig
from tests.calibrate_cases import CONFIG_TEXT
from tests.cli_run import ENV, SAMPLE

alsa_config = alsa_device.alsa_config  # fixtures

RATE_HZ = 16000


def _silent_recording(tmp_path: Path) -> Path:
    path = tmp_path / "take.wav"
    sf.write(path, np.zeros((10 * RATE_HZ, 4), dtype=np.int16), RATE_HZ)
    return path


def test_a_silent_recording_is_one_line_naming_the_silence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = _silent_recording(tmp_path)
    assert main(["calibrate", "--input", str(wav)]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == (
        f"listener: {wav} carries no sound on any channel (under -90 dBFS: digital silence): it was recorded from a"
        " muted input or with the capture gain at 0; record it again with the mixer's capture on"
        " (`alsamixer -c <card>`)\n"
    )


def test_with_write_the_silence_is_the_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "listener.toml"
    config.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--input", str(_silent_recording(tmp_path)), "--config", str(config), "--write"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "carries no sound on any channel" in err and "speech" not in err, err
    assert config.read_text() == CONFIG_TEXT


def test_a_muted_array_is_one_line_naming_the_mute(
    alsa_config: AlsaConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Live: the array delivers, but zeros on every channel (a capture switched off in alsamixer)."""
    alsa_config.add("listener_test_array", np.zeros((6 * RATE_HZ, 4), dtype=np.int16), RATE_HZ)
    config = tmp_path / "listener.toml"
    config.write_text(CONFIG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"'))
    assert main(["calibrate", "--config", str(config), "--seconds", "4"]) == 2
    said = capsys.readouterr()
    assert said.out == "listening for 4 s: the rep talks now, as in a conversation\n"
    assert said.err == (
        "listener: the array carries no sound on any channel (under -90 dBFS: digital silence): its capture is muted"
        " or its gain at 0, so nobody can be heard: switch the capture on in `alsamixer -c <card>` (`listener doctor`"
        " measures each channel's level)\n"
    )


def test_too_little_speech_in_sound_is_still_said_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A room's steady hiss is sound: too little speech, as before, and no word of a mute."""
    wav = tmp_path / "hiss.wav"
    hiss = np.random.default_rng(0).normal(0.0, 0.01, (10 * RATE_HZ, 4))
    sf.write(wav, hiss, RATE_HZ, subtype="PCM_16")
    assert main(["calibrate", "--input", str(wav)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("listener: only 0.0 s of speech heard"), err


def test_a_dead_channel_is_still_warned_of_before_the_result_it_spoils(tmp_path: Path) -> None:
    """Held back until the measuring ends, the warning still comes before the lines that point up to it."""
    samples, _ = sf.read(SAMPLE, dtype="int16", always_2d=True)
    samples[:, 1] = 0
    wav = tmp_path / "take.wav"
    sf.write(wav, samples, RATE_HZ)
    result = subprocess.run(
        [sys.executable, "-m", "listener", "calibrate", "--input", str(wav)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        env={**ENV, "PYTHONUNBUFFERED": "1"},  # the two streams in the order they were written
        check=False,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout
    assert "channel(s) [1] of" in lines[0] and "carry no sound" in lines[0], lines
    assert lines[1].startswith("rep ") and "(warned above)" in lines[-1], lines
