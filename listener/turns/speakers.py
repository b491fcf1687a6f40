"""Who spoke last and who came in last, over the stage's own activity decisions.

The turn predictions are about these two parties: ``p_hold`` in a silence
about the one who spoke last (alone, long enough to be speech),
``p_backchannel`` about the one whose speech began most recently.
"""

from __future__ import annotations

from listener.events import Party
from listener.frames import at_least

PARTIES = (Party.REP, Party.CUSTOMER)


class SpeakerTracker:
    """The party who spoke last (alone, for at least ``min_speech_s``) and the party who came in last.

    ``min_speech_s`` is the timeline's (activity.min_speech_s): a shorter burst is no speech to the analytics,
    so it must not make the "last speaker" whose pause the hold probability is about either.
    """

    def __init__(self, min_speech_s: float) -> None:
        self.min_speech_s = min_speech_s
        self.onset_s: dict[Party, float | None] = dict.fromkeys(PARTIES)
        self.last: Party | None = None
        self.newcomer: Party | None = None

    def update(self, active: tuple[bool, bool], t_s: float, hop_s: float) -> tuple[Party | None, Party | None]:
        for party, on in zip(PARTIES, active, strict=True):
            if not on:
                self.onset_s[party] = None
            elif self.onset_s[party] is None:
                self.onset_s[party] = t_s
                self.newcomer = party
        if active[0] != active[1]:
            party = PARTIES[0] if active[0] else PARTIES[1]
            onset = self.onset_s[party]
            # in whole steps: a difference of audio times months into a run (7.8e6 s on day 90) is off by a
            # float's step there, 1e-9 s, as much as at_least allows, and a burst of exactly min_speech_s fell short
            if onset is not None and at_least(round((t_s + hop_s - onset) / hop_s) * hop_s, self.min_speech_s):
                self.last = party
        return self.last, self.newcomer
