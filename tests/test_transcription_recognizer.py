"""The recogniser worker on its own: chunks of the Korean dialogue (espeak-ng) fed straight to vosk's Korean model.

A renewed recogniser hears the next visit as the first heard its own; a stretch's last words come
out without waiting for more speech; a full queue gives up its oldest audio first.
"""

from __future__ import annotations

import difflib
import json
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.errors import ModelError
from listener.transcription.recognizer import (
    REALTIME_FLUSH_S,
    SAMPLE_RATE_HZ,
    Chunk,
    RecognizerWorker,
    load_model,
    pcm16,
)
from tests import asr_audio
from tests.waiting import wait_until


def test_a_renewed_recogniser_hears_the_next_session_as_the_first_heard_its_own(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]
) -> None:
    # the stage renews the recogniser at each session end, to keep its memory from growing visit
    # after visit: the words of the next visit must come out the same, at their own audio times
    from listener.heap import release_freed_memory

    samples, _ = sf.read(ko_dialogue[0], dtype="float32")
    pcm = pcm16(samples[:, 0])
    second_visit_s = 100.0
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="wait") as worker:
        worker.submit(Chunk(0.0, pcm))
        worker.renew()
        worker.submit(Chunk(second_visit_s, pcm))
        assert worker.finish(120.0) == []
        words = [w for result in worker.take() for w in result]
    assert worker.renewals == 1
    first = [w for w in words if w.end_s < second_visit_s]
    second = [w for w in words if w.start_s >= second_visit_s - 1.0]
    assert len(first) >= 10
    # the same words, at the same times within the visit (Kaldi's floating point may flip a word
    # or two between runs on a loaded machine: nearly all must match, each match in time)
    matcher = difflib.SequenceMatcher(a=[w.text for w in first], b=[w.text for w in second], autojunk=False)
    assert matcher.ratio() >= 0.9
    pairs = [(first[i + k], second[j + k]) for i, j, n in matcher.get_matching_blocks() for k in range(n)]
    assert len(pairs) >= 0.9 * len(first)
    for a, b in pairs:
        assert b.start_s - second_visit_s == pytest.approx(a.start_s, abs=0.05)
        assert b.end_s - second_visit_s == pytest.approx(a.end_s, abs=0.05)
    release_freed_memory()  # glibc here; a no-op where there is no malloc_trim


def test_the_last_words_before_a_pause_come_out_without_waiting_for_more_speech(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]
) -> None:
    """Between stretches the gate feeds nothing: the stretch's last words must not wait for the next visit."""
    from listener.transcription.recognizer import IDLE_FINAL_S

    samples, _ = sf.read(ko_dialogue[0], dtype="float32")
    pcm = pcm16(samples[: int(8.0 * SAMPLE_RATE_HZ), 0])  # ends mid-dialogue
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="wait") as worker:
        worker.submit(Chunk(0.0, pcm))
        words: list[object] = []
        deadline = time.monotonic() + 30.0 + IDLE_FINAL_S
        while time.monotonic() < deadline and not (words and worker.processed_s >= 8.0 - 1e-6):
            words += [w for result in worker.take() for w in result]
            time.sleep(0.2)
        # nothing more is fed: the stretch is over, and its last words come out after IDLE_FINAL_S of
        # that quiet (polled, with room for a loaded machine: finish() would give them anyway)
        deadline = time.monotonic() + IDLE_FINAL_S + 10.0
        while time.monotonic() < deadline and max((w.end_s for w in words), default=0.0) <= 6.0:  # type: ignore[attr-defined]
            time.sleep(0.1)
            words += [w for result in worker.take() for w in result]
        skipped = worker.finish(10.0)
    assert skipped == []
    last = max(w.end_s for w in words)  # type: ignore[attr-defined]
    assert last > 6.0, "the words up to the end of what was fed came out while no more audio came"


@pytest.mark.parametrize("overflow", ["wait", "skip"])
def test_a_flush_finishes_the_words_of_everything_queued_and_waits_only_where_waiting_is_free(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], overflow: str
) -> None:
    """A session end: with "wait" (a file read flat out) the words are in when flush returns; with "skip"
    (audio as it happens) it returns within REALTIME_FLUSH_S, done or not, and the words not in by then
    still follow, with no more audio fed."""
    samples, _ = sf.read(ko_dialogue[0], dtype="float32")
    pcm = pcm16(samples[: int(8.0 * SAMPLE_RATE_HZ), 0])  # ends mid-dialogue, nothing more comes
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow=overflow) as worker:  # type: ignore[arg-type]
        worker.submit(Chunk(0.0, pcm))
        t0 = time.monotonic()
        done = worker.flush()
        flush_s = time.monotonic() - t0
        words = [w for result in worker.take() for w in result]
        if overflow == "skip":
            assert flush_s < REALTIME_FLUSH_S + 0.2 and (done or flush_s >= REALTIME_FLUSH_S)
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline and not (words and max(w.end_s for w in words) > 6.0):
                words += [w for result in worker.take() for w in result]
                time.sleep(0.05)
        assert worker.finish(10.0) == []
    if overflow == "wait":
        assert done
    assert max(w.end_s for w in words) > 6.0, "the words up to the end of what was fed came out"


