"""Build small multi-channel test recordings from real speech.

Free-field far-field rendering: each utterance reaches each mic with the
exact delay for its azimuth (applied as a phase shift), plus independent
low-level noise per mic. Fast and deterministic, so tests can make their
own recordings with a known truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.truth import merge_intervals
from listener.frames import runs
from listener.spatial.doa import SPEED_OF_SOUND_M_S

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SPEECH = SHARED / "speech"
RATE_HZ = 16000
SQUARE_4 = np.array([[0.0457, 0, 0], [0, 0.0457, 0], [-0.0457, 0, 0], [0, -0.0457, 0]])


@dataclass(frozen=True)
class Utterance:
    party: str  # "rep" | "customer"
    start_s: float
    file: str  # file name under shared/data/speech
    azimuth_deg: float
    gain: float = 1.0
    max_s: float | None = None


def speech_path(name: str) -> Path:
    """``name`` under SPEECH. Missing, it is a broken setup, not a reason to skip (CI always has the shared
    folder): said as such, where soundfile would only say it cannot open the file."""
    path = SPEECH / name
    if not path.is_file():
        where = f"{SPEECH} is missing" if not SPEECH.is_dir() else f"{path} is missing from {SPEECH}"
        raise FileNotFoundError(
            f"{where}: these tests render real speech from ../shared/data/speech, the shared data folder that "
            f"must sit beside the checkout ({SHARED.parent})"
        )
    return path


def load_speech(name: str, max_s: float | None = None) -> np.ndarray:
    x, rate = sf.read(speech_path(name), dtype="float32")
    assert rate == RATE_HZ
    if max_s is not None:
        x = x[: int(max_s * RATE_HZ)]
    return x / (np.abs(x).max() + 1e-9) * 0.3


def _loud(x: np.ndarray) -> np.ndarray:
    """Per sample: the 10 ms mean magnitude is above a quiet threshold."""
    env = np.convolve(np.abs(x), np.ones(160) / 160, mode="same")
    return env > 0.05 * env.max()


def speech_span(x: np.ndarray) -> tuple[int, int]:
    """First and last sample of the utterance above a quiet threshold."""
    idx = np.flatnonzero(_loud(x))
    return int(idx[0]), int(idx[-1])


def speech_runs(x: np.ndarray, bridge_s: float = 0.2, min_s: float = 0.1) -> list[tuple[int, int]]:
    """The utterance's speech as metrics.md counts it: loud runs, gaps under ``bridge_s`` bridged,
    runs under ``min_s`` dropped; (first, end) samples each. A read sentence has real pauses."""
    merged = merge_intervals(runs(_loud(x)), bridge_s * RATE_HZ)
    return [(int(a), int(b)) for a, b in merged if b - a >= min_s * RATE_HZ]


def delayed(x: np.ndarray, delays_s: list[float], n: int) -> list[np.ndarray]:
    """``x`` delayed by each of ``delays_s`` (a phase shift, so fractions of a sample too), ``n`` samples each.
    One spectrum serves every delay: the mics of an array hear one source at several."""
    spec = np.fft.rfft(x, n)
    freqs = np.fft.rfftfreq(n, 1.0 / RATE_HZ)
    return [np.fft.irfft(spec * np.exp(-2j * np.pi * freqs * delay_s), n) for delay_s in delays_s]


def from_direction(x: np.ndarray, azimuth_deg: float, mics: np.ndarray = SQUARE_4) -> np.ndarray:
    """(samples, mics): ``x`` from far away at ``azimuth_deg``; each mic hears it (mic . direction) / c early."""
    az = np.radians(azimuth_deg)
    unit = np.array([np.cos(az), np.sin(az), 0.0])
    return np.stack(delayed(x, [-float(m @ unit) / SPEED_OF_SOUND_M_S for m in mics], x.size), axis=1)


def render(
    utterances: list[Utterance], duration_s: float, mics: np.ndarray = SQUARE_4, noise: float = 2e-3, seed: int = 0
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Returns (samples (n, mics) float32, truth segments: each utterance's speech runs)."""
    n = int(duration_s * RATE_HZ)
    out = np.zeros((n, mics.shape[0]))
    truth: list[dict[str, object]] = []
    placed: dict[float, np.ndarray] = {}  # what comes from each direction
    for u in utterances:
        x = load_speech(u.file, u.max_s) * u.gain
        start = int(u.start_s * RATE_HZ)
        placed.setdefault(u.azimuth_deg, np.zeros(n))[start : start + len(x)] += x[: max(0, n - start)]
        for a, b in speech_runs(x):
            truth.append({"party": u.party, "start": (start + a) / RATE_HZ, "end": (start + b) / RATE_HZ})
    # a delay is linear: the utterances from one direction are delayed together, the work of one (each took
    # a transform of the whole recording: seconds for a few minutes of visits)
    for azimuth_deg, x in placed.items():
        out += from_direction(x, azimuth_deg, mics)
    rng = np.random.default_rng(seed)
    out += rng.normal(0.0, noise, out.shape)
    return out.astype(np.float32), truth


