"""`listener calibrate` in channel-map mode: lapel mics clipped the wrong way round are found, and swapped.

With the rep's mic on the customer's channel analyze credited the rep's talk to the customer (share 39 %,
truth 60 %) without a warning, doctor said ok, and calibrate refused: "nothing to calibrate".
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.cli import main
from listener.config import load_config
from listener.service.calibrate.channels import CLEAR_RATIO, ChannelCheck
from listener.service.calibrate.estimation import FULL_CONFIDENCE_S
from tests.cli_run import FULL_DISK
from tests.lapel_talk import write_rep_alone

CONFIG = (
    '[array]\npreset = "generic"\nchannels = 2\n\n'
    "[parties]\n# one lapel mic each\nrep_channel = 0  # the rep's mic\ncustomer_channel = 1\n"
)
SWAP_ADVICE = "the lapel mics are swapped: swap rep_channel and customer_channel in [parties] (or the mics)"


def _calibrate(tmp_path: Path, wav: Path, *extra: str) -> tuple[int, str, Path]:
    config = tmp_path / "lapel.toml"
    config.write_text(CONFIG)
    code = main(["calibrate", "--input", str(wav), "--config", str(config), *extra])
    return code, config.read_text(), config


def test_mics_the_right_way_round_are_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        code, text, _ = _calibrate(tmp_path, write_rep_alone(tmp_path, -6.0), "--write")
    out = capsys.readouterr().out
    assert code == 0 and text == CONFIG, out
    assert "rep_channel 0 hears the rep loudest (leads in " in out
    assert "the mics are the right way round" in out and "swapped" not in out
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no "hears only leakage"


def test_swapped_mics_are_said_and_not_written_without_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, config = _calibrate(tmp_path, write_rep_alone(tmp_path, -6.0, swapped=True))
    out = capsys.readouterr().out
    assert code == 0 and text == CONFIG
    assert "the rep's voice is louder on channel 1, the customer's channel" in out and SWAP_ADVICE in out
    assert f"not written: run again with --write to swap them in {config}" in out


def test_write_swaps_the_two_keys_and_nothing_else(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, config = _calibrate(tmp_path, write_rep_alone(tmp_path, -12.0, swapped=True), "--write")
    out = capsys.readouterr().out
    assert code == 0 and SWAP_ADVICE in out
    assert text == CONFIG.replace("rep_channel = 0", "rep_channel = 1").replace(
        "customer_channel = 1", "customer_channel = 0"
    )
    parties = load_config(config).parties
    assert (parties.rep_channel, parties.customer_channel) == (1, 0)
    assert f"swapped rep_channel and customer_channel in [parties] in {config}" in out


def test_swapped_mics_are_swapped_when_the_output_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--write > out.txt` on a full card: the verdict's printing failed before the swap, and the swap was lost."""
    if not FULL_DISK.exists():
        pytest.skip("needs /dev/full")
    with FULL_DISK.open("w") as full:
        monkeypatch.setattr(sys, "stdout", full)
        code, text, _ = _calibrate(tmp_path, write_rep_alone(tmp_path, -12.0, swapped=True), "--write")
    assert code == 2 and "cannot write the output (No space left on device)" in capsys.readouterr().err
    assert "rep_channel = 1  # the rep's mic" in text and "customer_channel = 0" in text


def test_mics_that_both_hear_the_rep_alike_are_not_guessed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # two mics side by side: the rep's voice 0.5 dB down at the other
    wav = write_rep_alone(tmp_path, -0.5)
    code, text, _ = _calibrate(tmp_path, wav)
    assert code == 0 and text == CONFIG and "neither mic clearly hears the rep loudest" in capsys.readouterr().out
    assert _calibrate(tmp_path, wav, "--write")[0] == 2
    assert "not written: neither mic clearly hears the rep loudest" in capsys.readouterr().err


