"""Frame-level scores of per-party voice activity against the truth.

Definitions (10 ms frames, a frame is active when its centre is in a segment):

* **F1 per party**: precision/recall of that party's active frames. Undefined
  (``None``) when the truth and the system both have no active frame for it.
* **Attribution accuracy**: among frames where exactly one party truly speaks
  *and* the system reports at least one party, the fraction where the
  system's active set equals the truth's (that party alone). The **strict**
  variant keeps frames where the system reports nobody, counting them wrong.
* **Rep-share error**: ``|system rep share - true rep share|`` in percentage
  points, share = rep talk / (rep + customer talk) from segment durations,
  overlap counting for both; undefined when nobody speaks.

The system's segments are scored as given: no bridging, no smoothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from bench.truth import FRAME_S, PARTIES, BoolArray, PartySegment, frame_activity, merge_intervals, n_frames
from listener.analytics.report import SCHEMA as REPORT_SCHEMA
from listener.events import Party

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Counts:
    """True positives, false positives and misses (frames of one party, or matched events)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def f1(self) -> float | None:
        if self.tp + self.fp + self.fn == 0:
            return None
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


class _Attribution:
    """Attribution ratios from the frame counts a score holds."""

    attributed: int
    judged: int
    single: int

    @property
    def attribution(self) -> float | None:
        return self.attributed / self.judged if self.judged else None

    @property
    def attribution_strict(self) -> float | None:
        return self.attributed / self.single if self.single else None


@dataclass(frozen=True, slots=True)
class CaseScore(_Attribution):
    """Scores of one recording."""

    rep: Counts
    customer: Counts
    attributed: int  # single-party truth frames where the system has the exact set
    judged: int  # single-party truth frames where the system reports somebody
    single: int  # single-party truth frames
    true_share: float | None
    system_share: float | None
    opening_false_s: float = 0.0  # system speech before anybody truly speaks (score_case; see opening_false_s)

    @property
    def mean_f1(self) -> float | None:
        return mean_defined([self.rep.f1, self.customer.f1])

    @property
    def share_error_pp(self) -> float | None:
        """In points; a listener that heard nobody where somebody spoke reads no share at all, the farthest any
        share could be from the truth (left out of the mean, a deaf case would flatter it)."""
        if self.true_share is None:
            return None
        if self.system_share is None:
            return max(self.true_share, 1.0 - self.true_share) * 100.0
        return abs(self.system_share - self.true_share) * 100.0


def share(active: BoolArray) -> float | None:
    """Rep share of a (2, frames) activity matrix; ``None`` without any speech."""
    rep, customer = (int(row.sum()) for row in active)
    return rep / (rep + customer) if rep + customer else None


def segment_share(segments: Iterable[PartySegment], seconds: float) -> float | None:
    """Rep share from segment durations (clipped to the audio, each party's overlaps merged)."""
    talk = {}
    for party in PARTIES:
        spans = [(max(0.0, s.start_s), min(seconds, s.end_s)) for s in segments if s.party == party]
        talk[party] = sum(b - a for a, b in merge_intervals(spans))
    total = talk[Party.REP] + talk[Party.CUSTOMER]
    return talk[Party.REP] / total if total > 0 else None


def talk_report(segments: Sequence[PartySegment], audio: object, events: Sequence[object]) -> dict[str, object]:
    """A report in ``listener analyze --json``'s shape for ``segments`` (as given: no clipping, no merging).

    Talk time per party is the plain sum of its segments' durations; ``rep_share`` is null when
    nobody speaks, as analyze reports it.
    """
    talk = {p: sum(s.duration_s for s in segments if s.party == p) for p in PARTIES}
    total = talk[Party.REP] + talk[Party.CUSTOMER]
    return {
        "schema": REPORT_SCHEMA,
        "audio": audio,
        "segments": [s.to_json() for s in segments],
        "events": events,
        "metrics": {
            "rep_talk_s": talk[Party.REP],
            "customer_talk_s": talk[Party.CUSTOMER],
            "rep_share": talk[Party.REP] / total if total else None,
        },
    }


def score_frames(
    truth: BoolArray, system: BoolArray, system_share: float | None = None, true_share: float | None = None
) -> CaseScore:
    """Score two (2, frames) activity matrices (rows: rep, customer).

    Shares not given are computed from the frames.
    """
    if truth.shape != system.shape:
        raise ValueError(f"truth {truth.shape} and system {system.shape} frames differ")
    counts = [
        Counts(int(np.sum(t & s)), int(np.sum(~t & s)), int(np.sum(t & ~s))) for t, s in zip(truth, system, strict=True)
    ]
    single = truth.sum(axis=0) == 1
    judged = single & system.any(axis=0)
    exact = np.all(truth == system, axis=0)
    return CaseScore(
        rep=counts[0],
        customer=counts[1],
        attributed=int(np.sum(judged & exact)),
        judged=int(judged.sum()),
        single=int(single.sum()),
        true_share=share(truth) if true_share is None else true_share,
        system_share=share(system) if system_share is None else system_share,
    )


