"""How calm the rep's lights are: the looks the LED stage shows over whole conversations.

    .venv/bin/python -m bench.calm [FILE.wav ...]

Default files: the bundled sample conversation and the speed bench's 10-minute recording
(bench/.cache/long_10min.wav, made by ``python -m bench.speed`` or ``bench.simulate --long 600``).
Each file runs through the device's analysis stages as fast as it can be read; beside them the LED
stage's own ``Status`` (the default ``[leds]``) is asked, at the end of every audio block, which look
it shows: calm green, amber (the rep dominates), red (and has talked on past ``red_after_s``), and
whether the interruption pulse is on. Printed per file: how often the look changes, how long each
look is held at the shortest and in all, and the pulses. A light that flickers (a look held for a
fraction of a second) or changes every few seconds is not calm; nothing is asserted here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.speed import CACHE
from listener.audio.wav import WavSource
from listener.config import Config, geometry, parse_config
from listener.events import AudioBlock, Event
from listener.outputs.led_status import Status
from listener.pipeline import Pipeline, Stage
from listener.service.build import analysis_stages
from listener.service.runner import sample_conversation

LONG = CACHE / "long_10min.wav"  # bench.speed's recording


@dataclass
class Episode:
    look: str  # a Look's value, "+pulse" while the interruption pulse is on
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class LookLog(Stage):
    """Asks the lights' Status what it shows at the end of every audio block."""

    status: Status
    episodes: list[Episode] = field(default_factory=list)
    name: str = "look-log"

    def process(self, event: Event) -> Iterable[Event]:
        self.status.update(event)
        if isinstance(event, AudioBlock):
            t_s = event.end_s
            shown, pulse = self.status.shown(t_s)  # what the lights show, pulse rule included
            look = shown.value + ("+pulse" if pulse else "")
            if self.episodes and self.episodes[-1].look == look:
                self.episodes[-1].end_s = t_s
            else:
                self.episodes.append(Episode(look, self.episodes[-1].end_s if self.episodes else 0.0, t_s))
        return ()


def looks_of(path: Path, config: Config) -> list[Episode]:
    log = LookLog(Status.from_config(config))
    with WavSource(path, geometry(config)) as source, Pipeline([*analysis_stages(config, geometry(config)), log]) as p:
        p.run(source)
    return log.episodes


def report(name: str, episodes: Sequence[Episode]) -> list[str]:
    total_s = episodes[-1].end_s if episodes else 0.0
    changes = max(0, len(episodes) - 1)
    lines = [f"{name}: {total_s:.0f} s, {changes} changes of look ({60 * changes / max(total_s, 1e-9):.1f} per minute)"]
    for look in sorted({e.look for e in episodes}):
        mine = [e for e in episodes if e.look == look]
        inner = [e for e in mine if e is not episodes[0] and e is not episodes[-1]]  # ends cut by the file's ends
        shortest = f"{min(e.duration_s for e in inner):5.1f} s" if inner else "    -  "
        held = sum(e.duration_s for e in mine)
        lines.append(f"  {look:<20} {len(mine):3d} times, {held:6.1f} s in all, shortest {shortest}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="WAV files (default: the sample and the 10-minute one)")
    args = parser.parse_args(argv)
    files = args.files or [sample_conversation(), *([LONG] if LONG.exists() else [])]
    config = parse_config({})
    for path in files:
        print("\n".join(report(path.name, looks_of(path, config))))
    if not args.files and not LONG.exists():
        print(f"({LONG} not made yet: python -m bench.speed makes it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
