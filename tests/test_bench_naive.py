"""Issue #2's naive point of comparison (bench.naive): SRP-PHAT per frame with WebRTC VAD."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.accuracy import score_report
from bench.naive import naive_report, naive_segments, peak_azimuths_deg
from bench.scoring import score_case
from bench.truth import segments_from_json
from listener.config import Config, geometry
from listener.spatial.doa import SPEED_OF_SOUND_M_S

RATE_HZ = 16000
SAMPLE = Path(__file__).resolve().parents[1] / "listener" / "data" / "sample"


def _plane_wave(azimuth_deg: float, seconds: float, mics_m: np.ndarray) -> np.ndarray:
    """White noise arriving from ``azimuth_deg`` in the array plane, fractional delays in the frequency domain."""
    rng = np.random.default_rng(7)
    source = rng.standard_normal(round(seconds * RATE_HZ)) * 0.1
    spectrum = np.fft.rfft(source)
    freqs_hz = np.fft.rfftfreq(len(source), 1.0 / RATE_HZ)
    az = np.radians(azimuth_deg)
    lead_s = mics_m @ np.array([np.cos(az), np.sin(az), 0.0]) / SPEED_OF_SOUND_M_S  # mic i hears it this early
    return np.stack(
        [np.fft.irfft(spectrum * np.exp(2j * np.pi * freqs_hz * lead), len(source)) for lead in lead_s], axis=1
    )


def test_srp_phat_peak_points_at_the_source() -> None:
    mics_m = geometry(Config()).mics_m
    for azimuth_deg in (0.0, 120.0, 235.0):
        peaks = peak_azimuths_deg(_plane_wave(azimuth_deg, 1.0, mics_m), RATE_HZ, RATE_HZ // 100, mics_m)
        error_deg = np.abs((peaks - azimuth_deg + 180.0) % 360.0 - 180.0)
        assert len(peaks) == 100
        assert np.median(error_deg) <= 5.0, (azimuth_deg, np.median(error_deg))


def test_naive_report_on_the_bundled_sample_is_scored_like_the_listener() -> None:
    truth = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))
    report = naive_report(SAMPLE / "conversation.wav", Config())
    assert report["schema"] == "listener.analysis/1"
    segments = report["segments"]
    assert isinstance(segments, list)
    assert {s["party"] for s in segments} == {"rep", "customer"}
    assert all(0.0 <= s["start"] < s["end"] <= truth["audio"]["seconds"] + 0.01 for s in segments)
    score = score_report(truth, report)
    # A naive system in a quiet room: well above chance, well below the listener (F1 0.9+ here).
    assert score.rep.f1 is not None and 0.5 < score.rep.f1 < 0.97
    assert score.customer.f1 is not None and 0.3 < score.customer.f1 < 0.97
    # the reported share is the rep's talk over both parties' in the reported segments, and near the truth's
    metrics = report["metrics"]
    assert isinstance(metrics, dict) and score.system_share == metrics["rep_share"]  # score_report takes it as is
    from_segments = score_case([], segments_from_json(segments), truth["audio"]["seconds"]).system_share
    assert metrics["rep_share"] == pytest.approx(from_segments)
    assert score.share_error_pp is not None and score.share_error_pp < 20.0  # about 8.6 pp here
    events = report["events"]
    assert isinstance(events, list) and all(isinstance(e["t"], float) for e in events)
    assert events  # the analytics make something of a 27 s conversation


def test_silence_gives_no_segments(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((RATE_HZ * 2, 4)), RATE_HZ, subtype="PCM_16")
    segments, seconds = naive_segments(path, Config())
    assert segments == []
    assert seconds == pytest.approx(2.0)
    report = naive_report(path, Config())
    assert report["segments"] == [] and report["events"] == []
    assert report["metrics"]["rep_share"] is None  # type: ignore[index]  # as listener analyze reports silence
