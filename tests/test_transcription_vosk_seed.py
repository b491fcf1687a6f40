"""A vosk recogniser hears the same words in the same audio, wherever the process's C generator stood.

Kaldi dithers every frame with noise drawn from the C library's rand(): unseeded, the recognisers before one
(or any other code drawing) decided its words, so a test's expected words hung on the tests run before it
and a device's cue counts on its history.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import soundfile as sf

from listener.transcription.vosk_model import load_model
from tests import asr_audio

# a piece of the dialogue whose words move with the dither: unseeded, C seeds 1 to 10 gave five transcripts
# (of 7 and 9 words)
PIECE_S = (7.8, 11.3)


def test_earlier_draws_leave_the_words_alone(ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]) -> None:
    samples, _ = sf.read(ko_dialogue[0], dtype="float32")
    first, last = (round(t_s * asr_audio.RATE_HZ) for t_s in PIECE_S)
    model = load_model(ko_model)
    libc = ctypes.CDLL(None)
    heard = []
    for seed in (1, 2, 3):  # where earlier recognisers or other code left the generator
        libc.srand(seed)
        words = asr_audio.recognise(model, samples[first:last, 0])  # through the listener's new_recognizer
        heard.append([(w["word"], w["start"], w["end"]) for w in words])
    assert len(heard[0]) >= 4, f"the piece should hold speech: {heard[0]}"
    assert heard[1] == heard[0] and heard[2] == heard[0], heard
