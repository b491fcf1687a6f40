"""A 75 s lapel-mic conversation with cross-talk: 16 alternating turns, then the customer and the rep cut in.

After a reviewer's generator: the rep (CMU arctic aew) on channel 0, the customer (axb) on channel 1,
each voice reaching the other's mic ``leak_db`` down and (by default) 3 ms late, over -65 dBFS hiss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from tests.synth import RATE_HZ, SHARED

REP_CUT_IN_S = (63.78, 68.48)  # where the customer's and the rep's cut-ins start (as analysed at 12 dB)


def _voice(name: str) -> np.ndarray:
    x, rate_hz = sf.read(SHARED / "speech" / name, dtype="float64")
    assert rate_hz == RATE_HZ
    return np.asarray(x / (np.abs(x).max() + 1e-9) * 0.3)


def lapel_talk(leak_db: float, lag_ms: float = 3.0) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """(samples (n, 2), the turns as (party, start_s)); each voice reaches the other mic ``lag_ms`` late."""
    voices = {
        "rep": [_voice(f"cmu_arctic_us_aew_a000{i}.wav") for i in (1, 2, 3)],
        "customer": [_voice(f"cmu_arctic_us_axb_a000{i}.wav") for i in (4, 5, 6)],
    }
    script: list[tuple[str, float, int]] = []
    t = 0.5
    for i in range(16):
        party = ("rep", "customer")[i % 2]
        script.append((party, t, i // 2 % 3))
        t += len(voices[party][i // 2 % 3]) / RATE_HZ + 0.6
    t0 = t + 1.0
    script += [("rep", t0, 1), ("customer", t0 + 1.5, 0)]  # the customer cuts in 1.5 s into the rep's turn
    t1 = t0 + 1.5 + len(voices["customer"][0]) / RATE_HZ + 0.8
    script += [("customer", t1, 2), ("rep", t1 + 1.2, 0)]  # the rep cuts in
    n = int((t1 + 1.2 + len(voices["rep"][0]) / RATE_HZ + 2) * RATE_HZ)
    own = {"rep": np.zeros(n), "customer": np.zeros(n)}
    for party, start_s, k in script:
        a = int(start_s * RATE_HZ)
        b = min(n, a + len(voices[party][k]))
        own[party][a:b] += voices[party][k][: b - a]
    lag = round(lag_ms / 1000 * RATE_HZ)
    gain = 10 ** (leak_db / 20)

    def leaked(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros(lag), x[: n - lag]]) * gain

    rng = np.random.default_rng(0)
    hiss = 10 ** (-65 / 20)
    rep_mic = own["rep"] + leaked(own["customer"]) + rng.normal(0, hiss, n)
    customer_mic = own["customer"] + leaked(own["rep"]) + rng.normal(0, hiss, n)
    return np.stack([rep_mic, customer_mic], axis=1), [(p, s) for p, s, _ in script]


def write_lapel_talk(folder: Path, leak_db: float, lag_ms: float = 3.0) -> Path:
    path = folder / f"lapel{leak_db:g}_{lag_ms:g}.wav"
    samples, _ = lapel_talk(leak_db, lag_ms)
    sf.write(path, samples.astype(np.float32), RATE_HZ, subtype="PCM_16")
    return path


def write_rep_alone(folder: Path, leak_db: float, swapped: bool = False, lag_ms: float = 3.0) -> Path:
    """The rep (aew) talking alone for ~9 s, as for ``listener calibrate``: their voice on channel 0 and
    ``leak_db`` down on channel 1, or (``swapped``) the other way round."""
    pause = np.zeros(int(0.4 * RATE_HZ))
    own = np.concatenate([pause, _voice("cmu_arctic_us_aew_a0001.wav"), pause, _voice("cmu_arctic_us_aew_a0002.wav")])
    n, lag = own.size, round(lag_ms / 1000 * RATE_HZ)
    leaked = np.concatenate([np.zeros(lag), own[: n - lag]]) * 10 ** (leak_db / 20)
    rng = np.random.default_rng(1)
    samples = np.stack([own, leaked], axis=1) + rng.normal(0, 10 ** (-65 / 20), (n, 2))
    path = folder / f"rep_alone{leak_db:g}{'_swapped' if swapped else ''}.wav"
    sf.write(path, (samples[:, ::-1] if swapped else samples).astype(np.float32), RATE_HZ, subtype="PCM_16")
    return path
