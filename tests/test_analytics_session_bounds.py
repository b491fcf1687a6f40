"""SessionBounds, the analytics' session rules for a stage before them (the transcription), on frames with gaps.

Times sit on the 10 ms frame grid, so "exactly at the threshold" is exact.
"""

from __future__ import annotations

import dataclasses

from listener.analytics.replay import activity, frame_blocks
from listener.analytics.sessions import SessionBounds, SessionEnd
from listener.analytics.stage import ConversationAnalytics
from listener.events import ActivityFrames, SessionEnded, SessionStarted
from tests.analytics_timelines import CONFIG


def blocks_with_a_gap(gap_from_s: float, gap_to_s: float, seconds: float) -> list[ActivityFrames]:
    """The customer speaking 0.5-5.0 s and from 40.0 s; the frames of the gap never delivered (audio lost)."""
    segments = [("customer", 0.5, 5.0), ("customer", 40.0, 50.0)]
    bounds = [round(gap_from_s * 100), round(gap_to_s * 100)]
    blocks = list(frame_blocks(activity(segments, seconds), bounds=bounds))
    return [b for b in blocks if not gap_from_s <= b.start_s < gap_to_s]


def test_frames_missing_between_blocks_are_silence_to_the_bounds_as_to_the_analytics() -> None:
    """The audio of 5-40 s never came: both step it as nobody speaking, so the customer's 30 s of silence end
    the session at 35.0 s in each, and the customer's words at 40.0 s begin the next one in those same frames."""
    blocks = blocks_with_a_gap(5.0, 40.0, 55.0)
    assert [b.start_s for b in blocks] == [0.0, 40.0]
    bounds = SessionBounds(CONFIG, blocks[0])
    assert [bounds.frames(b) for b in blocks] == [[], [SessionEnd(35.0, False, 40.0)]]
    assert bounds.open
    analytics = ConversationAnalytics(CONFIG)
    out = [e for b in blocks for e in analytics.process(b)]
    assert [(e.end_s, e.decided_s) for e in out if isinstance(e, SessionEnded)] == [(5.0, 35.0)]
    assert [e.onset_s for e in out if isinstance(e, SessionStarted)] == [0.5, 40.0]


def test_each_session_ended_in_one_block_says_where_the_next_began() -> None:
    """Three visits in one block of 120 s (a file read whole): each end, in order, with the onset of the session
    begun after it in the same frames (the last has none), where the analytics end and begin them."""
    segments = [("customer", 0.5, 5.0), ("customer", 40.0, 45.0), ("customer", 80.0, 85.0)]
    (block,) = frame_blocks(activity(segments, 120.0))
    bounds = SessionBounds(CONFIG, block)
    assert bounds.frames(block) == [
        SessionEnd(35.0, False, 40.0),
        SessionEnd(75.0, False, 80.0),
        SessionEnd(115.0, False, None),
    ]
    out = list(ConversationAnalytics(CONFIG).process(block))
    assert [(e.onset_s, e.decided_s) for e in out if isinstance(e, SessionEnded)] == [
        (0.5, 35.0),
        (40.0, 75.0),
        (80.0, 115.0),
    ]


def test_a_block_that_repeats_frames_already_stepped_adds_only_its_new_ones() -> None:
    """A source restart may hand on frames again (the analytics skip them: test_analytics_stage.py). The bounds
    skip them too: the customer's last words at 25-27 s, in frames 20-30 s sent twice, end the session at 57.0 s,
    as in one block, not 10 s later as if said again after 30 s."""
    act = activity([("customer", 0.5, 5.0), ("customer", 25.0, 27.0)], 70.0)
    first = next(frame_blocks(act, bounds=[3000]))
    repeat = dataclasses.replace(next(frame_blocks({p: a[2000:] for p, a in act.items()})), start_s=20.0)
    (whole,) = frame_blocks(act)
    assert SessionBounds(CONFIG, whole).frames(whole) == [SessionEnd(57.0, False, None)]
    bounds = SessionBounds(CONFIG, first)
    assert [bounds.frames(b) for b in (first, repeat)] == [[], [SessionEnd(57.0, False, None)]]
