"""CPU seconds per audio second and peak memory of `listener analyze`.

    python -m bench.speed [--minutes 10] [--file X.wav] [--array PRESET]

Makes (once, cached) a 10-minute 16 kHz recording from the spatialized AMI
cases (on the 4-mic board, or on ``--array``'s in its own channels, analyzed
with a config naming it), runs `listener analyze` on it in a child process
pinned to one core, and reads the child's CPU time and peak RSS from the
kernel. A 1-second run gives the fixed start-up cost (imports), reported
separately so the per-audio-second figure is the streaming cost.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import soundfile as sf

from bench.arrays import ARRAYS, DEFAULT_ARRAY, Layout

CACHE = Path(__file__).resolve().parent / ".cache"


def make_long(minutes: float, out: Path, array: str = DEFAULT_ARRAY) -> Path:
    """Render the recording in a child process: a parent grown by rendering would
    inflate the analyze child's peak RSS (a forked child counts its parent's pages until exec)."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "bench.simulate", "--long", str(minutes * 60.0), "--out", str(out)]
        subprocess.run([*cmd, "--array", array], check=True)
    return out


def measure(path: Path, config: Path | None = None) -> tuple[float, float, float]:
    """(cpu_s, wall_s, peak_rss_mb) of one analyze run in a fresh child on core 0."""
    cmd = [sys.executable, "-m", "listener", "analyze", str(path), *(["--config", str(config)] if config else [])]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", "0", *cmd]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    # this child's own usage: RUSAGE_CHILDREN's peak would include the child that rendered the recording
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"listener analyze failed with exit code {child.returncode}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--file", type=Path, help="analyse this WAV (recorded on --array's board) instead")
    parser.add_argument("--array", choices=ARRAYS, default=DEFAULT_ARRAY, help=f"board (default {DEFAULT_ARRAY})")
    args = parser.parse_args()
    layout = Layout(args.array)
    board = layout.suffix()  # as the case folders are named: empty for the default board
    path = args.file or make_long(args.minutes, CACHE / f"long_{args.minutes:g}min{board}.wav", args.array)
    config = None
    if board:
        config = CACHE / f"speed{board}.toml"
        config.write_text(layout.config_text(), encoding="utf-8")
    info = sf.info(str(path))
    seconds = info.frames / info.samplerate
    short = CACHE / f"one_second{board}.wav"
    x, _ = sf.read(path, frames=16000, dtype="float32", always_2d=True)
    sf.write(short, x, 16000, subtype="PCM_16")
    base_cpu, base_wall, _ = measure(short, config)
    cpu, wall, rss = measure(path, config)
    per_s = (cpu - base_cpu) / seconds
    print(f"recording            {path.name}: {seconds:.0f} s, {info.channels} ch, {info.samplerate} Hz, {args.array}")
    print(f"start-up (1 s file)  {base_cpu:.2f} s CPU, {base_wall:.2f} s wall")
    print(f"analyze              {cpu:.2f} s CPU, {wall:.2f} s wall, peak RSS {rss:.0f} MB")
    print(f"streaming cost       {per_s:.4f} CPU s per audio s (target <= 0.02)")
    print(f"including start-up   {cpu / seconds:.4f} CPU s per audio s")
    print(f"load average now     {os.getloadavg()[0]:.2f} (other work on the machine inflates CPU time)")


if __name__ == "__main__":
    main()
