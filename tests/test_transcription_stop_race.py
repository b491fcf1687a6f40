"""The recogniser's thread and a stop that gives it up: the words of a result it was handing over as the stop
came are either taken or reported given up, whichever way the two threads interleave; and a hurry ends every
wait of the pipeline thread for it, not only finish()'s; a result a decode hands over after the stop reported its audio
skipped or given up, or after close(), is dropped, neither counted twice nor left in memory."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from listener.transcription import recognizer
from listener.transcription.recognizer import SAMPLE_RATE_HZ, Chunk, RecognizerWorker, load_model, pcm16
from listener.transcription.timemap import TimeMap

CHUNK_S = 0.5


def test_a_result_handed_over_as_a_hurry_comes_is_taken_or_reported_given_up(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage, stopping, takes what was given up (finish, take_given_up) and then the words (take), while
    the recogniser's thread may be handing over a result. It said the utterance finished before its words
    were in: a stage that looked in between found neither, and the words were dropped at close() with no
    TranscriptionSkipped for them, so a visit's last words went uncounted with its summary whole."""
    samples, _ = sf.read(ko_dialogue[0], dtype="float32")
    pcm = pcm16(samples[:, 0])
    step = int(CHUNK_S * SAMPLE_RATE_HZ) * 2
    chunks = [Chunk(i / (2 * SAMPLE_RATE_HZ), pcm[i : i + step]) for i in range(0, len(pcm), step)]
    handing_over, stage_done = threading.Event(), threading.Event()
    first_word_s: list[float] = []
    audio_time = TimeMap.audio_time

    def held(self: TimeMap, stream_s: float, end: bool = False) -> float:
        # the recogniser's thread mapping its first result's words: the stage's stop comes now
        audio_s = audio_time(self, stream_s, end)
        if not first_word_s:
            first_word_s.append(audio_s)
            handing_over.set()
            stage_done.wait(30.0)
        return audio_s

    monkeypatch.setattr(TimeMap, "audio_time", held)
    with RecognizerWorker(load_model(ko_model), queue_s=120.0, overflow="wait") as worker:
        for chunk in chunks:
            worker.submit(chunk)
        assert handing_over.wait(60.0), "the recogniser returned no words"
        worker.hurry()  # as TranscriptionStage does at the end of the stream: finish, given up, then words
        skipped = worker.finish(60.0)
        given_up = worker.take_given_up()
        words = [w for result in worker.take() for w in result]
        stage_done.set()
    word_s = first_word_s[0]
    spans = [(c.start_s, c.end_s) for c in skipped] + ([given_up] if given_up is not None else [])
    taken = any(w.start_s == pytest.approx(word_s) for w in words)
    reported = any(a <= word_s < b for a, b in spans)
    assert taken or reported, f"the word at {word_s:.2f} s was neither taken nor given up: {spans}"


@pytest.mark.parametrize("waiting_in", ["flush", "submit"])
def test_a_hurry_cuts_short_a_wait_for_the_recogniser_while_it_is_deep_in_one_decode(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch, waiting_in: str
) -> None:
    """Read flat out ("wait"), the pipeline thread waits for the recogniser at a session end (flush) and for room
    in a full queue (submit). A stop asked for twice must end those waits as it ends finish()'s, even while vosk
    is deep in one decode: they waited on for the thread to end, which it does only once the decode returns."""
    import vosk

    accept = vosk.KaldiRecognizer.AcceptWaveform
    decoding = threading.Event()

    def slow_accept(rec: vosk.KaldiRecognizer, data: bytes) -> bool:
        decoding.set()  # the real decode, as slow as a Pi Zero ending an utterance can be
        time.sleep(3.0)
        return bool(accept(rec, data))

    monkeypatch.setattr(vosk.KaldiRecognizer, "AcceptWaveform", slow_accept)
    samples, _ = sf.read(ko_dialogue[0], dtype="float32")
    second = Chunk(0.0, pcm16(samples[:SAMPLE_RATE_HZ, 0]))
    with RecognizerWorker(load_model(ko_model), queue_s=2.0, overflow="wait") as worker:
        worker.submit(second)
        worker.submit(Chunk(1.0, second.pcm))
        worker.submit(Chunk(2.0, second.pcm))
        assert decoding.wait(30.0), "the worker never began decoding"
        threading.Timer(0.2, worker.hurry).start()
        t0 = time.monotonic()
        if waiting_in == "flush":
            assert not worker.flush()
        else:  # the queue holds 2 s: a third second finds no room
            assert worker.submit(Chunk(3.0, second.pcm))
        waited_s = time.monotonic() - t0
    assert waited_s < 2.0, f"{waiting_in}() went on waiting {waited_s:.1f} s after the hurry"