def write_wav(path: Path, samples: np.ndarray, rate_hz: int = RATE_HZ, subtype: str = "PCM_16") -> Path:
    sf.write(path, samples, rate_hz, subtype=subtype)
    return path


DIALOGUE = [
    Utterance("rep", 0.5, "cmu_arctic_us_axb_a0004.wav", 0.0),
    Utterance("customer", 4.3, "cmu_arctic_us_aew_a0001.wav", 180.0),
    Utterance("rep", 8.6, "cmu_arctic_us_axb_a0005.wav", 10.0),
    Utterance("customer", 12.0, "cmu_arctic_us_aew_a0002.wav", 170.0),
]


def lapel_dialogue(
    customer_gain_db: float = 0.0, noise: float = 2e-3, leak_db: float = -12.0
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """DIALOGUE on two lapel mics (rep's, customer's): each voice reaches the other mic ``leak_db`` down.

    ``customer_gain_db``: the customer's mic records everything this much louder. ``noise``: each
    voice's rendering carries this much white noise (standard deviation), so each mic about as much.
    """
    one_mic = np.zeros((1, 3))
    rep_sig, truth_rep = render([u for u in DIALOGUE if u.party == "rep"], 17.0, one_mic, noise, seed=1)
    cust_sig, truth_cust = render([u for u in DIALOGUE if u.party == "customer"], 17.0, one_mic, noise, seed=2)
    leak = 10 ** (leak_db / 20)
    gain = 10 ** (customer_gain_db / 20)
    samples = np.concatenate([rep_sig + leak * cust_sig, gain * (cust_sig + leak * rep_sig)], axis=1)
    return samples, truth_rep + truth_cust


def load_noise(name: str, n: int, offset_s: float = 0.0) -> np.ndarray:
    """``n`` samples of ../shared/data/noise/``name`` from ``offset_s``, scaled to unit RMS."""
    path = SHARED / "noise" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the shared data folder must sit beside the checkout")
    x, rate = sf.read(path, dtype="float32", start=int(offset_s * RATE_HZ), frames=n)
    assert rate == RATE_HZ and x.shape[0] == n
    return x / np.sqrt(np.mean(x.astype(np.float64) ** 2))


def lag_samples(x: np.ndarray, y: np.ndarray, within: int = 10, up: int = 32) -> float:
    """How many samples ``y`` lags ``x`` (GCC-PHAT, to 1/``up`` sample, within +-``within``)."""
    n = len(x) + len(y)
    cross = np.fft.rfft(y, n) * np.conj(np.fft.rfft(x, n))
    cc = np.fft.irfft(cross / (np.abs(cross) + 1e-12), n * up)
    near = np.concatenate([cc[-within * up :], cc[: within * up + 1]])
    return float(int(np.argmax(near)) - within * up) / up


def tone(rate_hz: int, seconds: float) -> np.ndarray:
    """A 440 Hz sine at half scale on the 4 channels of the default array, float32 (a WAV reader's input)."""
    t = np.arange(round(rate_hz * seconds)) / rate_hz
    return np.repeat((0.5 * np.sin(2 * np.pi * 440.0 * t))[:, None], 4, axis=1).astype(np.float32)
