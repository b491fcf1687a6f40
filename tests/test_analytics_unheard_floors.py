"""Floors and dominance across time the device did not hear (the privacy pause, a fault): that time is unknown,
so it lengthens no monologue, story or dominance (docs/metrics.md), as it lengthens no silence."""

from __future__ import annotations

import pytest

from listener.events import AudioDropped, DominanceChanged, SessionSummary
from tests.analytics_timelines import raw_events

Segments = list[tuple[str, float, float]]


def replay(segments: Segments, seconds: float, paused: tuple[float, float] | None) -> list[object]:
    """The analytics on ``segments``, ``paused`` unheard: its frames come as silence, in a block of their own,
    and the pause is announced after them, as the privacy button's source delivers it."""
    drops = [] if paused is None else [AudioDropped(paused[0], paused[1] - paused[0], "paused")]
    bounds = [] if paused is None else [round(paused[0] * 100), round(paused[1] * 100)]
    return raw_events(segments, seconds, bounds=bounds, drops=drops)


def dominance(out: list[object]) -> list[tuple[bool, float, str]]:
    return [(e.dominating, e.onset_s, e.reason) for e in out if isinstance(e, DominanceChanged)]


def summary(out: list[object]) -> SessionSummary:
    (s,) = [e for e in out if isinstance(e, SessionSummary)]
    return s


# the customer's story to 38 s, the rep from 39 s with the customer's "mm"s keeping the visit open
STORY = [("customer", 0.0, 38.0), ("rep", 39.0, 62.0), *(("customer", t, t + 0.6) for t in (62.1, 92.2, 102.0))]
PAUSE = (62.8, 91.5)  # the privacy button: 28.7 s heard by nobody


def test_a_privacy_pause_in_the_reps_floor_does_not_count_towards_its_monologue() -> None:
    """The rep talks 23 s, pauses the device for 28.7 s, talks 14 s more: 37 s of floor heard, no monologue of
    over a minute, so no amber 8 s after the resume; the summary's longest monologue is the 38.3 s heard of it."""
    segments = [*STORY, ("rep", 92.0, 106.0)]
    out = replay(segments, 150.0, PAUSE)
    assert dominance(out) == []
    s = summary(out)
    assert s.unheard_s == pytest.approx(28.7)
    assert s.longest_monologue_s == pytest.approx(38.3) and (s.dominance_s, s.dominance_episodes) == (0.0, 0)
    # heard throughout, the same floor is a 67 s monologue, dominating from 60 s into it
    heard = replay(segments, 150.0, None)
    assert dominance(heard)[0] == (True, 99.0, "monologue")
    assert summary(heard).longest_monologue_s == pytest.approx(67.0)


def test_a_monologue_heard_for_over_a_minute_across_a_pause_dominates_from_its_sixtieth_second_heard() -> None:
    mm = [("customer", t, t + 0.6) for t in (112.0, 122.0, 132.0)]
    out = replay([*STORY, *mm, ("rep", 92.0, 140.0), ("customer", 140.5, 150.0)], 160.0, PAUSE)
    on = next(e for e in out if isinstance(e, DominanceChanged))
    # 39 s + 60 s + the 28.7 s unheard; decided on the 0.1 s grid, never before its onset
    assert (on.dominating, on.reason) == (True, "monologue") and on.onset_s == pytest.approx(127.7)
    assert on.onset_s <= on.decided_s <= on.onset_s + 0.1 + 1e-9
    s = summary(out)
    assert s.longest_monologue_s == pytest.approx(101.0 - 28.7)
    assert s.dominance_s == pytest.approx(150.0 - 127.7)  # to the session's end (the share keeps it on)


def test_a_pause_pressed_as_the_monologue_reaches_its_sixtieth_second_leaves_its_onset_there() -> None:
    """The rep's floor from 39 s has been heard for exactly 60 s at 99.0 s, when the privacy button is pressed
    for 10 s. The floor is longer than 60 s only once the rep is heard again (amber decided at 109.1 s), but it
    reached its 60 s at 99.0 s, before the pause, and that is the episode's onset, as without the pause: time
    unheard after the sixtieth second moves it no later."""
    mm = [("customer", t, t + 0.6) for t in (62.1, 92.2)]
    segments = [("customer", 0.0, 38.0), ("rep", 39.0, 99.0), *mm, ("rep", 109.0, 115.0), ("customer", 115.5, 130.0)]
    out = replay(segments, 170.0, (99.0, 109.0))
    on = next(e for e in out if isinstance(e, DominanceChanged))
    assert (on.dominating, on.onset_s, on.reason) == (True, 99.0, "monologue")
    assert on.decided_s == pytest.approx(109.1)
    assert dominance(replay(segments, 170.0, None))[0] == (True, 99.0, "monologue")


def test_an_outage_reported_in_one_second_pieces_stops_the_monologues_clock_for_all_of_them() -> None:
    """The microphone is lost 50-60 s inside the rep's floor (from 40.5 s), and the reopen loop reports it as ten
    1 s drops, each joining the one before: all 10 s are unheard, so the floor has been heard 60 s at 110.5 s, not
    at 101.5 s (its first second only). The customer's 40 s and two "mm"s keep the share under 0.65 throughout."""
    mm = [("customer", t, t + 0.5) for t in (65.0, 95.0)]
    segments = [("customer", 0.0, 40.0), ("rep", 40.5, 50.0), ("rep", 60.0, 115.0), *mm, ("customer", 115.5, 125.0)]
    pieces = [AudioDropped(50.0 + k, 1.0, "device_lost") for k in range(10)]
    out = raw_events(segments, 160.0, bounds=[5000 + 100 * k for k in range(11)], drops=pieces)
    assert dominance(out)[0] == (True, 110.5, "monologue")


def test_unheard_time_inside_a_dominance_episode_is_no_dominance() -> None:
    """Dominating by share from 30 s to 102.1 s, 19.5 s of it paused: 52.6 s dominating, not 72.1 s."""
    mm = [("customer", t, t + 0.5) for t in (25.0, 45.0, 71.0)]
    segments = [("customer", 0.0, 10.0), ("rep", 10.5, 50.0), *mm, ("rep", 70.0, 80.0), ("customer", 80.5, 125.0)]
    out = replay(segments, 160.0, (50.5, 70.0))
    assert dominance(out) == [(True, 30.0, "share"), (False, 102.1, "share")]
    s = summary(out)
    assert s.dominance_s == pytest.approx(102.1 - 30.0 - 19.5)
    assert s.dominance_s <= s.duration_s - s.unheard_s
    assert summary(replay(segments, 160.0, None)).dominance_s == pytest.approx(102.1 - 30.0)


def test_a_customer_story_counts_the_time_heard() -> None:
    """The customer's floor from 0 s to 60 s with the device paused 20.5-39.5 s: a story of 41 s heard."""
    segments = [("customer", 0.0, 20.0), ("customer", 40.0, 60.0), ("rep", 60.5, 70.0)]
    assert summary(replay(segments, 110.0, (20.5, 39.5))).longest_story_s == pytest.approx(41.0)
    assert summary(replay(segments, 110.0, None)).longest_story_s == pytest.approx(60.0)
