"""Who spoke last and who came in last (listener/turns/speakers.py), over hand-made activity."""

from __future__ import annotations

from listener.events import Party
from listener.turns.speakers import SpeakerTracker

HOP_S = 0.02  # a model step


def test_a_party_coming_back_is_the_newcomer_and_not_yet_the_last_speaker() -> None:
    """The rep's second start is the latest speech to begin; one step of it is no speech to make it the last."""
    tracker = SpeakerTracker(min_speech_s=0.1)
    steps = [(True, False)] * 10 + [(True, True)] * 5 + [(False, True)] * 10 + [(False, False)] * 5
    seen = [tracker.update(on, k * HOP_S, HOP_S) for k, on in enumerate(steps)]
    assert seen[9] == (Party.REP, Party.REP)
    assert seen[14] == (Party.REP, Party.CUSTOMER)  # the customer came in over the rep
    assert seen[-1] == (Party.CUSTOMER, Party.CUSTOMER)  # and held the floor alone
    assert tracker.update((True, False), len(steps) * HOP_S, HOP_S) == (Party.CUSTOMER, Party.REP)


def test_a_burst_exactly_as_long_as_the_least_speech_makes_the_last_speaker() -> None:
    """The timeline counts a run spanning min_speech_s as speech; so must "who spoke last", wherever it falls."""
    for lead in range(10, 40):
        tracker = SpeakerTracker(min_speech_s=0.1)
        steps = [(True, False)] * lead + [(False, True)] * 5 + [(False, False)] * 3
        seen = [tracker.update(on, k * HOP_S, HOP_S) for k, on in enumerate(steps)]
        assert seen[-1][0] == Party.CUSTOMER, f"0.1 s of the customer after {lead} rep steps"
        assert seen[lead + 3][0] == Party.REP  # four steps of it are not speech yet


def test_a_burst_exactly_as_long_as_the_least_speech_counts_months_into_a_run() -> None:
    """Audio times near 7.8e6 s (day 90) have a float step of 1e-9 s, as large as the tolerance of the comparison:
    a burst of exactly 0.1 s came to 0.09999999 s as a difference of them, and was no speech in some placements."""
    hop_s, block = 0.01, 5  # the stage stamps each step from its block's start, as turns/base.py does
    for day in (0, 90, 365):
        first = day * 86_400 * 100
        for start in range(first, first + 7 * 500, 7):
            tracker = SpeakerTracker(min_speech_s=0.1)
            for frame in range(start, start + 10):
                held = frame - frame % block
                last, _ = tracker.update((True, False), held * hop_s + (frame - held) * hop_s, hop_s)
            assert last == Party.REP, f"0.1 s of the rep from frame {start} (day {day})"
