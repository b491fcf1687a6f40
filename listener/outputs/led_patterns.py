"""What the lights show: a pure function of the device's status and *audio* time.

No gpiozero here. :class:`Status` folds analytics and device events into
what matters to the lights; a :class:`Palette` turns a status into a
:data:`Scene` (one :data:`Wave` per LED channel); the :class:`Animator`
evaluates scenes at audio times, fading steady levels softly. Because every
value is a function of audio time, a replay with ``--fast`` gives exactly the
trace the live device would have shown.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from listener.config import Config
from listener.events import (
    ActivityFrames,
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

# A fade's first frame is shown as soon as its cause arrives, so a change is never delayed by the
# fade; about one audio block.
FADE_FRAME_S = 0.1
DECIMALS = 2  # values are rounded to this: no trace lines for invisible changes

PULSE_PERIOD_S = 1.0  # interruption pulse
BREATH_PERIOD_S = 3.0  # paused
FAULT_PERIOD_S = 2.0  # slow: a fault is news for whoever looks after the device, not an alarm for the rep

# Dominance is decided on a two-minute window, so it stays on through silences; the lights speak
# to the rep about the conversation going on: after this long with nobody speaking they calm down
QUIET_CALM_S = 10.0
RED_REP_WITHIN_S = 5.0  # red only while the rep is talking or has just stopped, never at a silent rep

SHOWN_KEPT = 16


@dataclass(frozen=True, slots=True)
class Steady:
    """A level held, reached by the animator's fade; ``fade=False`` jumps to it at once."""

    level: float
    fade: bool = True


@dataclass(frozen=True, slots=True)
class Pulse:
    """A smooth rise and fall between ``low`` and ``high``, starting at ``high``."""

    period_s: float
    low: float
    high: float

    def at(self, tau_s: float) -> float:
        return self.low + (self.high - self.low) * (0.5 + 0.5 * math.cos(2 * math.pi * tau_s / self.period_s))


@dataclass(frozen=True, slots=True)
class Blink:
    """Hard on/off, half the period each; ``phase`` (fraction of a period) lets two LEDs alternate."""

    period_s: float
    level: float = 1.0
    phase: float = 0.0

    def at(self, tau_s: float) -> float:
        # block times are sums of floats: keep 4.0 - 3.0 from landing just short of a whole period
        return self.level if (tau_s / self.period_s + self.phase + 1e-9) % 1.0 < 0.5 else 0.0


Wave = Steady | Pulse | Blink

# Green under the interruption pulse: dark at once, for a fade would light "calm" and "you interrupted"
# together for fade_s (on the RGB LED, red and green mix into the dominating amber)
ASIDE = Steady(0.0, fade=False)


