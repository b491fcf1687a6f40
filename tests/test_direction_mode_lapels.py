"""A mic at each party (lapel or desk mics) analysed in direction mode is said once: every direction heard from
two such mics is noise (the lapel dialogue as the 2-mic HAT: 38 s of overlap for 4.3 s, unsaid), and one array's
own mics never lead each other by 6 dB as a party's own mic leads the other's."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from listener.audio.channel_watch import LEAK_LOOK_S, ChannelWatch
from listener.cli import main
from listener.config import geometry, parse_config
from listener.events import AudioBlock
from tests import synth
from tests.lapel_talk import write_lapel_talk

WATCHER = "listener.audio.channel_watch"
HAT_2MIC = np.array([[0.029, 0.0, 0.0], [-0.029, 0.0, 0.0]])  # respeaker-2mic
SAID = "channels 0 and 1 of {wav} are a mic at each party, not one array's mics: in "
FIX = 'fix: channel-map mode: [array] preset = "generic", [parties] rep_channel = 0 and customer_channel = 1'


def _analyze(tmp_path: Path, wav: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    config = tmp_path / "hat.toml"
    config.write_text(
        '[array]\npreset = "respeaker-2mic"\n[parties]\nrep_azimuth_deg = 0.0\ncustomer_azimuth_deg = 180.0\n'
    )
    with caplog.at_level(logging.WARNING, logger=WATCHER):
        assert main(["analyze", str(wav), "--json", "--config", str(config)]) == 0
    return [r.getMessage() for r in caplog.records if r.name == WATCHER]


@pytest.mark.parametrize("leak_db", [-6.0, -20.0])
def test_lapel_mics_analysed_as_an_array_are_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, leak_db: float
) -> None:
    wav = write_lapel_talk(tmp_path, leak_db)
    [said] = _analyze(tmp_path, wav, caplog)
    assert said.startswith(SAID.format(wav=wav)), said
    assert "each led the other by 6 dB in" in said and "an array's mics differ by 1-2 dB" in said
    assert "in this analysis are credited to the parties at random" in said and FIX in said


def test_an_arrays_own_mics_are_not(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # the same voices heard by the 2-mic HAT's own mics, 5.8 cm apart, from the parties' directions
    samples, _ = synth.render(synth.DIALOGUE, 17.0, HAT_2MIC)
    assert _analyze(tmp_path, synth.write_wav(tmp_path / "hat.wav", samples), caplog) == []


def test_the_live_array_says_it_once_a_look() -> None:
    watch = ChannelWatch(geometry(parse_config({"array": {"preset": "respeaker-2mic"}})))
    samples, _ = synth.lapel_dialogue()
    block = 1600
    for k in range(round(4 * LEAK_LOOK_S * 10)):
        start = k * block % (samples.shape[0] - block)
        chunk = samples[start : start + block].astype(np.float32)
        watch.process(AudioBlock(start_s=k / 10, sample_rate_hz=16000, samples=chunk))
    [said] = watch.said
    assert said.startswith("channels 0 and 1 are a mic at each party") and FIX in said
    assert "backchannels are credited to the parties at random" in said  # the device's words, not a file's
