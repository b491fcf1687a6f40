"""Mending the samples of float WAVs that no recorder makes (used by :mod:`listener.audio.wav`), saying how much of
the file they are, and refusing a file that holds nothing but such samples."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from listener.errors import AudioFormatError, shown_path

log = logging.getLogger("listener.audio.wav")  # said as the WAV source's: the file's own warnings

FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
NUMBER_SCAN_FRAMES = 65536  # read at a time looking for samples that are not numbers


@dataclass(frozen=True, slots=True)
class NotNumbers:
    """How much of a float WAV is not numbers: ``frames`` of its ``total_frames`` hold a NaN or infinite sample
    (on any channel), the first at ``first_frame``; at ``rate_hz``."""

    frames: int
    first_frame: int
    total_frames: int
    rate_hz: int

    def first_s(self) -> float:
        return self.first_frame / self.rate_hz

    def said(self) -> str:
        """How much, as "12.0 s of its 27.6 s (43 %)", or "3 samples of its 27.6 s" for a few."""
        total_s = self.total_frames / self.rate_hz
        seconds = self.frames / self.rate_hz
        if seconds < 0.05:  # "0.0 s (0 %)" would read as none
            return f"{self.frames} sample{'s' if self.frames > 1 else ''} of its {total_s:.1f} s"
        share = 100.0 * self.frames / self.total_frames
        shown = "under 1" if share < 1.0 else "over 99" if 99.0 < share < 100.0 else f"{share:.0f}"
        return f"{seconds:.1f} s of its {total_s:.1f} s ({shown} %)"


def check_holds_numbers(f: sf.SoundFile, shown: str) -> None:
    """Refuse a float WAV none of whose samples is a number (all NaN or infinite): mended into silence, it
    passed for a recording from a muted input, and the advice was to unmute the mixer.

    Reads up to the first sample that is a number (in the first block, for any real recording), then goes back
    to the start: how much of the file is not numbers is counted only once the replay meets one (find_not_numbers),
    for reading a recording through before its first block costs as long as its replay's reads on an SD card.
    """
    if f.subtype not in FLOAT_SUBTYPES:
        return
    try:
        while (block := f.read(NUMBER_SCAN_FRAMES, dtype=_dtype(f))).size:
            if np.isfinite(block).any():
                return
    finally:
        f.seek(0)
    raise AudioFormatError(
        f"{shown} holds no numbers: every sample is NaN (not a number) or infinite, so it holds no audio:"
        " re-export the recording from the program that made it"
    )


def find_not_numbers(f: sf.SoundFile) -> NotNumbers | None:
    """How much of a float WAV is not numbers (None: every sample is one, or it is no float WAV), read through once;
    ``f`` is left where it was."""
    if f.subtype not in FLOAT_SUBTYPES:
        return None
    frames, first, read, at = 0, 0, 0, f.tell()
    f.seek(0)
    try:  # a read error, or no memory for a block, fails here too
        while (block := f.read(NUMBER_SCAN_FRAMES, dtype=_dtype(f), always_2d=True)).size:
            bad = ~np.isfinite(block).all(axis=1)
            if (count := int(bad.sum())) and not frames:
                first = read + int(np.argmax(bad))
            frames, read = frames + count, read + block.shape[0]
    finally:
        f.seek(at)
    return NotNumbers(frames, first, read, int(f.samplerate)) if frames else None


def _dtype(f: sf.SoundFile) -> str:
    return "float64" if f.subtype == "DOUBLE" else "float32"  # 1e300 in a double is a number


class Scrubber:
    """Float WAVs may hold samples no recorder makes: mend them, and say so once for each kind.

    NaN or infinite samples (a broken writer) become silence: one would
    otherwise spread through every filter and spectrum after it and end
    speech that is really there. Samples beyond full scale (an export that
    never normalised, 1e10 where 1.0 is the loudest) are clipped to it: left
    as they are, the energies overflow and the talk times are nonsense.
    """

    def __init__(self, path: Path, file: sf.SoundFile | None = None, channels: Sequence[int] = ()) -> None:
        self.shown = shown_path(path)
        self.file = file  # the one replayed: read through for how much of it is not numbers once one is met
        self.channels = list(channels)  # those handed on (all: none given)
        self.warned_not_numbers = False
        self.warned_too_loud = False

    def __call__(self, data: npt.NDArray[np.floating], at_s: float) -> tuple[npt.NDArray[np.floating], int]:
        """``data`` (read at ``at_s``) mended, and how many of its frames held no number on any channel handed on."""
        bad = ~np.isfinite(data)
        # silence on every channel handed on, not on some: a channel that is NaN throughout is a dead channel to the
        # channel watch, as in any recording (counted by any channel, every block was skipped and it said none)
        mended = int(bad[:, self.channels or slice(None)].all(axis=1).sum())
        if bad.any():
            if not self.warned_not_numbers:
                self.warned_not_numbers = True
                self._warn_not_numbers(at_s)
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
        return data, mended

    def _warn_not_numbers(self, at_s: float) -> None:
        """Said once, with how much of the file it is: the stretch is silence in the report, and the channel
        watch does not call it a muted recording."""
        known = find_not_numbers(self.file) if self.file is not None else None
        log.warning(
            "%s holds samples that are not numbers (NaN or infinite)%s, first near %.1f s: they are played as "
            "silence, and the rest is analysed as it is; re-export the recording to remove them",
            self.shown,
            f" in {known.said()}" if known is not None else "",
            known.first_s() if known is not None else at_s,
        )


def mended_in(block_samples: int, mended_frames: int, rate_hz: int, processing_rate_hz: int) -> tuple[float, int]:
    """The seconds of not-a-number audio a block of ``block_samples`` (at the processing rate) carries, and the
    frames (at ``rate_hz``) left for the next: soxr's blocks are uneven, so what one cannot hold goes with the
    next (dropped, 12 s at 44.1 kHz were said to be 10 s)."""
    mended_s = min(mended_frames / rate_hz, block_samples / processing_rate_hz)
    return mended_s, max(0, mended_frames - round(mended_s * rate_hz))
