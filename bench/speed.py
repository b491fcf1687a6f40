"""CPU seconds per audio second and peak memory of `listener analyze` (with ``--service``, of `listener run` too).

    python -m bench.speed [--minutes 10] [--file X.wav] [--array PRESET | --config FILE] [--service]

Makes (once, cached) a 10-minute 16 kHz recording from the spatialized AMI
cases (on the 4-mic board, or on ``--array``'s in its own channels, analyzed
with a config naming it), runs `listener analyze` on it in a child process
pinned to one core, and reads the child's CPU time from the kernel and its
peak RSS from its own /proc status. A 1-second run gives the fixed start-up cost (imports), reported
separately so the per-audio-second figure is the streaming cost. ``--config``
is passed to `listener analyze` (another turn model, say) on the default board.

``--service`` measures the service pipeline the same way: `listener run --input FILE --fast` (its
50 ms blocks, the LEDs and the privacy button on gpiozero's mock pins, the systemd stage; MQTT and
transcription as the config has them, off by default), beside `analyze` of the same file (1 s blocks).
The run's LED self-test sleeps (wall time, no CPU).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from bench import simulate
from bench.arrays import ARRAYS, DEFAULT_ARRAY, Layout

CACHE = Path(__file__).resolve().parent / ".cache"


def make_long(minutes: float, out: Path, array: str = DEFAULT_ARRAY) -> Path:
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        simulate.main(["--long", str(minutes * 60.0), "--out", str(out), "--array", array])
    return out


# Runs `listener analyze` and writes the process's own peak RSS (kB) to argv[1]. The kernel's
# ru_maxrss of a child counts the pages it shared with its parent until exec, so a large parent
# (this bench after rendering, or a test process that has loaded torch) would pass for the
# listener's peak; VmHWM is the high-water mark of the memory exec gave it.
PEAK_WRAPPER = """
import sys
from listener.cli import main
code = main(sys.argv[2:])
with open("/proc/self/status") as status, open(sys.argv[1], "w") as out:
    out.write(next((line.split()[1] for line in status if line.startswith("VmHWM:")), ""))
sys.exit(code)
"""


def measure(path: Path, config: Path | None = None, service: bool = False) -> tuple[float, float, float]:
    """(cpu_s, wall_s, peak_rss_mb) of one analyze run (``service``: `listener run --input --fast`) in a fresh
    child on core 0."""
    peak_file = CACHE / f"peak-{os.getpid()}.txt"
    peak_file.unlink(missing_ok=True)
    command = ["run", "--input", str(path), "--fast"] if service else ["analyze", str(path)]
    args = [*command, *(["--config", str(config)] if config else [])]
    cmd = [sys.executable, "-c", PEAK_WRAPPER, str(peak_file), *args]
    # the service's LEDs and button on mock pins, said so (without GPIO they are simulated with a warning)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", GPIOZERO_PIN_FACTORY="mock")
    if hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", "0", *cmd]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    # this child's own CPU time: RUSAGE_CHILDREN's would include every child before it
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"listener {command[0]} failed with exit code {child.returncode}")
    peak_kb = peak_file.read_text().strip() if peak_file.exists() else ""
    peak_file.unlink(missing_ok=True)
    # without /proc (not Linux) the kernel's figure, parent's pages and all
    return usage.ru_utime + usage.ru_stime, wall, (float(peak_kb) if peak_kb else usage.ru_maxrss) / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--file", type=Path, help="analyse this WAV (recorded on --array's board) instead")
    parser.add_argument("--array", choices=ARRAYS, default=DEFAULT_ARRAY, help=f"board (default {DEFAULT_ARRAY})")
    parser.add_argument("--config", type=Path, help="config file for listener analyze (the default board only)")
    parser.add_argument("--service", action="store_true", help="also `listener run --input FILE --fast`")
    args = parser.parse_args()
    if args.config and args.array != DEFAULT_ARRAY:
        parser.error("--config goes with the default board (--array writes its own config)")
    CACHE.mkdir(parents=True, exist_ok=True)  # a fresh clone has none: --file writes its one-second file there
    layout = Layout(args.array)
    board = layout.suffix()  # as the case folders are named: empty for the default board
    path = args.file or make_long(args.minutes, CACHE / f"long_{args.minutes:g}min{board}.wav", args.array)
    config = args.config
    if board:
        config = CACHE / f"speed{board}.toml"
        config.write_text(layout.config_text(), encoding="utf-8")
    info = sf.info(str(path))
    seconds = info.frames / info.samplerate
    short = CACHE / f"one_second{board}.wav"
    x, _ = sf.read(path, frames=16000, dtype="float32", always_2d=True)
    sf.write(short, x, 16000, subtype="PCM_16")
    print(f"recording            {path.name}: {seconds:.0f} s, {info.channels} ch, {info.samplerate} Hz, {args.array}")
    run = timed(path, short, config, seconds)
    print(f"start-up (1 s file)  {run.base_cpu_s:.2f} s CPU, {run.base_wall_s:.2f} s wall")
    print(f"analyze              {run.figures()}")
    print(f"streaming cost       {run.per_s:.4f} CPU s per audio s (target <= 0.02)")
    print(f"including start-up   {run.cpu_s / seconds:.4f} CPU s per audio s")
    if args.service:
        service(path, short, config, seconds, run.per_s)
    print(f"load average now     {os.getloadavg()[0]:.2f} (other work on the machine inflates CPU time)")


@dataclass(frozen=True, slots=True)
class Timed:
    """One command timed on the 1-second file (its start-up) and on the whole recording."""

    base_cpu_s: float
    base_wall_s: float
    cpu_s: float
    wall_s: float
    peak_rss_mib: float
    seconds: float  # the recording's audio

    @property
    def per_s(self) -> float:
        """The streaming cost: CPU seconds per audio second, start-up taken out."""
        return (self.cpu_s - self.base_cpu_s) / self.seconds

    def figures(self) -> str:
        mb = self.peak_rss_mib * 1024 * 1024 / 1e6  # the target is in MB; /proc counts KiB
        return f"{self.cpu_s:.2f} s CPU, {self.wall_s:.2f} s wall, peak RSS {self.peak_rss_mib:.0f} MiB ({mb:.0f} MB)"


def timed(path: Path, short: Path, config: Path | None, seconds: float, service: bool = False) -> Timed:
    base_cpu_s, base_wall_s, _ = measure(short, config, service)
    return Timed(base_cpu_s, base_wall_s, *measure(path, config, service), seconds)


def service(path: Path, short: Path, config: Path | None, seconds: float, analyze_per_s: float) -> None:
    """The same figures for `listener run --input --fast`, and its streaming cost against analyze's."""
    run = timed(path, short, config, seconds, service=True)
    said = f"{run.base_cpu_s:.2f} s CPU, {run.base_wall_s:.2f} s wall"
    print(f"service start-up     {said} (1 s file; the LED self-test sleeps)")
    print(f"run --input --fast   {run.figures()}")
    print(f"service streaming    {run.per_s:.4f} CPU s per audio s, {run.per_s / analyze_per_s:.2f}x analyze's")
    print(f"service w/ start-up  {run.cpu_s / seconds:.4f} CPU s per audio s")


if __name__ == "__main__":
    main()
