"""Session-end flushes of the recogniser worker while it lags: each ends the utterance, and takes its fresh
recogniser, at its own session's end. The real vosk Korean model on the espeak-ng dialogue, the worker held
back in its own code or in vosk's, as a Pi falling behind would hold it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import soundfile as sf

from listener.transcription import recognizer
from listener.transcription.recognizer import SAMPLE_RATE_HZ, Chunk, RecognizerWorker, load_model, pcm16
from listener.transcription.words import Word
from tests.waiting import wait_until


def half_seconds(dialogue: Path, seconds: int) -> list[Chunk]:
    """The dialogue's first ``seconds`` of speech, unbroken, in chunks of 0.5 s (as the speech gate passes it)."""
    samples, _ = sf.read(dialogue, dtype="float32")
    pcm = pcm16(samples[: seconds * SAMPLE_RATE_HZ, 0])
    step = SAMPLE_RATE_HZ  # 0.5 s of int16 mono
    return [Chunk(i / (2 * SAMPLE_RATE_HZ), pcm[i : i + step]) for i in range(0, len(pcm), step)]


def hold_in_decode(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """The worker stops before its first piece of audio: set once it is there, and the event that lets it go on."""
    decoding, go_on = threading.Event(), threading.Event()
    feeding = RecognizerWorker._feeding

    def held(self: RecognizerWorker, audio_s: float) -> None:
        decoding.set()
        assert go_on.wait(30.0)
        feeding(self, audio_s)

    monkeypatch.setattr(RecognizerWorker, "_feeding", held)
    return decoding, go_on


def straddling(results: list[list[Word]], end_s: float) -> list[list[Word]]:
    """The results holding words from both sides of ``end_s`` (a first word may begin in the silence before it)."""
    return [r for r in results if r[0].start_s < end_s - 0.3 < r[-1].end_s - 0.3]


def test_a_flush_that_ran_out_of_time_still_ends_the_utterance_where_the_session_ended(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session end as audio comes: the recogniser is to end its utterance after the audio queued then, and take
    its fresh recogniser there, whether flush() saw it done or gave up waiting (REALTIME_FLUSH_S). Given up, the
    request stayed and was answered wherever the queue next ran empty: after speech queued since, in the middle of
    the next visit's words, which it split into two results and renewed the recogniser under."""
    chunks = half_seconds(ko_dialogue[0], 6)
    session, after = chunks[:4], chunks[4:]  # the session's last 2 s, then 4 s more as the flush waits
    decoding, go_on = hold_in_decode(monkeypatch)  # the worker is behind: the flush will not see it done in time
    renewed_at_s: list[float] = []
    monkeypatch.setattr(recognizer, "REALTIME_FLUSH_S", 0.2)
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="skip") as worker:
        monkeypatch.setattr(recognizer, "release_freed_memory", lambda: renewed_at_s.append(worker.processed_s))
        for chunk in session:
            worker.submit(chunk)
        assert decoding.wait(30.0)
        worker.renew()
        assert not worker.flush(), "the held worker finished the session in time"
        for chunk in after:
            worker.submit(chunk)
        go_on.set()
        # the pipeline goes on meanwhile: the fresh recogniser is built by the time the worker has caught up
        assert wait_until(lambda: renewed_at_s and worker.processed_s >= after[-1].end_s, 30.0)
        assert worker.finish(60.0) == []
        results = worker.take()
    assert renewed_at_s == [pytest.approx(session[-1].end_s)]
    # the session's words end with it: no result holds words from both sides of its end
    assert not straddling(results, session[-1].end_s)


def test_the_next_sessions_flush_asked_for_while_the_worker_lags_moves_no_earlier_sessions_end(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short sessions back to back, or a recogniser more than a session behind: the second session ends while the
    first's flush, out of time, is still waiting to be answered. It moved that flush to its own end: the first
    session's last words and the second's first came out as one result (their cues counted in one session) and
    one fresh recogniser was built for the two sessions."""
    chunks = half_seconds(ko_dialogue[0], 9)
    one, two, three = chunks[:4], chunks[4:8], chunks[8:]  # 0-2 s, 2-4 s, then the third session's 4-9 s
    decoding, go_on = hold_in_decode(monkeypatch)
    renewed_at_s: list[float] = []
    monkeypatch.setattr(recognizer, "REALTIME_FLUSH_S", 0.2)
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="skip") as worker:
        monkeypatch.setattr(recognizer, "release_freed_memory", lambda: renewed_at_s.append(worker.processed_s))
        for chunk in one:
            worker.submit(chunk)
        assert decoding.wait(30.0)
        for session in (two, three):  # the session before it ends as its audio comes
            worker.renew()
            assert not worker.flush(), "the held worker finished a session in time"
            for chunk in session:
                worker.submit(chunk)
        go_on.set()
        assert wait_until(lambda: worker.processed_s >= three[-1].end_s, 30.0)
        assert worker.finish(60.0) == []
        results = worker.take()
    ends_s = [one[-1].end_s, two[-1].end_s]
    assert renewed_at_s == [pytest.approx(end_s) for end_s in ends_s]
    assert not [r for end_s in ends_s for r in straddling(results, end_s)]
    # and nothing of any session is lost on the way
    for start_s, end_s in zip([0.0, *ends_s], [*ends_s, three[-1].end_s], strict=True):
        assert [r for r in results if start_s - 0.3 <= r[0].start_s and r[-1].end_s <= end_s + 0.3]


def test_a_flush_returns_once_its_own_session_is_done_not_at_an_earlier_flushs_answer(
    ko_model: Path, ko_dialogue: tuple[Path, list[dict[str, object]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next session's flush, asked for while the worker is finishing the first's utterance, waits for its own
    session's words. The first's answer ended it: it returned True with its session's audio not yet decoded."""
    import vosk

    final = vosk.KaldiRecognizer.FinalResult
    finishing, go_on = threading.Event(), threading.Event()

    def held_final(rec: vosk.KaldiRecognizer) -> str:
        if not finishing.is_set():  # the first session's end: a Pi ending a long utterance takes its time
            finishing.set()
            assert go_on.wait(30.0)
        return str(final(rec))

    monkeypatch.setattr(vosk.KaldiRecognizer, "FinalResult", held_final)
    chunks = half_seconds(ko_dialogue[0], 6)
    one, two = chunks[:4], chunks[4:]
    with RecognizerWorker(load_model(ko_model), queue_s=60.0, overflow="skip") as worker:
        for chunk in one:
            worker.submit(chunk)
        monkeypatch.setattr(recognizer, "REALTIME_FLUSH_S", 0.2)
        assert not worker.flush(), "the held worker finished the session in time"
        assert finishing.wait(30.0)
        for chunk in two:
            worker.submit(chunk)
        monkeypatch.setattr(recognizer, "REALTIME_FLUSH_S", 60.0)  # this one waits for its answer
        threading.Timer(0.2, go_on.set).start()
        assert worker.flush()
        done_s = worker.processed_s
        results = worker.take()
        assert worker.finish(60.0) == []
    assert done_s == pytest.approx(two[-1].end_s)
    assert max(r[-1].end_s for r in results) > two[0].start_s, "the second session's words were not in"
