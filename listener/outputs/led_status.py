"""What the lights need to know: :class:`Status` folds analytics and device events, in *audio* time.

Kept apart from :mod:`listener.outputs.led_patterns` (which turns a status into LED values) so each
stays readable; no gpiozero here either.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from listener.config import Config
from listener.events import (
    ActivityFrames,
    AudioBlock,
    AudioDropped,
    DeviceMode,
    DeviceState,
    DominanceChanged,
    Event,
    Interruption,
    Party,
    SourceState,
    SpeechSegment,
    SpeechStarted,
)
from listener.outputs.condition import DeviceCondition

# Dominance is decided on a two-minute window, so it stays on through silences; the lights speak
# to the rep about the conversation going on: after this long with nobody speaking they calm down
QUIET_CALM_S = 10.0
RED_REP_WITHIN_S = 5.0  # red only while the rep is talking or has just stopped, never at a silent rep
# amber lit moments before its visit ended (the rep talking on to a customer gone quiet) stays this long: a
# flash of amber and back to green reads as a glitch, not as "the visit is over"
AMBER_AT_LEAST_S = 4.0

SHOWN_KEPT = 16
# An interruption is decided interruption_min_s after its onset, delivered with the block holding that time
HOLD_MARGIN_S = 0.1


class Look(StrEnum):
    LISTENING = "listening"
    DOMINATING = "dominating"
    PERSISTING = "persisting"  # dominating, and the rep has talked red_after_s since it began
    PAUSED = "paused"
    FAULT = "fault"


PULSED_LOOKS = frozenset({Look.LISTENING, Look.DOMINATING, Look.PERSISTING})  # a pause or fault stays plain


@dataclass
class Status:
    """What the lights need to know, folded from events; times are audio seconds."""

    interrupting_display_s: float
    red_after_s: float  # of the rep's talk since dominance began
    backchannel_max_s: float  # rep sounds no longer than this ("mm-hmm") are listening, not holding forth
    condition: DeviceCondition = field(default_factory=DeviceCondition)
    dominating_since_s: float | None = None
    interrupting_until_s: float = -math.inf
    interrupting_onset_s: float = -math.inf  # the onset of the interruption shown until then
    # onsets already shown; an outcome follows its event within seconds, so the last few suffice
    rep_interruptions: deque[float] = field(default_factory=lambda: deque(maxlen=SHOWN_KEPT))
    speaking_since_s: dict[Party, float] = field(default_factory=dict)  # open stretches of speech
    last_speech_end_s: dict[Party, float] = field(default_factory=dict)
    rep_talk_dominating_s: float = 0.0  # closed rep speech since dominance began
    # the end of the rep's last active frame; None without frame evidence (a replay of events alone)
    rep_heard_until_s: float | None = None
    # the end of the rep's last speech that held the word: longer than a backchannel counted from the customer's
    # last held speech, and not begun over a customer still talking; so cutting into a customer's story is not red
    rep_took_until_s: float = -math.inf
    # the end of the customer's last speech longer than a backchannel: compared with the rep's end, not the
    # customer's onset, for an answer that begins just before the rep's last word still answers the rep
    customer_held_until_s: float = -math.inf
    # the counter went quiet for QUIET_CALM_S: calm until the rep holds forth again, whoever speaks first
    calmed: bool = False
    plain_since_s: float = -math.inf  # when the device last came out of a pause or a fault
    interruption_min_s: float = 1.0  # an interruption is decided this long after its onset
    heard_s: float = 0.0  # the end of the audio heard so far: when an event is learnt of
    # the pulse held past its display while a rep stretch begun over the customer in it may yet be decided
    interrupting_held_until_s: float = -math.inf
    interrupting_held_onset_s: float = -math.inf  # the onset of the rep stretch holding it
    dominance_ends_s: float | None = None  # a session's end clears amber then (AMBER_AT_LEAST_S after it lit)

    @classmethod
    def from_config(cls, config: Config) -> Status:
        analytics = config.analytics
        return cls(
            analytics.interrupting_display_s,
            config.leds.red_after_s,
            analytics.backchannel_max_s,
            interruption_min_s=analytics.interruption_min_s,
        )

    def update(self, event: Event) -> bool:
        """Fold ``event`` in; False when it is none the lights follow (the status is as it was)."""
        if isinstance(event, DeviceState | SourceState):
            self._condition(event)
        elif isinstance(event, DominanceChanged):
            self._dominance(event)
        elif isinstance(event, Interruption):
            self._interruption(event)
        elif isinstance(event, SpeechStarted):
            self._started(event)
        elif isinstance(event, SpeechSegment):
            self._speech(event)
        elif isinstance(event, ActivityFrames):
            return self._frames(event)
        elif isinstance(event, AudioBlock | AudioDropped):
            self.heard_s = max(self.heard_s, event.end_s)
            if self.dominance_ends_s is not None and self.heard_s >= self.dominance_ends_s:
                self.dominating_since_s = self.dominance_ends_s = None
        else:
            return False
        return True

    def _dominance(self, event: DominanceChanged) -> None:
        if event.dominating:
            self.dominance_ends_s = None
            if self.dominating_since_s is None:
                self.dominating_since_s, self.rep_talk_dominating_s = event.decided_s, 0.0
                self.calmed = False
            return
        since_s = self.dominating_since_s
        if event.reason == "session_end" and since_s is not None and event.decided_s < since_s + AMBER_AT_LEAST_S:
            self.dominance_ends_s = since_s + AMBER_AT_LEAST_S
        else:
            self.dominating_since_s = self.dominance_ends_s = None

    def _condition(self, event: DeviceState | SourceState) -> None:
        was_held = self._held()
        self.condition.update(event)
        if was_held and not self._held():
            self.plain_since_s = event.t_s
            if self.dominating_since_s is not None:
                # amber shows only now: red counts the rep's talk since then, not under the pause or fault
                self.dominating_since_s, self.rep_talk_dominating_s = event.t_s, 0.0

    def _held(self) -> bool:
        """Paused or faulty: the lights show that, and nothing the analytics say."""
        return self.condition.paused or self.condition.mode is DeviceMode.FAULT

    def _started(self, event: SpeechStarted) -> None:
        if self._quiet(event.onset_s):  # the quiet it ends
            self.calmed = True
            if self.dominating_since_s is not None:
                # as after a pause: the calm green goes to amber first, never straight to red
                self.dominating_since_s, self.rep_talk_dominating_s = event.onset_s, 0.0
        if event.party is Party.REP and Party.CUSTOMER in self.speaking_since_s and self.interrupting(event.onset_s):
            # The rep starts over the customer while the pulse shows: a new interruption may be decided on it
            # interruption_min_s later, after the display has ended; calm green for the second in between
            # would be a flash, so the pulse holds on until that decision is due (and goes on from it, in
            # phase). Judged by when the start began, not when it is learnt (0.15-0.2 s later): a start in
            # the display's last moments is learnt after it, while the pulse's fade-out still shows.
            held_s = event.onset_s + self.interruption_min_s + HOLD_MARGIN_S
            self.interrupting_held_until_s = max(self.interrupting_held_until_s, held_s)
            self.interrupting_held_onset_s = event.onset_s
        self.speaking_since_s[event.party] = event.onset_s

    def _frames(self, event: ActivityFrames) -> bool:
        """Whether they move the end of the rep's last active frame (frames with no rep in them do not)."""
        until_s = event.active_until_s(Party.REP)
        if until_s is None or until_s == self.rep_heard_until_s:
            return False
        self.rep_heard_until_s = until_s
        return True

    def _speech(self, event: SpeechSegment) -> None:
        self.speaking_since_s.pop(event.party, None)
        self.last_speech_end_s[event.party] = max(event.end_s, self.last_speech_end_s.get(event.party, -math.inf))
        held = event.end_s - event.start_s > self.backchannel_max_s
        if event.party is Party.CUSTOMER:
            if held:
                self.customer_held_until_s = max(self.customer_held_until_s, event.end_s)
            return
        if event.start_s == self.interrupting_held_onset_s:
            # over, it can no longer be decided an interruption (one the model decided early came before this):
            # held on to its decision time, "mm"s in a row over the customer kept the pulse on for as long
            self.interrupting_held_until_s = min(self.interrupting_held_until_s, event.decided_s)
        if self.dominating_since_s is not None:
            self.rep_talk_dominating_s += max(0.0, event.end_s - max(event.start_s, self.dominating_since_s))
        if held:
            self.calmed = False
        if self._took(event.start_s, event.end_s):
            self.rep_took_until_s = max(self.rep_took_until_s, event.end_s)

    def _interruption(self, event: Interruption) -> None:
        # the same interruption is announced again once its outcome is known: show it once
        if event.by is Party.REP and event.onset_s not in self.rep_interruptions:
            self.rep_interruptions.append(event.onset_s)
            until_s = event.decided_s + self.interrupting_display_s
            if until_s > self.interrupting_until_s:
                self.interrupting_until_s, self.interrupting_onset_s = until_s, event.onset_s

    def look(self, t_s: float) -> Look:
        if self.condition.paused:  # the rep's own press is always answered, whatever else is wrong
            return Look.PAUSED
        if self.condition.mode is DeviceMode.FAULT:
            return Look.FAULT
        if self.dominating_since_s is None or self._quiet(t_s) or (self.calmed and not self._holding(Party.REP, t_s)):
            return Look.LISTENING
        if self._rep_talk_dominating(t_s) >= self.red_after_s and self._rep_recent(t_s):
            return Look.PERSISTING
        return Look.DOMINATING

    def _quiet(self, t_s: float) -> bool:
        """Nobody has spoken for QUIET_CALM_S while the device listened (not known before anyone was heard)."""
        if self.speaking_since_s or not self.last_speech_end_s:
            return False
        # a pause or a fault heard nothing, so it is no quiet spell: counting it flashed calm green for a second
        # after one of 10 s or more, then amber once the rep talked on, where a shorter one went straight to amber
        quiet_since_s = max(max(self.last_speech_end_s.values()), self.plain_since_s)
        return t_s - quiet_since_s >= QUIET_CALM_S

    def _holding(self, party: Party, t_s: float) -> bool:
        """``party`` has been talking for longer than a backchannel, and still is."""
        since_s = self.speaking_since_s.get(party)
        if since_s is None:
            return False
        return self._heard_until(party, t_s) - since_s > self.backchannel_max_s

    def _heard_until(self, party: Party, t_s: float) -> float:
        """``t_s``, or for the rep no later than it was last heard: its segment closes bridge_gap_s after the
        last word, and counting that wait would light red for an instant when the rep stopped just short of it."""
        heard_s = self.rep_heard_until_s if party is Party.REP else None
        return t_s if heard_s is None else min(t_s, heard_s)

    def _rep_recent(self, t_s: float) -> bool:
        """The rep holds the word: talking on, or stopped within RED_REP_WITHIN_S and the customer has not
        taken it since (spoken on past the rep's last word, even if the answer began just before it). A
        backchannel, by either party, is listening, not taking the word; once the customer has the word, the rep
        cutting in over it does not take it back, only talking on alone for longer than a backchannel."""
        since_s = self.speaking_since_s.get(Party.REP)
        if since_s is not None and self._took(since_s, self._heard_until(Party.REP, t_s)):
            return True
        if self._holding(Party.CUSTOMER, t_s) or self.customer_held_until_s > self.rep_took_until_s:
            return False
        return t_s - self.rep_took_until_s <= RED_REP_WITHIN_S

    def _took(self, start_s: float, end_s: float) -> bool:
        """The rep's talk from ``start_s`` to ``end_s`` held the word: longer than a backchannel after the
        customer last held it, and only the part of it the rep spoke alone (once the customer has the word,
        only the rep talking on alone takes it back). The one place that decides who holds the word."""
        customer_since_s = self.speaking_since_s.get(Party.CUSTOMER)
        if customer_since_s is not None:
            if customer_since_s <= start_s:
                return False  # begun over a customer still talking: cutting in is no taking
            # a customer who came in over it, still talking, has the word from their onset (the rep starting
            # in the customer's breath lit red while the customer talked on)
            end_s = min(end_s, customer_since_s)
        return end_s - max(start_s, self.customer_held_until_s) > self.backchannel_max_s

    def _rep_talk_dominating(self, t_s: float) -> float:
        assert self.dominating_since_s is not None
        talk_s = self.rep_talk_dominating_s
        since_s = self.speaking_since_s.get(Party.REP)
        if since_s is not None:  # the stretch going on now counts as it goes, as far as the rep was heard
            talk_s += max(0.0, self._heard_until(Party.REP, t_s) - max(since_s, self.dominating_since_s))
        return talk_s

    def interrupting(self, t_s: float) -> bool:
        # begun before a pause or a fault (decided in it, or announced after): old news once the lights are back
        until_s = max(self.interrupting_until_s, self.interrupting_held_until_s)
        return t_s < until_s and self.interrupting_onset_s >= self.plain_since_s

    def shown(self, t_s: float) -> tuple[Look, bool]:
        """The look, and whether the interruption pulse shows over it (not over a pause or a fault)."""
        look = self.look(t_s)
        return look, look in PULSED_LOOKS and self.interrupting(t_s)
