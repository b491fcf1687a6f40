"""The analytics months into a run: the same conversation decides the same, whenever in the run it comes.

A device runs for months without a restart; the audio clock is seconds since the service started, so a
session on day 91 has times near 7.9e6 s, where a float's step is 1e-9 s. The rules count in whole
frames, but a summary's talk times are sums of differences of those times.
"""

from __future__ import annotations

import pytest

from listener.analytics.replay import activity, frame_blocks
from listener.analytics.stage import ConversationAnalytics
from listener.events import ActivityFrames, EndOfStream, Event, SessionEnded, SessionSummary
from tests.analytics_timelines import with_analytics

HOP_S, BLOCK = 0.01, 5  # blocks of 50 ms, as the live device hands them over
SECONDS = 80.0
# 20.00 s of speech, customer and rep taking turns, then the session gap: a session of exactly
# session_min_speech_s (the default, 20 s), which publishes its summary ("at least")
TURNS = [("customer", 1.0, 4.37), ("rep", 5.17, 9.9), ("customer", 10.7, 14.03), ("rep", 14.83, 19.12)]
TURNS += [("customer", 19.92, 24.2)]


def _live(first_frame: int) -> list[Event]:
    """The conversation, its first frame ``first_frame`` frames into the run."""
    stage = ConversationAnalytics(with_analytics(session_min_speech_s=20.0))
    n = round(SECONDS / HOP_S)
    out: list[Event] = []
    for block in frame_blocks(activity(TURNS, SECONDS), HOP_S, bounds=range(BLOCK, n, BLOCK)):
        first = first_frame + round(block.start_s / HOP_S)
        rep, customer = block.rep_active, block.customer_active
        late = ActivityFrames(first * HOP_S, HOP_S, rep, customer, block.rep_prob, block.customer_prob, block.doa_deg)
        out += stage.process(late)
    return out + list(stage.process(EndOfStream(t_s=(first_frame + n) * HOP_S)))


@pytest.mark.parametrize(
    "first_frame",
    [0, 785_092_589, 778_659_731, 3_158_126_083],
    ids=["at-the-start", "day-91", "day-90", "a-year-on"],
)
def test_a_session_of_exactly_session_min_speech_s_has_its_summary_months_into_a_run(first_frame: int) -> None:
    """Its talk, summed from times 91 days into the run, came to 19.999999998 s: no summary, where the same
    session an hour after the start had one (1 in 4 such sessions from day 90, 1 in 3 after a year)."""
    assert sum(end - start for _, start, end in TURNS) == pytest.approx(20.0)
    out = _live(first_frame)
    (ended,) = [e for e in out if isinstance(e, SessionEnded)]
    summaries = [e for e in out if isinstance(e, SessionSummary)]
    assert [s.session_id for s in summaries] == [ended.session_id]
    (summary,) = summaries
    assert summary.rep_talk_s + summary.customer_talk_s == pytest.approx(20.0, abs=1e-6)
    assert ended.onset_s == pytest.approx(first_frame * HOP_S + 1.0, abs=1e-6)
