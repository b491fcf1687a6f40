"""What the lights show: a pure function of the device's status and *audio* time.

No gpiozero here. :class:`Status` (:mod:`listener.outputs.led_status`) folds analytics and device events into
what matters to the lights; a :class:`Palette` turns a status into a
:data:`Scene` (one :data:`Wave` per LED channel); the :class:`Animator`
evaluates scenes at audio times, fading steady levels softly. Because every
value is a function of audio time, a replay with ``--fast`` gives exactly the
trace the live device would have shown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from listener.outputs.led_status import Look, Status

# A fade's first frame is shown as soon as its cause arrives, so a change is never delayed by the
# fade; about one audio block.
FADE_FRAME_S = 0.1
DECIMALS = 2  # values are rounded to this: no trace lines for invisible changes

PULSE_PERIOD_S = 1.0  # interruption pulse
# On/off pins: a pulse starts this far (a fraction of its period) before its top, a hair past half-way up, so
# its first lit spell is half a period as the others are, not the quarter from its top down; a hair, so that
# at block times on the half periods it is clearly above or below half-way (0.25 exactly sat on it both ends)
ON_OFF_LEAD_PERIODS = 0.24
BREATH_PERIOD_S = 3.0  # paused
FAULT_PERIOD_S = 2.0  # slow: a fault is news for whoever looks after the device, not an alarm for the rep


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
    """Hard on/off, half the period each, on from the start of each period."""

    period_s: float
    level: float = 1.0

    def at(self, tau_s: float) -> float:
        # block times are sums of floats: keep 4.0 - 3.0 from landing just short of a whole period
        return self.level if (tau_s / self.period_s + 1e-9) % 1.0 < 0.5 else 0.0


Wave = Steady | Pulse | Blink

# A light that gives way to a pulse, breath or blink: dark at once, for a fade would light the old look and
# the new together for fade_s ("calm" green under "you interrupted" red, on the RGB LED the dominating amber)
ASIDE = Steady(0.0, fade=False)


class Channel(StrEnum):
    """One LED of the traffic light, or one colour of the RGB LED: its gpiozero attribute's name."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    BLUE = "blue"


