"""One long recording made of the benchmark's cases, for the speed bench (``bench.simulate --long``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from bench.arrays import DEFAULT_LAYOUT, Layout, preset
from bench.room import RATE_HZ
from bench.signals import DATA_DIR, to_int16
from bench.simulate import DEFAULT_SEED, EXCERPTS, GENERATOR_VERSION, simulate_case
from bench.truth import PartySegment, read_rttm


def long_recording(
    out: Path, seconds: float, seed: int = DEFAULT_SEED, data_dir: Path = DATA_DIR, layout: Layout = DEFAULT_LAYOUT
) -> Path:
    """Concatenate cases (all excerpts, then further variants) into one ``seconds`` long file, on ``layout``."""
    rttm = read_rttm(data_dir / "ami-train" / "train.rttm")
    wav = out if out.suffix == ".wav" else out / "long.wav"
    total = round(seconds * RATE_HZ)
    channels = preset(layout.array).capture_channels
    pcm = np.zeros((total, channels), dtype=np.int16)  # int16 at once: a float copy of 10 min is 300 MB
    segments: list[dict[str, object]] = []
    parts: list[dict[str, object]] = []
    pos, index = 0, 0
    while pos < total:
        variant, excerpt = divmod(index, len(EXCERPTS))
        case = simulate_case(
            EXCERPTS[excerpt], variant, rttm[EXCERPTS[excerpt]], seed, data_dir=data_dir, layout=layout
        )
        take = min(case.audio.shape[1], total - pos)
        pcm[pos : pos + take] = to_int16(case.audio[:, :take])
        offset, end = pos / RATE_HZ, (pos + take) / RATE_HZ
        for seg in case.segments:
            if seg.start_s + offset < end:
                shifted = PartySegment(seg.party, seg.start_s + offset, min(seg.end_s + offset, end))
                segments.append(shifted.to_json())
        parts.append({"case": case.name, "start": round(offset, 3), "end": round(end, 3)})
        pos, index = pos + take, index + 1
    wav.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(wav, RATE_HZ, pcm)
    doc = {
        "schema": "listener.bench-truth/1",
        "case": wav.stem,
        "audio": {"seconds": seconds, "channels": channels, "sample_rate": RATE_HZ},
        "segments": segments,
        "parts": parts,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
    } | layout.keys()  # as the cases carry them: which board and side rendered it
    wav.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return wav
