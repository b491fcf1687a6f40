"""The benches that explain the accuracy figures: boundary errors and their oracle (bench.boundaries), and
what the listener misses, by cause (bench.misses, bench.audibility), on hand-made timelines."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bench.audibility import handover_gaps
from bench.boundaries import BoundaryErrors, Case, blur, boundary_errors, ceiling, holder_lead_s, interruption_matches
from bench.misses import (
    FALSE_OTHER,
    FRAGMENT,
    HANDOVER,
    HEARD_LATE,
    NO_OVERLAP,
    NOT_HEARD,
    NOT_HELD,
    NOT_HOLDER,
    NOT_SPEAKING,
    OTHER,
    TRUE_BACKCHANNEL,
    false_cause,
    frame_misses,
    heard_gap,
    miss_cause,
    pooled,
    tally_case,
)
from bench.scoring import Counts
from bench.truth import PartySegment
from listener.config import Config
from listener.events import Party


def test_boundary_errors_and_blur_on_a_hand_made_timeline() -> None:
    truth = [PartySegment(Party.REP, 1.0, 5.0), PartySegment(Party.CUSTOMER, 4.9, 8.0)]
    system = [PartySegment(Party.REP, 1.06, 4.8), PartySegment(Party.CUSTOMER, 5.05, 9.0)]
    found = boundary_errors(truth, system)
    assert found.truth_onsets == 2
    # in the parties' fixed order (rep first), whatever the order of the segments: blur draws by position
    assert [round(e, 3) for e in found.onset_s] == [0.06, 0.15]
    assert [round(e, 3) for e in boundary_errors(truth[::-1], system).onset_s] == [0.06, 0.15]
    assert [round(e, 3) for e in found.end_s] == [-0.2]  # the customer's end is 1.0 s off: unmatched
    # moved by exactly the customer's 0.15 s onset error, the 0.1 s overlap opens into a gap
    loose = BoundaryErrors((0.15,), (0.0,), 2)
    moved = blur(truth, loose, 1.0, random.Random(0), 10.0)
    assert [(round(s.start_s, 3), s.end_s) for s in moved] == [(1.15, 5.0), (5.05, 8.0)]
    case = Case.of({"audio": {"seconds": 10.0}, "segments": [s.to_json() for s in truth]}, Config())
    assert [(e["by"], e["t"]) for e in case.interruptions] == [("customer", 4.9)]
    assert interruption_matches(case, truth, Config()) == Counts(tp=1, fp=0, fn=0)  # the truth finds itself
    assert interruption_matches(case, moved, Config()) == Counts(tp=0, fp=0, fn=1)
    # the oracle: one score at scale 0 (nothing drawn), one per draw otherwise
    assert ceiling([case, case], loose, 0.0, 3, Config()) == [Counts(tp=2, fp=0, fn=0)]
    assert ceiling([case, case], loose, 1.0, 3, Config()) == [Counts(tp=0, fp=0, fn=2)] * 3
    # the rep had been speaking 3.9 s in its current stretch when the customer came in
    assert holder_lead_s(truth, {"by": "customer", "t": 4.9}) == pytest.approx(3.9)
    assert holder_lead_s(truth, {"by": "rep", "t": 9.5}) is None  # the customer had stopped


# the customer comes in over the rep at 4.0 s and talks on for 2 s: an interruption by the definition
MISS_TRUTH = [
    PartySegment(Party.REP, 0.0, 6.0),
    PartySegment(Party.CUSTOMER, 4.0, 6.0),
    PartySegment(Party.CUSTOMER, 7.0, 8.0),
]
MISSED_EVENT = {"type": "interruption", "by": "customer", "t": 4.0}
HEARD_LATE_AND_ALONE = [PartySegment(Party.REP, 0.0, 4.2), PartySegment(Party.CUSTOMER, 4.3, 6.0)]
FRAGMENT_HEARD = [PartySegment(Party.REP, 0.0, 6.0), PartySegment(Party.CUSTOMER, 4.1, 4.8)]
REP_FLOOR = {"type": "floor", "by": "rep", "t": 0.0, "decided_s": 1.0}  # the listener's: the rep's from the start


def test_a_missed_interruption_is_put_down_to_what_the_listener_heard_there() -> None:
    long_overlap = [PartySegment(Party.REP, 0.0, 6.0), PartySegment(Party.CUSTOMER, 4.1, 6.0)]
    assert miss_cause(MISSED_EVENT, [PartySegment(Party.REP, 0.0, 6.0)], 1.0) == NOT_HEARD
    assert miss_cause(MISSED_EVENT, HEARD_LATE_AND_ALONE, 1.0) == HANDOVER
    assert miss_cause(MISSED_EVENT, FRAGMENT_HEARD, 1.0) == FRAGMENT
    assert miss_cause(MISSED_EVENT, long_overlap, 1.0) == OTHER
    # given the report's floors: the rep's, so the decision differed; or nobody's, or the customer's since 3.0 s
    assert miss_cause(MISSED_EVENT, long_overlap, 1.0, [REP_FLOOR]) == OTHER
    assert miss_cause(MISSED_EVENT, long_overlap, 1.0, []) == NOT_HELD
    customer_floor = {"type": "floor", "by": "customer", "t": 2.0, "decided_s": 3.0}
    assert miss_cause(MISSED_EVENT, long_overlap, 1.0, [REP_FLOOR, customer_floor]) == NOT_HELD
    # a floor decided after the onset (4.1 s) is not yet held then
    assert miss_cause(MISSED_EVENT, long_overlap, 1.0, [{**customer_floor, "decided_s": 4.2}]) == NOT_HELD
    assert miss_cause(MISSED_EVENT, long_overlap, 1.0, [REP_FLOOR, {**customer_floor, "decided_s": 4.2}]) == OTHER
    # the silence heard between the holder's end (4.2 s) and the interrupter's onset (4.3 s); none without a handover
    assert heard_gap(MISSED_EVENT, HEARD_LATE_AND_ALONE) == (4.2, 4.3)
    assert heard_gap(MISSED_EVENT, [PartySegment(Party.REP, 0.0, 6.0)]) is None
    assert heard_gap(MISSED_EVENT, [PartySegment(Party.CUSTOMER, 4.1, 6.0)]) is None  # no holder end before the onset


def test_missed_frames_are_split_by_cause_with_the_share_each_cause_costs() -> None:
    # the customer's overlap missed (2 s), its 7-8 s heard as the rep's (1 s), nothing else
    system = [PartySegment(Party.REP, 0.0, 6.0), PartySegment(Party.REP, 7.0, 8.0)]
    tally = frame_misses(MISS_TRUTH, system, 9.0)
    assert tally.truth_frames == {Party.REP: 600, Party.CUSTOMER: 300}
    assert dict(tally.frames[Party.CUSTOMER]) == {
        "in the truth's overlap": 200,
        "alone, other party heard": 100,
        "alone, nobody heard": 0,
    }
    assert sum(tally.frames[Party.REP].values()) == 0
    assert tally.false_frames == {Party.REP: 100, Party.CUSTOMER: 0}  # the rep at 7-8 s, where only the customer spoke
    # truth share 6/9; heard 7/7, and with each cause's frames given back to the customer 7/9, 7/8, 7/7, 7/10
    assert {k: round(v[0], 2) for k, v in tally.share_error_pp.items()} == {
        "as measured": 33.33,
        "in the truth's overlap": 11.11,
        "alone, other party heard": 20.83,
        "alone, nobody heard": 33.33,
        "all of them": 3.33,
    }


def _case(*segments: tuple[Party, float, float]) -> Case:
    return Case.of({"audio": {"seconds": 10.0}, "segments": [PartySegment(*s).to_json() for s in segments]}, Config())


def test_a_false_interruption_is_put_down_to_what_the_truth_has_at_its_onset() -> None:
    # the customer talks over the rep from 4.0 s: a report at 5.5 s heard its onset late, or a gap in it
    over = _case((Party.REP, 0.0, 8.0), (Party.CUSTOMER, 4.0, 8.0))
    assert false_cause({"by": "customer", "t": 5.5}, over, 0.2) == HEARD_LATE
    # the same with a 0.1 s gap at 5.0 s: one stretch, as the analytics bridge it; unbridged, a start at 5.1 s
    gap = _case((Party.REP, 0.0, 8.0), (Party.CUSTOMER, 4.0, 5.0), (Party.CUSTOMER, 5.1, 8.0))
    assert false_cause({"by": "customer", "t": 5.5}, gap, 0.2) == HEARD_LATE
    assert false_cause({"by": "customer", "t": 5.5}, gap, 0.0) == FALSE_OTHER
    # a 0.9 s "mm" over the rep's turn is a backchannel; 1.5 s from any customer speech, nothing was said
    mm = _case((Party.REP, 0.0, 6.0), (Party.CUSTOMER, 2.0, 2.9))
    assert false_cause({"by": "customer", "t": 2.05}, mm, 0.2) == TRUE_BACKCHANNEL
    assert false_cause({"by": "customer", "t": 4.5}, mm, 0.2) == NOT_SPEAKING
    # the customer opens the conversation (nobody holds the floor), or answers in the rep's pause
    opening = _case((Party.CUSTOMER, 0.0, 3.0), (Party.REP, 5.0, 8.0))
    assert false_cause({"by": "customer", "t": 0.2}, opening, 0.2) == NOT_HOLDER
    answer = _case((Party.REP, 0.0, 3.0), (Party.CUSTOMER, 3.5, 6.0))
    assert false_cause({"by": "customer", "t": 3.6}, answer, 0.2) == NO_OVERLAP
    # 0.5 s over the rep's last words, the rep not going on: too short to interrupt, and no backchannel
    last_words = _case((Party.REP, 0.0, 4.3), (Party.CUSTOMER, 4.0, 4.5))
    assert false_cause({"by": "customer", "t": 4.1}, last_words, 0.2) == FALSE_OTHER


def test_a_case_tallies_its_missed_interruptions_and_pooling_adds_cases_up() -> None:
    doc = {"audio": {"seconds": 9.0}, "segments": [s.to_json() for s in MISS_TRUTH]}
    report = {"segments": [s.to_json() for s in FRAGMENT_HEARD], "events": [REP_FLOOR]}
    case = tally_case(doc, report, Config())
    assert (case.truth_interruptions, case.found, dict(case.interruptions)) == (1, 0, {FRAGMENT: 1})
    assert (case.reported, dict(case.false_interruptions)) == (0, {})
    handover = {"segments": [s.to_json() for s in HEARD_LATE_AND_ALONE], "events": [REP_FLOOR]}
    assert dict(tally_case(doc, handover, Config()).interruptions) == {HANDOVER: 1}
    # the frames of that heard gap, 4.2-4.3 s, and none where the interruption was missed otherwise
    assert np.flatnonzero(handover_gaps(doc, handover, Config(), 900)).tolist() == list(range(420, 430))
    assert not handover_gaps(doc, report, Config(), 900).any()
    heard = tally_case(doc, {"segments": doc["segments"], "events": [MISSED_EVENT]}, Config())
    assert (heard.found, sum(heard.interruptions.values())) == (1, 0)  # reported: found, no cause to give
    assert (heard.reported, sum(heard.false_interruptions.values())) == (1, 0)
    # found, and reported again 1.5 s into the customer's stretch: a false one, heard late
    late = {**MISSED_EVENT, "t": 5.5}
    twice = tally_case(doc, {"segments": doc["segments"], "events": [MISSED_EVENT, late]}, Config())
    assert (twice.found, twice.reported, dict(twice.false_interruptions)) == (1, 2, {HEARD_LATE: 1})
    both = pooled([case, case])
    assert (both.truth_interruptions, both.interruptions[FRAGMENT], both.truth_frames[Party.CUSTOMER]) == (2, 2, 600)
    assert (pooled([twice, twice]).reported, pooled([twice, twice]).false_interruptions[HEARD_LATE]) == (4, 2)
    assert both.share_error_pp["as measured"] == case.share_error_pp["as measured"] * 2
