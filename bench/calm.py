"""How calm the rep's lights are, read from the LED values themselves over whole conversations.

    .venv/bin/python -m bench.calm [--preset rgb] [--on-off] [FILE.wav ...]

Default files: the bundled sample conversation and the speed bench's 10-minute recording
(bench/.cache/long_10min.wav, made by ``python -m bench.speed`` or ``bench.simulate --long 600``).
Each file runs through the device's analysis stages as fast as it can be read, into the LED stage on
gpiozero's MockFactory (PWM pins, or ``--on-off`` pins that only switch), and every value the stage
reads back from the gpiozero devices is kept, as ``listener run --fast --led-trace`` prints them. What
the rep sees is then the set of LEDs lit, held over time: a pulse's or blink's dark moments (up to a
second, the fault blink's dark half; a blinking pulse's last one too) belong to it, and a spell under a
second that lights just what the looks either side of it light (or nothing, for one frame) is the change
between them, a cross-fade. Printed per file: how often the look changes, how long each is held at the
shortest and in all, the cross-fades, and on the traffic light every moment green and red were lit
together (outside the pause, which lights all three: "calm" and "you interrupted" at once). A look held
for a fraction of a second, or changing every few seconds, is not calm; nothing is asserted here.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from bench.speed import CACHE
from listener.audio.wav import WavSource
from listener.config import Config, geometry, parse_config
from listener.outputs.led_patterns import FADE_FRAME_S, FAULT_PERIOD_S, PULSE_PERIOD_S
from listener.outputs.leds import LedStage
from listener.pipeline import Pipeline
from listener.service.build import analysis_stages
from listener.service.runner import sample_conversation

LONG = CACHE / "long_10min.wav"  # bench.speed's recording
ANIMATION_DARK_S = FAULT_PERIOD_S / 2 + 1e-6  # the longest dark spell inside a pulse, breath or blink
PULSE_DARK_S = PULSE_PERIOD_S / 2 + 1e-6  # the interruption pulse's dark half on pins without PWM


@dataclass
class Episode:
    lit: frozenset[str]  # the LEDs lit (value > 0)
    start_s: float
    end_s: float
    values: dict[str, list[float]] = field(default_factory=dict)  # each lit LED's values, in order
    crossfade: bool = False
    blinking: frozenset[str] = frozenset()  # the LEDs whose dark moments were folded in: on/off pins pulse so

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def look(self) -> str:
        """The lit LEDs, each marked "pulsing" when its value rose and fell again (a fade only goes one way)."""
        if not self.lit:
            return "dark"
        names = [led + (" pulsing" if self._pulsing(led) else "") for led in sorted(self.lit)]
        return "+".join(names)

    def _pulsing(self, led: str) -> bool:
        values = self.values.get(led, [])
        return _reversals(values) >= 2 or (led in self.blinking and len(set(values)) == 1)


def _reversals(values: Sequence[float]) -> int:
    steps = [b - a for a, b in itertools.pairwise(values) if b != a]
    return sum(1 for a, b in itertools.pairwise(steps) if (a > 0) != (b > 0))


def led_states(trace: str) -> list[tuple[float, dict[str, float]]]:
    """Every LED's value from each audio time the trace has lines for, all of that time's lines applied
    (the self-test's lines, all at 0.0, are folded into the first)."""
    state: dict[str, float] = {}
    lines = [json.loads(line) for line in trace.splitlines()]
    states = []
    for t, group in itertools.groupby(lines, key=lambda d: d["t"]):
        state.update({d["led"]: d["value"] for d in group})
        states.append((float(t), dict(state)))
    return states


def episodes_of(states: Sequence[tuple[float, dict[str, float]]]) -> list[Episode]:
    """Spells of one set of lit LEDs, an animation's dark moments folded in, cross-fades marked."""
    spells: list[Episode] = []
    for (t, state), (t_next, _) in itertools.pairwise(states):
        lit = frozenset(led for led, v in state.items() if v > 0.0)
        if not spells or spells[-1].lit != lit:
            spells.append(Episode(lit, t, t_next))
        spell = spells[-1]
        spell.end_s = t_next
        for led in lit:
            spell.values.setdefault(led, []).append(state[led])
    while spells and not spells[0].lit:  # dark until the first audio says what to show: the start, not a look
        spells.pop(0)
    merged = _fold_dark(spells)
    for before, mid, after in zip(merged, merged[1:], merged[2:], strict=False):
        if before.lit != after.lit:  # what the looks either side light (a cross-fade), or a frame of dark
            between = mid.lit == before.lit | after.lit or (not mid.lit and mid.duration_s <= FADE_FRAME_S + 1e-6)
            mid.crossfade = between and mid.duration_s <= 1.0
    return merged


def _fold_dark(spells: list[Episode]) -> list[Episode]:
    """A spell of at most ANIMATION_DARK_S between two of the same LEDs, with some of them dark, is part of
    their animation: all dark (a pulse alone), or the rest still lit (red pulsing over a steady amber)."""
    out: list[Episode] = []
    for spell in spells:
        if (
            len(out) >= 2
            and _dimmed(out[-1], out[-2])
            and out[-1].duration_s <= ANIMATION_DARK_S
            and out[-2].lit == spell.lit
        ):
            dim = out.pop()
            kept = out[-1]
            kept.end_s, kept.blinking = spell.end_s, kept.blinking | (kept.lit - dim.lit)
            for led, values in [*dim.values.items(), *spell.values.items()]:
                kept.values.setdefault(led, []).extend(values)
        elif out and out[-1].lit == spell.lit:
            out[-1].end_s = spell.end_s
        else:
            last_dark = len(out) >= 2 and _dimmed(out[-1], out[-2]) and out[-1].lit <= spell.lit
            if last_dark and out[-2].blinking and out[-1].duration_s <= PULSE_DARK_S:
                dim = out.pop()  # a blinking pulse's last dark half, before what follows it
                out[-1].end_s = dim.end_s
            out.append(spell)
    return out


def _dimmed(spell: Episode, before: Episode) -> bool:
    """``spell`` lights fewer of the LEDs ``before`` lit, and nothing else."""
    return spell.lit < before.lit


def together_s(states: Sequence[tuple[float, dict[str, float]]], a: str, b: str) -> list[tuple[float, float]]:
    """(start, length) of each spell with ``a`` and ``b`` lit together, not all three (the pause's breath)."""
    spells: list[tuple[float, float]] = []
    for (t, state), (t_next, _) in itertools.pairwise(states):
        if state.get(a, 0.0) > 0.0 and state.get(b, 0.0) > 0.0 and not all(v > 0.0 for v in state.values()):
            if spells and abs(sum(spells[-1]) - t) < 1e-9:
                spells[-1] = (spells[-1][0], t_next - spells[-1][0])
            else:
                spells.append((t, t_next - t))
    return spells


def trace_of(path: Path, config: Config, *, pwm: bool = True) -> str:
    """The LED trace of ``path`` through the analysis stages and the LED stage on mock pins."""
    factory = MockFactory(pin_class=MockPWMPin if pwm else MockPin)
    trace = io.StringIO()
    leds = LedStage(config, factory=factory, trace=trace)
    try:
        with (
            WavSource(path, geometry(config)) as source,
            Pipeline([*analysis_stages(config, geometry(config)), leds]) as p,
        ):
            p.run(source)
    finally:
        factory.reset()
    return trace.getvalue()


def report(name: str, states: Sequence[tuple[float, dict[str, float]]], traffic_light: bool = True) -> list[str]:
    episodes = [e for e in episodes_of(states) if e.duration_s > 0.0]
    looks = [e for e in episodes if not e.crossfade]
    looks = [e for e, _ in itertools.groupby(looks, key=lambda e: e.look)]  # a cross-fade is no change of its own
    total_s = states[-1][0] if states else 0.0
    changes = max(0, len(looks) - 1)
    inner = [e for e in episodes[1:-1] if not e.crossfade]  # the ends are cut by the file's
    shortest = f"{min(e.duration_s for e in inner):.2f} s" if inner else "-"
    lines = [
        f"{name}: {total_s:.0f} s, {changes} changes of look ({60 * changes / max(total_s, 1e-9):.1f} per minute),"
        f" shortest look held {shortest}"
    ]
    for look in sorted({e.look for e in episodes if not e.crossfade}):
        mine = [e for e in episodes if e.look == look and not e.crossfade]
        short = [e.duration_s for e in mine if e in inner]
        held = sum(e.duration_s for e in mine)
        least = f"{min(short):5.2f} s" if short else "    -  "
        lines.append(f"  {look:<22} {len(mine):3d} times, {held:6.1f} s in all, shortest {least}")
    fades = [e.duration_s for e in episodes if e.crossfade]
    lines.append(f"  cross-fades {len(fades)}, longest {max(fades, default=0.0):.2f} s")
    if traffic_light:
        both = together_s(states, "green", "red")
        said = ", ".join(f"{t:.2f} s for {d:.2f} s" for t, d in both[:5]) + (" ..." if len(both) > 5 else "")
        lines.append(f"  green and red lit together: {'never' if not both else f'{len(both)} times: {said}'}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="WAV files (default: the sample and the 10-minute one)")
    parser.add_argument("--preset", choices=["traffic-light", "rgb"], default="traffic-light")
    parser.add_argument("--on-off", action="store_true", help="pins without PWM: LEDs switched on and off")
    args = parser.parse_args(argv)
    files = args.files or [sample_conversation(), *([LONG] if LONG.exists() else [])]
    config = parse_config({"leds": {"self_test_s": 0.0, "preset": args.preset}})
    for path in files:
        states = led_states(trace_of(path, config, pwm=not args.on_off))
        print("\n".join(report(path.name, states, traffic_light=args.preset == "traffic-light")))
    if not args.files and not LONG.exists():
        print(f"({LONG} not made yet: python -m bench.speed makes it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
