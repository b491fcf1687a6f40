"""How exact the listener's segment boundaries are, and what that alone costs interruption detection.

    python -m bench.boundaries [--overlaps separate] [--split heldout] [--variants 6] [--draws 5] [--config FILE]

An interruption (shared/metrics.md) is an onset *inside* the other party's
activity, so whether a handover that overlaps by 100 ms counts depends on
both boundaries being right to well under that. This bench measures:

1. the system's boundary errors: for every truth onset (end) of a party, the
   nearest system onset (end) of that party within ``MATCH_WINDOW_S``,
   system minus truth; truth onsets with none are counted as unmatched;
2. a *boundary-limited oracle*: the truth segments themselves, each onset and
   end moved by an error drawn from those measured errors (times ``scale``),
   run through the device's analytics (``listener.analytics.replay``, deciding
   as the device does) and scored against the truth's interruptions exactly as
   ``bench.accuracy`` scores the listener. Every speech stretch is found and
   nothing is invented: only the boundaries are as loose as the listener's.

At ``scale`` 1 that is the interruption F1 a system with the listener's
boundaries and perfect detection would score; the smaller scales show how
much tighter the boundaries would have to be for a target. Prints figures,
asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import interruptions as events
from bench.accuracy import BenchError, analyze, case_truth, cases_dir, ensure_cases
from bench.heldout import HeldoutError, data_for
from bench.overlaps import OVERLAP_MODES
from bench.scoring import Counts
from bench.signals import DATA_DIR
from bench.simulate import DEFAULT_SEED, SPLITS
from bench.truth import PartySegment, segments_from_json
from listener.analytics.replay import replay
from listener.config import Config, load_config
from listener.errors import ListenerError
from listener.events import Party

MATCH_WINDOW_S = 0.5
MIN_SEGMENT_S = 0.05  # a moved segment shorter than this is dropped (its ends crossed)
SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)
LEAD_BUCKETS = (("under 0.05 s", 0.0, 0.05), ("0.05-0.3 s", 0.05, 0.3), ("0.3 s or more", 0.3, float("inf")))


@dataclass(frozen=True, slots=True)
class BoundaryErrors:
    """System minus truth, seconds, for the truth boundaries that had a system boundary near them."""

    onset_s: tuple[float, ...]
    end_s: tuple[float, ...]
    truth_onsets: int  # all of them, matched or not

    def __add__(self, other: BoundaryErrors) -> BoundaryErrors:
        return BoundaryErrors(
            self.onset_s + other.onset_s, self.end_s + other.end_s, self.truth_onsets + other.truth_onsets
        )


def _nearest(target: float, candidates: Sequence[float], window_s: float) -> float | None:
    near = [c for c in candidates if abs(c - target) <= window_s]
    return min(near, key=lambda c: abs(c - target)) if near else None


def boundary_errors(
    truth: Sequence[PartySegment], system: Sequence[PartySegment], window_s: float = MATCH_WINDOW_S
) -> BoundaryErrors:
    onsets: list[float] = []
    ends: list[float] = []
    for party in Party:  # a fixed order: the errors are drawn from by position (blur)
        mine = [s for s in system if s.party == party]
        for seg in (s for s in truth if s.party == party):
            found = _nearest(seg.start_s, [s.start_s for s in mine], window_s)
            if found is not None:
                onsets.append(found - seg.start_s)
            found = _nearest(seg.end_s, [s.end_s for s in mine], window_s)
            if found is not None:
                ends.append(found - seg.end_s)
    return BoundaryErrors(tuple(onsets), tuple(ends), len(truth))


def blur(
    segments: Sequence[PartySegment], errors: BoundaryErrors, scale: float, rng: random.Random, seconds: float
) -> list[PartySegment]:
    """The segments with every onset and end moved by a drawn error (times ``scale``), kept inside the audio."""
    out = []
    for seg in segments:
        start = max(0.0, seg.start_s + scale * rng.choice(errors.onset_s))
        end = min(seconds, seg.end_s + scale * rng.choice(errors.end_s))
        if end - start >= MIN_SEGMENT_S:
            out.append(PartySegment(seg.party, start, end))
    return out


@dataclass(frozen=True, slots=True)
class Case:
    """One case's truth, parsed once, with its interruptions by the definition (a replay of the analytics)."""

    segments: list[PartySegment]
    seconds: float
    interruptions: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)  # every record of that replay (floors, backchannels)

    @classmethod
    def of(cls, truth: dict[str, Any], config: Config) -> Case:
        records = events.truth_events(truth, config)
        segments = segments_from_json(truth["segments"])
        return cls(segments, float(truth["audio"]["seconds"]), events.of_kind(records, "interruption"), records)