def test_a_full_queue_skips_its_oldest_audio_so_the_recogniser_catches_up_with_now(ko_model: Path) -> None:
    """When the recogniser lags a whole queue_s behind, the audio given up is the oldest: the cues
    then come from what is said now, not from a backlog ever further behind the conversation."""
    half_second = bytes(SAMPLE_RATE_HZ)  # 0.5 s of int16 mono: two bytes a sample
    worker = RecognizerWorker(load_model(ko_model), queue_s=1.0, overflow="skip")  # not yet taking audio
    try:
        chunks = [Chunk(0.5 * k, half_second) for k in range(5)]
        assert worker.submit(chunks[0]) == [] and worker.submit(chunks[1]) == []
        # down to half the queue at once: the recogniser goes on from one unbroken stretch, not from
        # scraps between chunks skipped one at a time (each decoded as an utterance: three times the words)
        assert worker.submit(chunks[2]) == chunks[:2]
        assert worker.submit(chunks[3]) == []
        assert worker.submit(chunks[4]) == chunks[2:4]
    finally:
        worker.close()


def test_a_stretchs_last_audio_short_of_a_piece_is_fed_at_its_end(
    ko_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vosk is fed whole 0.1 s pieces; what a stretch ends with short of one goes in with its final result,
    not dropped (its last syllable may be a word's end)."""
    import vosk

    fed_bytes: list[int] = []
    accept = vosk.KaldiRecognizer.AcceptWaveform

    def counted(rec: vosk.KaldiRecognizer, data: bytes) -> int:
        fed_bytes.append(len(data))
        return accept(rec, data)

    monkeypatch.setattr(vosk.KaldiRecognizer, "AcceptWaveform", counted)
    audio = bytes(31000)  # 9 whole pieces of 3200 bytes and 2200 over, in the service's 50 ms blocks
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="wait") as worker:
        for k, at in enumerate(range(0, len(audio), 1600)):
            worker.submit(Chunk(0.05 * k, audio[at : at + 1600]))
        assert worker.finish(30.0) == []
    assert sum(fed_bytes) == 31000


def a_minute_of_speech(dialogue: Path) -> list[Chunk]:
    """60 chunks of 1 s of speech: a recogniser a minute behind (7-8 s of work here)."""
    samples, _ = sf.read(dialogue, dtype="float32")
    pcm = pcm16(samples[:SAMPLE_RATE_HZ, 0])
    return [Chunk(float(k), pcm) for k in range(60)]


def test_a_finish_returns_as_soon_as_the_recogniser_is_done(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]
) -> None:
    """A clean stop waits for the words, not for finish_wait_s: the end of the worker wakes finish()."""
    chunks = a_minute_of_speech(ko_dialogue[0])[:5]
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="wait") as worker:
        for chunk in chunks:
            worker.submit(chunk)
        t0 = time.monotonic()
        assert worker.finish(60.0) == []
        # 5 s of speech takes about 0.7 s here, 11 s on two cores shared with other suites: under half
        # the wait, it was woken when the recogniser was done, not by the timeout
        assert time.monotonic() - t0 < 30.0
    assert worker.processed_s == pytest.approx(5.0)


def test_a_hurried_finish_returns_at_once_and_reports_the_audio_it_gave_up(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]
) -> None:
    """A stop asked for twice: finish() stops waiting for a recogniser that is a minute behind, and every
    second fed is either recognised or handed back as skipped (so the cues over it are marked partial)."""
    chunks = a_minute_of_speech(ko_dialogue[0])
    with RecognizerWorker(load_model(ko_model), queue_s=120.0, overflow="wait") as worker:
        for chunk in chunks:
            assert worker.submit(chunk) == []
        hurried_at: list[float] = []

        def hurry() -> None:
            hurried_at.append(time.monotonic())
            worker.hurry()

        threading.Timer(0.5, hurry).start()
        skipped = worker.finish(60.0)
        returned_at = time.monotonic()
    # what is left is at most the 0.1 s piece being decoded, and the result vosk may be finishing
    # (a loaded machine takes a second or two for one); the minute itself takes 5-10 s here
    assert hurried_at and returned_at - hurried_at[0] < 4.0, "finish() went on waiting after the hurry"
    assert skipped, "a minute of speech was recognised in half a second: the test proves nothing"
    done = chunks[: len(chunks) - len(skipped)]
    assert skipped == chunks[len(done) :]  # the rest, in order: none lost between recognised and skipped
    assert worker.processed_s == pytest.approx(skipped[0].start_s)  # the chunk cut off midway is among them


