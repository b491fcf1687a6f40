"""The transcription stage: audio to the recogniser, timed words to parties, words to cues.

Sits after the activity decision (it needs :class:`ActivityFrames` to tell
who said each word, and steps them through the analytics' own session and
floor rules, :class:`SessionBounds`, to end each session where the analytics
end it and to give the cue detector the floors the analytics find) and
before the analytics stage (which uses the questions). Words come
back from the recogniser some time after they were spoken; each is
attributed to the party whose speech activity covers most of it, kept in a
short history of per-frame activity. Only counts and cue events leave the
stage; the words are dropped once handed to the cue detector, and what the
detector keeps is dropped at each session end (a customer silent for a
session gap, or ``session_max_s`` reached), while no session is open, and
at the end of the stream. Words that come back after their session ended
(the recogniser may lag longer than a session gap) are still counted, at
their own times, but never reach the detector of the session open by then, nor
do the late words of two sessions meet in one detector.
"""

from __future__ import annotations

import logging
import math
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from listener.analytics.sessions import SessionBounds, SessionEnd
from listener.config import ArrayGeometry, Config
from listener.errors import AudioFormatError, ModelMissingError, WordHandlingError
from listener.events import (
    ActivityFrames,
    AudioBlock,
    DeviceMode,
    DeviceState,
    EndOfStream,
    Event,
    Party,
    TranscriptionSkipped,
)
from listener.pipeline import Stage
from listener.transcription.cues import CueDetector
from listener.transcription.gate import SpeechGate
from listener.transcription.history import ActivityHistory
from listener.transcription.lag import LagNotice
from listener.transcription.language import WordLanguage, mismatch_fix, named_mismatch
from listener.transcription.lexicon import load_lexicon
from listener.transcription.models import is_model_dir, missing_model_hint, model_path
from listener.transcription.recognizer import (
    SAMPLE_RATE_HZ,
    Chunk,
    Overflow,
    RecognizerWorker,
    load_model,
    pcm16,
)
from listener.transcription.words import Word

log = logging.getLogger(__name__)

UTTERANCE_GAP_S = 0.8  # a pause this long inside one recogniser result still splits utterances
HISTORY_EXTRA_S = 60.0  # activity kept beyond the queue: the longest utterance the recogniser returns at once
# A failed recogniser is restarted at a session end, never mid-visit; after each failure in a row the
# number of session ends to wait doubles, up to this many, so one that keeps failing is tried rarely.
RESTART_MAX_WAIT_SESSIONS = 32
# sessions over whose words may still come back, kept apart: more than fit in the recogniser's longest lag
# ([asr] queue_s, at most 120 s); the oldest one dropped would only join its late words to the next one's cues
LATE_SESSIONS_KEPT = 64