class Channel(StrEnum):
    """One LED of the traffic light, or one colour of the RGB LED: its gpiozero attribute's name."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    BLUE = "blue"


TRAFFIC_LIGHT = (Channel.GREEN, Channel.AMBER, Channel.RED)
RGB = (Channel.RED, Channel.GREEN, Channel.BLUE)
Scene = Mapping[Channel, Wave]


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

    @classmethod
    def from_config(cls, config: Config) -> Status:
        analytics = config.analytics
        return cls(analytics.interrupting_display_s, config.leds.red_after_s, analytics.backchannel_max_s)

    def update(self, event: Event) -> None:
        if isinstance(event, DeviceState | SourceState):
            self._condition(event)
        elif isinstance(event, DominanceChanged):
            if not event.dominating:
                self.dominating_since_s = None
            elif self.dominating_since_s is None:
                self.dominating_since_s, self.rep_talk_dominating_s = event.decided_s, 0.0
                self.calmed = False
        elif isinstance(event, Interruption):
            self._interruption(event)
        elif isinstance(event, SpeechStarted):
            self._started(event)
        elif isinstance(event, SpeechSegment):
            self._speech(event)
        elif isinstance(event, ActivityFrames):
            self._frames(event)

    def _condition(self, event: DeviceState | SourceState) -> None:
        was_held = self._held()
        self.condition.update(event)
        if was_held and not self._held():
            self.plain_since_s = event.t_s

    def _held(self) -> bool:
        """Paused or faulty: the lights show that, and nothing the analytics say."""
        return self.condition.paused or self.condition.mode is DeviceMode.FAULT

    def _started(self, event: SpeechStarted) -> None:
        self.calmed = self.calmed or self._quiet(event.onset_s)  # the quiet it ends
        self.speaking_since_s[event.party] = event.onset_s

    def _frames(self, event: ActivityFrames) -> None:
        until_s = event.active_until_s(Party.REP)
        if until_s is not None:
            self.rep_heard_until_s = until_s

    def _speech(self, event: SpeechSegment) -> None:
        self.speaking_since_s.pop(event.party, None)
        self.last_speech_end_s[event.party] = max(event.end_s, self.last_speech_end_s.get(event.party, -math.inf))
        held = event.end_s - event.start_s > self.backchannel_max_s
        if event.party is Party.CUSTOMER:
            if held:
                self.customer_held_until_s = max(self.customer_held_until_s, event.end_s)
            return
        if self.dominating_since_s is not None:
            self.rep_talk_dominating_s += max(0.0, event.end_s - max(event.start_s, self.dominating_since_s))
        if held:
            self.calmed = False
        if not self._over_customer(event.start_s) and self._took(event.start_s, event.end_s):
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
        """Nobody has spoken for QUIET_CALM_S (not known before anyone was heard)."""
        if self.speaking_since_s or not self.last_speech_end_s:
            return False
        return t_s - max(self.last_speech_end_s.values()) >= QUIET_CALM_S

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
        if (
            since_s is not None
            and not self._over_customer(since_s)
            and self._took(since_s, self._heard_until(Party.REP, t_s))
        ):
            return True
        if self._holding(Party.CUSTOMER, t_s) or self.customer_held_until_s > self.rep_took_until_s:
            return False
        return t_s - self.rep_took_until_s <= RED_REP_WITHIN_S

    def _over_customer(self, rep_since_s: float) -> bool:
        """The rep's stretch from ``rep_since_s`` began while the customer, still talking, was already."""
        customer_since_s = self.speaking_since_s.get(Party.CUSTOMER)
        return customer_since_s is not None and customer_since_s <= rep_since_s

    def _took(self, start_s: float, end_s: float) -> bool:
        """The rep's talk from ``start_s`` to ``end_s`` held the word: longer than a backchannel after the
        customer last held it (once the customer has the word, only the rep talking on alone takes it back)."""
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
        return t_s < self.interrupting_until_s and self.interrupting_onset_s >= self.plain_since_s

    def shown(self, t_s: float) -> tuple[Look, bool]:
        """The look, and whether the interruption pulse shows over it (not over a pause or a fault)."""
        look = self.look(t_s)
        return look, look in PULSED_LOOKS and self.interrupting(t_s)


@dataclass(frozen=True, slots=True)
class Palette:
    """One scene per look, plus the overlay shown while the rep's interruption is displayed."""

    channels: tuple[Channel, ...]
    looks: Mapping[Look, Scene]
    interrupting: Scene

    def scene(self, status: Status, t_s: float) -> Scene:
        look, pulse = status.shown(t_s)
        scene = self.looks[look]
        return {**scene, **self.interrupting} if pulse else scene


def traffic_light(calm_level: float) -> Palette:
    off = Steady(0.0)
    breathe = Pulse(BREATH_PERIOD_S, 0.0, 0.6)
    return Palette(
        channels=TRAFFIC_LIGHT,
        looks={
            Look.LISTENING: {Channel.GREEN: Steady(calm_level), Channel.AMBER: off, Channel.RED: off},
            Look.DOMINATING: {Channel.GREEN: off, Channel.AMBER: Steady(1.0), Channel.RED: off},
            Look.PERSISTING: {Channel.GREEN: off, Channel.AMBER: off, Channel.RED: Steady(1.0)},
            # the only look that lights all three: unmistakable
            Look.PAUSED: {Channel.GREEN: breathe, Channel.AMBER: breathe, Channel.RED: breathe},
            # amber alone, slowly: unlike steady amber, and never red, for the rep is not at fault
            Look.FAULT: {Channel.GREEN: off, Channel.AMBER: Blink(FAULT_PERIOD_S), Channel.RED: off},
        },
        # green off while red pulses: "calm" and "you interrupted" are never lit together
        interrupting={Channel.GREEN: ASIDE, Channel.RED: Pulse(PULSE_PERIOD_S, 0.0, 1.0)},
    )


