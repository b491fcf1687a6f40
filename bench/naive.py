"""Issue #2's point of comparison: a naive per-frame SRP-PHAT with WebRTC VAD.

The issue says such a system "scores about F1 0.62, attribution 0.76 and 10
points of share error" on its recordings. Scoring the same system on this
benchmark's two renderings shows which rendering those recordings resemble,
so the listener's own figures can be read against the issue's targets.

Per 10 ms frame, nothing carried over between frames: WebRTC VAD (mode 2) on
the first mic says whether anybody speaks; if so, SRP-PHAT over 72 azimuths
(a 32 ms Hann window centred on the frame, PHAT-weighted pair cross-spectra,
300–4000 Hz) picks the loudest direction, and the frame goes to the party
whose configured azimuth is nearer. One party per frame, no smoothing: the
report's segments (scored on frames) are those raw per-frame decisions. Its
events are what the device's analytics make of them, and the analytics
bridge gaps under 0.2 s first, as metrics.md defines speech activity (the
truth's events are made the same way). Used by ``bench.accuracy --baseline naive``.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.truth import FRAME_S, PARTIES, PartySegment
from listener.analytics.replay import replay
from listener.analytics.report import SCHEMA as REPORT_SCHEMA
from listener.config import Config, geometry
from listener.frames import runs
from listener.spatial.doa import mic_pairs, steering

VAD_MODE = 2
WINDOW_SAMPLES = 512
BAND_HZ = (300.0, 4000.0)
AZIMUTH_STEP_DEG = 5.0
Float = npt.NDArray[np.float64]


def read_wav(path: Path) -> tuple[Float, int]:
    """(samples, channels) in [-1, 1], and the sample rate."""
    with wave.open(str(path), "rb") as wav:
        rate_hz, channels = wav.getframerate(), wav.getnchannels()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm.reshape(-1, channels).astype(np.float64) / 32768.0, rate_hz


def vad_frames(mono: Float, rate_hz: int, hop: int) -> npt.NDArray[np.bool_]:
    import webrtcvad

    vad = webrtcvad.Vad(VAD_MODE)
    pcm = np.clip(np.round(mono * 32767), -32768, 32767).astype(np.int16)
    n = len(pcm) // hop
    return np.array([vad.is_speech(pcm[i * hop : (i + 1) * hop].tobytes(), rate_hz) for i in range(n)], dtype=bool)


def peak_azimuths_deg(audio: Float, rate_hz: int, hop: int, mics_m: Float) -> Float:
    """The SRP-PHAT peak of each frame, degrees counter-clockwise from +x."""
    n = len(audio) // hop
    half = WINDOW_SAMPLES // 2
    padded = np.pad(audio, ((half, half), (0, 0)))
    starts = np.arange(n) * hop + hop // 2  # window centred on the frame's centre
    idx = starts[:, None] + np.arange(WINDOW_SAMPLES)[None, :]
    spec = np.fft.rfft(padded[idx] * np.hanning(WINDOW_SAMPLES)[None, :, None], axis=1)  # (n, bins, mics)
    freqs_hz = np.fft.rfftfreq(WINDOW_SAMPLES, 1.0 / rate_hz).astype(np.float64)
    band = (freqs_hz >= BAND_HZ[0]) & (freqs_hz <= BAND_HZ[1])
    pairs = mic_pairs(mics_m.shape[0])
    cross = np.stack([spec[:, band, i] * np.conj(spec[:, band, j]) for i, j in pairs], axis=-1)
    cross /= np.maximum(np.abs(cross), 1e-12)
    azimuths_deg = np.arange(0.0, 360.0, AZIMUTH_STEP_DEG)
    steer = steering(mics_m, pairs, freqs_hz[band], azimuths_deg)  # (D, bins, pairs)
    scores = np.einsum("nbp,dbp->nd", cross, np.conj(steer)).real
    return np.asarray(azimuths_deg[np.argmax(scores, axis=1)], dtype=np.float64)


def _distance_deg(a: Float, b: float) -> Float:
    return np.asarray(np.abs((a - b + 180.0) % 360.0 - 180.0), dtype=np.float64)


def naive_segments(path: Path, config: Config) -> tuple[list[PartySegment], float]:
    """Per-party segments of ``path`` by the naive system, and the audio's length in seconds."""
    audio, rate_hz = read_wav(path)
    geo = geometry(config)
    audio = audio[:, list(geo.mic_channels)]
    hop = round(FRAME_S * rate_hz)
    speech = vad_frames(audio[:, 0], rate_hz, hop)
    azimuths = peak_azimuths_deg(audio, rate_hz, hop, geo.mics_m)[: len(speech)]
    rep_nearer = _distance_deg(azimuths, config.parties.rep_azimuth_deg) <= _distance_deg(
        azimuths, config.parties.customer_azimuth_deg
    )
    active = {"rep": speech & rep_nearer, "customer": speech & ~rep_nearer}
    segments = [PartySegment(p, a * FRAME_S, b * FRAME_S) for p in PARTIES for a, b in runs(active[p])]
    return sorted(segments, key=lambda s: (s.start_s, s.party)), len(audio) / rate_hz


def naive_report(path: Path, config: Config) -> dict[str, object]:
    """A report in ``listener analyze --json``'s shape, events by the device's analytics (no turn model)."""
    segments, seconds = naive_segments(path, config)
    collector = replay([(s.party, s.start_s, s.end_s) for s in segments], seconds, config)
    talk = {p: sum(s.duration_s for s in segments if s.party == p) for p in PARTIES}
    total = talk["rep"] + talk["customer"]
    return {
        "schema": REPORT_SCHEMA,
        "audio": {"seconds": seconds},
        "segments": [s.to_json() for s in segments],
        "events": [e.record() for e in collector.events],
        "metrics": {"rep_share": talk["rep"] / total if total else 0.0},  # 0.0 without speech, as analyze
    }
