"""The speech timeline on its own: the report's segments, when speech is announced, and the running talk totals.

Times sit on the 10 ms frame grid; blocks are cut at given frames to see what each one decided.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from listener.analytics.replay import activity, frame_blocks
from listener.analytics.timeline import Timeline
from listener.config import Config
from listener.events import EndOfStream, Event, SpeechSegment, SpeechStarted, TalkTotals
from tests.analytics_timelines import CUST, REP


def timeline(
    segments: list[tuple[str, float, float]], seconds: float, bounds: Sequence[int] = (), lag_s: float = 0.0
) -> list[list[Event]]:
    """What the timeline emits for each block of the stream (cut at ``bounds``), then at its end."""
    stage = Timeline(Config())
    blocks = frame_blocks(activity(segments, seconds), bounds=bounds)
    out = [list(stage.process(dataclasses.replace(block, lag_s=lag_s))) for block in blocks]
    return [*out, list(stage.process(EndOfStream(seconds)))]


def test_speech_is_announced_at_its_onset_in_the_frame_it_has_lasted_min_speech_s() -> None:
    # the customer from 1.0 s: known to be speech with the frame that ends at 1.1 s, not before
    before, known, rest, _ = timeline([("customer", 1.0, 3.0)], 5.0, bounds=[109, 110])
    assert [e for e in before if isinstance(e, SpeechStarted)] == []
    assert known == [SpeechStarted(party=CUST, onset_s=1.0)]
    assert [e for e in rest if isinstance(e, SpeechStarted)] == []


def test_a_gap_shorter_than_bridge_gap_s_is_bridged_and_one_as_long_is_not() -> None:
    # 0.15 s inside the customer's speech is bridged (the 0.1 s min_speech_s is no bridge); 0.2 s is not
    (events, end) = timeline(
        [("customer", 1.0, 3.0), ("customer", 3.15, 5.0), ("rep", 6.0, 7.0), ("rep", 7.2, 8.0)], 10.0
    )
    segments = [(e.party, e.start_s, e.end_s) for e in [*events, *end] if isinstance(e, SpeechSegment)]
    assert segments == [(CUST, 1.0, 5.0), (REP, 6.0, 7.0), (REP, 7.2, 8.0)]


def test_a_segment_is_decided_bridge_gap_s_after_its_last_frame_and_lag_s_later_still() -> None:
    """The rep's 2 s, then the customer's 1.5 s: each closes 0.2 s after its last active frame, the frame
    the activity reported 0.1 s late; the totals after each are the talk so far, from nothing."""
    (events, end) = timeline([("rep", 1.0, 3.0), ("customer", 4.0, 5.5)], 8.0, lag_s=0.1)
    assert end == []
    closed = [(e.party, e.start_s, e.end_s, round(e.decided_s, 9)) for e in events if isinstance(e, SpeechSegment)]
    assert closed == [(REP, 1.0, 3.0, 3.3), (CUST, 4.0, 5.5, 5.8)]
    totals = [
        (round(e.t_s, 9), round(e.rep_talk_s, 9), round(e.customer_talk_s, 9))
        for e in events
        if isinstance(e, TalkTotals)
    ]
    assert totals == [(3.3, 2.0, 0.0), (5.8, 2.0, 1.5)]


def test_speech_still_going_when_the_stream_ends_closes_then() -> None:
    (events, end) = timeline([("customer", 1.0, 3.9), ("rep", 2.0, 4.0)], 4.0)
    assert [(e.party, e.start_s, e.end_s) for e in events if isinstance(e, SpeechSegment)] == []
    closed = [(e.party, e.start_s, e.end_s, e.decided_s) for e in end if isinstance(e, SpeechSegment)]
    assert sorted(closed) == sorted([(CUST, 1.0, 3.9, 4.0), (REP, 2.0, 4.0, 4.0)])
    (last, *_) = [e for e in reversed(end) if isinstance(e, TalkTotals)]
    assert (last.t_s, round(last.rep_talk_s, 9), round(last.customer_talk_s, 9)) == (4.0, 2.0, 2.9)
