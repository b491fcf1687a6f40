"""What the listener misses, by cause: speech frames, and the truth's interruptions.

    python -m bench.misses [--overlaps separate] [--split heldout] [--variants 6] [--config FILE]

The targets of issues #2 and #3 are missed by recall more than by precision.
This bench splits what is missed into causes that point at different parts
of the listener:

* **frames** a party truly speaks in and the listener does not give it:
  in the truth's overlap (both speak), or speaking alone while the listener
  hears the *other* party (attribution), or speaking alone while the listener
  hears *nobody* (voice activity);
* the **rep-share error** per case as measured and with the missed frames
  of each cause given back to their party: what hearing each of them would
  be worth to the share target;
* **truth interruptions** the listener does not report (same party, onset
  within ``bench.interruptions.TOLERANCE_S``), by what the listener heard
  around the onset (``miss_cause``): the interrupter not at all; the
  interrupter, but the holder already silent at its onset (heard as a
  handover); the overlap, but the floor with the interrupter or nobody (as the
  listener decided it); the overlap, but the interrupter's first stretch no
  longer than a backchannel (a fragment of the quieter voice); the overlap
  and a long enough stretch (the decision differed);
* **false interruptions** (reported, matching none in the truth), by what the
  truth has at their onset (``false_cause``): the interrupter already
  speaking for longer than the tolerance (its onset heard late, or a gap heard
  in its speech, so a later stretch counted as a new start); a backchannel (a
  sound of at most 1.0 s heard as an interruption); the interrupter silent; the
  floor not the other party's; the other party silent at the onset.

Prints figures, asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import interruptions as events
from bench.accuracy import BenchError
from bench.boundaries import Case, analytics_config, analyzed, case_parser, covering, found_by_listener, prepared
from bench.heldout import HeldoutError
from bench.scoring import share
from bench.truth import PARTIES, Interval, PartySegment, frame_activity, merge_intervals, n_frames, segments_from_json
from listener.config import Config
from listener.events import Party

NOT_HEARD = "interrupter not heard within the tolerance"
HANDOVER = "holder already silent at the interrupter's onset (a handover)"
NOT_HELD = "overlap heard, but the listener had the floor with the interrupter or nobody"
FRAGMENT = "overlap heard, interrupter's first stretch a backchannel's length"
OTHER = "overlap heard and long enough (the decision differed)"
CAUSES = (NOT_HEARD, HANDOVER, NOT_HELD, FRAGMENT, OTHER)
HEARD_LATE = "interrupter speaking in the truth since over the tolerance before (heard late, or a gap heard in it)"
TRUE_BACKCHANNEL = "a backchannel in the truth (a sound of at most 1.0 s)"
NOT_SPEAKING = "interrupter not speaking in the truth within the tolerance"
NOT_HOLDER = "in the truth the other party did not hold the floor (the interrupter or nobody did)"
NO_OVERLAP = "in the truth the other party was silent at the interrupter's onset"
FALSE_OTHER = "other (in the truth a stretch too short, or an interruption matched to another report)"
FALSE_CAUSES = (HEARD_LATE, TRUE_BACKCHANNEL, NOT_SPEAKING, NOT_HOLDER, NO_OVERLAP, FALSE_OTHER)
FRAME_CAUSES = ("in the truth's overlap", "alone, other party heard", "alone, nobody heard")
REPAIRS = ("as measured", *FRAME_CAUSES, "all of them")


@dataclass
class Tally:
    """Pooled over cases: missed frames per party and cause, truth frames per party, missed interruptions."""

    frames: dict[Party, Counter[str]] = field(default_factory=lambda: {p: Counter() for p in Party})
    truth_frames: Counter[Party] = field(default_factory=Counter)
    false_frames: Counter[Party] = field(default_factory=Counter)  # given the party while it was silent
    interruptions: Counter[str] = field(default_factory=Counter)
    false_interruptions: Counter[str] = field(default_factory=Counter)
    found: int = 0
    reported: int = 0
    truth_interruptions: int = 0
    # per case, |rep share error| in points with the missed frames of each cause given back to their party
    share_error_pp: dict[str, list[float]] = field(default_factory=lambda: {r: [] for r in REPAIRS})


def frame_misses(truth: Sequence[PartySegment], system: Sequence[PartySegment], seconds: float) -> Tally:
    """One case's missed frames of each party, by cause, and its share error with each cause repaired."""
    n = n_frames(seconds)
    want, got = frame_activity(truth, n), frame_activity(system, n)
    tally = Tally()
    causes = {cause: np.zeros_like(want) for cause in FRAME_CAUSES}
    for i, name in enumerate(PARTIES):  # frame_activity's rows, in its own order
        party, other = Party(name), 1 - i
        missed = want[i] & ~got[i]
        alone = missed & ~want[other]
        causes[FRAME_CAUSES[0]][i] = missed & want[other]
        causes[FRAME_CAUSES[1]][i] = alone & got[other]
        causes[FRAME_CAUSES[2]][i] = alone & ~got[other]
        tally.truth_frames[party] = int(want[i].sum())
        tally.false_frames[party] = int((got[i] & ~want[i]).sum())
        tally.frames[party].update({cause: int(causes[cause][i].sum()) for cause in FRAME_CAUSES})
    true_share = share(want)
    repairs = {"as measured": got, **{c: got | causes[c] for c in FRAME_CAUSES}, "all of them": got | want}
    for repair, heard in repairs.items():
        heard_share = share(heard)
        if true_share is not None and heard_share is not None:
            tally.share_error_pp[repair].append(abs(heard_share - true_share) * 100.0)
    return tally


