"""listener analyze, end to end from real speech rendered onto the array."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from listener.cli import main
from tests import synth
from tests.conftest import f1, frames


def analyze_json(path: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """``listener analyze PATH --json`` run in-process, its report parsed."""
    assert main(["analyze", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out, parse_constant=_not_json)  # strict: NaN, Infinity are no JSON


def _not_json(constant: str) -> object:
    raise ValueError(f"analyze --json wrote {constant}, which is not JSON")


def test_report_contract(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = dialogue_4ch
    report = analyze_json(path, capsys=capsys)
    assert report["schema"] == "listener.analysis/1"
    assert report["audio"] == {"seconds": 17.0, "channels": 4, "sample_rate": 16000}
    assert isinstance(report["events"], list)
    metrics = report["metrics"]
    assert isinstance(metrics, dict)
    assert {"rep_talk_s", "customer_talk_s", "rep_share"} <= set(metrics)
    for seg in report["segments"]:
        assert seg["party"] in ("rep", "customer") and 0 <= seg["start"] < seg["end"] <= 17.0


def test_who_spoke_when_by_direction(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, truth = dialogue_4ch
    report = analyze_json(path, capsys=capsys)
    n = 1700
    for party in ("rep", "customer"):
        score = f1(frames(truth, party, n), frames(report["segments"], party, n))
        assert score > 0.85, (party, score)
    metrics = report["metrics"]
    true_rep = frames(truth, "rep", n).sum()
    true_share = true_rep / (true_rep + frames(truth, "customer", n).sum())
    assert abs(metrics["rep_share"] - true_share) < 0.05


def test_swapped_azimuths_swap_the_parties(
    dialogue_4ch: tuple[Path, list[dict[str, object]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, truth = dialogue_4ch
    cfg = tmp_path / "swapped.toml"
    cfg.write_text("[parties]\nrep_azimuth_deg = 180\ncustomer_azimuth_deg = 0\n")
    report = analyze_json(path, "--config", str(cfg), capsys=capsys)
    n = 1700
    assert f1(frames(truth, "rep", n), frames(report["segments"], "customer", n)) > 0.85


def test_overlap_is_representable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A customer talks over the rep: both parties are active at once."""
    utts = [
        synth.Utterance("rep", 0.5, "cmu_arctic_us_axb_a0006.wav", 0.0),
        synth.Utterance("customer", 1.5, "cmu_arctic_us_aew_a0003.wav", 180.0),
    ]
    samples, truth = synth.render(utts, 6.0)
    report = analyze_json(synth.write_wav(tmp_path / "overlap.wav", samples), capsys=capsys)
    n = 600
    both_truth = frames(truth, "rep", n) & frames(truth, "customer", n)
    both_sys = frames(report["segments"], "rep", n) & frames(report["segments"], "customer", n)
    assert both_sys[both_truth].mean() > 0.5
    assert report["metrics"]["overlap_s"] > 0.5


