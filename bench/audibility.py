"""How audible, at the mics, is the speech the listener hears nobody in?

    python -m bench.audibility [--overlaps separate] [--split heldout] [--variants 6] [--config FILE]

``bench.misses`` finds that about a tenth of each party's truth speech frames
are frames where the listener hears nobody at all. This bench asks whether
those frames carry evidence a better detector could use. For every 10 ms
frame of the channels' mean it measures two things a voice-activity
detector relies on:

* the **level** over the case's floor (the 10th percentile of its frame
  levels), in dB;
* the **voicing**: the highest normalised autocorrelation of a 40 ms Hann
  window at lags of 2.5-12.5 ms (pitch 80-400 Hz), 0 for noise, near 1 for
  a steady voiced sound.

It compares three kinds of frames: speech the listener heard (somebody speaks,
somebody heard), speech it missed (somebody speaks, nobody heard) and silence
(nobody speaks, nobody heard), and gives the area under the ROC curve of each
measure for telling missed speech from silence (0.5: no evidence at all).
Missed frames are also split by their distance from the nearest truth speech
edge: at a turn's start or end, or deep inside a stretch of speech. Last, where the
listener took a truth interruption for a handover (``bench.misses``): the
frames of the silence it heard between the holder's end and the
interrupter's onset in which the truth has both parties speaking. If they
sound like silence, the overlap the definition needs is not in the audio.

Last, the speakers in the excerpts themselves, before any room: each one's
level over the stretches it speaks alone (dB re full scale, 75th percentile
of its 10 ms frames), beside the party the benchmark makes it. The excerpts
are far-field meeting audio, so a speaker who sat far from the meeting's mic
arrives quiet, and the simulated room adds its own distance on top.

Prints figures, asserts nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.io import wavfile

from bench.accuracy import BenchError
from bench.boundaries import Case, analytics_config, analyzed, case_parser, prepared
from bench.heldout import HeldoutError, data_for
from bench.misses import HANDOVER, heard_gap, missed_interruptions
from bench.overlap_features import separation
from bench.room import RATE_HZ
from bench.signals import load_mono
from bench.simulate import split_of
from bench.truth import FRAME_S, SpeakerTurn, frame_activity, n_frames, read_rttm, segments_from_json
from listener.config import Config

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

WINDOW_S = 0.040
PITCH_LAGS_S = (0.0025, 0.0125)  # 400 Hz down to 80 Hz
FLOOR_PERCENTILE = 10
EDGE_S = 0.3  # a missed frame this close to a truth speech edge is "at an edge"
INTERIOR_S = 1.0  # ... and this far from every edge, "inside" a stretch of speech
GAPS = "truth overlap heard as a gap"
SPEAKER_PERCENTILE = 75  # a talker's level: its louder frames (the pauses inside its turns pull a mean down)
MIN_ALONE_S = 0.1
KINDS = ("heard speech", "missed speech", "silence", "missed, at an edge", "missed, inside speech", GAPS)


def frame_dbfs(x: FloatArray, rate_hz: int) -> FloatArray:
    """Per 10 ms frame, its level in dB re full scale."""
    hop = int(rate_hz * FRAME_S)
    n = len(x) // hop
    return 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)


def frame_level_db(x: FloatArray, rate_hz: int) -> FloatArray:
    """Per 10 ms frame, its level in dB over the recording's floor (10th percentile of the frame levels)."""
    level = frame_dbfs(x, rate_hz)
    return level - float(np.percentile(level, FLOOR_PERCENTILE)) if len(level) else level


