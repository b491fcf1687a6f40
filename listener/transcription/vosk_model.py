"""The vosk model, loaded once per process, and the PCM the recogniser is fed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from listener.errors import ModelError
from listener.transcription.chunk_queue import SAMPLE_RATE_HZ

LOAD_FIX = "fetch it again or point [asr] model_path elsewhere"  # doctor gives a more precise one


# Kept for the process's life on purpose: a recogniser is renewed at every session's end (its memory
# grows), and loading the model again each time would cost seconds and its RSS twice over meanwhile.
@lru_cache(maxsize=2)
def load_model(path: Path) -> Any:
    """The vosk model in ``path``, loaded once per process. Never downloads anything."""
    import vosk

    vosk.SetLogLevel(-1)  # Kaldi's own log lines go to stderr otherwise
    try:
        model = vosk.Model(str(path))
        # vosk.Model accepts a decoding graph (graph/HCLr.fst) it could not read and a missing i-vector
        # extractor (ivector/): only a recogniser built from it fails. One built and dropped here makes such
        # a model fail at start-up and in doctor, not in the worker on the first audio (0.06 s on x86)
        vosk.KaldiRecognizer(model, SAMPLE_RATE_HZ)
        return model
    except Exception as exc:  # vosk raises a bare Exception
        raise ModelError(f"vosk could not load the model in {path} ({exc}): {LOAD_FIX}") from None


def pcm16(mono: npt.NDArray[np.floating[Any]]) -> bytes:
    """Float samples in [-1, 1] as the recogniser's mono int16 little-endian PCM (louder ones clipped)."""
    return np.asarray(np.clip(mono, -1.0, 1.0) * 32767.0, dtype="<i2").tobytes()