def test_a_dead_mic_is_not_taken_for_the_right_way_round(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = write_rep_alone(tmp_path, -6.0)
    samples, rate_hz = sf.read(wav)
    samples[:, 1] = 0.0  # the customer's mic unplugged: the rep's channel "leads" in all of the speech
    sf.write(wav, samples, rate_hz, subtype="PCM_16")
    assert _calibrate(tmp_path, wav, "--write")[0] == 2
    out, err = capsys.readouterr()
    assert "right way round" not in out and "not written: the two channels are not each a party's own mic" in err


@pytest.mark.parametrize("unplugged", [0, 1])
def test_an_unplugged_mic_hissing_is_taken_for_neither_way_round(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unplugged: int
) -> None:
    """An unplugged mic's hiss and hum (-70 dBFS: no dead channel) led nowhere: the rep's unplugged read as swapped
    mics, which --write swapped (exit 0), and the customer's as the right way round."""
    wav = write_rep_alone(tmp_path, -12.0)
    samples, rate_hz = sf.read(wav)
    t_s = np.arange(samples.shape[0]) / rate_hz
    hiss = np.random.default_rng(2).normal(0, 10 ** (-70 / 20), t_s.size)
    samples[:, unplugged] = hiss + 10 ** (-72 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 50.0 * t_s)
    sf.write(wav, samples, rate_hz, subtype="PCM_16")
    code, text, _ = _calibrate(tmp_path, wav, "--write")
    out, err = capsys.readouterr()
    assert code == 2 and text == CONFIG, out + err
    assert "swapped" not in out and "right way round" not in out, out
    name = ("rep_channel 0", "customer_channel 1")[unplugged]
    assert f"not written: {name} hears no voice while the rep talks" in err, err


def test_three_times_as_often_and_three_seconds_of_speech_are_enough() -> None:
    """The edges of the rules: the leading mic leads "at least" CLEAR_RATIO times as often as the other, and
    FULL_CONFIDENCE_S of speech is enough to judge, a mic that heard nothing among them too."""
    assert CLEAR_RATIO == 3.0  # 0.375 and 0.125 are exact in binary: 3 x 0.125 is 0.375, not a hair over
    assert ChannelCheck(0, 1, FULL_CONFIDENCE_S, 0.375, 0.125, 0.9, 0.9).verdict == "right"
    assert ChannelCheck(0, 1, FULL_CONFIDENCE_S, 0.125, 0.375, 0.9, 0.9).verdict == "swapped"
    silent = ChannelCheck(0, 1, FULL_CONFIDENCE_S, 0.375, 0.125, 0.9, 0.0).silent_channel()
    assert silent.startswith(
        "customer_channel 1 hears no voice while the rep talks (it rises above its own noise in 0 %"
    )
    both = ChannelCheck(0, 1, 5.0, 0.4, 0.6, 0.9, 0.9)  # the customer's mic leads more, but not 3 times as often
    assert both.verdict == "unclear"
    assert "(rep_channel 0 leads in 40 % of 5.0 s of speech, customer_channel 1 in 60 %)" in both.message()


def test_too_little_speech_to_tell_the_mics_apart_is_said_and_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recording with under FULL_CONFIDENCE_S of the rep's speech, even one that leads on the rep's mic: which
    mic is whose is not judged from it, said with how much was heard, and --write leaves the file alone."""
    wav = write_rep_alone(tmp_path, -12.0)
    samples, rate_hz = sf.read(wav)
    sf.write(wav, samples[: int(2.0 * rate_hz)], rate_hz, subtype="PCM_16")  # 0.4 s of pause, then 1.6 s of the rep
    code, text, _ = _calibrate(tmp_path, wav)
    out = capsys.readouterr().out
    assert code == 0 and text == CONFIG, out
    heard = re.search(
        r"^only ([0-9.]+) s of speech heard \(calibrate needs 3 s\), so which mic is the rep's is not "
        r"known; the rep should talk alone",
        out,
        re.MULTILINE,
    )
    assert heard is not None and 0.5 < float(heard.group(1)) < FULL_CONFIDENCE_S, out
    assert "right way round" not in out, out
    assert _calibrate(tmp_path, wav, "--write")[:2] == (2, CONFIG)
    assert f"not written: only {heard.group(1)} s of speech heard" in capsys.readouterr().err


def test_without_write_an_unplugged_mic_is_said_as_the_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A measuring run (no --write) over an unplugged customer mic prints why nothing is judged, as its finding,
    and changes nothing; no verdict on which mic is whose is printed beside it."""
    wav = write_rep_alone(tmp_path, -12.0)
    samples, rate_hz = sf.read(wav)
    samples[:, 1] = np.random.default_rng(3).normal(0, 10 ** (-70 / 20), samples.shape[0])  # hiss alone
    sf.write(wav, samples, rate_hz, subtype="PCM_16")
    code, text, _ = _calibrate(tmp_path, wav)
    out = capsys.readouterr().out
    assert code == 0 and text == CONFIG, out
    assert out.startswith("customer_channel 1 hears no voice while the rep talks"), out
    assert "plug it in, then calibrate again" in out and "right way round" not in out and "swapped" not in out


@pytest.mark.parametrize("swapped", [False, True])
def test_channels_far_apart_in_gain_are_said_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], swapped: bool
) -> None:
    """The channel of the mic away from the rep recording 20 dB hotter than the other (its hiss too), the rep's
    voice 12 dB down at that mic: the rep's own mic stands 12 dB further above its noise, the hot channel is
    8 dB louder, so each "led" (100 % and 96 %), and the refusal said the customer talked as much or the mics
    were not at the parties' mouths: advice that could never make the next try work. It says the gains."""
    wav = write_rep_alone(tmp_path, -12.0, swapped=swapped)
    samples, rate_hz = sf.read(wav)
    louder, quiet = (0, 1) if swapped else (1, 0)
    samples[:, louder] *= 10.0
    sf.write(wav, np.clip(samples, -1.0, 1.0), rate_hz, subtype="PCM_16")
    code, text, _ = _calibrate(tmp_path, wav, "--write")
    out, err = capsys.readouterr()
    assert code == 2 and text == CONFIG, out + err
    assert (
        f"not written: the two mics disagree on which hears the rep: channel {louder} is the louder, channel {quiet} "
        "stands further above its own noise" in err
    ), err
    apart = re.search(r"their noise floors lie (\d+) dB apart\): one records with far more gain", err)
    assert apart is not None and 18 <= int(apart.group(1)) <= 21, err  # 20 dB, in the histogram's 1 dB bins
    assert "set both channels' capture gain alike" in err, err
    assert "the customer talked as much" not in err, err