def test_channel_map_mode(
    dialogue_channels: tuple[Path, list[dict[str, object]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, truth = dialogue_channels
    cfg = tmp_path / "lapel.toml"
    cfg.write_text('[array]\npreset = "respeaker-2mic"\n[parties]\nrep_channel = 0\ncustomer_channel = 1\n')
    report = analyze_json(path, "--config", str(cfg), capsys=capsys)
    n = 1700
    for party in ("rep", "customer"):
        assert f1(frames(truth, party, n), frames(report["segments"], party, n)) > 0.85, party


def test_48k_file_is_resampled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import soxr

    samples, truth = synth.render(synth.DIALOGUE[:2], 9.0)
    path = synth.write_wav(tmp_path / "hi.wav", soxr.resample(samples, 16000, 48000), rate_hz=48000)
    report = analyze_json(path, capsys=capsys)
    assert report["audio"]["sample_rate"] == 48000
    assert f1(frames(truth, "rep", 900), frames(report["segments"], "rep", 900)) > 0.85


def test_silence_gives_no_speech(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    path = synth.write_wav(tmp_path / "quiet.wav", rng.normal(0, 1e-3, (16000 * 5, 4)).astype(np.float32))
    report = analyze_json(path, capsys=capsys)
    assert report["segments"] == []
    # undefined, as the summaries' undefined figures are (null): 0.0 would read as a rep who never spoke,
    # and averaged over a fleet's recordings, the empty ones would pull the rep's share down
    assert report["metrics"]["rep_share"] is None
    # read by a person, "0.0 %" would say the rep never spoke, not that nobody did
    assert main(["analyze", str(path)]) == 0
    assert "rep share           -   (nobody spoke)\n" in capsys.readouterr().out
    # ... which is what a customer talking alone gets
    samples, _ = synth.render([u for u in synth.DIALOGUE if u.party == "customer"], 16.0)
    alone = synth.write_wav(tmp_path / "customer.wav", samples)
    assert main(["analyze", str(alone)]) == 0
    out = capsys.readouterr().out
    assert "rep share         0.0 %\n" in out and "nobody spoke" not in out


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "listener", *args], capture_output=True, text=True, timeout=120)


def bad_inputs(tmp_path: Path, good: Path) -> dict[str, tuple[Path, str]]:
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    empty = tmp_path / "empty.wav"
    synth.write_wav(empty, np.zeros((0, 4), dtype=np.float32))
    nothing = tmp_path / "nothing.wav"
    nothing.write_bytes(b"")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:50000])
    mono = synth.write_wav(tmp_path / "mono.wav", np.zeros((16000, 1), dtype=np.float32))
    low = synth.write_wav(tmp_path / "low.wav", np.zeros((8000, 4), dtype=np.float32), rate_hz=8000)
    unsized = tmp_path / "unsized.wav"  # what a recorder killed before it closed the file leaves
    data = bytearray(good.read_bytes())
    at = data.index(b"data")
    data[at + 4 : at + 8] = bytes(4)
    unsized.write_bytes(bytes(data))
    folder = tmp_path / "recordings.wav"  # a folder named like the recording (a copy that made one)
    folder.mkdir()
    return {
        "missing": (tmp_path / "missing.wav", "does not exist"),
        "not wav": (text, "not a WAV file"),
        "empty": (empty, "no audio"),
        "zero bytes": (nothing, "is empty (0 bytes): record or copy it again"),
        "truncated": (truncated, "truncated"),
        "channels": (mono, "has 1 channel: one mic cannot tell the rep from the customer"),
        "rate": (low, "8000 Hz"),
        "header says empty": (unsized, "sox --ignore-length"),
        "folder": (folder, f"{folder} is a folder: pass a .wav file"),
    }


def test_bad_input_one_line_exit_2(tmp_path: Path, dialogue_4ch: tuple[Path, list[dict[str, object]]]) -> None:
    for name, (path, expected) in bad_inputs(tmp_path, dialogue_4ch[0]).items():
        result = _cli("analyze", str(path))
        assert result.returncode == 2, name
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, (name, result.stderr)
        assert expected in result.stderr, (name, result.stderr)


