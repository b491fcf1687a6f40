"""The audio waiting for the recogniser: its chunks, a queue bounded in audio seconds, how it makes room, and the
pieces the recogniser is fed.

It holds no lock of its own: the recogniser worker's condition guards it, together with the state that
decides when to wait for room and when to skip (:class:`listener.transcription.recognizer.RecognizerWorker`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

SAMPLE_RATE_HZ = 16000
SAMPLE_BYTES = 2  # mono int16
PIECE_BYTES = SAMPLE_BYTES * SAMPLE_RATE_HZ // 10  # vosk is fed 0.1 s at a time (its examples'), whatever the chunks
GAP_TOLERANCE_S = 1e-3
# a full queue skips down to this share of queue_s: a recogniser steadily behind then decodes long unbroken
# stretches between skips, where skipping a chunk at a time left it 50-150 ms scraps, each decoded as an
# utterance of its own, and it found three to four times the words that were said
SKIP_DOWN_TO_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Chunk:
    start_s: float
    pcm: bytes = field(repr=False)  # mono int16 little-endian at SAMPLE_RATE_HZ; audio: never printed

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / (SAMPLE_BYTES * SAMPLE_RATE_HZ)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


class ChunkQueue:
    """Chunks waiting for the recogniser, oldest first, holding at most ``queue_s`` of audio."""

    def __init__(self, queue_s: float) -> None:
        self.queue_s = queue_s
        self.queued_s = 0.0
        self._chunks: deque[Chunk] = deque()

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def full_for(self, chunk: Chunk) -> bool:
        """Whether ``chunk`` finds no room (an empty queue takes a chunk of any length)."""
        return bool(self._chunks) and self.queued_s + chunk.duration_s > self.queue_s + GAP_TOLERANCE_S

    def make_room(self, chunk: Chunk) -> list[Chunk]:
        """The oldest chunks, skipped until ``chunk`` and SKIP_DOWN_TO_SHARE of ``queue_s`` fit."""
        left_s = self.queue_s * SKIP_DOWN_TO_SHARE - chunk.duration_s
        skipped = []
        while self._chunks and self.queued_s > left_s + GAP_TOLERANCE_S:
            old = self._chunks.popleft()
            self.queued_s -= old.duration_s
            skipped.append(old)
        return skipped

    @property
    def end_s(self) -> float:
        """The end of the latest chunk queued; -inf while none is (any chunk queued later begins after what was)."""
        return self._chunks[-1].end_s if self._chunks else -math.inf

    def starts_at_or_after(self, audio_s: float) -> bool:
        """Whether every chunk still queued begins at ``audio_s`` or later (an empty queue: yes)."""
        return not self._chunks or self._chunks[0].start_s >= audio_s - GAP_TOLERANCE_S

    def append(self, chunk: Chunk) -> None:
        self._chunks.append(chunk)
        self.queued_s += chunk.duration_s

    def popleft(self) -> Chunk:
        chunk = self._chunks.popleft()
        self.queued_s -= chunk.duration_s
        return chunk

    def take_all(self) -> list[Chunk]:
        """Every chunk queued, oldest first; the queue is left empty."""
        left = list(self._chunks)
        self._chunks.clear()
        self.queued_s = 0.0
        return left


class Pieces:
    """A stretch's audio in whole pieces of PIECE_BYTES, whatever the chunks it comes in.

    vosk decides where an utterance ends at each piece it is given, and so its words: fed each 50 ms block of the
    service as it came, it heard other words than in analyze's 1 s blocks cut into 0.1 s pieces.
    """

    def __init__(self) -> None:
        self._left = Chunk(0.0, b"")  # the stretch's audio short of a piece, not yet fed

    def of(self, chunk: Chunk) -> list[Chunk]:
        """The whole pieces of what is left and ``chunk`` after it (the next audio of the stretch); keeps the rest."""
        audio = self._left.pcm + chunk.pcm
        start_s = chunk.start_s - self._left.duration_s
        whole = len(audio) - len(audio) % PIECE_BYTES
        self._left = Chunk(start_s + whole / (SAMPLE_BYTES * SAMPLE_RATE_HZ), audio[whole:])
        return [
            Chunk(start_s + i / (SAMPLE_BYTES * SAMPLE_RATE_HZ), audio[i : i + PIECE_BYTES])
            for i in range(0, whole, PIECE_BYTES)
        ]

    @property
    def left(self) -> Chunk | None:
        """The audio short of a piece, not yet fed (None: none)."""
        return self._left if self._left.pcm else None

    def take_left(self) -> bytes:
        """What is left, for the stretch's end; none is left after it."""
        left, self._left = self._left.pcm, Chunk(0.0, b"")
        return left
