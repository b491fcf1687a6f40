"""Memory while the array is away: a live source waiting for an absent array, as ``listener run
--wait-for-array`` does, on this machine's own ALSA configuration.

    .venv/bin/python -m bench.outage_memory [--seconds 60] [--warm-up-s 3] [--reopen-interval-s 0.1] [--without-hold]

Every reopen attempt starts PortAudio afresh, and each start loads the plugin libraries the ALSA
configuration names (listener/audio/plugins.py says why some leak). Prints the attempts made, the RSS
before and after, and KiB per attempt; ``--without-hold`` measures the same with the plugin hold switched
off (what the listener did before 2026-12-06). The first attempts are left out of the figure: they load
what stays loaded. What it measures depends on the machine: with no plugin packages installed there is
nothing to leak either way.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from unittest import mock

from bench.usage import rss_mb
from listener.audio import live
from listener.audio.live import LiveSource
from listener.audio.plugins import PluginHold, loaded_plugins
from listener.config import Config, parse_config
from listener.events import AudioDropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outage_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to wait for the absent array")
    parser.add_argument("--warm-up-s", type=float, default=3.0, help="left out: the first attempts load what stays")
    parser.add_argument("--reopen-interval-s", type=float, default=0.1, help="[array] reopen_interval_s")
    parser.add_argument("--without-hold", action="store_true", help="switch the plugin hold off")
    args = parser.parse_args(argv)
    array = {"preset": "respeaker-4mic", "device": "no_such_array_bench", "reopen_interval_s": args.reopen_interval_s}
    config = parse_config({"array": array})
    attempts = [0]
    between: set[str] = set()
    start_run = live.LiveSource._start_run

    def counted(source: LiveSource) -> object:
        attempts[0] += 1
        return start_run(source)

    with (
        mock.patch.object(live.LiveSource, "_start_run", counted),
        mock.patch.object(PluginHold, "take", lambda self: None) if args.without_hold else nullcontext(),
    ):
        figures = wait(config, (args.warm_up_s, args.seconds), attempts, between)
    (at_s, rss0, n0), (end_s, rss1, n1) = figures[0], figures[-1]
    held = sorted(p.rsplit("/", 1)[-1] for p in between)
    per_attempt = (rss1 - rss0) * 1024.0 / max(1, n1 - n0)
    print(
        f"hold {'off' if args.without_hold else 'on'}; ALSA plugin libraries loaded between attempts: {held or 'none'}"
    )
    print(f"attempts {n1 - n0} in {end_s - at_s:.0f} s after a {args.warm_up_s:g} s warm-up ({n0} attempts)")
    print(f"RSS {rss0:.1f} -> {rss1:.1f} MiB: {per_attempt:.2f} KiB per attempt", end="")
    print(f", {per_attempt * 3600 / 1024:.1f} MiB an hour at the default reopen_interval_s 1.0")
    return 0


def wait(
    config: Config, span_s: tuple[float, float], attempts: list[int], between: set[str]
) -> list[tuple[float, float, int]]:
    """Run the source for ``span_s`` (warm-up, whole); (time, RSS MiB, attempts) after warm-up and at the end.
    ``between`` gets the plugin libraries loaded at the end, between two attempts."""
    warm_up_s, seconds = span_s
    marks: list[tuple[float, float, int]] = []
    began_s = time.monotonic()
    with LiveSource(config, wait=True) as source:
        for event in source.events():
            now_s = time.monotonic() - began_s
            if isinstance(event, AudioDropped) and not marks and now_s >= warm_up_s:
                marks.append((now_s, rss_mb(), attempts[0]))
            if now_s >= seconds and len(marks) == 1:
                marks.append((now_s, rss_mb(), attempts[0]))
                between.update(loaded_plugins())
                source.stop()
    return marks


if __name__ == "__main__":
    sys.exit(main())
