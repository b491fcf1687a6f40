"""What holds words or audio prints neither: a ``%r`` in a log line, an f-string in an error message or a
traceback's repr of an argument shows times and sizes, never what was said or the samples."""

from __future__ import annotations

import numpy as np

from listener.events import AudioBlock
from listener.transcription.lexicon import load_lexicon
from listener.transcription.recognizer import Chunk, pcm16
from listener.transcription.words import Word


def test_words_and_tokens_print_their_times_not_their_text() -> None:
    words = [Word("warranty", 1.0, 1.5), Word("chargers", 1.6, 2.1)]
    tokens = load_lexicon("en").tokens(words)
    assert tokens, "the lexicon made no tokens: the test proves nothing"
    printed = repr(words) + repr(tokens) + str(words) + f"{tokens}"
    assert "warranty" not in printed and "charg" not in printed
    assert "start_s=1.0" in printed


def test_audio_blocks_and_recogniser_chunks_print_no_samples() -> None:
    samples = np.random.default_rng(1).uniform(-0.5, 0.5, (1600, 4)).astype(np.float32)
    block = AudioBlock(start_s=2.0, sample_rate_hz=16000, samples=samples)
    chunk = Chunk(2.0, pcm16(samples[:, 0]))
    assert repr(block) == str(block) == "AudioBlock(start_s=2.0, sample_rate_hz=16000)"
    assert repr(chunk) == str(chunk) == "Chunk(start_s=2.0)"
