"""The recordings and the config file the calibrate tests share: talkers rendered onto the 4-mic array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from listener.cli import main
from tests import synth

U = synth.Utterance
REP_DEG, CUSTOMER_DEG = 40.0, 230.0
REP_ONLY = [
    U("rep", 0.3, "cmu_arctic_us_axb_a0004.wav", REP_DEG),
    U("rep", 4.0, "cmu_arctic_us_axb_a0005.wav", REP_DEG),
    U("rep", 8.0, "cmu_arctic_us_axb_a0006.wav", REP_DEG),
]
WITH_CUSTOMER = [
    *REP_ONLY[:2],
    U("customer", 8.0, "cmu_arctic_us_aew_a0001.wav", CUSTOMER_DEG),
    U("rep", 12.0, "cmu_arctic_us_axb_a0006.wav", REP_DEG),
]

CONFIG_TEXT = """# counter 3, front door side
[array]
preset = "respeaker-4mic"  # the HAT
block_ms = 100

[parties]
# measured by hand, roughly
rep_azimuth_deg = 0.0   # facing the till
customer_azimuth_deg = 180.0
sector_half_width_deg = 50.0

[service]
log_level = "warning"
"""


def angle_error(a_deg: float, b_deg: float) -> float:
    return abs((a_deg - b_deg + 180.0) % 360.0 - 180.0)


@pytest.fixture(scope="module")
def two_talkers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, _ = synth.render(WITH_CUSTOMER, 16.0)
    return synth.write_wav(tmp_path_factory.mktemp("cal") / "two.wav", samples)


@pytest.fixture(scope="module")
def rep_alone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, _ = synth.render(REP_ONLY, 12.0, seed=3)
    return synth.write_wav(tmp_path_factory.mktemp("cal") / "rep.wav", samples)


def printed(out: str) -> dict[str, float]:
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("rep", "customer", "confidence"):
            values[parts[0]] = float(parts[1])
    return values


def calibrate_wav(
    tmp_path: Path, samples: np.ndarray, text: str, *flags: str, name: str = "case.wav"
) -> tuple[int, Path]:
    """Write ``samples`` as a recording and ``text`` as the config, run ``calibrate --write`` on them:
    (exit code, config)."""
    wav = synth.write_wav(tmp_path / name, samples.astype(np.float32))
    path = tmp_path / "listener.toml"
    path.write_text(text)
    return main(["calibrate", "--config", str(path), "--input", str(wav), "--write", *flags]), path


def calibrate_rendered(
    tmp_path: Path,
    utterances: list[synth.Utterance],
    seconds: float,
    text: str,
    *flags: str,
    seed: int,
    mics: np.ndarray = synth.SQUARE_4,
) -> tuple[int, Path]:
    """Render ``utterances`` (recording ``case{seed}.wav``), then :func:`calibrate_wav` on them."""
    samples, _ = synth.render(utterances, seconds, mics=mics, seed=seed)
    return calibrate_wav(tmp_path, samples, text, *flags, name=f"case{seed}.wav")
