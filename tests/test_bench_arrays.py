"""The benchmark's boards: each preset rendered in its own channels, analyzed with its own config."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from bench import arrays
from bench.signals import DATA_DIR
from bench.truth import read_rttm
from listener.config import geometry, parse_config

needs_data = pytest.mark.skipif(not (DATA_DIR / "ami-train").is_dir(), reason="needs ../shared/data")


@pytest.mark.parametrize("name", arrays.ARRAYS)
def test_each_board_records_its_mics_in_its_own_channels_and_its_config_says_so(name: str) -> None:
    config = parse_config(tomllib.loads(arrays.Layout(name).config_text()))
    geo = geometry(config)
    mics = np.arange(geo.n_mics * 5, dtype=np.float64).reshape(geo.n_mics, 5) + 1.0
    out = arrays.captured(mics, name)
    assert out.shape == (geo.capture_channels, 5)
    assert np.array_equal(out[list(geo.mic_channels)], mics)
    others = [c for c in range(geo.capture_channels) if c not in geo.mic_channels]
    for channel in others:
        expected = mics.mean(axis=0) if arrays.BEAM_CHANNEL.get(name) == channel else np.zeros(5)
        assert np.array_equal(out[channel], expected), f"{name} channel {channel}"
    assert np.allclose(arrays.mics_of(name), geo.mics_m)
    assert geo.preset == name and geo.mode == "doa"
    assert (config.parties.rep_azimuth_deg, config.parties.customer_azimuth_deg) == (0.0, 180.0)


def test_a_board_the_bench_cannot_render_is_refused() -> None:
    with pytest.raises(ValueError, match="respeaker-4mic"):
        arrays.mics_of("generic")
    with pytest.raises(ValueError, match="respeaker-4mic"):
        arrays.Layout("generic")
    with pytest.raises(ValueError, match="30-180"):
        arrays.Layout(customer_side_deg=10.0)


def test_a_layout_names_only_what_differs_from_the_default() -> None:
    assert arrays.DEFAULT_LAYOUT.keys() == {} and arrays.DEFAULT_LAYOUT.suffix() == ""
    side = arrays.Layout("respeaker-2mic", 90.0)
    assert side.keys() == {"array": "respeaker-2mic", "customer_side_deg": 90.0}
    assert side.suffix() == "-respeaker-2mic-side90"
    config = parse_config(tomllib.loads(side.config_text()))
    assert config.array.preset == "respeaker-2mic" and config.parties.customer_azimuth_deg == 90.0


@needs_data
def test_a_case_on_another_board_keeps_the_room_and_the_truth() -> None:
    from bench.simulate import simulate_case

    turns = read_rttm(DATA_DIR / "ami-train" / "train.rttm")["trn08"]
    four = simulate_case("trn08", 0, turns, overlaps="separate")
    two = simulate_case("trn08", 0, turns, overlaps="separate", layout=arrays.Layout("respeaker-2mic"))
    usb = simulate_case("trn08", 0, turns, overlaps="separate", layout=arrays.Layout("respeaker-usb-v2"))
    assert four.audio.shape[0] == 4 and two.audio.shape[0] == 2 and usb.audio.shape[0] == 6
    assert "array" not in four.truth and two.truth["array"] == "respeaker-2mic"
    for other in (two, usb):
        for key in ("segments", "speakers", "noise", "speech_level_dbfs", "rep_azimuth_deg"):
            assert other.truth[key] == four.truth[key], key
        room, audio = cast(dict[str, Any], other.truth["room"]), cast(dict[str, Any], other.truth["audio"])
        assert room["size_m"] == cast(dict[str, Any], four.truth["room"])["size_m"]
        assert audio["channels"] == other.audio.shape[0]
    beside = simulate_case("trn08", 0, turns, overlaps="separate", layout=arrays.Layout(customer_side_deg=90.0))
    customers = [cast(dict[str, Any], p) for p in cast(list[object], beside.truth["speakers"])][1:]
    assert customers and all(65.0 <= c["azimuth_deg"] <= 115.0 for c in customers)
    assert beside.truth["segments"] == four.truth["segments"] and beside.truth["customer_side_deg"] == 90.0
    # the 2-mic board's mics sit on the 4-mic board's x axis, at 29 mm instead of 45.7: alike, not the same
    assert 0.5 < np.corrcoef(two.audio[0], four.audio[0])[0, 1] < 0.9999
    assert not usb.audio[5].any() and np.allclose(usb.audio[0], usb.audio[1:5].mean(axis=0))


@needs_data
def test_presets_scores_the_listener_on_each_board(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import presets

    monkeypatch.setattr(presets, "cases_dir", lambda overlaps, split: tmp_path / f"cases-{overlaps}-{split}")
    argv = ["--split", "eval", "--variants", "1", "--arrays", "respeaker-4mic,respeaker-2mic"]
    assert presets.main(argv) == 0
    out = capsys.readouterr().out
    rows = {
        m[0]: [float(x) for x in m[1:]]
        for m in re.findall(r"^  (respeaker-\S+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.-]+)$", out, flags=re.MULTILINE)
    }
    assert set(rows) == {"respeaker-4mic", "respeaker-2mic"}
    for f1, attribution, share_error_pp, _ in rows.values():
        assert f1 > 0.6 and attribution > 0.8 and share_error_pp < 30.0
    assert (tmp_path / "cases-separate-eval-respeaker-2mic" / "listener.toml").read_text().count("respeaker-2mic") == 1
    assert presets.main(["--arrays", "generic"]) == 2


@needs_data
def test_a_long_recording_for_the_speed_bench_is_made_on_the_board_asked_for(tmp_path: Path) -> None:
    from scipy.io import wavfile

    from bench.long import long_recording

    wav = long_recording(tmp_path / "long.wav", 2.0, layout=arrays.Layout("respeaker-6mic"))
    rate, pcm = wavfile.read(wav)
    assert rate == 16000 and pcm.shape == (32000, 8)
    assert pcm[:, :6].any() and not pcm[:, 6:].any(), "six mics, two silent loopback channels"
    truth = json.loads(wav.with_suffix(".json").read_text(encoding="utf-8"))
    assert truth["audio"]["channels"] == 8
    assert truth["array"] == "respeaker-6mic" and "customer_side_deg" not in truth, "the board's keys, as cases carry"


@needs_data
def test_presets_moves_the_customers_and_tells_the_listener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import presets

    monkeypatch.setattr(presets, "cases_dir", lambda overlaps, split: tmp_path / f"cases-{overlaps}-{split}")
    argv = ["--split", "eval", "--variants", "1", "--arrays", "respeaker-2mic", "--customer-side", "90"]
    assert presets.main(argv) == 0
    folder = tmp_path / "cases-separate-eval-respeaker-2mic-side90"
    config = parse_config(tomllib.loads((folder / "listener.toml").read_text(encoding="utf-8")))
    assert config.parties.customer_azimuth_deg == 90.0
    truth = json.loads((folder / "trn08-v0.json").read_text(encoding="utf-8"))
    assert all(65.0 <= s["azimuth_deg"] <= 115.0 for s in truth["speakers"] if s["party"] == "customer")
    # a line of mics with the customer beside the rep: the listener cannot tell them apart (bench/README.md)
    row = re.search(r"^  respeaker-2mic +[\d.]+ +([\d.]+) ", capsys.readouterr().out, flags=re.MULTILINE)
    assert row and float(row[1]) < 0.5


@needs_data
def test_simulate_renders_the_customers_where_it_is_told(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import simulate

    argv = ["--out", str(tmp_path), "--split", "eval", "--variants", "1", "--overlaps", "separate"]
    assert simulate.main([*argv, "--customer-side", "120", "--array", "respeaker-6mic"]) == 0
    truth = json.loads((tmp_path / "trn09-v0.json").read_text(encoding="utf-8"))
    assert (truth["customer_side_deg"], truth["array"], truth["audio"]["channels"]) == (120.0, "respeaker-6mic", 8)
    assert all(95.0 <= s["azimuth_deg"] <= 145.0 for s in truth["speakers"] if s["party"] == "customer")
    with pytest.raises(SystemExit) as exited:
        simulate.main([*argv, "--customer-side", "10"])
    assert exited.value.code == 2
    assert "customer side 10 deg: choose 30-180" in capsys.readouterr().err
