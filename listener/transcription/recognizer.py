"""vosk's streaming recogniser in its own thread, behind a queue bounded in audio seconds.

The pipeline thread only appends a chunk and takes finished words, so the
recogniser holds up the LEDs only at a session end, and as audio comes for at
most REALTIME_FLUSH_S. When the recogniser falls
``queue_s`` behind, the oldest audio is skipped (and reported, so cues over
it are marked partial) - unless ``overflow`` is "wait", which the stage
chooses for a file read flat out, where waiting costs nobody anything.

vosk gives word times from the start of its stream; the worker keeps the
audio time of every chunk it fed, so skipped audio never shifts later
words. vosk releases the GIL while it decodes.

At a session end the stage has the recogniser finish the words of everything
queued so far and waits for them (:meth:`RecognizerWorker.flush`), so the
session's summary counts its last words: read flat out ("wait") as long as it
takes, as audio comes ("skip") at most REALTIME_FLUSH_S.

A vosk recogniser keeps native state from utterance to utterance and grows
for as long as it lives (with the Korean test model, about 100 MB in 20
minutes of visits and still climbing after an hour: bench.asr_memory); a fresh one costs 0.05-0.06 s
to build on the development machine (more on a Pi), against a second to load
the model. So the stage asks for a fresh recogniser at each session
end (:meth:`RecognizerWorker.renew`), which the worker builds at the next
gap in its audio, and the freed memory is handed back to the system.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from typing import Any, Literal

from listener.errors import ModelError
from listener.heap import release_freed_memory
from listener.lifecycle import Managed
from listener.transcription.chunk_queue import GAP_TOLERANCE_S, ChunkQueue, Pieces
from listener.transcription.chunk_queue import SAMPLE_BYTES as SAMPLE_BYTES  # re-exported: imported from here too
from listener.transcription.chunk_queue import SAMPLE_RATE_HZ as SAMPLE_RATE_HZ
from listener.transcription.chunk_queue import Chunk as Chunk
from listener.transcription.timemap import TimeMap
from listener.transcription.vosk_model import LOAD_FIX as LOAD_FIX  # re-exported: imported from here too
from listener.transcription.vosk_model import load_model as load_model
from listener.transcription.vosk_model import new_recognizer
from listener.transcription.vosk_model import pcm16 as pcm16
from listener.transcription.words import Word

log = logging.getLogger(__name__)

# No audio for this long (wall time) after some was fed: the stretch is over (the speech gate stops
# feeding between stretches), so its last words are finalised now instead of when speech comes back,
# maybe after the session's summary; longer than any stall of a healthy pipeline, so no utterance splits
IDLE_FINAL_S = 2.0
IDLE = object()  # _next's answer when the queue stayed empty for IDLE_FINAL_S
FLUSH = object()  # _next's answer once the audio queued before the oldest flush not yet answered is all fed
# A session end as audio comes (the customer left a session gap ago): the recogniser may finish what it was
# given for this long, so the summary counts the session's last words (a healthy one needs 0.1-0.3 s; the
# gate feeds no silence, so vosk would otherwise hold the utterance open); the lights wait no longer
REALTIME_FLUSH_S = 1.0
WAIT_RECHECK_S = 0.5  # submit() waiting for room looks again this often: the worker may have died meanwhile
CLOSE_JOIN_S = 5.0  # close() waits this long for a decode in progress, then leaves the daemon thread
HURRIED_CLOSE_JOIN_S = 0.5  # ... and this long after a hurry: the one who asked twice waits no more

# "skip" where audio comes as it happens (nobody may wait), "wait" where it is read flat out: decided by
# the stage from the source, never guessed from arrival times here (they cannot tell a late block from a fast one)
Overflow = Literal["skip", "wait"]


class RecognizerWorker(Managed):
    """Owns one vosk recogniser and the thread that feeds it (``with``: the thread runs inside)."""

    def __init__(self, model: Any, *, queue_s: float, overflow: Overflow) -> None:
        self.model = model
        self.queue_s = queue_s
        self.overflow = overflow
        self._cond = threading.Condition()
        self._queue = ChunkQueue(queue_s)
        self._results: deque[list[Word]] = deque()
        self._closing = False
        self._abort = False
        self._failed = False
        self._renew = 0  # fresh recognisers asked for (one a session end) and not yet built
        # Each flush (a session end) asked for and not yet answered, oldest first: the end of the audio queued then
        # (audio time; -inf if none was, and the worker's next step answers it). Answered there, in turn: one out of
        # time (REALTIME_FLUSH_S) is answered at its session's end all the same, not wherever the queue next runs
        # empty, in the middle of someone's words; nor does the next session's, asked for while the worker is
        # still behind the first, move it to its own end
        self._flush_until_s: deque[float] = deque()
        self._flushes_answered = 0
        self.renewals = 0  # fresh recognisers built after the first
        self._map = TimeMap()  # each fed chunk's start in vosk's stream time and in audio time
        self._thread: threading.Thread | None = None
        self.processed_s = 0.0  # audio time up to which recognition is done
        self._in_hand: Chunk | None = None  # the chunk being decoded: skipped, not lost, if given up midway
        self._unfinished_from_s: float | None = None  # audio time the utterance not yet in a result began
        # set under _cond as the thread ends: finish() waits on it, not on a join, which hurry() could not cut short
        self._done = False
        self._hurried = False  # hurry() was called: close() does not wait out a decode either

    @property
    def failed(self) -> bool:
        """The recogniser raised: this worker has stopped (the stage starts another at a session end)."""
        with self._cond:
            return self._failed

    def open(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vosk", daemon=True)
        self._thread.start()

    # --- pipeline thread -------------------------------------------------

    def submit(self, chunk: Chunk) -> list[Chunk]:
        """Queue ``chunk``; returns the chunks skipped to make room (oldest first)."""
        skipped: list[Chunk] = []
        with self._cond:
            if self._failed:
                return [chunk]
            while self._queue.full_for(chunk):
                if self._waiting_is_free():
                    self._cond.wait(WAIT_RECHECK_S)
                    continue
                skipped += self._queue.make_room(chunk)
            self._queue.append(chunk)
            self._cond.notify_all()
        return skipped

    def _waiting_is_free(self) -> bool:
        """Whether submit() may wait for room (call under the lock): with "wait", and never for a dead worker."""
        return self._alive() and self.overflow == "wait"

    def _alive(self) -> bool:
        """Whether the worker still recognises (call under the lock). Not once told to stop: its thread lives
        on until a decode in progress returns, and a hurry must not be kept waiting for that."""
        return not self._failed and not self._abort and self._thread is not None and self._thread.is_alive()

    def flush(self) -> bool:
        """Finish the words of everything queued so far (a session end); returns whether they are in.

        The recogniser ends its utterance after the queued audio, and this waits until it has: with
        ``overflow = "wait"`` (a file read flat out) as long as that takes, with "skip" (audio that comes as
        it happens) at most REALTIME_FLUSH_S. Words not in by then still come, late, from :meth:`take`, and the
        utterance still ends after the audio queued now, however much has been queued since.
        """
        with self._cond:
            if not self._alive():
                return False
            self._flush_until_s.append(self._queue.end_s)
            mine = self._flushes_answered + len(self._flush_until_s)  # answered once this many are
            self._cond.notify_all()
            deadline_s = math.inf if self.overflow == "wait" else time.monotonic() + REALTIME_FLUSH_S
            while self._flushes_answered < mine and self._alive():
                left_s = deadline_s - time.monotonic()
                if left_s <= 0:
                    return False
                self._cond.wait(min(WAIT_RECHECK_S, left_s))
            return self._flushes_answered >= mine

    def renew(self) -> None:
        """Continue with a fresh recogniser from the next gap in the audio fed (a session end).

        A gap, because the speech gate leaves one wherever nobody speaks: the
        renewal never splits an utterance. A stream with no gaps keeps its recogniser. Each call is one
        renewal: the next session's, asked for while the worker is still behind the first, is built at a later gap.
        """
        with self._cond:
            self._renew += 1
            self._cond.notify_all()

    def take(self) -> list[list[Word]]:
        """Words finished since the last call, one list per recogniser result, in time order."""
        with self._cond:
            out = list(self._results)
            self._results.clear()
        return out

    def finish(self, timeout_s: float) -> list[Chunk]:
        """Let the recogniser work through the queue for at most ``timeout_s``, or until :meth:`hurry`;
        returns what it did not recognise (the chunk it was decoding first)."""
        deadline_s = time.monotonic() + timeout_s
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            # not a join: a hurry must cut this wait short, even while vosk is deep in one decode
            while self._thread is not None and not self._done and not self._abort:
                left_s = deadline_s - time.monotonic()
                if left_s <= 0:
                    break
                self._cond.wait(left_s)
        return self._abandon()

    def take_given_up(self) -> tuple[float, float] | None:
        """Once: ``(start_s, end_s)`` of audio recognised but whose words were given up with their
        utterance, which the recogniser never finished (it failed, or a stop cut it short); None if none.

        The chunks themselves went through, so :meth:`finish` does not report them; the words did not.
        """
        with self._cond:
            start_s = self._unfinished_from_s
            if start_s is None or not (self._failed or self._abort):
                return None  # none, or an utterance still going
            self._unfinished_from_s = None
            # beginning in the chunk that was in hand, it is in that chunk's report already
            return (start_s, self.processed_s) if self.processed_s > start_s else None

    def hurry(self) -> None:
        """Stop recognising now (a stop asked for twice): :meth:`finish` returns at once.

        The words of the utterance in progress are given up; the audio not
        yet recognised stays accounted for, so that :meth:`finish` reports it skipped.
        """
        with self._cond:
            self._closing = self._abort = self._hurried = True
            self._cond.notify_all()

    def close(self) -> None:
        hurried = self._hurried
        self._abandon()
        if self._thread is not None:
            # the model outlives the thread (load_model keeps it), so leaving a stuck decode is safe
            self._thread.join(HURRIED_CLOSE_JOIN_S if hurried else CLOSE_JOIN_S)
        with self._cond:  # a decode the join left behind adds nothing after this: _emit drops what comes once _abort
            self._results.clear()

    def _abandon(self) -> list[Chunk]:
        with self._cond:
            self._closing = self._abort = True
            left = self._queue.take_all()
            if self._in_hand is not None:
                left.insert(0, self._in_hand)
            self._in_hand = None
            self._cond.notify_all()
        return left

    # --- worker thread ---------------------------------------------------

    def _run(self) -> None:
        try:
            self._recognise()
        except Exception:  # vosk's messages hold no words; never log a result
            log.exception("the recogniser failed: transcription stops until a session ends, cues are partial from here")
            with self._cond:
                self._failed = True
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _recognise(self) -> None:
        rec = new_recognizer(self.model)
        fed_samples = 0
        expected_s: float | None = None
        pending = False  # audio fed since the last final result
        pieces = Pieces()
        while (item := self._next(pending)) is not None:
            skipped = (
                isinstance(item, Chunk) and expected_s is not None and abs(item.start_s - expected_s) > GAP_TOLERANCE_S
            )
            if item is IDLE or item is FLUSH or skipped:
                self._final(rec, pieces.take_left())  # no word may span skipped audio, or wait for the next visit
                # the words to come are all in audio fed from now on: a stretch that gave none is forgotten too
                self._map.forget_before(fed_samples / SAMPLE_RATE_HZ)
                pending = False
                if item is FLUSH:
                    self._answer_flush()
                if self._take_renew():
                    del rec
                    release_freed_memory()
                    rec, fed_samples = new_recognizer(self.model), 0
                    self._map.clear()
                    self.renewals += 1
            if not isinstance(item, Chunk):
                continue
            self._map.add(fed_samples / SAMPLE_RATE_HZ, item.start_s)
            if not self._feed(rec, pieces.of(item)):
                return  # unfinished: still in hand, so finish() reports it skipped
            if (left := pieces.left) is not None:  # heard by no result yet: part of the utterance going on
                self._feeding(left.start_s)
            fed_samples += len(item.pcm) // SAMPLE_BYTES
            expected_s, pending = item.end_s, True
            self._done_with(item)
        if not self._abort:
            self._final(rec, pieces.take_left())

    def _feed(self, rec: Any, pieces: list[Chunk]) -> bool:
        """``pieces`` to vosk; False when stopped midway."""
        for piece in pieces:
            if self._abort:
                return False
            self._feeding(piece.start_s)
            if rec.AcceptWaveform(piece.pcm):
                self._emit(rec.Result())
        return True

    def _final(self, rec: Any, left: bytes) -> None:
        """The stretch's last audio short of a piece, then its words."""
        if left and rec.AcceptWaveform(left):
            self._emit(rec.Result())
        self._emit(rec.FinalResult())

    def _feeding(self, audio_s: float) -> None:
        with self._cond:
            if self._unfinished_from_s is None:
                self._unfinished_from_s = audio_s

    def _done_with(self, chunk: Chunk) -> None:
        with self._cond:
            if self._in_hand is chunk:  # not given up meanwhile (then it was reported skipped)
                self._in_hand = None
                self.processed_s = chunk.end_s

    def _answer_flush(self) -> None:
        with self._cond:
            self._flush_until_s.popleft()
            self._flushes_answered += 1
            self._cond.notify_all()

    def _take_renew(self) -> bool:
        with self._cond:
            if not self._renew:
                return False
            self._renew -= 1
            return True

    def _next(self, pending: bool) -> Chunk | object | None:
        """The next chunk; None once closing; IDLE when ``pending`` audio waited IDLE_FINAL_S for more;
        FLUSH once everything queued when the oldest flush not yet answered was asked for is fed."""
        deadline_s = time.monotonic() + IDLE_FINAL_S
        with self._cond:
            while True:
                # what is still queued, if anything, came after the session's end (flush() gave up waiting for it)
                if self._flush_until_s and not self._closing and self._queue.starts_at_or_after(self._flush_until_s[0]):
                    return FLUSH
                if self._queue or self._closing:
                    break
                left_s = deadline_s - time.monotonic()
                if pending and left_s <= 0:
                    return IDLE
                self._cond.wait(left_s if pending else None)
            if self._abort or not self._queue:
                return None
            chunk = self._in_hand = self._queue.popleft()
            self._cond.notify_all()
            return chunk

    def _emit(self, result_json: str) -> None:
        unreadable, items = "", []
        try:
            # vosk's fields only, read here; our own time mapping stays outside, so a bug of ours is not
            # reported as an unreadable result
            items = [
                (str(item["word"]), float(item["start"]), float(item["end"]), float(item.get("conf", 1.0)))
                for item in json.loads(result_json).get("result", [])
            ]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            unreadable = type(exc).__name__
        if unreadable:
            # Python's message quotes the value it could not read, which may be a word: fixed text only, raised
            # outside the except so the original is not even kept as __context__ (a crash reporter walks it)
            raise ModelError(
                f"the recogniser returned a result this listener cannot read ({unreadable}): use the "
                "vosk version in firmware/constraints.txt and a model `listener models fetch` installs"
            )
        words = [
            Word(text, self._map.audio_time(start), self._map.audio_time(end, end=True), conf)
            for text, start, end, conf in items
        ]
        if items:
            self._map.forget_before(items[-1][2])
        # at once, under the lock: a stop that finds the utterance over must find its words in, or it
        # reports neither them nor their audio (take_given_up, then take) and they are lost uncounted
        with self._cond:
            if self._abort:  # a stop came mid-decode: this audio is reported skipped or given up (its start stays
                return  # for take_given_up), or close() began; kept, the words were counted twice or outlived close
            self._unfinished_from_s = None
            if words:
                self._results.append(words)
