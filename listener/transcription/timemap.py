"""The recogniser's stream time mapped back to audio time.

vosk gives word times from the start of the audio it was fed; the speech
gate and skipped audio leave holes that the fed stream does not have. The
map keeps where each unbroken stretch of fed chunks starts in both clocks, so a word lands at
the audio time it was said however much was left out before it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

TIME_SLACK_S = 0.005  # under vosk's 10 ms frame: float32 rounding, never a real frame
MAP_KEEP = 64  # stretch entries kept behind the last word handed out
# a chunk that starts this close to where the one before ends, in both clocks, continues its stretch (block edges
# are sums of floats); the worker itself calls a gap only past GAP_TOLERANCE_S (1 ms)
CONTIGUOUS_S = 1e-6


@dataclass
class TimeMap:
    """Where each unbroken stretch of fed chunks starts, in the recogniser's stream clock and in audio time."""

    stream_s: list[float] = field(default_factory=list)
    audio_s: list[float] = field(default_factory=list)

    def add(self, stream_s: float, audio_s: float) -> None:
        """A chunk fed from ``stream_s`` on, said at ``audio_s``; one that continues the stretch before it in
        both clocks maps as that stretch does, so it adds no entry: the entries are pruned only as words come
        back, and a stream that returns none (speech_only off on a quiet counter) added 20 a second."""
        if self.stream_s and abs((audio_s - self.audio_s[-1]) - (stream_s - self.stream_s[-1])) <= CONTIGUOUS_S:
            return
        self.stream_s.append(stream_s)
        self.audio_s.append(audio_s)

    def clear(self) -> None:
        """A fresh recogniser: its stream clock starts again at 0."""
        self.stream_s.clear()
        self.audio_s.clear()

    def audio_time(self, stream_s: float, end: bool = False) -> float:
        return audio_time_s(self.stream_s, self.audio_s, stream_s, end)

    def forget_before(self, stream_s: float) -> None:
        """Forget the chunks behind the last word handed out (later words start after it)."""
        i = bisect.bisect_right(self.stream_s, stream_s) - 1 - MAP_KEEP
        if i > 0:
            del self.stream_s[:i]
            del self.audio_s[:i]


def audio_time_s(map_stream_s: list[float], map_audio_s: list[float], stream_s: float, end: bool = False) -> float:
    """Recogniser time to audio time through the chunk map (each fed chunk's start in both clocks).

    vosk prints times from float32 (16.8 comes back as 16.799999): compared exactly, a word starting
    at a chunk's start would land in the chunk before and move back by the whole gap between them.
    A start at a boundary belongs to the chunk after it, an end to the chunk before it.
    """
    if end:
        i = bisect.bisect_left(map_stream_s, stream_s - TIME_SLACK_S) - 1
    else:
        i = bisect.bisect_right(map_stream_s, stream_s + TIME_SLACK_S) - 1
    i = max(0, i)
    return map_audio_s[i] + (stream_s - map_stream_s[i])
