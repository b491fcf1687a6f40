"""Front-end frames of the test dialogue, and how the turn-model tests feed and read them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from listener.config import geometry, parse_config
from listener.events import AudioBlock, EndOfStream, Event, SpatialFrames
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns.base import slice_frames
from listener.turns.onnx_model import OnnxTurnModel
from tests import synth


def dialogue_frames() -> SpatialFrames:
    """Front-end frames of the 17 s two-party test dialogue, in one event."""
    samples, _ = synth.render(synth.DIALOGUE, 17.0)
    config = parse_config({})
    front = SpatialFrontEnd(config, geometry(config))
    (part,) = [e for e in front.process(AudioBlock(0.0, 16000, samples)) if isinstance(e, SpatialFrames)]
    return part


def stream(stage: OnnxTurnModel, frames: SpatialFrames, sizes: list[int]) -> list[Event]:
    """Feed ``frames`` in pieces of the given sizes (cycled), then end the stream."""
    out: list[Event] = []
    a, k = 0, 0
    while a < frames.n_frames:
        b = min(frames.n_frames, a + sizes[k % len(sizes)])
        out += stage.process(slice_frames(frames, a, b))
        a, k = b, k + 1
    out += stage.process(EndOfStream(frames.end_s))
    return out


def joined(events: Sequence[Event], kind: type, field: str) -> np.ndarray:
    """One per-frame ``field`` of every ``kind`` event, end to end."""
    return np.concatenate([getattr(e, field) for e in events if isinstance(e, kind)])


def silence(frames: SpatialFrames, n_frames: int) -> SpatialFrames:
    """``n_frames`` of the first (quiet) frame of ``frames``, right after them: nobody speaks."""
    quiet = slice_frames(frames, 0, 1)
    return SpatialFrames(
        start_s=frames.end_s,
        hop_s=frames.hop_s,
        sample_rate_hz=frames.sample_rate_hz,
        fft_size=frames.fft_size,
        power=np.repeat(quiet.power, n_frames, axis=0),
        rep_weight=np.repeat(quiet.rep_weight, n_frames, axis=0),
        customer_weight=np.repeat(quiet.customer_weight, n_frames, axis=0),
        noise_power=frames.noise_power,
        rep_snr_db=np.full(n_frames, -60.0, np.float32),
        customer_snr_db=np.full(n_frames, -60.0, np.float32),
        doa_deg=np.full(n_frames, np.nan, np.float32),
    )
