"""The vosk model, loaded once per process, and the PCM the recogniser is fed."""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from listener.errors import ModelError
from listener.transcription.chunk_queue import SAMPLE_RATE_HZ

LOAD_FIX = "fetch it again or point [asr] model_path elsewhere"  # doctor gives a more precise one

# Kaldi dithers each frame (frame-extraction option dither, 1.0 unless the model's mfcc.conf says otherwise)
# with noise seeded from the C library's rand(), one draw a frame. Unseeded, a recogniser's words hung on how
# many numbers the recognisers before it had drawn: the same 21 s of Korean gave "어느" after one history and
# "엄" after another, a 3.5 s piece three different transcripts for six seeds. Seeding as each recogniser
# starts makes its words a function of its audio alone; dither stays on, as the model was trained with it.
# Holds while one recogniser decodes at a time in the process (one worker): two would share the draws.
DITHER_SEED = 1
_LIBC = ctypes.CDLL(None)  # the process's C library: the rand() libvosk.so draws from


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


def new_recognizer(model: Any) -> Any:
    """A vosk recogniser for ``model`` giving word times, whose words depend on the audio it is fed alone."""
    import vosk

    _LIBC.srand(DITHER_SEED)
    rec = vosk.KaldiRecognizer(model, SAMPLE_RATE_HZ)
    rec.SetWords(True)
    return rec


def pcm16(mono: npt.NDArray[np.floating[Any]]) -> bytes:
    """Float samples in [-1, 1] as the recogniser's mono int16 little-endian PCM (louder ones clipped)."""
    return np.asarray(np.clip(mono, -1.0, 1.0) * 32767.0, dtype="<i2").tobytes()