def test_bad_config_one_line_exit_2(tmp_path: Path, dialogue_4ch: tuple[Path, list[dict[str, object]]]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[array]\nsampel_rate = 16000\n")
    for args in (["analyze", str(dialogue_4ch[0]), "--config", str(cfg)], ["check-config", str(cfg)]):
        result = _cli(*args)
        assert result.returncode == 2
        assert result.stderr.strip() == (
            "listener: config error at array.sampel_rate = 16000: unknown key; did you mean sample_rate? Correct the "
            "spelling (allowed here: block_ms, buffer_s, channels, device, mic_channels, mics, preset, "
            "reopen_interval_s, sample_rate)"
        )


def test_check_config_ok(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.toml"
    cfg.write_text('[array]\npreset = "respeaker-6mic"\n')
    result = _cli("check-config", str(cfg))
    assert result.returncode == 0 and "respeaker-6mic, 6 mics, 8 channels" in result.stdout
    assert "sets no key" not in result.stdout


def test_check_config_of_an_empty_file_says_it_sets_nothing(tmp_path: Path) -> None:
    # valid, and "ok" alone hid that the file checked was not the one meant (an empty template, a wrong path)
    cfg = tmp_path / "empty.toml"
    cfg.write_text("# the counter by the door\n")
    result = _cli("check-config", str(cfg))
    assert result.returncode == 0 and result.stdout.rstrip().endswith(
        "it sets no key: every setting is its default (docs/config.md)"
    )


def test_check_config_says_which_input_explicit_mics_capture_from(tmp_path: Path) -> None:
    """README's minimal file gives mics and no preset: the default preset's card is still the one looked for."""
    cfg = tmp_path / "mics.toml"
    cfg.write_text("[array]\nmics = [[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0]]\n")
    result = _cli("check-config", str(cfg))
    assert (
        result.returncode == 0
        and "respeaker-4mic, 2 mics, 4 channels, mode doa, input named like 'seeed4micvoicec'" in result.stdout
    )
    cfg.write_text('[array]\npreset = "generic"\nmics = [[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0]]\n')
    assert "generic, 2 mics, 2 channels, mode doa, the default input" in _cli("check-config", str(cfg)).stdout
    cfg.write_text('[array]\npreset = "generic"\ndevice = "UMA-8"\nmics = [[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0]]\n')
    assert "input named like 'UMA-8'" in _cli("check-config", str(cfg)).stdout
    cfg.write_text('[array]\npreset = "respeaker-2mic"\n')  # a preset whose card has two names: both are said
    assert "input named like 'seeed2micvoicec' or 'wm8960soundcard'" in _cli("check-config", str(cfg)).stdout


def test_samples_that_are_not_numbers_play_as_silence(
    tmp_path: Path, dialogue_4ch: tuple[Path, list[dict[str, object]]]
) -> None:
    audio, rate = sf.read(dialogue_4ch[0], dtype="float32", always_2d=True)
    silenced = audio.copy()
    silenced[int(5.0 * rate), :] = 0.0
    broken = audio.copy()
    broken[int(5.0 * rate), :] = np.nan
    broken[int(9.0 * rate), 1] = np.inf
    silenced[int(9.0 * rate), 1] = 0.0
    clean_wav = synth.write_wav(tmp_path / "clean.wav", silenced, rate, subtype="FLOAT")
    broken_wav = synth.write_wav(tmp_path / "broken.wav", broken, rate, subtype="FLOAT")
    clean, result = _cli("analyze", str(clean_wav), "--json"), _cli("analyze", str(broken_wav), "--json")
    assert result.returncode == 0
    assert result.stderr.count("\n") == 1 and "not numbers" in result.stderr and "near 5.0 s" in result.stderr
    assert "RuntimeWarning" not in result.stderr
    assert json.loads(result.stdout)["segments"] == json.loads(clean.stdout)["segments"]
    assert json.loads(clean.stdout)["segments"]


def test_plot_path_is_checked_before_the_analysis(
    tmp_path: Path, dialogue_4ch: tuple[Path, list[dict[str, object]]]
) -> None:
    for plot, expected in [("x.txt", "name a .png"), ("", "an empty path"), ("no/such/x.png", "does not exist")]:
        result = _cli("analyze", str(dialogue_4ch[0]), "--plot", str(tmp_path / plot) if plot else "")
        assert result.returncode == 2 and result.stdout == "", plot
        assert result.stderr.count("\n") == 1 and expected in result.stderr, (plot, result.stderr)
    # first of all: a recording the analysis would refuse is not looked at before a bad --plot is named
    result = _cli("analyze", str(tmp_path / "missing.wav"), "--plot", str(tmp_path / "x.txt"))
    assert result.returncode == 2 and "name a .png" in result.stderr, result.stderr


@pytest.mark.skipif(
    os.geteuid() != 0, reason="only root gets past the early check of /proc (test_plot checks the error in-process)"
)
def test_a_plot_that_cannot_be_written_keeps_the_report(dialogue_4ch: tuple[Path, list[dict[str, object]]]) -> None:
    result = _cli("analyze", str(dialogue_4ch[0]), "--json", "--plot", "/proc/listener-test.png")
    assert result.returncode == 2 and "cannot write the plot" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["segments"]


def test_a_reader_that_goes_away_is_no_error(dialogue_4ch: tuple[Path, list[dict[str, object]]]) -> None:
    shell = f"{sys.executable} -m listener analyze {dialogue_4ch[0]} --json | head -c 10"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=120)
    assert result.stdout == '{"schema":' and result.stderr == "" and result.returncode == 0