class TranscriptionStage(Stage):
    """AudioBlock + ActivityFrames -> WordsRecognized, cue events, TranscriptionSkipped."""

    name = "transcription"

    def __init__(self, config: Config, geometry: ArrayGeometry, *, real_time: bool = False) -> None:
        """``real_time``: the audio comes as it happens (the array, or ``run --input`` paced), so nothing may
        wait for the recogniser; the default is a file read flat out (``analyze``, ``run --input --fast``)."""
        self.config = config
        self.asr = config.asr
        self.overflow = overflow_for(config.asr.overflow, real_time)
        self.real_time = real_time
        echo_min_words = config.analytics.echo_min_words
        self.detector = CueDetector(load_lexicon(config.asr.language), echo_min_words, self._customer_floor)
        # for the words of a session already over: their cues without the next session's state, nor it theirs
        self.late_detector = CueDetector(self.detector.lex, echo_min_words, self._customer_floor)
        # each session over whose words may still come back, oldest first: the audio time its words end before
        self._ended_before_s: deque[float] = deque(maxlen=LATE_SESSIONS_KEPT)
        self.model_path = model_path(config)
        self.word_language = WordLanguage(self.detector.lex, config, self.model_path)
        self.mix_channels = geometry.mode == "channels"
        self.history = ActivityHistory(config.asr.queue_s + HISTORY_EXTRA_S)
        self.gate = SpeechGate(config.asr.speech_pad_s) if config.asr.speech_only else None
        self.lag = LagNotice(config.asr.queue_s, config.asr.speech_only)
        self.worker: RecognizerWorker | None = None
        self._now_s = 0.0  # audio time the pipeline has reached
        self._fault_shown = False
        self._failures = 0  # recogniser failures since one last saw a session through
        self._restart_in = 0  # session ends to wait before the failed recogniser is restarted
        # the analytics' sessions, followed frame by frame: every session ends here where they end it
        self._bounds: SessionBounds | None = None

    def open(self) -> None:
        if not is_model_dir(self.model_path):
            raise ModelMissingError(
                f"no vosk model in {self.model_path}: {missing_model_hint(self.model_path, self.config)}"
            )
        if self.real_time and self.overflow == "wait":
            log.warning(
                '[asr] overflow = "wait" with audio that comes as it happens: a recogniser that falls %.0f s'
                " behind holds up the LEDs and MQTT until it catches up, and a wait longer than [array] buffer_s"
                ' loses audio; "auto" skips instead (cues partial)',
                self.asr.queue_s,
            )
        if (mismatch := named_mismatch(self.model_path, self.asr.language)) is not None:
            log.warning(
                "the vosk model at %s %s: %s", self.model_path, mismatch, mismatch_fix(self.config, self.model_path)
            )
        model = load_model(self.model_path)
        self.worker = self._new_worker(model)

    def _new_worker(self, model: Any) -> RecognizerWorker:
        worker = RecognizerWorker(model, queue_s=self.asr.queue_s, overflow=self.overflow)
        worker.open()
        return worker

    def hurry(self) -> None:
        worker = self.worker  # once: close() on the pipeline thread may be dropping it
        if worker is not None:
            worker.hurry()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        self.detector.forget()
        self.late_detector.forget()

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, ActivityFrames):
            self.history.add(event)
            before, after = _around_audio(self._ends(event))
            yield from self._sessions_ended(before, event.end_s)
            if self.gate is not None and self.worker is not None:
                yield from self._submit(self.gate.activity(event))
            yield from self._sessions_ended(after, event.end_s)
            self._forget_after_session()
        elif isinstance(event, AudioBlock) and self.worker is not None:
            self._now_s = max(self._now_s, event.end_s)
            yield from self._submit(self.gate.audio(event) if self.gate is not None else [event])
            self.lag.tick(self._now_s)
            yield from self._cues()
            # on activity time, as the analytics end the session: on audio time the words were dropped before the
            # session's end handed its last words over, and when the customer came back just inside the gap
            self._forget_after_session()
            yield from self._fault()
        elif isinstance(event, EndOfStream) and self.worker is not None:
            self._now_s = max(self._now_s, event.t_s)
            if self.gate is not None:
                yield from self._submit(self.gate.flush())
            yield from _skipped(self.worker.finish(self.asr.finish_wait_s))
            yield from self._given_up()
            yield from self._cues()
            self.detector.forget()
            yield from self._fault()  # a failure while the stream's last words were being finished too

    def _sessions_ended(self, ends: list[SessionEnd], frames_end_s: float) -> Iterator[Event]:
        """Before the analytics summarise each session: its last words, and a fresh recogniser (once per session
        end, so that its memory does not grow visit after visit; it takes over at the next gap in the audio, never
        in the middle of anyone's speech)."""
        for end in ends:
            if self.worker is None:
                return
            self.worker.renew()
            self.worker.flush()
            yield from self._cues()
            self._ended_before_s.append(_late_before_s(end, frames_end_s))  # words before this that come later are late
            yield from self._after_session()
            if self.detector.holding:  # the session's words go with it, whatever the next frames hold
                self.detector.forget()

    def _ends(self, frames: ActivityFrames) -> list[SessionEnd]:
        """The sessions that ended in ``frames``, as the analytics end them, frame by frame."""
        self._bounds = self._bounds or SessionBounds(self.config, frames)
        return self._bounds.frames(frames)

    def _customer_floor(self, t_s: float) -> float | None:
        """Where the customer's latest floor begun by ``t_s`` began, by the analytics' floor rules on the frames
        stepped so far (words come back after the frames that cover them)."""
        return None if self._bounds is None else self._bounds.floor_onset_s(Party.CUSTOMER, t_s)

    def _fault(self) -> Iterator[DeviceState | TranscriptionSkipped]:
        """Once, when the recogniser has failed: the lights and the state topic show it, and what it never
        recognised is reported skipped."""
        if self.worker is not None and self.worker.failed and not self._fault_shown:
            self._fault_shown = True
            self._failures += 1
            self._restart_in = min(2 ** (self._failures - 1), RESTART_MAX_WAIT_SESSIONS)
            detail = "the speech recogniser failed; transcription stopped until a session ends (see the journal)"
            yield DeviceState(t_s=self._now_s, mode=DeviceMode.FAULT, detail=detail, cause="transcription")
            # now, not at the stream's end: the summaries of the sessions until then are partial too
            yield from _skipped(self.worker.finish(0.0))
            yield from self._given_up()

    def _after_session(self) -> Iterator[DeviceState]:
        """At a session end: a recogniser that saw the session through is trusted again, and a failed one,
        its fault shown, is restarted once its wait is over; the next visit's cues are then whole."""
        worker = self.worker
        if worker is None or not worker.failed:
            self._failures = 0
            return
        if not self._fault_shown:  # failed since the last audio block: shown, and its wait set, at the next
            return
        self._restart_in -= 1
        if self._restart_in > 0:
            return
        worker.close()
        self.worker = self._new_worker(worker.model)
        self._fault_shown = False
        log.warning("the speech recogniser is restarted after %d failure(s) in a row", self._failures)
        detail = "the speech recogniser restarted"
        yield DeviceState(t_s=self._now_s, mode=DeviceMode.LISTENING, detail=detail, cause="transcription")

    def _given_up(self) -> Iterator[TranscriptionSkipped]:
        assert self.worker is not None
        if (span := self.worker.take_given_up()) is not None:
            yield TranscriptionSkipped(start_s=span[0], duration_s=span[1] - span[0])

    def _submit(self, blocks: list[AudioBlock]) -> Iterator[TranscriptionSkipped]:
        assert self.worker is not None
        for block in blocks:
            skipped = self.worker.submit(Chunk(block.start_s, self._mono_pcm(block)))
            # a whole queue_s behind (a failed recogniser skips everything, and says so as a fault)
            if skipped and not self.worker.failed:
                self.lag.skipped(sum(c.duration_s for c in skipped), self._now_s)
            yield from _skipped(skipped)

    def _forget_after_session(self) -> None:
        """While no session is open the words go: those of a session that ended, which the recogniser may
        return after its end, and any said between sessions."""
        if self._bounds is not None and not self._bounds.open and self.detector.holding:
            self.detector.forget()

    def _mono_pcm(self, block: AudioBlock) -> bytes:
        if block.sample_rate_hz != SAMPLE_RATE_HZ:
            raise AudioFormatError(
                f"audio blocks at {block.sample_rate_hz} Hz reached the recogniser, which needs {SAMPLE_RATE_HZ}"
                " Hz: this is a bug in the audio source, please report it"
            )
        # one mic is enough for words (who said them comes from activity); in channel-map
        # mode each party's own mic carries its words, so both are mixed
        x = block.samples.mean(axis=1) if self.mix_channels else block.samples[:, 0]
        return pcm16(x)

    def _cues(self) -> Iterator[Event]:
        assert self.worker is not None
        for result in self.worker.take():
            # counts and times only: a word never goes to a log, not even at debug level
            log.debug("recogniser result: %d words, %.2f-%.2f s", len(result), result[0].start_s, result[-1].end_s)
            yield from self._result_cues(result)
        self.late_detector.forget()  # late words are held no longer than this call

    def _result_cues(self, result: list[Word]) -> list[Event]:
        """The counts and cues of one recogniser result.

        Whatever goes wrong while its words are handled (a bug in the language check, the attribution, the lexicon,
        a detector)
        leaves as fixed text: Python's own message may quote the value it failed on, a word (``KeyError:
        'warranty'``), and a traceback goes to the journal. Raised outside the ``except``, so that the
        original is not even kept as the new error's context.
        """
        try:
            self.word_language.heard(result)  # it reads the words too
            out: list[Event] = []
            for party, words in self._utterances(result):
                late = self._late(words[-1].end_s)
                out.extend((self.late_detector if late else self.detector).utterance(party, words, self._now_s))
            return out
        except Exception as exc:
            failure = WordHandlingError(_where(exc))
        raise failure from None

    @property
    def _session_end_s(self) -> float:
        """Audio time before which the words that come back now are late: the latest session was over then."""
        return self._ended_before_s[-1] if self._ended_before_s else -math.inf

    def _late(self, end_s: float) -> bool:
        """Whether words ending at ``end_s`` were said in a session over before they came back.

        The recogniser returns words in time order: once a later session's come, the earlier sessions' are all in,
        and what the late detector holds of them goes. A recogniser more than a session behind returns the words of
        two sessions over together, and the rep of the second repeating what the customer of the first said was
        an echo.
        """
        ends = self._ended_before_s
        while len(ends) > 1 and end_s > ends[0]:  # the latest stays: it tells which words are late at all
            ends.popleft()
            self.late_detector.forget()
        return end_s <= self._session_end_s

    def _utterances(self, words: list[Word]) -> Iterator[tuple[Party, list[Word]]]:
        """Split one recogniser result where the speaker changes or the speech pauses."""
        party: Party | None = None
        current: list[Word] = []
        for word in words:
            who = self.history.party_of(word.start_s, word.end_s) or party
            if who is None:
                continue  # no activity known for it (cannot happen after the first frames)
            paused = bool(current) and word.start_s - current[-1].end_s > UTTERANCE_GAP_S
            if current and party is not None and (who is not party or paused):
                yield party, current
                current = []
            party = who
            current.append(word)
        if current and party is not None:
            yield party, current


