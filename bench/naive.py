"""Issue #2's point of comparison: a naive per-frame SRP-PHAT with WebRTC VAD.

The issue says such a system "scores about F1 0.62, attribution 0.76 and 10
points of share error" on its recordings. Scoring the same system on this
benchmark's cases shows how hard they are next to those recordings, so the
listener's own figures can be read against the issue's targets.

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

from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from bench.scoring import talk_report
from bench.truth import FRAME_S, PartySegment, segments_from_frames
from listener.analytics.replay import replay
from listener.config import Config, geometry
from listener.config.array_checks import angle_apart_deg
from listener.spatial.doa import mic_pairs, steering

VAD_MODE = 2
RATE_HZ = 16000  # WebRTC VAD runs at models.baselines' rate, on 10 ms frames
WINDOW_SAMPLES = 512
BAND_HZ = (300.0, 4000.0)
AZIMUTH_STEP_DEG = 5.0
Float = npt.NDArray[np.float64]


def read_wav(path: Path) -> tuple[Float, int]:
    """(samples, channels) in [-1, 1], and the sample rate."""
    audio, rate_hz = sf.read(path, dtype="float64", always_2d=True)
    return audio, rate_hz


def vad_frames(mono: Float, hop: int) -> npt.NDArray[np.bool_]:
    """WebRTC VAD (mode 2) on each whole ``hop`` of 16 kHz ``mono``: one decision per 10 ms frame."""
    from models.baselines import WebRtc  # imported here: models.baselines loads onnxruntime and the corpus

    return WebRtc(VAD_MODE, frame_samples=hop).frames(mono, len(mono) // hop)


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


def naive_segments(path: Path, config: Config) -> tuple[list[PartySegment], float]:
    """Per-party segments of ``path`` by the naive system, and the audio's length in seconds."""
    audio, rate_hz = read_wav(path)
    if rate_hz != RATE_HZ:
        raise ValueError(f"{path.name} is sampled at {rate_hz} Hz; the naive baseline takes {RATE_HZ} Hz")
    geo = geometry(config)
    audio = audio[:, list(geo.mic_channels)]
    hop = round(FRAME_S * rate_hz)
    speech = vad_frames(audio[:, 0], hop)
    azimuths = peak_azimuths_deg(audio, rate_hz, hop, geo.mics_m)[: len(speech)]
    rep_nearer = angle_apart_deg(azimuths, config.parties.rep_azimuth_deg) <= angle_apart_deg(
        azimuths, config.parties.customer_azimuth_deg
    )
    return segments_from_frames(np.stack([speech & rep_nearer, speech & ~rep_nearer])), len(audio) / rate_hz


def naive_report(path: Path, config: Config) -> dict[str, object]:
    """A report in ``listener analyze --json``'s shape, events by the device's analytics (no turn model)."""
    segments, seconds = naive_segments(path, config)
    collector = replay([(s.party, s.start_s, s.end_s) for s in segments], seconds, config)
    events = [e.record() for e in collector.events]
    return talk_report(segments, {"seconds": seconds}, events)
