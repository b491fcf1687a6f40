"""The recogniser's queue, bounded in audio seconds (chunk_queue.py), without a recogniser behind it.

test_transcription_recognizer.py holds it to its rule with vosk, on a queue two chunks long, where skipping
down to half of it and skipping everything are the same; these use a longer one.
"""

from __future__ import annotations

import pytest

from listener.transcription.chunk_queue import PIECE_BYTES, ChunkQueue, Pieces
from listener.transcription.recognizer import SAMPLE_RATE_HZ, Chunk

HALF_S = bytes(SAMPLE_RATE_HZ)  # 0.5 s of mono int16


def chunks(n: int, from_s: float = 0.0) -> list[Chunk]:
    return [Chunk(from_s + 0.5 * k, HALF_S) for k in range(n)]


def test_a_full_queue_skips_its_oldest_audio_down_to_half_of_it_not_all_of_it() -> None:
    queue = ChunkQueue(queue_s=2.0)
    held = chunks(4)
    for c in held:
        assert not queue.full_for(c)
        queue.append(c)
    new = Chunk(2.0, HALF_S)
    assert queue.full_for(new)
    assert queue.make_room(new) == held[:3]  # 0.5 s left, and the new 0.5 s: half of queue_s
    queue.append(new)
    assert queue.queued_s == 1.0
    assert [queue.popleft(), queue.popleft()] == [held[3], new]
    assert not queue


def test_a_queue_emptied_at_once_holds_its_whole_queue_s_again() -> None:
    queue = ChunkQueue(queue_s=2.0)
    for c in chunks(4):
        queue.append(c)
    assert queue.take_all() == chunks(4)
    for c in chunks(4, from_s=10.0):
        assert not queue.full_for(c)
        queue.append(c)
    assert queue.full_for(Chunk(12.0, HALF_S))


def test_a_queue_ends_where_its_latest_chunk_ends_and_an_empty_one_before_any_chunk() -> None:
    """A flush waits for the audio queued when it was asked for: up to the queue's end, whatever went since."""
    queue = ChunkQueue(queue_s=2.0)
    assert queue.end_s == float("-inf") and queue.starts_at_or_after(queue.end_s)
    held = chunks(4)
    for c in held:
        queue.append(c)
    assert queue.end_s == 2.0 and not queue.starts_at_or_after(queue.end_s)
    new = Chunk(2.0, HALF_S)
    assert queue.make_room(new) == held[:3]  # the oldest go, the end stays
    assert queue.end_s == 2.0
    queue.append(new)
    assert queue.popleft() == held[3]
    assert queue.end_s == 2.5 and not queue.starts_at_or_after(2.5)
    queue.popleft()
    assert queue.end_s == float("-inf") and queue.starts_at_or_after(-1.0)


def test_the_recogniser_is_fed_the_same_pieces_whatever_the_chunks() -> None:
    """vosk's words change with the pieces it is given: 50 ms blocks (the service) and 1 s ones (analyze) must
    give it the same 0.1 s pieces, each at its own audio time, the last short one kept for the stretch's end."""
    audio = bytes(range(256)) * 125  # 1 s of mono int16, no two pieces alike
    fed = {}
    for chunk_bytes in (1600, 32000, 3000):
        pieces = Pieces()
        got = [
            p
            for i in range(0, 31000, chunk_bytes)
            for p in pieces.of(Chunk(10.0 + i / 32000, audio[i : i + chunk_bytes][: 31000 - i]))
        ]
        left = pieces.left
        assert left is not None and left.start_s == pytest.approx(10.9)
        fed[chunk_bytes] = [(round(p.start_s, 6), p.pcm) for p in got] + [(round(left.start_s, 6), pieces.take_left())]
        assert pieces.left is None
    assert fed[1600] == fed[32000] == fed[3000]
    assert [len(pcm) for _, pcm in fed[1600]] == [PIECE_BYTES] * 9 + [31000 - 9 * PIECE_BYTES]
    assert [t for t, _ in fed[1600]] == [round(10.0 + 0.1 * k, 6) for k in range(10)]
