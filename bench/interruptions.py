"""Interruption (backchannel, premature start) detection of ``listener analyze`` against the truth, by the definition.

The truth of a case is its per-party truth segments (from the AMI RTTM, see
``bench.simulate``) replayed through the analytics themselves
(``listener.analytics.replay``): the truth interruptions are exactly those of
``shared/metrics.md`` as the device implements them, with perfect activity.
A system event matches a truth event of the same kind, by the same party,
whose onset is within ``TOLERANCE_S`` (one-to-one, closest onsets first).
Latency is when the device knew, after the interrupting speech began: ``decided_s`` of each
interruption found minus the onset of the truth interruption it matched. The device decides 1.0 s
after the onset *it* heard (``decided_s - t``, printed as well): where it missed the interrupter's
first words under the other party, the decision comes that much later than the speech began.

Premature starts are scored the same way. The analytics without a turn model
decide them by metrics.md's ground truth (the customer resumes within 1.0 s
of the rep's onset), so the replayed truth holds exactly those; the device
decides them by the model's ``p_hold`` at the onset.

Used by ``bench.accuracy``, which prints these figures under its table.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scoring import Counts
from listener.analytics.replay import replay
from listener.config import Config, load_config

TOLERANCE_S = 1.0
KINDS = ("interruption", "backchannel", "premature_start")
Record = dict[str, Any]


# event matches are scored like frames: true/false positives and misses
Matches = Counts


@dataclass(frozen=True, slots=True)
class EventScore:
    """One case: matches per kind, and the decision latencies of the system's interruptions."""

    matches: dict[str, Matches] = field(default_factory=dict)
    latencies_s: tuple[float, ...] = ()  # each reported interruption's decision after its own onset
    true_latencies_s: tuple[float, ...] = ()  # each one found: its decision after the true onset it matched


def analytics_config(path: Path | None) -> Config:
    return load_config(path) if path is not None else Config()


def truth_events(truth: Record, config: Config) -> list[Record]:
    """The analytics' events on the case's truth segments (report records), by the exact definition.

    The device must decide an interruption by ``interruption_min_s`` even when the
    interrupter is in a gap then; the truth waits for the gap (``exact``).
    """
    segments = [(s["party"], float(s["start"]), float(s["end"])) for s in truth["segments"]]
    collector = replay(segments, float(truth["audio"]["seconds"]), config, exact=True)
    return [e.record() for e in collector.events]


def matched_pairs(
    truth: Sequence[Record], system: Sequence[Record], tolerance_s: float = TOLERANCE_S
) -> list[tuple[int, int]]:
    """One-to-one matching of same-party onsets within the tolerance, closest pairs first: (truth, system) indices."""
    candidates = sorted(
        (abs(float(s["t"]) - float(t["t"])), i, j)
        for i, t in enumerate(truth)
        for j, s in enumerate(system)
        if s["by"] == t["by"] and abs(float(s["t"]) - float(t["t"])) <= tolerance_s
    )
    used_t: set[int] = set()
    used_s: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_t and j not in used_s:
            used_t.add(i)
            used_s.add(j)
            pairs.append((i, j))
    return pairs


def matched(
    truth: Sequence[Record], system: Sequence[Record], tolerance_s: float = TOLERANCE_S
) -> tuple[set[int], set[int]]:
    """The indices :func:`matched_pairs` matched, of the truth and of the system."""
    pairs = matched_pairs(truth, system, tolerance_s)
    return {i for i, _ in pairs}, {j for _, j in pairs}


def match(truth: Sequence[Record], system: Sequence[Record], tolerance_s: float = TOLERANCE_S) -> Matches:
    """Counts of :func:`matched`."""
    used_t, used_s = matched(truth, system, tolerance_s)
    return Matches(tp=len(used_t), fp=len(system) - len(used_s), fn=len(truth) - len(used_t))


def of_kind(records: Sequence[Record], kind: str) -> list[Record]:
    return [e for e in records if e["type"] == kind]


def score_events(truth: Record, report: Record, config: Config) -> EventScore:
    expected = truth_events(truth, config)
    found = report.get("events", [])
    matches = {kind: match(of_kind(expected, kind), of_kind(found, kind)) for kind in KINDS}
    truth_i, found_i = of_kind(expected, "interruption"), of_kind(found, "interruption")
    latencies = tuple(float(e["decided_s"]) - float(e["t"]) for e in found_i)
    true_latencies = tuple(
        float(found_i[j]["decided_s"]) - float(truth_i[i]["t"]) for i, j in matched_pairs(truth_i, found_i)
    )
    return EventScore(matches, latencies, true_latencies)


def pooled(scores: Sequence[EventScore]) -> EventScore:
    matches = {kind: sum((s.matches.get(kind, Matches()) for s in scores), Matches()) for kind in KINDS}
    own = tuple(x for s in scores for x in s.latencies_s)
    return EventScore(matches, own, tuple(x for s in scores for x in s.true_latencies_s))


def summary_json(score: EventScore) -> dict[str, object]:
    out: dict[str, object] = {}
    for kind, m in score.matches.items():
        out[kind] = {"tp": m.tp, "fp": m.fp, "fn": m.fn, "precision": m.precision, "recall": m.recall, "f1": m.f1}
    out["interruption_latency_s"] = _spread(score.true_latencies_s)  # after the true onset, of those found
    out["interruption_latency_own_onset_s"] = _spread(score.latencies_s)
    return out


def _spread(latencies_s: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "median": statistics.median(latencies_s) if latencies_s else None,
        "max": max(latencies_s) if latencies_s else None,
        "over_1s": sum(1 for x in latencies_s if x > 1.0 + 1e-6),
        "n": len(latencies_s),
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_summary(groups: dict[str, EventScore]) -> None:
    print()
    print(f"events (±{TOLERANCE_S:g} s onset, same party; truth = the analytics on the truth segments)")
    print(f"{'group':<10} {'kind':<15} {'truth':>5} {'sys':>5} {'tp':>4} {'prec':>6} {'recall':>6} {'F1':>6}")
    for name, score in groups.items():
        for kind, m in score.matches.items():
            print(
                f"{name:<10} {kind:<15} {m.tp + m.fn:>5} {m.tp + m.fp:>5} {m.tp:>4}"
                f" {_fmt(m.precision):>6} {_fmt(m.recall):>6} {_fmt(m.f1):>6}"
            )
    for name, score in groups.items():
        true, own = score.true_latencies_s, score.latencies_s
        if true:
            late = sum(1 for x in true if x > 1.0 + 1e-6)
            print(
                f"{name:<10} interruption decision latency after the true onset: median"
                f" {statistics.median(true):.2f} s, max {max(true):.2f} s over the {len(true)} found"
                f" ({late} later than 1.0 s)"
            )
        if own:
            print(
                f"{name:<10} ... after the onset the listener heard: median {statistics.median(own):.2f} s,"
                f" max {max(own):.2f} s over the {len(own)} reported"
            )