def test_a_hurry_reports_the_utterance_it_cut_short_whose_audio_went_through(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks recognised before a hurry are not in finish()'s report, but the words of the utterance
    still open then never come: take_given_up() hands back that audio, once (cues over it are partial)."""
    import vosk

    accept = vosk.KaldiRecognizer.AcceptWaveform
    # the real engine, with its endpointing off: the minute is one utterance, still open at the hurry
    monkeypatch.setattr(vosk.KaldiRecognizer, "AcceptWaveform", lambda self, data: bool(accept(self, data)) and False)
    chunks = a_minute_of_speech(ko_dialogue[0])
    with RecognizerWorker(load_model(ko_model), queue_s=120.0, overflow="wait") as worker:
        for chunk in chunks:
            worker.submit(chunk)
        wait_until(lambda: worker.processed_s >= 2.0, 60.0)
        assert worker.take_given_up() is None  # going on: nothing is lost yet
        worker.hurry()
        skipped = worker.finish(60.0)
        given_up = worker.take_given_up()
        again = worker.take_given_up()
    assert skipped, "the minute was recognised before the hurry: the test proves nothing"
    assert worker.processed_s >= 2.0 and worker.processed_s == pytest.approx(skipped[0].start_s)
    assert given_up is not None and again is None
    assert given_up[0] == 0.0 and given_up[1] == pytest.approx(worker.processed_s)
    assert worker.take() == []  # its words never came


def test_a_finish_out_of_time_reports_every_second_it_did_not_recognise(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]
) -> None:
    """finish_wait_s ran out (a stop while the recogniser lags): the chunk it was decoding is reported
    skipped with the queue behind it, not lost between what was recognised and what was given up."""
    chunks = a_minute_of_speech(ko_dialogue[0])
    with RecognizerWorker(load_model(ko_model), queue_s=120.0, overflow="wait") as worker:
        for chunk in chunks:
            worker.submit(chunk)
        skipped = worker.finish(0.5)
    assert skipped, "a minute of speech was recognised in half a second: the test proves nothing"
    assert skipped == chunks[len(chunks) - len(skipped) :]
    assert worker.processed_s == pytest.approx(skipped[0].start_s)  # the chunk cut off midway is among them


@pytest.mark.parametrize("how", ["out-of-time", "hurried"])
def test_a_decode_that_will_not_end_neither_holds_up_the_stop_nor_loses_its_chunk(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """finish() returns on time (or at the hurry) while vosk is deep in one decode, and the chunk it is
    decoding comes back first among the skipped: no second of audio unaccounted for."""
    import vosk

    accept = vosk.KaldiRecognizer.AcceptWaveform
    decoding = threading.Event()

    def slow_accept(rec: vosk.KaldiRecognizer, data: bytes) -> bool:
        # the real decode, made as slow as a Pi Zero ending an utterance (or a renewal) can be
        decoding.set()
        time.sleep(3.0)
        return bool(accept(rec, data))

    monkeypatch.setattr(vosk.KaldiRecognizer, "AcceptWaveform", slow_accept)
    chunks = a_minute_of_speech(ko_dialogue[0])[:5]
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="wait") as worker:
        for chunk in chunks:
            worker.submit(chunk)
        assert decoding.wait(30.0), "the worker never began decoding"  # it has taken the first chunk
        if how == "hurried":
            threading.Timer(0.2, worker.hurry).start()
        t0 = time.monotonic()
        skipped = worker.finish(0.2 if how == "out-of-time" else 60.0)
        finish_s = time.monotonic() - t0
    closed_s = time.monotonic() - t0
    assert finish_s < 2.0, "finish() waited for the decode"
    assert skipped == chunks and worker.processed_s == 0.0
    if how == "out-of-time":  # without a hurry, close() still gives the decode its time to end
        assert worker._thread is not None and not worker._thread.is_alive()
    if how == "hurried":  # nor does close(): the model outlives the thread, which is left to its decode
        assert closed_s < 2.0, "close() waited for the decode after a hurry"


@pytest.mark.parametrize(
    "item",
    [
        {"word": "warranty", "start": "warranty", "end": 1.0},  # Python's message would quote the value
        {"word": "warranty", "start": 0.5, "end": 1.0, "conf": "warranty"},
        {"word": "warranty", "start": 0.5},
    ],
)
def test_a_result_it_cannot_read_stops_transcription_without_quoting_it(
    ko_model: Path, item: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    """A vosk of another version may print its results differently: the error and its log say so in fixed
    words, for float('warranty') would put the recognised word into the journal."""
    worker = RecognizerWorker(load_model(ko_model), queue_s=1.0, overflow="skip")  # not yet taking audio
    try:
        with pytest.raises(ModelError) as info:
            worker._emit(json.dumps({"result": [item]}))
        assert "warranty" not in str(info.value) and "vosk version" in str(info.value)
        # nor is the original kept to be found: a crash reporter walks __context__ whatever a traceback prints
        assert info.value.__context__ is None and info.value.__cause__ is None
        try:
            worker._emit(json.dumps({"result": [item]}))
        except ModelError:
            logging.getLogger("test").exception("as the worker logs it")
        assert caplog.text and "warranty" not in caplog.text
    finally:
        worker.close()


@pytest.mark.parametrize("damage", asr_audio.RECOGNISER_DAMAGES)
def test_a_model_no_recogniser_can_be_built_from_does_not_load(tmp_path: Path, damage: str) -> None:
    """vosk.Model loads a model whose decoding graph is cut short, or whose i-vector extractor is gone;
    the recogniser the worker builds from it would fail on the first audio. The loader fails instead."""
    bad = asr_audio.damaged_model(tmp_path / "model", damage)
    with pytest.raises(ModelError) as info:
        load_model(bad)
    assert str(info.value) == (
        f"vosk could not load the model in {bad} (Failed to create a recognizer): "
        "fetch it again or point [asr] model_path elsewhere"
    )


def test_a_stretch_with_no_words_leaves_the_time_map_small_and_words_after_it_timed_right(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]]
) -> None:
    """With speech_only off a quiet counter feeds the recogniser block after block and it returns no word, the
    only thing that pruned its time map: one entry per 50 ms block, 72 000 an hour, until a word came."""
    block = SAMPLE_RATE_HZ // 20
    hiss = np.random.default_rng(0).normal(0.0, 0.003, 400 * block)  # 20 s of a quiet room
    samples, _ = sf.read(ko_dialogue[0], dtype="float32")
    speech = pcm16(samples[:, 0])
    piece = 2 * SAMPLE_RATE_HZ // 10  # as asr_audio.recognise feeds vosk: the same words
    visit_s = 100.0
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="wait") as worker:
        for k in range(400):
            worker.submit(Chunk(k / 20, pcm16(hiss[k * block : (k + 1) * block])))
        assert worker.flush() and worker.take() == []
        assert len(worker._map.stream_s) == 1, "an entry per block of a stretch that returned no words"
        worker.renew()  # a fresh recogniser hears the visit as asr_audio.recognise does
        for i in range(0, len(speech), piece):
            worker.submit(Chunk(visit_s + i / (2 * SAMPLE_RATE_HZ), speech[i : i + piece]))
        assert worker.finish(120.0) == []
        words = [w for result in worker.take() for w in result]
    direct = asr_audio.direct_words(ko_dialogue[0])
    assert len(direct) >= 10
    matcher = difflib.SequenceMatcher(a=[str(w["word"]) for w in direct], b=[w.text for w in words], autojunk=False)
    pairs = [(direct[i + k], words[j + k]) for i, j, n in matcher.get_matching_blocks() for k in range(n)]
    assert len(pairs) >= 0.9 * len(direct)
    for a, b in pairs:
        assert b.start_s - visit_s == pytest.approx(float(a["start"]), abs=0.05)
        assert b.end_s - visit_s == pytest.approx(float(a["end"]), abs=0.05)


def test_stretches_that_return_no_words_leave_the_time_map_small(
    ko_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each stretch the speech gate feeds starts an entry in the time map, pruned only behind the words a result
    hands back: sounds the activity decision takes for speech and the recogniser hears no words in (a fan, a
    till's beeps) added one entry per stretch until the next session end."""
    from listener.transcription import timemap

    monkeypatch.setattr(timemap, "MAP_KEEP", 4)  # entries kept behind: 4 stretches here, not 64
    quiet = bytes(2 * int(0.3 * SAMPLE_RATE_HZ))  # 0.3 s of silence: no words (50 ms of it may give one)
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="wait") as worker:
        for k in range(16):  # a stretch a second: a gap between each two
            worker.submit(Chunk(float(k), quiet))
        assert worker.flush() and worker.take() == []
        assert len(worker._map.stream_s) <= 5, f"{len(worker._map.stream_s)} entries for 16 stretches"
