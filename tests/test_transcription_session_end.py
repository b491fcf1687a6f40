"""When the transcription stage lets a session's words go: on activity time, as the analytics end the session.

Audio reaches the stage ahead of the activity decided from it (the turn model's 0.1 s look-ahead, and more
when the pipeline falls behind). The words went on audio time: before the session-end flush handed the
session's last words over (the rep's closing echo was judged with nothing of the customer's held), and when
the customer spoke again just inside the gap. The real vosk recogniser runs; the audio fed it is silence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from listener.analytics.stage import ConversationAnalytics
from listener.analytics.timeline import Timeline
from listener.config import Config, geometry
from listener.events import (
    ActivityFrames,
    AudioBlock,
    EndOfStream,
    Event,
    Party,
    SessionEnded,
    TranscriptionSkipped,
)
from listener.pipeline import Pipeline, Stage
from listener.transcription.stage import TranscriptionStage
from listener.transcription.words import Word
from tests.asr_pipeline import asr_config

GAP_S, HOP_S, BLOCK_S, LAG_S = 5.0, 0.01, 0.05, 0.1
CUSTOMER = (0.5, 2.0)  # the customer's only speech: the session is over at 7.0 s of activity


def transcription(ko_model: Path, **analytics: float) -> tuple[Config, TranscriptionStage]:
    """The transcription stage with the real vosk recogniser, and its config: [analytics] as ``analytics``."""
    config = asr_config(ko_model, analytics=analytics)
    return config, TranscriptionStage(config, geometry(config))


def behind_the_timeline(ko_model: Path, **analytics: float) -> tuple[TranscriptionStage, Pipeline]:
    """The transcription stage behind the timeline that tells it the activity, as in the device's pipeline
    (not yet opened)."""
    config, stage = transcription(ko_model, **analytics)
    return stage, Pipeline([Timeline(config), stage])


def frames(start_s: float, customer_from_s: float | None = None) -> ActivityFrames:
    n = round(BLOCK_S / HOP_S)
    t = start_s + HOP_S * np.arange(n)
    customer = (t >= CUSTOMER[0]) & (t < CUSTOMER[1])
    if customer_from_s is not None:
        customer |= t >= customer_from_s
    probs = customer.astype(np.float32)
    zeros = np.zeros(n, dtype=np.float32)
    return ActivityFrames(start_s, HOP_S, np.zeros(n, bool), customer, zeros, probs, zeros, lag_s=LAG_S)


def holding_while_fed(ko_model: Path, until_s: float, customer_back_s: float | None = None) -> list[tuple[float, bool]]:
    """Audio blocks of silence to ``until_s``, each followed by the activity LAG_S behind it; whether the cue
    detector still holds the customer's words after each block, by the activity time reached (from 2.0 s on:
    the customer's words are handed to it as the recogniser would, once their session has begun)."""
    stage, pipeline = behind_the_timeline(ko_model, session_gap_s=GAP_S)
    held: list[tuple[float, bool]] = []
    with pipeline:
        silence = np.zeros((round(BLOCK_S * 16000), 4), np.float32)
        for k in range(round(until_s / BLOCK_S)):
            audio_s = k * BLOCK_S
            pipeline.feed(AudioBlock(audio_s, 16000, silence))
            activity_s = audio_s - LAG_S
            if activity_s >= 0.0:
                pipeline.feed(frames(activity_s, customer_back_s))
            if round(activity_s + BLOCK_S, 2) == CUSTOMER[1]:
                words = [Word("charger", 0.5, 1.0, 1.0), Word("broken", 1.2, 2.0, 1.0)]
                stage.detector.utterance(Party.CUSTOMER, words, decided_s=2.1)
            if activity_s + BLOCK_S >= CUSTOMER[1]:
                held.append((round(activity_s + BLOCK_S, 2), stage.detector.holding))
    return held


def test_the_words_go_once_the_session_is_over_in_activity_time(ko_model: Path) -> None:
    held = holding_while_fed(ko_model, 7.5)
    assert all(h for t, h in held if t < GAP_S + CUSTOMER[1]), held  # audio past 7.0 s, activity not yet
    assert not held[-1][1], held


def test_a_customer_back_just_inside_the_gap_keeps_the_sessions_words(ko_model: Path) -> None:
    held = holding_while_fed(ko_model, 7.5, customer_back_s=6.95)  # 4.95 s after their last word: one session
    assert all(h for _, h in held), held


