"""Signal helpers shared by the case generator and the sample conversation."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.io import wavfile

from bench.truth import Interval

FloatArray = npt.NDArray[np.float64]

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
NOISE_FILES = ("doing_the_dishes.wav", "exercise_bike.wav")
MIC_SELF_NOISE_DBFS = -80.0


def load_mono(path: Path, rate_hz: int) -> FloatArray:
    """A mono WAV as float64 in [-1, 1]; refuses other rates rather than resampling silently."""
    with warnings.catch_warnings():
        # AMI float WAVs carry a chunk scipy does not parse; the samples are fine.
        warnings.simplefilter("ignore", wavfile.WavFileWarning)
        rate, data = wavfile.read(path)
    if rate != rate_hz:
        raise ValueError(f"{path}: {rate} Hz, expected {rate_hz} Hz")
    x = np.asarray(data)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float64) / float(np.iinfo(x.dtype).max)
    return x.astype(np.float64)


def smooth_mask(intervals: Sequence[Interval], samples: int, rate_hz: int, ramp_s: float = 0.005) -> FloatArray:
    """1 inside ``intervals``, 0 outside, with raised-cosine ramps of ``ramp_s`` centred on each edge."""
    hard = np.zeros(samples)
    for start, end in intervals:
        hard[max(0, round(start * rate_hz)) : min(samples, round(end * rate_hz))] = 1.0
    ramp = max(1, round(ramp_s * rate_hz))
    kernel = np.hanning(ramp + 2)[1:-1]
    return np.clip(np.convolve(hard, kernel / kernel.sum(), mode="same"), 0.0, 1.0)


def speech_power(speech: FloatArray, intervals: Sequence[Interval], rate_hz: int) -> float:
    """Mean power of multichannel ``speech`` (mics, samples) over the speech intervals."""
    active = smooth_mask(intervals, speech.shape[1], rate_hz) > 0.5
    if not active.any():
        active[:] = True
    return float(np.mean(speech[:, active] ** 2))


def mix_to_level(
    speech: FloatArray,
    noise: FloatArray,
    intervals: Sequence[Interval],
    rate_hz: int,
    snr_db: float,
    level_dbfs: float,
    rng: np.random.Generator,
) -> FloatArray:
    """Speech plus noise at ``snr_db``, speech at ``level_dbfs`` RMS, plus mic self-noise; peak < 1."""
    p_speech = speech_power(speech, intervals, rate_hz)
    p_noise = float(np.mean(noise**2)) or 1.0
    noise_gain = math.sqrt(p_speech / p_noise * 10.0 ** (-snr_db / 10.0))
    gain = 10.0 ** (level_dbfs / 20.0) / math.sqrt(p_speech)
    out = gain * (speech + noise_gain * noise)
    out += rng.normal(scale=10.0 ** (MIC_SELF_NOISE_DBFS / 20.0), size=out.shape)
    peak = float(np.max(np.abs(out)))
    return out * (0.98 / peak) if peak > 0.98 else out


def noise_sources(
    rng: np.random.Generator, count: int, samples: int, rate_hz: int, data_dir: Path = DATA_DIR
) -> tuple[str, list[FloatArray]]:
    """``count`` different stretches of one random noise file (decorrelated sources)."""
    name = NOISE_FILES[int(rng.integers(len(NOISE_FILES)))]
    noise = load_mono(data_dir / "noise" / name, rate_hz)
    if len(noise) < samples:
        noise = np.resize(noise, samples)
    starts = rng.integers(0, len(noise) - samples + 1, size=count)
    return name, [noise[s : s + samples] for s in starts]


def to_int16(audio: FloatArray) -> npt.NDArray[np.int16]:
    """(mics, samples) float in [-1, 1] to interleaved (samples, mics) int16."""
    return np.clip(np.round(audio.T * 32767.0), -32768, 32767).astype(np.int16)


def write_wav(path: Path, audio: FloatArray, rate_hz: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate_hz, to_int16(audio))


def wrap_deg(angle_deg: float) -> float:
    """An angle in [-180, 180)."""
    return (angle_deg + 180.0) % 360.0 - 180.0