def score_case(
    truth: Sequence[PartySegment],
    system: Sequence[PartySegment],
    seconds: float,
    system_share: float | None = None,
    frame_s: float = FRAME_S,
) -> CaseScore:
    """Score segments over ``seconds`` of audio.

    ``system_share`` is the share the system reports; without it the share
    is computed from the system's segments. Shares use segment durations.
    """
    frames = n_frames(seconds, frame_s)
    if system_share is None:
        system_share = segment_share(system, seconds)
    score = score_frames(
        frame_activity(truth, frames, frame_s),
        frame_activity(system, frames, frame_s),
        system_share,
        segment_share(truth, seconds),
    )
    return replace(score, opening_false_s=opening_false_s(truth, system))


def opening_false_s(truth: Sequence[PartySegment], system: Sequence[PartySegment]) -> float:
    """Seconds of system speech (either party) before anybody truly speaks: a stream's start heard as a voice."""
    first_s = min((seg.start_s for seg in truth), default=float("inf"))
    return sum(max(0.0, min(seg.end_s, first_s) - seg.start_s) for seg in system)


def mean_defined(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are defined; ``None`` if none are."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


@dataclass(frozen=True, slots=True)
class Summary(_Attribution):
    """Scores over many cases.

    ``pooled_*`` add up frames over all cases before dividing (long and
    talkative cases weigh more); ``mean_*`` average the per-case figures.
    """

    cases: int
    rep: Counts = field(default_factory=Counts)
    customer: Counts = field(default_factory=Counts)
    attributed: int = 0
    judged: int = 0
    single: int = 0
    mean_f1_rep: float | None = None
    mean_f1_customer: float | None = None
    mean_share_error_pp: float | None = None

    @property
    def pooled_f1_mean(self) -> float | None:
        return mean_defined([self.rep.f1, self.customer.f1])


def summarize(scores: Sequence[CaseScore]) -> Summary:
    rep, customer = Counts(), Counts()
    for s in scores:
        rep, customer = rep + s.rep, customer + s.customer
    return Summary(
        cases=len(scores),
        rep=rep,
        customer=customer,
        attributed=sum(s.attributed for s in scores),
        judged=sum(s.judged for s in scores),
        single=sum(s.single for s in scores),
        mean_f1_rep=mean_defined(s.rep.f1 for s in scores),
        mean_f1_customer=mean_defined(s.customer.f1 for s in scores),
        mean_share_error_pp=mean_defined(s.share_error_pp for s in scores),
    )


def case_json(score: CaseScore) -> dict[str, object]:
    return {
        "f1_rep": score.rep.f1,
        "f1_customer": score.customer.f1,
        "f1_mean": score.mean_f1,
        "precision_rep": score.rep.precision,
        "recall_rep": score.rep.recall,
        "precision_customer": score.customer.precision,
        "recall_customer": score.customer.recall,
        "attribution": score.attribution,
        "attribution_strict": score.attribution_strict,
        "true_rep_share": score.true_share,
        "system_rep_share": score.system_share,
        "share_error_pp": score.share_error_pp,
        "opening_false_s": round(score.opening_false_s, 3),
    }


def summary_json(summary: Summary) -> dict[str, object]:
    return {
        "cases": summary.cases,
        "pooled_f1_rep": summary.rep.f1,
        "pooled_f1_customer": summary.customer.f1,
        "pooled_f1_mean": summary.pooled_f1_mean,
        "mean_f1_rep": summary.mean_f1_rep,
        "mean_f1_customer": summary.mean_f1_customer,
        "attribution": summary.attribution,
        "attribution_strict": summary.attribution_strict,
        "mean_share_error_pp": summary.mean_share_error_pp,
    }


def excerpt_of(case: str) -> str:
    """``"dev00-v3"`` -> ``"dev00"``: the rooms of one excerpt share its speech and its turns."""
    return case.rsplit("-v", 1)[0]


BOOTSTRAP_DRAWS = 2000


def bootstrap_intervals(
    groups: Sequence[Sequence[T]],
    figures: Callable[[list[T]], Mapping[str, float | None]],
    draws: int = BOOTSTRAP_DRAWS,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float] | None]:
    """Percentile interval of each of ``figures`` over ``groups`` drawn with replacement, whole groups at a time.

    A group is one excerpt's cases: its rooms repeat the same conversation, so
    drawing cases one by one would count one excerpt's luck as many independent
    draws and make the interval too narrow. A figure's interval is ``None``
    with fewer than two groups or when no draw defines it.
    """
    names = figures([item for group in groups for item in group])
    values: dict[str, list[float]] = {name: [] for name in names}
    rng = np.random.default_rng(seed)
    for _ in range(draws if len(groups) >= 2 else 0):
        picked = rng.integers(0, len(groups), len(groups))
        for name, value in figures([item for k in picked for item in groups[k]]).items():
            if value is not None:
                values[name].append(value)
    tail = (1.0 - level) / 2 * 100
    return {
        name: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) if v else None
        for name, v in values.items()
    }
