"""What the privacy tests search a process's outputs for: the words it heard, the audio it was given."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf


def word_forms(word: str) -> list[bytes]:
    """How a word could sit in a file or a message: UTF-8, JSON-escaped, or a str's UTF-16 in memory."""
    forms = [word.encode("utf-8"), json.dumps(word)[1:-1].encode("ascii")]
    if len(word) >= 2:
        forms.append(word.encode("utf-16-le"))
    return forms


def audio_needles(wav: Path, count: int = 40) -> dict[str, list[bytes]]:
    """Windows of the recording's loud parts in every form the pipeline holds audio in."""
    raw = wav.read_bytes()
    pcm_i16 = np.asarray(sf.read(wav, dtype="int16")[0])
    samples = np.asarray(sf.read(wav, dtype="float32")[0])
    mono = np.asarray(np.clip(samples[:, 0], -1.0, 1.0) * 32767.0, dtype="<i2").tobytes()  # what vosk gets
    loud = np.flatnonzero(np.abs(samples[:, 0]) > 0.05)
    picks = loud[:: max(1, loud.size // count)][:count]
    channels = samples.shape[1]
    forms = {
        "int16 interleaved (the WAV)": pcm_i16.astype("<i2").tobytes(),
        "int16 mono (the recogniser)": mono,
        "float32 interleaved (AudioBlock)": samples.astype("<f4").tobytes(),
        "float32 one channel": samples[:, 0].astype("<f4").tobytes(),
        "float64 one channel": samples[:, 0].astype("<f8").tobytes(),
    }
    width = {"int16 interleaved (the WAV)": 2 * channels, "int16 mono (the recogniser)": 2}
    width |= {"float32 interleaved (AudioBlock)": 4 * channels, "float32 one channel": 4, "float64 one channel": 8}
    needles = {k: [data[i * width[k] : i * width[k] + 32] for i in picks] for k, data in forms.items()}
    # the detector works: the WAV's own bytes hold its windows
    assert all(n in raw for n in needles["int16 interleaved (the WAV)"])
    assert all(len(set(n)) > 4 for ns in needles.values() for n in ns)  # real signal, not runs of zeros
    return needles