def interruption_matches(case: Case, segments: Sequence[PartySegment], config: Config) -> Counts:
    """The analytics' interruptions on ``segments`` (decided as the device does) against the truth's."""
    found = replay([(s.party, s.start_s, s.end_s) for s in segments], case.seconds, config)
    return events.match(case.interruptions, events.of_kind([e.record() for e in found.events], "interruption"))


def ceiling(cases: Sequence[Case], errors: BoundaryErrors, scale: float, draws: int, config: Config) -> list[Counts]:
    """One pooled interruption score per draw of the boundary-limited oracle."""
    pooled = []
    for draw in range(draws if scale else 1):  # at scale 0 nothing is drawn: every draw is the same
        rng = random.Random(draw)
        pooled.append(
            sum(
                (interruption_matches(c, blur(c.segments, errors, scale, rng, c.seconds), config) for c in cases),
                Counts(),
            )
        )
    return pooled


def _spread(values: Sequence[float]) -> str:
    v = sorted(values)
    mid = statistics.median(v)
    mad = statistics.median(abs(x - mid) for x in v)
    return (
        f"median {1000 * mid:+.0f} ms, 10th-90th percentile {1000 * v[len(v) // 10]:+.0f} to"
        f" {1000 * v[(9 * len(v)) // 10]:+.0f} ms, median absolute deviation {1000 * mad:.0f} ms (n {len(v)})"
    )


def covering(segments: Sequence[PartySegment], party: Party, t_s: float) -> PartySegment | None:
    """``party``'s segment that ``t_s`` falls in, if any."""
    return next((s for s in segments if s.party == party and s.start_s <= t_s < s.end_s), None)


def holder_lead_s(segments: Sequence[PartySegment], event: dict[str, Any]) -> float | None:
    """How long the interrupted party had been speaking, in its current stretch, at the interrupter's onset."""
    onset = float(event["t"])
    around = covering(segments, Party(event["by"]).other, onset)
    return onset - around.start_s if around is not None else None


def found_by_listener(case: Case, report: dict[str, Any]) -> set[int]:
    """Indices of the case's truth interruptions that the report's interruptions match."""
    found, _ = events.matched(case.interruptions, events.of_kind(report.get("events", []), "interruption"))
    return found


@dataclass(frozen=True, slots=True)
class Measured:
    cases: list[Case]
    errors: BoundaryErrors
    leads: list[tuple[float | None, bool]]  # per truth interruption: holder_lead_s, found by the listener


def analyzed(
    cases_dir: Path, manifest: dict[str, Any], timeout_s: float, config_path: Path | None = None
) -> Iterator[tuple[dict[str, Any], Any]]:
    """(truth, report) of every case in the manifest, the report from ``listener analyze``."""
    for entry in manifest["cases"]:
        truth = case_truth(cases_dir, entry)
        report = analyze(cases_dir / entry["wav"], config_path, timeout_s)
        print(f"  {entry['case']}: analyzed", file=sys.stderr)
        yield truth, report