def test_a_customer_back_in_the_frames_that_end_the_session_ends_it_first(ko_model: Path) -> None:
    """analyze hands the activity over in blocks of a second: the session ends at 7.0 s and the next visit's
    customer, back at 7.2 s, begins the next in the same block 6.5-7.5 s. The session ends before that block's
    audio goes to the recogniser, or the newcomer's first words would be flushed into it and forgotten with it;
    words said before the newcomer began that come back later are the ended session's (late)."""
    stage, pipeline = behind_the_timeline(ko_model, session_gap_s=GAP_S)
    submitted: list[tuple[bool, float]] = []  # at each submission: words held, and the late words' bound
    submit = stage._submit

    def submitting(blocks: list[AudioBlock]) -> Iterator[TranscriptionSkipped]:
        submitted.append((stage.detector.holding, stage._session_end_s))
        return submit(blocks)

    stage._submit = submitting  # type: ignore[method-assign]
    with pipeline:
        for k in range(round(6.5 / BLOCK_S)):
            pipeline.feed(frames(k * BLOCK_S))
            if round(k * BLOCK_S, 2) == CUSTOMER[1]:
                stage.detector.utterance(Party.CUSTOMER, [Word("charger", 0.5, 1.0, 1.0)], decided_s=2.1)
        assert stage.detector.holding  # 4.5 s after the customer's last word: the same visit
        submitted.clear()
        n = round(1.0 / HOP_S)
        t = 6.5 + HOP_S * np.arange(n)
        customer, zeros = t >= 7.2, np.zeros(n, np.float32)
        pipeline.feed(ActivityFrames(6.5, HOP_S, np.zeros(n, bool), customer, zeros, zeros, zeros))
        assert submitted == [(False, 7.2)]


def test_a_session_cut_at_session_max_s_lets_its_words_go_there(ko_model: Path) -> None:
    """A customer side that never falls silent (a radio): the analytics cut the session at session_max_s, and
    the words held for it went only at a silence that never came, kept (and the recogniser never renewed) for
    good. They go at each cut, on activity time, as at a session gap; the next session begins there."""
    max_s = 600.0
    _, stage = transcription(ko_model, session_max_s=max_s)
    n = round(1.0 / HOP_S)
    on, zeros = np.ones(n, bool), np.zeros(n, np.float32)
    held: list[tuple[float, bool]] = []
    with stage:
        for second in range(1300):
            if second in (0, 700):
                stage.detector.utterance(Party.CUSTOMER, [Word("charger", second, second + 0.5, 1.0)], second + 0.6)
            customer = on if second else np.arange(n) >= 50  # from 0.5 s on, never silent
            frames = ActivityFrames(float(second), HOP_S, np.zeros(n, bool), customer, zeros, zeros + 1, zeros)
            list(stage.process(frames))
            held.append((second + 1.0, stage.detector.holding))
    assert all(h for t, h in held if t < 0.5 + max_s) and not any(h for t, h in held if 0.5 + max_s < t < 700.0)
    assert all(h for t, h in held if 701.0 <= t < 0.5 + 2 * max_s) and not held[-1][1]


class Collect(Stage):
    name = "collect"

    def __init__(self, out: list[Event]) -> None:
        self.out = out

    def process(self, event: Event) -> list[Event]:
        self.out.append(event)
        return []


def customer_frames(start_s: float, block_s: float, pauses: list[tuple[float, float]]) -> ActivityFrames:
    """The customer speaking from 0.5 s on but in ``pauses``; the rep silent."""
    n = round(block_s / HOP_S)
    t = start_s + HOP_S * np.arange(n)
    customer = t >= 0.5
    for a, b in pauses:
        customer &= (t < a) | (t >= b)
    zeros = np.zeros(n, np.float32)
    return ActivityFrames(start_s, HOP_S, np.zeros(n, bool), customer, zeros, customer.astype(np.float32), zeros)


@pytest.mark.parametrize("block_s", [1.0, 0.05])  # analyze's blocks, and the live pipeline's
def test_the_transcription_cuts_sessions_where_the_analytics_do(ko_model: Path, block_s: float) -> None:
    """Each cut as the analytics make it at its frame: the customer speaking at the cut (who stops 0.3 s later,
    in the same block of a second), in a pause inside the bridge at the cut who never goes on (no session
    until they are back), and one who goes on within the bridge (the next session begins at their last speech
    before it, the pause theirs). The stage judged at the end of the block
    that held the cut, by then told the customer had stopped, or not yet: its next cut came seconds late
    (or early), the cut session's last words were not flushed before its summary, and the next session's
    cues began with the last one's words."""
    config, stage = transcription(ko_model, session_max_s=600.0)
    out: list[Event] = []
    pauses = [(600.8, 602.0), (1200.4, 1203.0), (1802.9, 1803.05)]
    ended_s: list[float] = []  # when the transcription stage took a session as over
    with Pipeline([Timeline(config), stage, ConversationAnalytics(config), Collect(out)]) as pipeline:
        for k in range(round(1810.0 / block_s)):
            pipeline.feed(customer_frames(k * block_s, block_s, pauses))
            if not ended_s or stage._session_end_s != ended_s[-1]:
                ended_s.append(stage._session_end_s)
        pipeline.feed(EndOfStream(1810.0))
    ends = [e for e in out if isinstance(e, SessionEnded)]
    assert [(e.onset_s, e.end_s) for e in ends] == [(0.5, 600.5), (600.5, 1200.4), (1203.0, 1802.9), (1802.9, 1810.0)]
    assert ended_s[1:] == [e.decided_s for e in ends[:3]] == [600.5, 1200.5, 1803.0]


