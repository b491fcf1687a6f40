"""Mending the samples of float WAVs that no recorder makes (used by :mod:`listener.audio.wav`), and refusing a
file that holds nothing but such samples."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from listener.errors import AudioFormatError, shown_path

log = logging.getLogger("listener.audio.wav")  # said as the WAV source's: the file's own warnings

FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
NUMBER_SCAN_FRAMES = 65536  # read at a time looking for a sample that is a number


def check_holds_numbers(f: sf.SoundFile, shown: str) -> None:
    """Refuse a float WAV none of whose samples is a number (all NaN or infinite): mended into silence, it
    passed for a recording from a muted input, and the advice was to unmute the mixer.

    Reads up to the first sample that is a number (in the first block, for any real recording), then
    goes back to the start.
    """
    if f.subtype not in FLOAT_SUBTYPES:
        return
    dtype = "float64" if f.subtype == "DOUBLE" else "float32"  # 1e300 in a double is a number
    try:
        while (block := f.read(NUMBER_SCAN_FRAMES, dtype=dtype)).size:
            if np.isfinite(block).any():
                return
    finally:
        f.seek(0)
    raise AudioFormatError(
        f"{shown} holds no numbers: every sample is NaN (not a number) or infinite, so it holds no audio:"
        " re-export the recording from the program that made it"
    )


class Scrubber:
    """Float WAVs may hold samples no recorder makes: mend them, and say so once for each kind.

    NaN or infinite samples (a broken writer) become silence: one would
    otherwise spread through every filter and spectrum after it and end
    speech that is really there. Samples beyond full scale (an export that
    never normalised, 1e10 where 1.0 is the loudest) are clipped to it: left
    as they are, the energies overflow and the talk times are nonsense.
    """

    def __init__(self, path: Path) -> None:
        self.shown = shown_path(path)
        self.warned_not_numbers = False
        self.warned_too_loud = False

    def __call__(self, data: npt.NDArray[np.floating], at_s: float) -> npt.NDArray[np.floating]:
        bad = ~np.isfinite(data)
        if bad.any():
            if not self.warned_not_numbers:
                self.warned_not_numbers = True
                log.warning(
                    "%s holds samples that are not numbers (NaN or infinite), first near %.1f s: they are "
                    "played as silence; re-export the recording to remove them",
                    self.shown,
                    at_s,
                )
            data = np.where(bad, 0.0, data).astype(data.dtype, copy=False)
        peak = float(np.max(np.abs(data), initial=0.0))
        if peak > 1.0:
            if not self.warned_too_loud:
                self.warned_too_loud = True
                log.warning(
                    "%s holds samples beyond full scale, first near %.1f s (at least %.3g times it, %+.1f dB): "
                    "they are clipped to full scale; re-export the recording normalised to at most 1.0 (0 dBFS)",
                    self.shown,
                    at_s,
                    peak,
                    20.0 * math.log10(peak),
                )
            data = np.clip(data, -1.0, 1.0).astype(data.dtype, copy=False)
        return data