def measure(
    cases_dir: Path, manifest: dict[str, Any], timeout_s: float, config: Config, config_path: Path | None = None
) -> Measured:
    """Run the listener on every case: its boundary errors, and which truth interruptions it found."""
    cases: list[Case] = []
    errors = BoundaryErrors((), (), 0)
    leads: list[tuple[float | None, bool]] = []
    for truth, report in analyzed(cases_dir, manifest, timeout_s, config_path):
        case = Case.of(truth, config)
        errors = errors + boundary_errors(case.segments, segments_from_json(report.get("segments", [])))
        found = found_by_listener(case, report)
        leads += [(holder_lead_s(case.segments, e), i in found) for i, e in enumerate(case.interruptions)]
        cases.append(case)
    return Measured(cases, errors, leads)


def print_leads(leads: Sequence[tuple[float | None, bool]]) -> None:
    """Truth interruptions by how long the holder had spoken before the onset: near-simultaneous starts apart."""
    print("truth interruptions by how long the interrupted party had been speaking at the onset:")
    for label, lo, hi in LEAD_BUCKETS:
        chosen = [hit for lead, hit in leads if lead is not None and lo <= lead < hi]
        print(f"  {label:<14} {len(chosen):4d}, found by the listener {sum(chosen)}")


def case_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options of a bench that runs the listener over the rendered cases (this one, bench.misses)."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--overlaps", choices=OVERLAP_MODES, default="separate")
    ap.add_argument("--variants", type=int, default=6, help="rooms per excerpt (default 6)")
    ap.add_argument("--split", choices=SPLITS, default="heldout")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per analyze run")
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    # resolved: the analyzer runs from the project root
    ap.add_argument(
        "--config", type=lambda p: Path(p).resolve(), help="config file for listener analyze (a trial model's, say)"
    )
    return ap


def analytics_config(args: argparse.Namespace) -> Config:
    """The config the truth's events are derived with: the one the listener runs with."""
    try:
        return load_config(args.config)
    except ListenerError as exc:
        raise BenchError(f"{args.config}: {exc}") from exc


def prepared(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The cases' folder and manifest for ``case_parser``'s options, rendered first if need be."""
    folder = cases_dir(args.overlaps, args.split).resolve()
    data = data_for(args.split, args.data)
    return folder, ensure_cases(folder, args.variants, DEFAULT_SEED, args.split, data, args.overlaps)


def main(argv: Sequence[str] | None = None) -> int:
    ap = case_parser("python -m bench.boundaries", __doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=5, help="draws of the errors per scale (default 5)")
    args = ap.parse_args(argv)
    try:
        config = analytics_config(args)
        folder, manifest = prepared(args)
        found = measure(folder, manifest, args.timeout, config, args.config)
    except (BenchError, HeldoutError) as exc:
        print(f"bench.boundaries: {exc}", file=sys.stderr)
        return 2
    errors = found.errors
    if not errors.onset_s or not errors.end_s:
        print("bench.boundaries: the listener found no boundary near any truth boundary", file=sys.stderr)
        return 2
    print(
        f"{len(found.cases)} cases ({args.split}, {args.overlaps} overlaps), boundaries within ±{MATCH_WINDOW_S:g} s:"
    )
    print(
        f"  onsets (system - truth): {_spread(errors.onset_s)};"
        f" {errors.truth_onsets - len(errors.onset_s)} of {errors.truth_onsets} truth onsets unmatched"
    )
    print(f"  ends   (system - truth): {_spread(errors.end_s)}")
    print_leads(found.leads)
    print("interruption F1 of the truth with its boundaries moved by the listener's errors × scale:")
    for scale in SCALES:
        scores = ceiling(found.cases, errors, scale, args.draws, config)
        f1s = [s.f1 or 0.0 for s in scores]
        last = scores[-1]
        print(
            f"  scale {scale:4.2f}: F1 mean {statistics.mean(f1s):.3f} (draws {min(f1s):.3f}-{max(f1s):.3f});"
            f" last draw tp {last.tp} fp {last.fp} fn {last.fn}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