def rgb(calm_level: float) -> Palette:
    off = Steady(0.0)
    return Palette(
        channels=RGB,
        looks={
            Look.LISTENING: {Channel.RED: off, Channel.GREEN: Steady(calm_level), Channel.BLUE: off},
            Look.DOMINATING: {Channel.RED: Steady(1.0), Channel.GREEN: Steady(0.35), Channel.BLUE: off},  # amber
            Look.PERSISTING: {Channel.RED: Steady(1.0), Channel.GREEN: off, Channel.BLUE: off},
            # from 0.0, as the traffic light's: on pins without PWM a breath lit from calm_level down to 0.05 would
            # never go dark, a steady blue
            Look.PAUSED: {Channel.RED: off, Channel.GREEN: off, Channel.BLUE: Pulse(BREATH_PERIOD_S, 0.0, 0.7)},
            Look.FAULT: {
                Channel.RED: Blink(FAULT_PERIOD_S),
                Channel.GREEN: off,
                Channel.BLUE: Blink(FAULT_PERIOD_S),
            },  # magenta
        },
        interrupting={Channel.RED: Pulse(PULSE_PERIOD_S, 0.0, 1.0), Channel.GREEN: ASIDE, Channel.BLUE: off},
    )


@dataclass
class _Track:
    wave: Wave
    since_s: float
    from_value: float
    shift: float = 0.0  # where in its cycle (fraction of a period) a pulse or blink started


class Animator:
    """Evaluates scenes at audio times; a steady level is reached by a linear fade of ``fade_s`` (or at once)."""

    def __init__(self, channels: tuple[Channel, ...], fade_s: float) -> None:
        self.fade_s = fade_s
        self._tracks = {name: _Track(Steady(0.0), -math.inf, 0.0) for name in channels}

    def show(self, scene: Scene, t_s: float) -> None:
        changed = [name for name, track in self._tracks.items() if scene[name] != track.wave]
        if not changed:
            return
        current = {name: self._value(self._tracks[name], t_s) for name in changed}
        # Pulses and blinks start at the beginning of their cycle, or half-way through if that alone
        # makes the change visible at once; one shift for all, so LEDs that alternate keep alternating.
        for shift in (0.0, 0.5):
            tracks = {name: _Track(scene[name], t_s, current[name], shift) for name in changed}
            if any(_quantize(self._value(tracks[n], t_s)) != _quantize(current[n]) for n in changed):
                break
        self._tracks.update(tracks)

    def values(self, t_s: float) -> dict[Channel, float]:
        return {name: _quantize(self._value(track, t_s)) for name, track in self._tracks.items()}

    def midway(self, name: Channel) -> float | None:
        """Half-way up ``name``'s pulse (where on/off pins should switch, so it reads as a blink); None
        otherwise: a blink is 0 or its level, on/off already."""
        wave = self._tracks[name].wave
        return (wave.low + wave.high) / 2.0 if isinstance(wave, Pulse) else None

    def _value(self, track: _Track, t_s: float) -> float:
        wave, tau_s = track.wave, max(0.0, t_s - track.since_s)
        if isinstance(wave, Steady):
            if self.fade_s <= 0.0 or not wave.fade:
                return wave.level
            progress = min(1.0, (tau_s + FADE_FRAME_S) / self.fade_s)
            return track.from_value + (wave.level - track.from_value) * progress
        return wave.at(tau_s + track.shift * wave.period_s)


def _quantize(value: float) -> float:
    return round(min(1.0, max(0.0, value)), DECIMALS)