TRAFFIC_LIGHT = (Channel.GREEN, Channel.AMBER, Channel.RED)
RGB = (Channel.RED, Channel.GREEN, Channel.BLUE)
# "calm" and "you talked on" are never lit together (on the RGB LED they mix to amber, "you dominate"): red fading
# out as the dominance ends under it, calm green fading in at once lit both for most of fade_s (all three lights, as
# only the pause does, where amber was still fading out); one coming on from dark waits for the other's dark
APART = {Channel.GREEN: Channel.RED, Channel.RED: Channel.GREEN}
Scene = Mapping[Channel, Wave]


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
            Look.FAULT: {Channel.GREEN: ASIDE, Channel.AMBER: Blink(FAULT_PERIOD_S), Channel.RED: ASIDE},
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
            Look.PAUSED: {Channel.RED: ASIDE, Channel.GREEN: ASIDE, Channel.BLUE: Pulse(BREATH_PERIOD_S, 0.0, 0.7)},
            Look.FAULT: {
                Channel.RED: Blink(FAULT_PERIOD_S),
                Channel.GREEN: ASIDE,
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
    wait_s: float = 0.0  # a steady fade held at from_value this long (via_dark: fading out): a light coming on waits
    after_pulse: bool = False  # fading out the pulse, breath or blink it replaced
    via_dark: bool = False  # lit in the animation it replaced and in the new look: fades out with it first


class Animator:
    """Evaluates scenes at audio times; a steady level is reached by a linear fade of ``fade_s`` (or at once).

    ``on_off`` (pins without PWM): a pulse starts about a quarter cycle early (``ON_OFF_LEAD_PERIODS``), just past
    half-way up, so its first lit spell is a whole half period like the others, not the quarter from its
    top down; and a steady level is reached at once, for a fade on such pins is only a switch somewhere
    along it (a light fading in stayed dark for most of it, after a pulse's dark half: a second of nothing
    lit)."""

    def __init__(self, channels: tuple[Channel, ...], fade_s: float, on_off: bool = False) -> None:
        self.fade_s = fade_s
        self.on_off = on_off
        self._tracks = {name: _Track(Steady(0.0), -math.inf, 0.0) for name in channels}

    def show(self, scene: Scene, t_s: float) -> None:
        changed = [name for name, track in self._tracks.items() if scene[name] != track.wave]
        if not changed:
            return
        old = {name: self._tracks[name] for name in changed}
        current = {name: self._value(old[name], t_s) for name in changed}
        # Pulses and blinks start at the beginning of their cycle, or half-way through if that alone
        # makes the change visible at once; one shift for all, so LEDs that alternate keep alternating.
        for shift in (0.0, 0.5):
            tracks = {name: _Track(scene[name], t_s, current[name], shift) for name in changed}
            if any(_quantize(self._value(tracks[n], t_s)) != _quantize(current[n]) for n in changed):
                break
        ended = {name for name in changed if isinstance(old[name].wave, Pulse | Blink)}
        for name, track in tracks.items():
            track.after_pulse = name in ended and _dark(track.wave)
        if self._fades:  # without fades the animation is gone at once: nothing waits for it
            self._wait_for_dark(tracks, current, t_s)
            self._fade_out_whole(tracks, current, ended)
        self._tracks.update(tracks)

    @property
    def _fades(self) -> bool:
        return self.fade_s > 0.0 and not self.on_off

    def _wait_for_dark(self, tracks: dict[Channel, _Track], current: dict[Channel, float], t_s: float) -> None:
        """A pulse, breath or blink that ends fades out, and a light coming on from dark waits until it is dark:
        the look that ended and the one that follows are never lit together (green fading in under the
        interruption's red fading out read as "calm" and "you interrupted" at once, and as amber on the RGB LED).
        That holds too for a pulse that ended a moment before this change and is still fading out. Green and red
        (APART) wait so for each other's steady fade-out as well."""
        # the lights this change leaves as they are, at their value now; the changed ones from theirs before it
        lit = {name: self._value(track, t_s) for name, track in self._tracks.items() if name not in tracks} | current
        merged = self._tracks | tracks
        fading = {n: self._dark_after_s(t, t_s) for n, t in merged.items() if _dark(t.wave) and _quantize(lit[n]) > 0.0}
        pulses_s = [wait_s for n, wait_s in fading.items() if merged[n].after_pulse]
        for name, track in tracks.items():
            if _steady_lit(track.wave) and _quantize(current[name]) == 0.0:
                partner_s = fading.get(APART[name], 0.0) if name in APART else 0.0
                track.wait_s = max([*pulses_s, partner_s])

    def _fade_out_whole(
        self, tracks: dict[Channel, _Track], current: dict[Channel, float], ended: set[Channel]
    ) -> None:
        """When a light comes on from dark as an animation ends, the animation's lights that the new look keeps lit
        fade out first, and come on with the rest: the fault's magenta giving way to amber on the RGB LED left red
        at full while blue faded out, "you talked on" before amber; the interruption pulse's red rose from where
        it stopped beside green from dark, reddish before amber's ratio showed."""
        kept = [tracks[n] for n in ended if _steady_lit(tracks[n].wave) and _quantize(current[n]) > 0.0]
        coming = [t for n, t in tracks.items() if _steady_lit(t.wave) and _quantize(current[n]) == 0.0]
        if not kept or not coming:
            return
        wait_s = max([*(track.wait_s for track in tracks.values()), self.fade_s - FADE_FRAME_S])
        for track in kept:
            track.via_dark, track.wait_s = True, wait_s
        for track in coming:
            track.wait_s = wait_s

    def _dark_after_s(self, fading: _Track, t_s: float) -> float:
        """How long until a steady fade to dark reaches 0 (its progress is 1 at wait_s + fade_s - FADE_FRAME_S)."""
        return max(0.0, fading.since_s + fading.wait_s + self.fade_s - FADE_FRAME_S - t_s)

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
            if not (self._fades and wave.fade):
                return wave.level
            if tau_s < track.wait_s:  # held, or fading out at the pace of a fade to dark
                out = min(1.0, (tau_s + FADE_FRAME_S) / self.fade_s) if track.via_dark else 0.0
                return track.from_value * (1.0 - out)
            start = 0.0 if track.via_dark else track.from_value
            progress = min(1.0, (tau_s - track.wait_s + FADE_FRAME_S) / self.fade_s)
            return start + (wave.level - start) * progress
        lead_periods = ON_OFF_LEAD_PERIODS if self.on_off and isinstance(wave, Pulse) else 0.0
        return wave.at(tau_s + (track.shift - lead_periods) * wave.period_s)


def _steady_lit(wave: Wave) -> bool:
    return isinstance(wave, Steady) and wave.level > 0.0


def _dark(wave: Wave) -> bool:
    """A steady dark reached by a fade."""
    return isinstance(wave, Steady) and wave.level == 0.0 and wave.fade


def _quantize(value: float) -> float:
    return round(min(1.0, max(0.0, value)), DECIMALS)
