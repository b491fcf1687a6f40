"""Per-party voice-activity accuracy of ``listener analyze`` on the simulated cases.

    python -m bench.accuracy [--cases DIR] [--variants N] [--split dev|eval|all|heldout]
                             [--config CFG] [--oracle | --oracle-one-party | --baseline naive]
                             [--truth trimmed|rttm] [--json]

Cases are generated into ``bench/.cache/cases`` on first use (see
bench.simulate) and reused while their manifest matches. Each case runs
``python -m listener analyze CASE.wav --json [--config CFG]``; its segments
are scored against the truth on 10 ms frames (definitions in bench.scoring).
``--oracle`` scores the truth against itself, to check the scorer.
``--oracle-one-party`` scores the truth as a perfect system would report it
if it could name only one party at a time (the rep wherever the truth has
both): the ceiling for any system that cannot hear the benchmark's
overlaps, where the same mono mix arrives from both directions.
``--baseline naive`` scores issue #2's point of comparison instead of the
listener: per-frame SRP-PHAT with WebRTC VAD (bench.naive).
``--truth rttm`` scores against the RTTM's turns as they are, pauses and
all, instead of the truth with long quiet pauses cut out (bench.simulate).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import interruptions as events
from bench import naive
from bench.arrays import DEFAULT_LAYOUT, Layout
from bench.heldout import HeldoutError, data_for
from bench.overlaps import OVERLAP_MODES
from bench.scoring import (
    BOOTSTRAP_DRAWS,
    CaseScore,
    Summary,
    bootstrap_intervals,
    case_json,
    excerpt_of,
    score_case,
    summarize,
    summary_json,
    talk_report,
)
from bench.signals import DATA_DIR, ROOT
from bench.simulate import DEFAULT_SEED, SPLITS, generate_cases, manifest_for
from bench.truth import (
    PartySegment,
    frame_activity,
    n_frames,
    segments_from_frames,
    segments_from_json,
)
from listener.analytics.report import SCHEMA as REPORT_SCHEMA

CACHE_DIR = ROOT / "bench" / ".cache"


def cases_dir(overlaps: str, split: str = "all") -> Path:
    """Where the cases of one overlap rendering are cached (the held-out split apart: other excerpts)."""
    return CACHE_DIR / (f"cases-{overlaps}-heldout" if split == "heldout" else f"cases-{overlaps}")


SECONDS_TOLERANCE_S = 0.05
TRUTHS = ("trimmed", "rttm")


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: str
    split: str
    score: CaseScore
    analyze_s: float
    events: events.EventScore | None = None  # interruption / backchannel detection (bench.interruptions)
    voices: frozenset[str] = frozenset()  # the speakers the case's excerpt plays (its truth's "speakers")


def ensure_cases(
    cases_dir: Path,
    variants: int,
    seed: int,
    split: str,
    data_dir: Path,
    overlaps: str = "coherent",
    layout: Layout = DEFAULT_LAYOUT,
) -> dict[str, object]:
    """The manifest of ``cases_dir``, (re)generating the cases if it is missing or stale."""
    path = cases_dir / "manifest.json"
    wanted = manifest_for(variants, seed, split, overlaps=overlaps, layout=layout)
    if path.exists():
        have = json.loads(path.read_text(encoding="utf-8"))
        cases = have.get("cases", [])
        fresh = all(have.get(k) == v for k, v in wanted.items()) and all(
            (cases_dir / c["wav"]).exists() and (cases_dir / c["truth"]).exists() for c in cases
        )
        if fresh and cases:
            return dict(have)
    cases_dir.mkdir(parents=True, exist_ok=True)
    print(f"generating cases into {cases_dir} ...", file=sys.stderr)
    return generate_cases(cases_dir, variants, seed, split, data_dir=data_dir, overlaps=overlaps, layout=layout)


def case_truth(cases_dir: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """The truth file of one manifest entry, as bench.simulate wrote it."""
    return json.loads((cases_dir / entry["truth"]).read_text(encoding="utf-8"))


def analyze(wav: Path, config: Path | None, timeout_s: float) -> dict[str, object]:
    """Run the analyzer CLI on ``wav`` and return its JSON report."""
    cmd = [sys.executable, "-m", "listener", "analyze", str(wav), "--json"]
    if config is not None:
        cmd += ["--config", str(config)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"listener analyze took over {timeout_s:.0f} s on {wav.name}; raise --timeout") from exc
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise BenchError(f"listener analyze failed on {wav.name} (exit {proc.returncode}): {tail}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise BenchError(f"listener analyze --json printed no valid JSON for {wav.name}: {exc}") from exc
    if not isinstance(report, dict) or report.get("schema") != REPORT_SCHEMA:
        raise BenchError(f"report for {wav.name} is not {REPORT_SCHEMA!r} (schema = {report.get('schema')!r})")
    return report


def one_party(segments: list[PartySegment], seconds: float) -> list[PartySegment]:
    """The segments with the customer's overlapped frames given to the rep alone."""
    active = frame_activity(segments, n_frames(seconds))
    active[1] &= ~active[0]
    return segments_from_frames(active)