def _held_in_result(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event, list[str]]:
    """vosk's Result() as it is, held once until released: a decode still running when the stop comes."""
    import vosk

    result = vosk.KaldiRecognizer.Result
    holding, release = threading.Event(), threading.Event()
    held: list[str] = []

    def held_result(rec: vosk.KaldiRecognizer) -> str:
        text = str(result(rec))
        if not held and json.loads(text).get("result"):
            held.append(text)
            holding.set()
            release.wait(30.0)
        return text

    monkeypatch.setattr(vosk.KaldiRecognizer, "Result", held_result)
    return holding, release, held


def _dialogue_chunks(ko_dialogue: tuple[Path, list[dict[str, object]]]) -> list[Chunk]:
    samples, _ = sf.read(ko_dialogue[0], dtype="float32")
    pcm = pcm16(samples[:, 0])
    step = int(CHUNK_S * SAMPLE_RATE_HZ) * 2
    return [Chunk(i / (2 * SAMPLE_RATE_HZ), pcm[i : i + step]) for i in range(0, len(pcm), step)]


def test_a_result_a_decode_hands_over_after_close_is_not_kept(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() leaves a decode that outlasts its join: the result that decode hands over afterwards was kept,
    words in memory until the orphaned thread ended, long after the session they belonged to."""
    holding, release, held = _held_in_result(monkeypatch)
    monkeypatch.setattr(recognizer, "CLOSE_JOIN_S", 0.2)
    worker = RecognizerWorker(load_model(ko_model), queue_s=120.0, overflow="wait")
    worker.open()
    for chunk in _dialogue_chunks(ko_dialogue):
        worker.submit(chunk)
    assert holding.wait(60.0), "the recogniser returned no words"
    worker.close()
    release.set()
    assert worker._thread is not None
    worker._thread.join(30.0)
    assert held, "the held result had no words: the test proves nothing"
    assert worker.take() == [], "a result handed over after close() is still held"


def test_words_of_a_span_reported_given_up_are_not_taken_too(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """finish() ran out of time while vosk was ending an utterance, and take_given_up() reported that utterance's
    audio; the result that came afterwards was taken as well, its words counted inside a span reported skipped."""
    holding, release, held = _held_in_result(monkeypatch)
    with RecognizerWorker(load_model(ko_model), queue_s=120.0, overflow="wait") as worker:
        for chunk in _dialogue_chunks(ko_dialogue):
            worker.submit(chunk)
        assert holding.wait(60.0), "the recogniser returned no words"
        skipped = worker.finish(0.2)
        given_up = worker.take_given_up()
        release.set()
        assert worker._thread is not None
        worker._thread.join(30.0)
        words = [w for result in worker.take() for w in result]
    spans = [(c.start_s, c.end_s) for c in skipped] + ([given_up] if given_up is not None else [])
    assert held and spans, "nothing was reported given up: the test proves nothing"
    counted_twice = [w.start_s for w in words if any(a <= w.start_s < b for a, b in spans)]
    assert counted_twice == [], f"words at {counted_twice} s taken inside spans reported skipped: {spans}"
