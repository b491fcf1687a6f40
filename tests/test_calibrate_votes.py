"""How much each frame of speech counts in `listener calibrate`: by its time, its loudness only up to a cap.

The recordings are rendered onto the 4-mic array (tests/synth.py) with a very low noise floor and
stored as float, so a shout can rise 50 dB above an ordinary voice without clipping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.audio.wav import WavSource
from listener.cli import main
from listener.config import geometry, load_config
from listener.config.array_checks import angle_apart_deg
from listener.service.calibrate import MAX_LIVE_S, collect_votes
from listener.service.calibrate.estimation import MIN_LISTEN_S
from listener.service.calibrate.votes import speech_frames
from listener.service.runner import sample_conversation
from tests import synth

U = synth.Utterance
REP_DEG, SHOUT_DEG = 40.0, 230.0
QUIET = 0.011  # the rep's voice: its frames rise about 15 dB above the speech threshold over this floor
LOUD = 3.0  # 50 dB louder: a colleague calling across the shop
CONFIG_TEXT = """[array]
preset = "respeaker-4mic"
block_ms = 100

[parties]
rep_azimuth_deg = 0.0
customer_azimuth_deg = 180.0
"""


@pytest.fixture(scope="module")
def rep_and_a_shout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rep talks for about 6 s; 0.4 s of a shout from across the shop comes at the end."""
    utterances = [
        U("rep", 0.3, "cmu_arctic_us_axb_a0004.wav", REP_DEG, gain=QUIET),
        U("rep", 4.0, "cmu_arctic_us_axb_a0005.wav", REP_DEG, gain=QUIET),
        U("rep", 8.0, "cmu_arctic_us_axb_a0006.wav", REP_DEG, gain=QUIET),
        U("customer", 11.5, "cmu_arctic_us_aew_a0001.wav", SHOUT_DEG, gain=LOUD, max_s=0.4),
    ]
    samples, _ = synth.render(utterances, 14.0, noise=2e-5, seed=3)
    return synth.write_wav(tmp_path_factory.mktemp("votes") / "shout.wav", samples, subtype="FLOAT")


def test_a_shouted_frame_counts_no_more_than_two_ordinary_ones(rep_and_a_shout: Path, tmp_path: Path) -> None:
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    config = load_config(path)
    with WavSource(rep_and_a_shout, geometry(config), block_ms=1000) as source:
        votes = collect_votes(config, source.events())
    doa_deg = np.asarray(votes.doa_deg, dtype=np.float64)
    shout, rep = angle_apart_deg(doa_deg, SHOUT_DEG) <= 30.0, angle_apart_deg(doa_deg, REP_DEG) <= 30.0
    assert shout.sum() >= 30 and rep.sum() >= 500  # both were heard
    ordinary = float(np.median(votes.weight[rep]))
    assert 10.0 <= ordinary <= 20.0
    assert votes.weight[shout].mean() <= 2.0 * ordinary, (votes.weight[shout].mean(), ordinary)


def test_a_brief_shout_is_not_taken_for_the_customer(
    rep_and_a_shout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.4 s against the rep's 6 s: too little to be a talker (a second talker needs 15 % of the rep's
    votes), however loud. Weighted by its loudness without a cap, it would count for 21 % and place the customer."""
    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT)
    assert main(["calibrate", "--config", str(path), "--input", str(rep_and_a_shout), "--write"]) == 0
    out = capsys.readouterr().out
    assert "(opposite the rep)" in out, out
    stored = load_config(path).parties
    assert angle_apart_deg(stored.rep_azimuth_deg, REP_DEG) <= 10.0, out
    assert angle_apart_deg(stored.customer_azimuth_deg, REP_DEG + 180.0) <= 10.0, out


@pytest.mark.parametrize(
    "seconds", [0.005, 0.05, 0.2, 0.39]
)  # under the 0.41 s a frame's voice reach spans (0.005: under one frame)
def test_a_clip_shorter_than_the_voice_reach_is_too_little_speech_not_a_traceback(
    seconds: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples, rate = sf.read(
        sample_conversation(), dtype="float32", start=round(16000 * 2.0), frames=round(16000 * seconds)
    )
    clip = tmp_path / "clip.wav"
    sf.write(clip, samples, rate)
    assert main(["calibrate", "--input", str(clip)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("listener: ") and "of speech heard" in err and "Traceback" not in err
    # the recording is what is short, said with its length (not "of 0 s"), not the room's noise or the rep
    assert "the recording itself is only 0." in err and "of 0 s" not in err, err
    assert "never counts" not in err, (
        err
    )  # all of it is under the settling: "its first 1.0 s" would be more than it has


def test_speech_frames_are_one_per_frame_whatever_the_length() -> None:
    rng = np.random.default_rng(0)
    for n in range(1, 120):
        assert speech_frames(rng.random(n) < 0.5, 0.01).shape == (n,)


@pytest.mark.parametrize("seconds", [1.6, 2.0])
def test_a_recording_too_short_to_count_past_the_settling_says_so(
    seconds: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample's speech all through: past SETTLE_S, under the 1 s needed is left to vote. The 2 s clip was
    said to be the room's noise ("check the mic levels") while only clips under 2 s were said to be short."""
    samples, rate = sf.read(sample_conversation(), dtype="float32", start=16000 * 2, frames=round(16000 * seconds))
    clip = tmp_path / "clip.wav"
    sf.write(clip, samples, rate)
    assert main(["calibrate", "--input", str(clip)]) == 2
    err = capsys.readouterr().err
    assert f"the recording itself is only {seconds:.1f} s long, and its first 1.0 s never counts" in err, err
    assert "doctor" not in err, err


@pytest.mark.parametrize("typed", ["3.5", "3.9999999", "600.0001", "600.00000000001", "-5", "1e+50", "nan"])
def test_live_listening_outside_the_range_is_refused_naming_the_length_typed(
    capsys: pytest.CaptureFixture[str], typed: str
) -> None:
    """Under the settling and the speech, or past the limit: shown to six digits, 600.0001 was refused as "600"."""
    assert main(["calibrate", "--seconds", typed]) == 2
    assert capsys.readouterr().err == f"listener: --seconds {typed}: listen between 4 and 600 s\n"


def test_the_help_gives_the_listening_range_the_command_enforces(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["calibrate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"how long to listen, {MIN_LISTEN_S:g}-{MAX_LIVE_S:g} s" in help_text, help_text