def oracle_report(truth: dict[str, object], single: bool = False) -> dict[str, object]:
    """A report that says exactly what the truth says (``single``: one party per frame, see one_party)."""
    segments = segments_from_json(truth["segments"])  # type: ignore[arg-type]
    if single:
        segments = one_party(segments, float(_table(truth, "audio")["seconds"]))  # type: ignore[arg-type]
    return talk_report(segments, truth["audio"], [])


def _table(doc: dict[str, object], key: str) -> dict[str, object]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def score_report(truth: dict[str, object], report: dict[str, object]) -> CaseScore:
    seconds = float(_table(truth, "audio")["seconds"])  # type: ignore[arg-type]
    reported = _table(report, "audio").get("seconds")
    if isinstance(reported, int | float) and abs(reported - seconds) > SECONDS_TOLERANCE_S:
        print(f"warning: {truth['case']}: report says {reported} s of audio, truth {seconds} s", file=sys.stderr)
    share = _table(report, "metrics").get("rep_share")
    return score_case(
        segments_from_json(truth["segments"]),  # type: ignore[arg-type]
        segments_from_json(report.get("segments", [])),  # type: ignore[arg-type]
        seconds,
        float(share) if isinstance(share, int | float) else None,
    )


def truth_of(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    """A case's truth: ``trimmed`` (its ``segments``) or ``rttm`` (its ``segments_rttm``, pauses and all)."""
    if kind not in TRUTHS:
        raise BenchError(f"truth {kind!r} is not one of {', '.join(TRUTHS)}")
    return doc if kind == "trimmed" else {**doc, "segments": doc["segments_rttm"]}


def run(
    cases_dir: Path,
    manifest: dict[str, object],
    config: Path | None,
    oracle: str,
    timeout_s: float,
    quiet: bool,
    truth_kind: str = "trimmed",
) -> list[CaseResult]:
    """``oracle``: "" (run listener analyze), "truth", "one-party" (see oracle_report) or "naive" (bench.naive)."""
    results = []
    analytics = events.analytics_config(config)  # the analytics' settings, read once for every case
    for entry in manifest["cases"]:  # type: ignore[attr-defined]
        truth = truth_of(case_truth(cases_dir, entry), truth_kind)
        t0 = time.perf_counter()
        if oracle == "naive":
            report = naive.naive_report(cases_dir / entry["wav"], analytics)
        elif oracle:
            report = oracle_report(truth, single=oracle == "one-party")
            timeline = {**truth, "segments": report["segments"]}
            report["events"] = events.truth_events(timeline, analytics)
        else:
            report = analyze(cases_dir / entry["wav"], config, timeout_s)
        elapsed_s = time.perf_counter() - t0
        scored = events.score_events(truth, report, analytics)
        voices = frozenset(str(v["id"]) for v in truth.get("speakers", []))
        score = score_report(truth, report)
        results.append(CaseResult(entry["case"], entry["split"], score, elapsed_s, scored, voices))
        if not quiet:
            print(f"  {entry['case']}: analyzed in {results[-1].analyze_s:.1f} s", file=sys.stderr)
    return results


def _fmt(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def print_table(results: Sequence[CaseResult], groups: dict[str, Summary]) -> None:
    head = f"{'case':<10} {'split':<5} {'F1 rep':>7} {'F1 cust':>7} {'F1 mean':>7} {'attr':>6} {'strict':>6}"
    print(head + f" {'share':>6} {'sys':>6} {'err pp':>6} {'sec':>5}")
    for r in results:
        s = r.score
        print(
            f"{r.case:<10} {r.split:<5} {_fmt(s.rep.f1):>7} {_fmt(s.customer.f1):>7} {_fmt(s.mean_f1):>7}"
            f" {_fmt(s.attribution):>6} {_fmt(s.attribution_strict):>6} {_fmt(s.true_share, 1, 2):>6}"
            f" {_fmt(s.system_share, 1, 2):>6} {_fmt(s.share_error_pp, 1, 1):>6} {r.analyze_s:>5.1f}"
        )
    print()
    cols = f"{'F1 rep':>7} {'F1 cust':>7} {'F1 mean':>7} {'attr':>6} {'strict':>6} {'err pp':>6}"
    print(f"{'group':<10} {'cases':>5} {cols}")
    for name, g in groups.items():
        print(
            f"{name:<10} {g.cases:>5} {_fmt(g.rep.f1):>7} {_fmt(g.customer.f1):>7} {_fmt(g.pooled_f1_mean):>7}"
            f" {_fmt(g.attribution):>6} {_fmt(g.attribution_strict):>6} {_fmt(g.mean_share_error_pp, 1, 1):>6}"
        )
    print("(F1 and attribution pooled over all frames of a group; err pp = mean per-case |rep share error|)")
    opened = [r.score.opening_false_s for r in results if r.score.opening_false_s > 0.0]
    print(f"speech heard before anybody spoke: {len(opened)} of {len(results)} cases, {sum(opened):.1f} s in all")


def group_summaries(results: Sequence[CaseResult]) -> dict[str, Summary]:
    groups = {"all": summarize([r.score for r in results])}
    for split in ("dev", "eval"):
        chosen = [r.score for r in results if r.split == split]
        if chosen:
            groups[split] = summarize(chosen)
    return groups


def overall_figures(results: list[CaseResult]) -> dict[str, float | None]:
    """The ``all`` figures the intervals are given for."""
    summary = summarize([r.score for r in results])
    interruptions = events.pooled([r.events for r in results if r.events is not None]).matches["interruption"]
    return {
        "f1_mean": summary.pooled_f1_mean,
        "attribution": summary.attribution,
        "share_error_pp": summary.mean_share_error_pp,
        "interruption_f1": interruptions.f1,
    }


@dataclass(frozen=True, slots=True)
class Intervals:
    """95 % bootstrap intervals of :func:`overall_figures`, drawn over ``groups`` conversations (``excerpts``
    excerpts, those that share a voice drawn together)."""

    excerpts: int
    figures: dict[str, tuple[float, float] | None]
    groups: int = 0


def intervals(results: Sequence[CaseResult]) -> Intervals:
    """Draw whole excerpts (all their rooms) at a time, and excerpts that share a voice together: two parts of
    one meeting (dev00 and dev01, the same two people) are no more independent than two rooms of one excerpt."""
    by_excerpt: dict[str, list[CaseResult]] = {}
    for r in results:
        by_excerpt.setdefault(excerpt_of(r.case), []).append(r)
    groups = [[r for name in names for r in by_excerpt[name]] for names in voice_groups(by_excerpt)]
    return Intervals(len(by_excerpt), bootstrap_intervals(groups, overall_figures), len(groups))


def voice_groups(by_excerpt: Mapping[str, Sequence[CaseResult]]) -> list[list[str]]:
    """The excerpts, joined wherever two share a speaker (in order of first appearance)."""
    groups: list[tuple[set[str], list[str]]] = []  # (voices, excerpts)
    for name, cases in by_excerpt.items():
        voices = set().union(*(c.voices for c in cases))
        joined = [g for g in groups if g[0] & voices]
        merged: tuple[set[str], list[str]] = (voices, [])
        for g in joined:
            merged[0].update(g[0])
            merged[1].extend(g[1])
            groups.remove(g)
        merged[1].append(name)
        groups.append(merged)
    return [sorted(names, key=list(by_excerpt).index) for _, names in groups]


def print_intervals(found: Intervals) -> None:
    parts = [f"{name} {lo:.3f}–{hi:.3f}" for name, v in found.figures.items() if v is not None for lo, hi in [v]]
    if parts:
        drawn = f"{found.groups} conversations ({found.excerpts} excerpts; those sharing a voice drawn together)"
        print(f"all: 95 % interval, {drawn} drawn with replacement ({BOOTSTRAP_DRAWS} draws): " + ", ".join(parts))


def event_groups(results: Sequence[CaseResult]) -> dict[str, events.EventScore]:
    groups = {}
    for split in ("all", "dev", "eval"):
        chosen = [r.events for r in results if r.events is not None and split in ("all", r.split)]
        if chosen:
            groups[split] = events.pooled(chosen)
    return groups


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=Path, help=f"case folder (default {CACHE_DIR}/cases-OVERLAPS[-heldout])")
    ap.add_argument("--overlaps", choices=OVERLAP_MODES, default="coherent", help="overlap rendering (bench.overlaps)")
    ap.add_argument("--variants", type=int, default=2, help="rooms per excerpt (default 2)")
    ap.add_argument(
        "--split",
        choices=SPLITS,
        default="all",
        help="heldout: five excerpts whose voices nothing was tuned or trained on",
    )
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--config", type=Path, help="config file passed to listener analyze")
    oracles = ap.add_mutually_exclusive_group()
    oracles.add_argument("--oracle", action="store_true", help="score the truth itself (checks the scorer)")
    oracles.add_argument(
        "--oracle-one-party", action="store_true", help="score a perfect system that names one party at a time"
    )
    oracles.add_argument(
        "--baseline", choices=("naive",), help="score a baseline instead: per-frame SRP-PHAT with WebRTC VAD"
    )
    ap.add_argument(
        "--truth", choices=TRUTHS, default="trimmed", help="rttm: the RTTM's turns as they are, pauses and all"
    )
    ap.add_argument("--json", action="store_true", help="print machine-readable results")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per analyze run")
    ap.add_argument("--data", type=Path, default=DATA_DIR, help=f"shared data folder (default {DATA_DIR})")
    return ap


def results_json(results: list[CaseResult], args: argparse.Namespace, oracle: str) -> dict[str, object]:
    """The ``--json`` document: every case, the summaries per split, events and intervals."""
    return {
        "schema": "listener.bench-accuracy/1",
        "oracle": oracle or None,
        "truth": args.truth,
        "config": str(args.config) if args.config else None,
        "cases": [
            {"case": r.case, "split": r.split, **case_json(r.score), "analyze_s": round(r.analyze_s, 3)}
            for r in results
        ],
        "summary": {name: summary_json(g) for name, g in group_summaries(results).items()},
        "events": {name: events.summary_json(g) for name, g in event_groups(results).items()},
        "intervals_95": {name: list(v) if v else None for name, v in intervals(results).figures.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # The analyzer runs from the project root: make every path absolute first.
    args.cases = (args.cases or cases_dir(args.overlaps, args.split)).resolve()
    args.config = args.config.resolve() if args.config else None
    oracle = "truth" if args.oracle else "one-party" if args.oracle_one_party else args.baseline or ""
    try:
        data = data_for(args.split, args.data)
        manifest = ensure_cases(args.cases, args.variants, args.seed, args.split, data, args.overlaps)
        results = run(args.cases, manifest, args.config, oracle, args.timeout, args.json, args.truth)
    except (BenchError, HeldoutError) as exc:
        print(f"bench.accuracy: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results_json(results, args, oracle), indent=1))
    else:
        print_table(results, group_summaries(results))
        events.print_summary(event_groups(results))
        print_intervals(intervals(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