def _first_heard(event: dict[str, Any], system: Sequence[PartySegment]) -> PartySegment | None:
    """The interrupter's system segment starting nearest a truth interruption's onset, within the tolerance."""
    by, onset_s = Party(event["by"]), float(event["t"])
    near = [s for s in system if s.party == by and abs(s.start_s - onset_s) <= events.TOLERANCE_S]
    return min(near, key=lambda s: abs(s.start_s - onset_s)) if near else None


def miss_cause(
    event: dict[str, Any],
    system: Sequence[PartySegment],
    backchannel_max_s: float,
    reported: Sequence[dict[str, Any]] | None = None,
) -> str:
    """Why a truth interruption (a report record) has no system match: what the listener heard around it, and,
    given the report's records (``reported``), who the listener had holding the floor then."""
    first = _first_heard(event, system)
    holder = Party(event["by"]).other
    if first is None:
        return NOT_HEARD
    if covering(system, holder, first.start_s) is None:
        return HANDOVER
    if reported is not None and _holder_at(reported, first.start_s) is not holder:
        return NOT_HELD
    if first.duration_s <= backchannel_max_s:
        return FRAGMENT
    return OTHER


def heard_gap(event: dict[str, Any], system: Sequence[PartySegment]) -> tuple[float, float] | None:
    """For an interruption heard as a handover: the silence heard from the holder's end to the interrupter's onset."""
    first = _first_heard(event, system)
    if first is None:
        return None
    holder = Party(event["by"]).other
    ends = [s.end_s for s in system if s.party == holder and s.end_s <= first.start_s]
    return (max(ends), first.start_s) if ends else None


def missed_interruptions(
    case: Case, report: dict[str, Any], system: Sequence[PartySegment], config: Config
) -> list[tuple[dict[str, Any], str]]:
    """The truth interruptions the report does not have, each with its ``miss_cause``."""
    found = found_by_listener(case, report)
    missed = [e for i, e in enumerate(case.interruptions) if i not in found]
    reported = report.get("events", [])
    return [(e, miss_cause(e, system, config.analytics.backchannel_max_s, reported)) for e in missed]


def _stretches(segments: Sequence[PartySegment], party: Party, bridge_s: float) -> list[Interval]:
    """``party``'s stretches of speech, gaps shorter than ``bridge_s`` bridged (as the analytics see them)."""
    return merge_intervals(((s.start_s, s.end_s) for s in segments if s.party == party), bridge_s)


def _holder_at(records: Sequence[dict[str, Any]], t_s: float) -> Party | None:
    """The floor's holder as the analytics knew it at ``t_s``: the last taking decided by then (a session's end,
    which releases the floor, is not among the records: the benchmark's cases are one session each)."""
    holder = None
    for floor in events.of_kind(records, "floor"):
        if float(floor["decided_s"]) <= t_s:
            holder = Party(floor["by"])
    return holder


