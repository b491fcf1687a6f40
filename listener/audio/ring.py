"""A bounded ring of captured frames between the capture callback and the pipeline.

The writer (PortAudio's callback thread) never waits: what does not fit is
dropped and remembered as a :class:`Gap` at its place in the stream, so the
reader meets audio and gaps in stream order and the stream clock can count
lost frames as well as delivered ones.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from listener.events import DropReason

Frames = npt.NDArray[np.int16]

# Where audio was lost. Both are an "overflow" to the pipeline, but the fixes differ: a full ring means the
# reader (the pipeline) is too slow; a driver loss means PortAudio's capture thread came too late.
LossCause = Literal["ring_full", "driver"]


@dataclass(frozen=True, slots=True)
class Gap:
    """``frames`` frames lost at stream position ``start_frame`` (frames since the ring was made); 0: how many is
    not known."""

    start_frame: int
    frames: int
    reason: DropReason
    cause: LossCause


class FrameRing:
    """Fixed-capacity FIFO of int16 frames (n, channels) with gap markers; thread-safe."""

    def __init__(self, capacity_frames: int, channels: int) -> None:
        if capacity_frames < 1 or channels < 1:
            raise ValueError("a ring needs room for at least one frame of at least one channel")
        self._buf: Frames = np.zeros((capacity_frames, channels), dtype=np.int16)
        self._ready = threading.Condition()
        self._head = 0  # buffer index of the oldest stored frame
        self._stored = 0
        self._write_frame = 0  # stream position after everything written or lost so far
        self._read_frame = 0
        self._gaps: deque[Gap] = deque()
        self._woken = False
        self.overflow_count = 0  # overflow incidents: consecutive losses count once
        self.dropped_frames = 0

    @property
    def capacity_frames(self) -> int:
        return int(self._buf.shape[0])

    @property
    def channels(self) -> int:
        return int(self._buf.shape[1])

    @property
    def written_frames(self) -> int:
        """Stream position after everything written or lost so far: the capture side's clock."""
        with self._ready:
            return self._write_frame

    @property
    def stored_frames(self) -> int:
        with self._ready:
            return self._stored

    def write(self, frames: Frames) -> int:
        """Store what fits; the rest becomes an overflow gap. Returns the frames dropped."""
        with self._ready:
            n = min(self.capacity_frames - self._stored, frames.shape[0])
            if n > 0:
                self._put(frames[:n])
            dropped = frames.shape[0] - n
            if dropped > 0:
                self._add_gap(dropped, "overflow", "ring_full")
            self._ready.notify_all()
            return dropped

    def lose(self, frames: int, reason: DropReason) -> None:
        """Record frames that never reached the writer (e.g. PortAudio reported an overrun): a driver loss.

        An overflow of unknown size (``frames`` 0) is a gap of no frames: the clock cannot count it, but
        the reader meets it in its place and can say it happened."""
        with self._ready:
            if frames > 0 or reason == "overflow":
                self._add_gap(frames, reason, "driver")
            self._ready.notify_all()

    def read(self, max_frames: int, timeout_s: float) -> Frames | Gap | None:
        """The next stored frames (at most ``max_frames``, never across a gap), or the next gap.

        Waits up to ``timeout_s`` when empty; None when nothing came or :meth:`wake` was called.
        """
        with self._ready:
            if not self._stored and not self._gaps and not self._woken:
                self._ready.wait(timeout_s)
            self._woken = False
            if self._gaps and self._gaps[0].start_frame == self._read_frame:
                gap = self._gaps.popleft()
                self._read_frame += gap.frames
                return gap
            n = min(self._stored, max_frames)
            if self._gaps:
                n = min(n, self._gaps[0].start_frame - self._read_frame)
            if n <= 0:
                return None
            return self._take(n)

    def wake(self) -> None:
        """Make a waiting :meth:`read` return now (used to stop the reader)."""
        with self._ready:
            self._woken = True
            self._ready.notify_all()

    def _put(self, frames: Frames) -> None:
        cap, n = self.capacity_frames, frames.shape[0]
        start = (self._head + self._stored) % cap
        first = min(n, cap - start)
        self._buf[start : start + first] = frames[:first]
        self._buf[: n - first] = frames[first:]
        self._stored += n
        self._write_frame += n

    def _take(self, n: int) -> Frames:
        cap = self.capacity_frames
        first = min(n, cap - self._head)
        out = np.concatenate([self._buf[self._head : self._head + first], self._buf[: n - first]])
        self._head = (self._head + n) % cap
        self._stored -= n
        self._read_frame += n
        return out

    def _add_gap(self, frames: int, reason: DropReason, cause: LossCause) -> None:
        last = self._gaps[-1] if self._gaps else None
        if (
            last is not None
            and (last.reason, last.cause) == (reason, cause)
            and last.start_frame + last.frames == self._write_frame
        ):
            self._gaps[-1] = Gap(last.start_frame, last.frames + frames, reason, cause)
        else:
            self._gaps.append(Gap(self._write_frame, frames, reason, cause))
            if reason == "overflow":
                self.overflow_count += 1
        self._write_frame += frames
        self.dropped_frames += frames