def frame_voicing(x: FloatArray, rate_hz: int) -> FloatArray:
    """Per 10 ms frame, the peak normalised autocorrelation over the pitch lags of a window centred on it."""
    hop, width = int(rate_hz * FRAME_S), int(rate_hz * WINDOW_S)
    n = len(x) // hop
    padded = np.pad(x, (width // 2, width))
    starts = np.arange(n) * hop + hop // 2
    windows = padded[starts[:, None] + np.arange(width)[None, :]]
    windows = (windows - windows.mean(axis=1, keepdims=True)) * np.hanning(width)
    # zero-padded to twice the width, so the autocorrelation does not wrap around
    ac = np.fft.irfft(np.abs(np.fft.rfft(windows, 2 * width, axis=1)) ** 2, axis=1)
    lo, hi = (int(rate_hz * s) for s in PITCH_LAGS_S)
    energy = ac[:, 0]
    peak = ac[:, lo : hi + 1].max(axis=1)
    return np.where(energy > 1e-12, peak / np.maximum(energy, 1e-12), 0.0)


def edge_distance_s(active: BoolArray) -> FloatArray:
    """Per frame, seconds to the nearest frame where ``active`` changes (inf when it never does)."""
    edges = np.flatnonzero(np.diff(active.astype(np.int8))) + 1
    if not len(edges):
        return np.full(len(active), np.inf)
    frames = np.arange(len(active))
    right = np.searchsorted(edges, frames).clip(0, len(edges) - 1)
    left = (right - 1).clip(0, len(edges) - 1)
    return np.minimum(np.abs(edges[right] - frames), np.abs(frames - edges[left])) * FRAME_S


@dataclass
class Frames:
    """Pooled over cases: per kind of frame, its level and voicing values."""

    level_db: dict[str, list[FloatArray]] = field(default_factory=lambda: {k: [] for k in KINDS})
    voicing: dict[str, list[FloatArray]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def add(self, kind: str, mask: BoolArray, level_db: FloatArray, voicing: FloatArray) -> None:
        self.level_db[kind].append(level_db[mask])
        self.voicing[kind].append(voicing[mask])

    def values(self, measure: str, kind: str) -> FloatArray:
        chosen = (self.level_db if measure == "level" else self.voicing)[kind]
        return np.concatenate(chosen) if chosen else np.zeros(0)


def measure_case(
    audio: FloatArray, rate_hz: int, truth: BoolArray, heard: BoolArray, gaps: BoolArray, into: Frames
) -> None:
    """Add one case's frames: ``truth`` and ``heard`` are (2, frames) per-party activity, ``gaps`` per frame."""
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    level, voicing = frame_level_db(mono, rate_hz), frame_voicing(mono, rate_hz)
    n = min(len(level), truth.shape[1], heard.shape[1])
    spoken, heard_any = truth[0, :n] | truth[1, :n], heard[0, :n] | heard[1, :n]
    level, voicing = level[:n], voicing[:n]
    missed = spoken & ~heard_any
    distance = edge_distance_s(spoken)
    for kind, mask in (
        ("heard speech", spoken & heard_any),
        ("missed speech", missed),
        ("silence", ~spoken & ~heard_any),
        ("missed, at an edge", missed & (distance < EDGE_S)),
        ("missed, inside speech", missed & (distance >= INTERIOR_S)),
        (GAPS, gaps[:n] & truth[0, :n] & truth[1, :n]),
    ):
        into.add(kind, mask, level, voicing)


def print_frames(frames: Frames) -> None:
    silence = {m: frames.values(m, "silence") for m in ("level", "voicing")}
    print("frames of the channels' mean: median level over the case's floor, median voicing, AUC against silence")
    for kind in KINDS:
        level, voicing = frames.values("level", kind), frames.values("voicing", kind)
        if not len(level):
            print(f"  {kind:<30} none")
            continue
        aucs = [separation(v, silence[m]) for m, v in (("level", level), ("voicing", voicing))]
        shown = " / ".join("-" if np.isnan(a) else f"{a:.3f}" for a in aucs)
        print(
            f"  {kind:<30} {len(level):6d} frames, level {np.median(level):5.1f} dB,"
            f" voicing {np.median(voicing):.3f}; AUC level / voicing {shown}"
        )
    missed = frames.values("level", "missed speech")
    if len(missed) and len(silence["level"]):
        # what a detector would pay to take half of the missed speech by its level alone
        above = float(np.mean(silence["level"] > np.median(missed)))
        print(f"a level threshold passing half of the missed speech passes {above:.1%} of the silence frames")


def speaker_levels(
    mix: FloatArray, turns: Sequence[SpeakerTurn], rate_hz: int
) -> dict[str, tuple[float | None, float]]:
    """Per speaker: its level where it alone speaks (dB re full scale; None under 0.1 s) and those seconds."""
    level = frame_dbfs(mix, rate_hz)
    n = len(level)
    active: dict[str, BoolArray] = {t.speaker: np.zeros(n, dtype=bool) for t in turns}
    for t in turns:
        active[t.speaker][round(t.start_s / FRAME_S) : round(t.end_s / FRAME_S)] = True
    speakers = np.sum(list(active.values()), axis=0)
    out: dict[str, tuple[float | None, float]] = {}
    for name, mine in active.items():
        alone = mine & (speakers == 1)
        seconds = float(alone.sum() * FRAME_S)
        out[name] = (
            float(np.percentile(level[alone], SPEAKER_PERCENTILE)) if seconds >= MIN_ALONE_S else None,
            seconds,
        )
    return out


def speaker_lines(truths: Sequence[dict[str, Any]], shared: Path) -> list[str]:
    """One line per excerpt: its speakers' own levels, the rep first."""
    lines = [f"the excerpts' speakers where each speaks alone ({SPEAKER_PERCENTILE}th percentile level, seconds alone)"]
    rttms: dict[Path, dict[str, list[SpeakerTurn]]] = {}  # one RTTM per data folder, read once
    for excerpt, parties in {t["excerpt"]: {s["id"]: s["party"] for s in t["speakers"]} for t in truths}.items():
        folder = data_for(split_of(excerpt), shared) / "ami-train"
        if folder not in rttms:
            rttms[folder] = read_rttm(folder / "train.rttm")
        levels = speaker_levels(load_mono(folder / f"{excerpt}.wav", RATE_HZ), rttms[folder][excerpt], RATE_HZ)
        cells = []
        for name in sorted(levels, key=lambda n: (parties.get(n) != "rep", n)):
            db, alone_s = levels[name]
            cells.append(f"{parties.get(name, '?')} {name} {'-' if db is None else f'{db:.1f} dB'} ({alone_s:.1f} s)")
        lines.append(f"  {excerpt:<8} " + ", ".join(cells))
    return lines


def read_audio(path: Path) -> tuple[int, FloatArray]:
    rate, pcm = wavfile.read(path)
    return int(rate), pcm.astype(np.float64) / 32768.0


def handover_gaps(truth: dict[str, Any], report: dict[str, Any], config: Config, frames: int) -> BoolArray:
    """Per frame: inside the silence the listener heard where a truth interruption it missed was a handover to it."""
    case = Case.of(truth, config)
    system = segments_from_json(report.get("segments", []))
    gaps = np.zeros(frames, dtype=bool)
    for event, cause in missed_interruptions(case, report, system, config):
        gap = heard_gap(event, system) if cause == HANDOVER else None
        if gap is not None:
            gaps[round(gap[0] / FRAME_S) : round(gap[1] / FRAME_S)] = True
    return gaps


def main(argv: Sequence[str] | None = None) -> int:
    args = case_parser("python -m bench.audibility", __doc__.split("\n")[0]).parse_args(argv)
    frames, truths = Frames(), []
    try:
        config = analytics_config(args)  # a bad config is reported before the cases are analyzed
        folder, manifest = prepared(args)
        reports = analyzed(folder, manifest, args.timeout, args.config)
        for entry, (truth, report) in zip(manifest["cases"], reports, strict=True):
            rate, audio = read_audio(folder / entry["wav"])
            n = n_frames(len(audio) / rate)
            want = frame_activity(segments_from_json(truth["segments"]), n)
            got = frame_activity(segments_from_json(report.get("segments", [])), n)
            measure_case(audio, rate, want, got, handover_gaps(truth, report, config, n), frames)
            truths.append(truth)
        speakers = speaker_lines(truths, args.data)
    except (BenchError, HeldoutError) as exc:
        print(f"bench.audibility: {exc}", file=sys.stderr)
        return 2
    print(f"{len(manifest['cases'])} cases ({args.split}, {args.overlaps} overlaps)")
    print_frames(frames)
    print("\n".join(speakers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