def _where(exc: BaseException) -> str:
    """Fixed text about ``exc``: its type and the code it was raised in (file, line, function), no values."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" in {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})" if frames else ""
    return (
        f"{type(exc).__name__} raised{place} while the recogniser's words were handled (its message is not shown:"
        " it may quote a word); this is a bug, please report it"
    )


def _around_audio(ends: list[SessionEnd]) -> tuple[list[SessionEnd], list[SessionEnd]]:
    """The session ends of a block of frames to take before its audio goes to the recogniser, and after.

    The audio the speech gate lets go with the frames is the ended session's tail (the rep's closing words),
    and its words are the session's: they go first, and the flush at the end hands them over. When the next
    visit's customer began a session in the same frames (a block of a second, in analyze) that audio may hold
    their first words too; the session ends first then, or those words would be flushed into the ended session
    and forgotten with it. Not at a cut: the customer speaks through it, no gap between the sessions.
    """
    k = max((i + 1 for i, e in enumerate(ends) if e.next_onset_s is not None and not e.capped), default=0)
    return ends[:k], ends[k:]


def _late_before_s(end: SessionEnd, frames_end_s: float) -> float:
    """The words that end before this and come back after ``end`` was taken in are the ended session's (late):
    those said before the next session's onset; at a cut, before the cut (the next may begin at it); else
    before the end of the frames it ended in (no session begins before them)."""
    if end.capped:
        return end.decided_s
    return end.next_onset_s if end.next_onset_s is not None else frames_end_s


def overflow_for(setting: Overflow | Literal["auto"], real_time: bool) -> Overflow:
    """``[asr] overflow`` for a source: "auto" skips where the audio comes as it happens and waits where it
    is read flat out. Decided from the source, once: the arrival times of the audio the recogniser gets
    cannot tell a stalled pipeline catching up from a file read fast, nor its speech gate's lag from either."""
    if setting == "auto":
        return "skip" if real_time else "wait"
    return setting


def _skipped(chunks: list[Chunk]) -> Iterator[TranscriptionSkipped]:
    for chunk in chunks:
        yield TranscriptionSkipped(start_s=chunk.start_s, duration_s=chunk.duration_s)