Times = npt.NDArray[np.floating[Any]]
Active = npt.NDArray[np.bool_]


def renewals(
    ko_model: Path, block_frames: int, blocks: int, activity: Callable[[Times], tuple[Active, Active]]
) -> list[float]:
    """The activity times at which the recogniser was renewed, with session_max_s 600 s, fed ``blocks``
    blocks of ``block_frames`` frames whose (rep, customer) activity at frame times t is ``activity(t)``."""
    stage, pipeline = behind_the_timeline(ko_model, session_max_s=600.0)
    renewed_s: list[float] = []
    zeros = np.zeros(block_frames, np.float32)
    with pipeline:
        assert stage.worker is not None  # made as the stage opens
        renew = stage.worker.renew

        def renewing() -> None:
            renewed_s.append(stage.history.end_s)
            renew()

        stage.worker.renew = renewing  # type: ignore[method-assign]
        for block in range(blocks):
            start_s = round(block * block_frames * HOP_S, 2)
            rep, customer = activity(start_s + HOP_S * np.arange(block_frames))
            pipeline.feed(ActivityFrames(start_s, HOP_S, rep, customer, rep + zeros, customer + zeros, zeros))
    return renewed_s


def test_a_cut_with_the_customer_silent_renews_the_recogniser_once_and_begins_no_session(ko_model: Path) -> None:
    """The customer last spoke 10 s before the cut (the rep kept the session going): the recogniser is renewed
    at the cut, not again when the customer's silence reaches the session gap 20 s later, and no session is
    open after it, so none is cut at session_max_s after that."""
    renewed_s = renewals(ko_model, 100, 1300, lambda t: ((t >= 592.0) & (t < 605.0), (t >= 0.5) & (t < 590.0)))
    assert renewed_s == [601.0]


def test_a_cut_in_the_customers_last_pause_renews_the_recogniser_once(ko_model: Path) -> None:
    """The customer stops 0.1 s before the cut, inside the bridge, and never goes on; 50 ms blocks, as live:
    their stretch is decided after the cut, and its end, before the cut, ends nothing more when their silence
    reaches the session gap (the analytics have no session then either)."""
    renewed_s = renewals(ko_model, 5, 14000, lambda t: (np.zeros(t.size, bool), (t >= 0.5) & (t < 600.4)))
    assert renewed_s == [600.5]


def test_a_customer_back_in_the_last_frames_of_the_block_that_ends_the_session_still_ends_it(ko_model: Path) -> None:
    """In blocks of a second (analyze): the session is over at 32.5 s (the customer silent for the 30 s gap since
    2.5 s), and the next visit's customer begins at 32.95 s, in that block, but is announced as speech only in
    the next (at 33.05 s). The stage's own gap rule then took the newcomer's open burst for the last customer's,
    at the block's end and at the announcement alike: the session never ended here (no flush, no renewal, its
    words held into the next visit) while the analytics ended it at 32.5 s. It ends at the block's end now."""
    renewed_s = renewals(ko_model, 100, 40, lambda t: (np.zeros(t.size, bool), ((t >= 0.5) & (t < 2.5)) | (t >= 32.95)))
    assert renewed_s == [33.0]


def test_the_reps_words_before_any_customer_came_are_not_held_for_the_visit(ko_model: Path) -> None:
    """The rep talks (0.5-2.0 s) while no session is open, and no customer ever comes: what the cue detector
    took from the rep's words goes at the next audio block, so none of it (the rep's last words, whose turn it
    is) reaches the next visit's echoes and summaries."""
    stage, pipeline = behind_the_timeline(ko_model, session_gap_s=GAP_S)
    n = round(BLOCK_S / HOP_S)
    held: list[bool] = []
    with pipeline:
        silence = np.zeros((round(BLOCK_S * 16000), 4), np.float32)
        for k in range(round(3.0 / BLOCK_S)):
            pipeline.feed(AudioBlock(k * BLOCK_S, 16000, silence))
            t = k * BLOCK_S + HOP_S * np.arange(n)
            rep, zeros = (t >= 0.5) & (t < 2.0), np.zeros(n, np.float32)
            pipeline.feed(
                ActivityFrames(k * BLOCK_S, HOP_S, rep, np.zeros(n, bool), rep.astype(np.float32), zeros, zeros)
            )
            if round((k + 1) * BLOCK_S, 2) == 2.0:
                words = [Word("hello", 0.5, 1.0, 1.0), Word("there", 1.2, 2.0, 1.0)]
                stage.detector.utterance(Party.REP, words, decided_s=2.1)
                assert stage.detector.holding  # the rep's words, until the stage lets them go
            elif k * BLOCK_S >= 2.0:
                held.append(stage.detector.holding)
    assert held and not any(held), held
