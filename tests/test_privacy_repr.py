"""What holds words or audio prints neither: a ``%r`` in a log line, an f-string in an error message or a
traceback's repr of an argument shows times and sizes, never what was said or the samples."""

from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from listener.errors import WordHandlingError
from listener.events import AudioBlock
from listener.transcription.lexicon import Lexicon, Stemmer, load_lexicon
from listener.transcription.recognizer import Chunk, pcm16
from listener.transcription.words import Word
from tests import asr_audio
from tests.asr_pipeline import asr_config, run_pipeline


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
    assert repr(block) == str(block) == "AudioBlock(start_s=2.0, sample_rate_hz=16000, not_numbers_s=0.0)"
    assert repr(chunk) == str(chunk) == "Chunk(start_s=2.0)"


@pytest.mark.parametrize(
    ("owner", "method"),
    # the cue detectors' stemmer; the language check's "is it a spoken word", which ran outside the guard and
    # put the word it failed on into the journal
    [(Stemmer, "__call__"), (Lexicon, "spoken")],
    ids=["stemmer", "language-check"],
)
def test_a_bug_met_while_words_are_handled_leaves_as_fixed_text(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    ko_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
    owner: type,
    method: str,
) -> None:
    """A plausible bug, a table lookup by the word (KeyError: '충전기는'), would put the word into the
    traceback the journal gets (Python's message quotes the key); the stage raises fixed text instead,
    naming the type and the code, without the original even as its context.

    The real recogniser hears the dialogue's first two lines through the real pipeline (a flat-out replay waits
    for all of it: the whole dialogue took twice as long); only the one method has the bug."""
    met: list[str] = []

    def lookup(self: object, word: str) -> str:
        met.append(word)
        return {}[word]  # type: ignore[index]

    monkeypatch.setattr(owner, method, lookup)
    config = asr_config(ko_model)  # in a state folder of its own, not the machine's service folder (the default)
    config = replace(config, service=replace(config.service, state_dir=str(tmp_path / "state")))
    with pytest.raises(WordHandlingError) as caught:
        run_pipeline(config, asr_audio.session_dialogue(tmp_path_factory, 2, 8.0)[0])
    assert met, "the recogniser's words never reached the planted bug: the test proves nothing"
    printed = "".join(traceback.format_exception(caught.value))
    assert "KeyError raised in test_privacy_repr.py" in printed and "(lookup)" in printed  # where to look
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    # nor does the pipeline's own log of the failing stage, as it flushes the others, quote it
    said = printed + caplog.text
    assert not [word for word in met if word in said]
