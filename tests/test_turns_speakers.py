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