def false_cause(event: dict[str, Any], case: Case, bridge_s: float) -> str:
    """Why a reported interruption matches none in the truth: what the truth has around its onset."""
    by, onset_s, tolerance_s = Party(event["by"]), float(event["t"]), events.TOLERANCE_S
    mine = _stretches(case.segments, by, bridge_s)
    if any(a < onset_s - tolerance_s and onset_s < b for a, b in mine):
        return HEARD_LATE
    sounds = events.of_kind(case.events, "backchannel")
    if any(s["by"] == by and abs(float(s["t"]) - onset_s) <= tolerance_s for s in sounds):
        return TRUE_BACKCHANNEL
    near = [a for a, b in mine if abs(a - onset_s) <= tolerance_s or a <= onset_s < b]
    if not near:
        return NOT_SPEAKING
    start_s = min(near, key=lambda a: abs(a - onset_s))
    if _holder_at(case.events, start_s) is not by.other:
        return NOT_HOLDER
    if not any(a <= start_s < b for a, b in _stretches(case.segments, by.other, bridge_s)):
        return NO_OVERLAP
    return FALSE_OTHER


def false_interruptions(case: Case, report: dict[str, Any], config: Config) -> list[tuple[dict[str, Any], str]]:
    """The report's interruptions that match none in the truth, each with its ``false_cause``."""
    reported = events.of_kind(report.get("events", []), "interruption")
    _, matched = events.matched(case.interruptions, reported)
    bridge_s = config.activity.bridge_gap_s
    return [(e, false_cause(e, case, bridge_s)) for j, e in enumerate(reported) if j not in matched]


def tally_case(truth: dict[str, Any], report: dict[str, Any], config: Config) -> Tally:
    case = Case.of(truth, config)
    system = segments_from_json(report.get("segments", []))
    tally = frame_misses(case.segments, system, case.seconds)
    missed = missed_interruptions(case, report, system, config)
    tally.truth_interruptions, tally.found = len(case.interruptions), len(case.interruptions) - len(missed)
    tally.interruptions.update(cause for _, cause in missed)
    tally.reported = len(events.of_kind(report.get("events", []), "interruption"))
    tally.false_interruptions.update(cause for _, cause in false_interruptions(case, report, config))
    return tally


def pooled(tallies: Sequence[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        for party in Party:
            out.frames[party].update(t.frames[party])
        out.truth_frames.update(t.truth_frames)
        out.false_frames.update(t.false_frames)
        out.interruptions.update(t.interruptions)
        out.false_interruptions.update(t.false_interruptions)
        out.found += t.found
        out.reported += t.reported
        out.truth_interruptions += t.truth_interruptions
        for repair in REPAIRS:
            out.share_error_pp[repair] += t.share_error_pp[repair]
    return out


def print_tally(tally: Tally) -> None:
    print("truth speech frames the listener does not give the party (share of that party's truth frames):")
    for party in Party:
        total = max(1, tally.truth_frames[party])
        missed = sum(tally.frames[party].values())
        parts = ", ".join(f"{cause} {tally.frames[party][cause] / total:.1%}" for cause in FRAME_CAUSES)
        print(f"  {party.value:<8} missed {missed / total:.1%}: {parts}")
    for party in Party:
        truth = max(1, tally.truth_frames[party])
        heard = tally.truth_frames[party] - sum(tally.frames[party].values())
        given = max(1, heard + tally.false_frames[party])
        print(f"  {party.value:<8} precision {heard / given:.3f}, recall {heard / truth:.3f}")
    print("rep-share error, mean over cases, with the missed frames of one cause given back to their party:")
    for repair in REPAIRS:
        errors = tally.share_error_pp[repair]
        if errors:
            print(f"  {repair:<26} {statistics.mean(errors):5.2f} points (median {statistics.median(errors):.2f})")
    missed = tally.truth_interruptions - tally.found
    print(f"truth interruptions: {tally.truth_interruptions}, found {tally.found}, missed {missed}:")
    for cause in CAUSES:
        print(f"  {tally.interruptions[cause]:4d}  {cause}")
    false = sum(tally.false_interruptions.values())
    print(f"reported interruptions: {tally.reported}, matching none in the truth {false}:")
    for cause in FALSE_CAUSES:
        print(f"  {tally.false_interruptions[cause]:4d}  {cause}")


def main(argv: Sequence[str] | None = None) -> int:
    args = case_parser("python -m bench.misses", __doc__.split("\n")[0]).parse_args(argv)
    try:
        config = analytics_config(args)
        folder, manifest = prepared(args)
        reports = analyzed(folder, manifest, args.timeout, args.config)
        tallies = [tally_case(truth, report, config) for truth, report in reports]
    except (BenchError, HeldoutError) as exc:
        print(f"bench.misses: {exc}", file=sys.stderr)
        return 2
    print(f"{len(tallies)} cases ({args.split}, {args.overlaps} overlaps)")
    print_tally(pooled(tallies))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
