"""Recognised words, as they exist inside the transcription stage only.

The text fields are kept out of ``repr`` so that a word that ends up in a
log line or a traceback by mistake shows its timing, never what was said.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Word:
    """One word as the recogniser gave it, in audio time (seconds from the stream's start)."""

    text: str = field(repr=False)
    start_s: float
    end_s: float
    conf: float = 1.0


@dataclass(frozen=True, slots=True)
class Token:
    """A normalised word (one piece of it when a contraction was expanded)."""

    norm: str = field(repr=False)
    stem: str = field(repr=False)
    start_s: float
    end_s: float
    content: bool  # a content word: not a stop word, filler or unknown
    filler: bool
