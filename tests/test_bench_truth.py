"""The accuracy benchmark's truth and scoring, on hand-made timelines and on real simulated cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from bench.accuracy import oracle_report, score_report
from bench.scoring import (
    Counts,
    bootstrap_intervals,
    case_json,
    excerpt_of,
    opening_false_s,
    score_case,
    segment_share,
    summarize,
)
from bench.signals import DATA_DIR
from bench.truth import (
    PartySegment,
    SpeakerTurn,
    frame_activity,
    merge_intervals,
    most_talkative,
    party_intervals,
    quiet_intervals,
    read_rttm,
    segments_from_json,
    subtract,
)
from listener.config import Config
from listener.events import Party
from tests.synth import lag_samples

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "listener" / "data" / "sample"
needs_data = pytest.mark.skipif(not (DATA_DIR / "ami-train" / "train.rttm").exists(), reason="shared data absent")


def seg(party: str, start: float, end: float) -> PartySegment:
    return PartySegment(party, start, end)  # type: ignore[arg-type]


DIALOGUE = [seg("rep", 0.5, 3.0), seg("customer", 2.5, 6.0), seg("rep", 7.0, 9.5)]


def test_perfect_match_scores_one() -> None:
    s = score_case(DIALOGUE, DIALOGUE, 10.0)
    assert s.rep.f1 == 1.0 and s.customer.f1 == 1.0 and s.mean_f1 == 1.0
    assert s.attribution == 1.0 and s.attribution_strict == 1.0
    assert s.share_error_pp == 0.0
    assert s.true_share == pytest.approx(5.0 / 8.5)


def test_shift_by_half_a_second_halves_f1() -> None:
    truth = [seg("rep", 1.0, 2.0)]
    system = [seg("rep", 1.5, 2.5)]
    s = score_case(truth, system, 4.0)
    assert s.rep == Counts(tp=50, fp=50, fn=50)
    assert s.rep.f1 == pytest.approx(0.5)
    assert s.rep.precision == pytest.approx(0.5) and s.rep.recall == pytest.approx(0.5)
    assert s.customer.f1 is None  # nobody claimed or had customer speech
    assert s.mean_f1 == pytest.approx(0.5)
    # 100 truth frames with one party; the system speaks in 50 of them, all right.
    assert (s.single, s.judged, s.attributed) == (100, 50, 50)
    assert s.attribution == 1.0 and s.attribution_strict == pytest.approx(0.5)


def test_swapped_parties_score_zero() -> None:
    truth = [seg("rep", 1.0, 3.0), seg("customer", 4.0, 5.0)]
    system = [seg("customer", 1.0, 3.0), seg("rep", 4.0, 5.0)]
    s = score_case(truth, system, 6.0)
    assert s.rep.f1 == 0.0 and s.customer.f1 == 0.0
    assert s.attribution == 0.0 and s.attribution_strict == 0.0
    assert s.true_share == pytest.approx(2 / 3) and s.system_share == pytest.approx(1 / 3)
    assert s.share_error_pp == pytest.approx(100 / 3)


def test_empty_truth_and_empty_system_are_undefined_not_perfect() -> None:
    s = score_case([], [], 5.0)
    assert s.rep.f1 is None and s.customer.f1 is None and s.mean_f1 is None
    assert s.attribution is None and s.attribution_strict is None and s.share_error_pp is None


def test_silent_system_fails_recall_and_strict_attribution_only() -> None:
    s = score_case(DIALOGUE, [], 10.0)
    assert s.rep.f1 == 0.0 and s.customer.f1 == 0.0
    assert s.attribution is None  # no frame where the system said anything
    assert s.attribution_strict == 0.0
    # no share read where somebody spoke: the farthest a share could be, not left out of the mean
    assert s.system_share is None and s.true_share is not None
    assert s.share_error_pp == pytest.approx(100.0 * max(s.true_share, 1.0 - s.true_share))


def test_false_alarms_on_empty_truth_give_zero_f1() -> None:
    s = score_case([], [seg("customer", 1.0, 1.5)], 3.0)
    assert s.customer == Counts(tp=0, fp=50, fn=0)
    assert s.customer.f1 == 0.0 and s.rep.f1 is None


def test_attribution_ignores_true_overlap_and_wants_the_exact_set() -> None:
    truth = [seg("rep", 1.0, 3.0), seg("customer", 1.0, 2.0)]  # overlap 1-2, rep alone 2-3
    system = [seg("rep", 1.0, 3.0), seg("customer", 1.0, 2.5)]  # wrongly adds the customer 2-2.5
    s = score_case(truth, system, 4.0)
    assert (s.single, s.judged, s.attributed) == (100, 100, 50)
    assert s.rep.f1 == 1.0
    assert s.customer.f1 == pytest.approx(2 * 100 / (2 * 100 + 50))


def test_reported_share_is_used_when_given() -> None:
    s = score_case(DIALOGUE, DIALOGUE, 10.0, system_share=0.5)
    assert s.share_error_pp == pytest.approx(abs(0.5 - 5.0 / 8.5) * 100)


def test_segment_share_clips_to_audio_and_merges_a_party() -> None:
    segments = [seg("rep", -1.0, 2.0), seg("rep", 1.0, 3.0), seg("customer", 3.0, 12.0)]
    assert segment_share(segments, 5.0) == pytest.approx(3.0 / 5.0)
    assert segment_share([], 5.0) is None


def test_frames_count_by_centre_whatever_the_phase() -> None:
    for start in (0.0, 0.003, 0.005, 0.0071, 1.234):
        active = frame_activity([seg("customer", start, start + 1.0)], 300)
        assert active[1].sum() == 100 and active[0].sum() == 0
    edge = frame_activity([seg("rep", 0.015, 0.025)], 5)[0]
    assert edge.tolist() == [False, True, False, False, False]


def test_pooled_summary_weights_frames_and_averages_cases() -> None:
    good = score_case([seg("rep", 0.0, 1.0)], [seg("rep", 0.0, 1.0)], 2.0)
    bad = score_case([seg("rep", 0.0, 3.0)], [], 4.0)
    summary = summarize([good, bad])
    assert summary.rep == Counts(tp=100, fp=0, fn=300)
    assert summary.rep.f1 == pytest.approx(200 / 500)
    assert summary.mean_f1_rep == pytest.approx(0.5)
    # the deaf case reads no share where the rep spoke all along: 100 points off, in the mean with the good one
    assert summary.mean_share_error_pp == pytest.approx(50.0)


def test_merge_bridges_only_short_gaps() -> None:
    assert merge_intervals([(2.0, 3.0), (0.0, 1.0), (1.15, 1.5)], bridge_s=0.2) == [(0.0, 1.5), (2.0, 3.0)]
    assert merge_intervals([(0.0, 1.0), (1.25, 2.0)], bridge_s=0.2) == [(0.0, 1.0), (1.25, 2.0)]
    assert merge_intervals([(0.0, 1.0), (0.5, 0.7), (1.0, 1.0)]) == [(0.0, 1.0)]


def test_customer_is_everyone_but_the_rep() -> None:
    turns = [
        SpeakerTurn("A", 0.0, 5.0),
        SpeakerTurn("B", 1.0, 2.0),
        SpeakerTurn("C", 2.1, 3.0),
        SpeakerTurn("A", 5.1, 6.0),
    ]
    assert most_talkative(turns) == "A"
    parties = party_intervals(turns, "A")
    assert parties[Party.REP] == [(0.0, 6.0)]
    assert parties[Party.CUSTOMER] == [(1.0, 3.0)]
    assert party_intervals(turns, "B", bridge_s=0.0)[Party.CUSTOMER] == [(0.0, 5.0), (5.1, 6.0)]


def test_subtract_cuts_holes() -> None:
    assert subtract([(0.0, 10.0)], [(2.0, 3.0), (5.0, 6.0), (9.5, 12.0)]) == [(0.0, 2.0), (3.0, 5.0), (6.0, 9.5)]
    assert subtract([(1.0, 2.0)], [(0.0, 5.0)]) == []


def test_quiet_intervals_find_a_real_pause(tmp_path: Path) -> None:
    rate = 16000
    rng = np.random.default_rng(0)
    x = rng.normal(scale=0.1, size=3 * rate)
    x[rate : rate + rate // 2] *= 1e-3  # 60 dB down for 0.5 s
    x[2 * rate : 2 * rate + rate // 10] *= 1e-3  # too short to count
    quiet = quiet_intervals(x, rate, below_db=30.0, min_s=0.3)
    assert len(quiet) == 1
    start, end = quiet[0]
    assert start == pytest.approx(1.0, abs=0.03) and end == pytest.approx(1.5, abs=0.03)


def test_rttm_reader_keeps_unicode_speakers(tmp_path: Path) -> None:
    path = tmp_path / "x.rttm"
    path.write_text(
        "SPEAKER a 1 0.500 1.000 <NA> <NA> MÉO069 <NA> <NA>\n"
        "SPEAKER b 1 2.000 0.250 <NA> <NA> FEE083 <NA> <NA>\n"
        "SPEAKER a 1 3.000 0.500 <NA> <NA> FEE083 <NA> <NA>\n",
        encoding="utf-8",
    )
    turns = read_rttm(path)
    assert turns["a"] == [SpeakerTurn("MÉO069", 0.5, 1.5), SpeakerTurn("FEE083", 3.0, 3.5)]
    assert turns["b"] == [SpeakerTurn("FEE083", 2.0, 2.25)]


def test_segments_from_json_rejects_unknown_parties() -> None:
    with pytest.raises(ValueError, match="neither"):
        segments_from_json([{"party": "staff", "start": 0.0, "end": 1.0}])


@needs_data
def test_simulated_case_puts_rep_at_plus_x_and_truth_scores_perfectly(tmp_path: Path) -> None:
    from bench.simulate import simulate_case, write_case

    turns = read_rttm(DATA_DIR / "ami-train" / "train.rttm")["trn04"]
    case = simulate_case("trn04", 0, turns)
    wav, js = write_case(case, tmp_path)
    rate, pcm = wavfile.read(wav)
    assert rate == 16000 and pcm.dtype == np.int16 and pcm.shape == (480001, 4)
    truth = json.loads(js.read_text(encoding="utf-8"))
    assert truth["split"] == "dev" and abs(truth["rep_azimuth_deg"]) <= 15
    assert all(abs(abs(a) - 180) <= 25 for a in truth["customer_azimuths_deg"])
    # trn04's rep is MEE075 (8.2 s); the customer side is MEE076 + MEO074.
    assert [s["id"] for s in truth["speakers"] if s["party"] == "rep"] == ["MEE075"]
    segments = segments_from_json(truth["segments"])
    rep_alone = [s for s in segments if s.party == "rep" and s.duration_s > 2.0]
    assert rep_alone, "trn04 has a long rep turn"
    x = pcm.astype(np.float64)
    t0, t1 = (int(v * rate) for v in (rep_alone[0].start_s + 0.2, rep_alone[0].start_s + 2.0))
    # Mic 0 sits at +x, mic 2 at -x: speech from azimuth ~0 reaches mic 2 later.
    assert lag_samples(x[t0:t1, 0], x[t0:t1, 2], within=8, up=1) > 0  # mics 9.1 cm apart: +-5 samples
    score = score_report(truth, oracle_report(truth))
    assert score.mean_f1 == 1.0 and score.attribution == 1.0 and score.share_error_pp == pytest.approx(0.0)


def test_bundled_sample_is_small_two_party_and_rep_dominated() -> None:
    rate, pcm = wavfile.read(SAMPLE / "conversation.wav")
    assert rate == 16000 and pcm.dtype == np.int16 and pcm.shape[1] == 4
    assert (SAMPLE / "conversation.wav").stat().st_size < 4_000_000
    truth = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))
    assert truth["audio"]["seconds"] == pytest.approx(len(pcm) / rate, abs=0.01)
    segments = segments_from_json(truth["segments"])
    assert {s.party for s in segments} == {"rep", "customer"}
    share = segment_share(segments, truth["audio"]["seconds"])
    assert share is not None and share >= 0.65
    half = truth["audio"]["seconds"] / 2
    late = segment_share([s for s in segments if s.start_s >= half], 2 * half)
    assert late is not None and late > 0.75
    assert "CC BY 4.0" in (SAMPLE / "ATTRIBUTION.md").read_text(encoding="utf-8")


def test_the_one_party_oracle_gives_overlaps_to_the_rep_and_keeps_everything_else() -> None:
    from bench.accuracy import one_party

    segments = [
        PartySegment(Party.REP, 1.0, 3.0),
        PartySegment(Party.CUSTOMER, 2.5, 4.0),
        PartySegment(Party.CUSTOMER, 5.0, 6.0),
    ]
    got = [(s.party, round(s.start_s, 3), round(s.end_s, 3)) for s in one_party(segments, 8.0)]
    assert got == [("rep", 1.0, 3.0), ("customer", 3.0, 4.0), ("customer", 5.0, 6.0)]


def test_the_bootstrap_interval_draws_whole_excerpts() -> None:
    groups = [[0.0, 0.0], [10.0]]  # one excerpt's two rooms, another's one
    seen: set[float] = set()

    def mean(items: list[float]) -> dict[str, float | None]:
        value = round(float(np.mean(items)), 6)
        seen.add(value)
        return {"mean": value, "never": None}

    found = bootstrap_intervals(groups, mean, draws=400)
    # only whole groups are drawn: {A, A} = 0, {A, B} = 10/3, {B, B} = 10 (never a lone 0.0 beside 10.0 = 5)
    assert seen == {0.0, round(10 / 3, 6), 10.0}
    assert found == {"mean": (0.0, 10.0), "never": None}  # a figure no draw defines has no interval
    assert bootstrap_intervals(groups, mean, draws=400) == found  # seeded: the same every run
    assert bootstrap_intervals([[1.0], [1.0], [1.0]], mean)["mean"] == (1.0, 1.0)
    assert bootstrap_intervals([[1.0, 2.0]], mean)["mean"] is None  # one excerpt: no spread to estimate


def test_the_benchmark_intervals_group_cases_by_excerpt(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import accuracy

    drawn: list[list[list[str]]] = []

    def record(groups: list[list[accuracy.CaseResult]], figures: object) -> dict[str, None]:
        drawn.append([[r.case for r in g] for g in groups])
        return {}

    monkeypatch.setattr(accuracy, "bootstrap_intervals", record)
    score = score_case([seg("rep", 0.0, 1.0)], [seg("rep", 0.0, 0.5)], 2.0)  # half the rep heard, nothing wrong
    results = [accuracy.CaseResult(c, "dev", score, 0.0) for c in ("a-v0", "b-v0", "a-v1")]
    assert accuracy.intervals(results).excerpts == 2
    assert drawn == [[["a-v0", "a-v1"], ["b-v0"]]]
    figures = accuracy.overall_figures(results)
    assert figures["f1_mean"] == pytest.approx(2 / 3)  # the rep's F1; the customer's is undefined
    assert figures["attribution"] == 1.0  # the strict figure would be 0.5
    assert figures["share_error_pp"] == 0.0
    assert figures["interruption_f1"] is None


def test_the_benchmark_intervals_draw_excerpts_that_share_a_voice_together() -> None:
    """dev00 and dev01 are two parts of one meeting, the same two people: not two independent draws."""
    from bench import accuracy

    score = score_case([seg("rep", 0.0, 1.0)], [seg("rep", 0.0, 0.5)], 2.0)
    voices = {"a": {"x", "y"}, "b": {"z"}, "c": {"y", "w"}, "d": {"w"}}
    results = [
        accuracy.CaseResult(f"{e}-v{k}", "heldout", score, 0.0, voices=frozenset(v))
        for k in (0, 1)
        for e, v in voices.items()
    ]
    by_excerpt: dict[str, list[accuracy.CaseResult]] = {}
    for r in results:
        by_excerpt.setdefault(excerpt_of(r.case), []).append(r)
    assert accuracy.voice_groups(by_excerpt) == [["b"], ["a", "c", "d"]]
    found = accuracy.intervals(results)
    assert (found.excerpts, found.groups) == (4, 2)


def test_excerpt_of_a_case_is_its_name_without_the_room() -> None:
    assert [excerpt_of(c) for c in ("dev00-v3", "trn01-v0", "sample-v12")] == ["dev00", "trn01", "sample"]


def test_speech_heard_before_anybody_spoke_is_counted_up_to_the_first_onset() -> None:
    truth = [seg("customer", 2.0, 4.0), seg("rep", 5.0, 6.0)]
    system = [seg("rep", 0.0, 0.3), seg("customer", 1.8, 4.1), seg("rep", 5.0, 6.0)]
    assert opening_false_s(truth, system) == pytest.approx(0.3 + 0.2)  # the start, and an early onset
    assert opening_false_s(truth, truth) == 0.0
    assert opening_false_s([], system) == pytest.approx(0.3 + 2.3 + 1.0)  # nobody spoke: all of it
    scored = score_case(truth, system, 6.0)  # every case's score carries it (bench.accuracy prints it)
    assert scored.opening_false_s == pytest.approx(0.5)
    assert case_json(scored)["opening_false_s"] == 0.5


def test_the_rttm_truth_keeps_the_pauses_the_trimmed_truth_cuts() -> None:
    from bench.accuracy import BenchError, truth_of

    doc: dict[str, object] = {
        "audio": {"seconds": 4.0},
        "segments": [{"party": "rep", "start": 0.0, "end": 1.0}, {"party": "rep", "start": 2.0, "end": 3.0}],
        "segments_rttm": [{"party": "rep", "start": 0.0, "end": 3.0}],  # a turn that runs through a pause
    }
    system: dict[str, object] = {"segments": doc["segments"]}
    assert truth_of(doc, "trimmed") is doc
    assert score_report(truth_of(doc, "trimmed"), system).rep.f1 == 1.0
    rttm = score_report(truth_of(doc, "rttm"), system).rep  # the pause is missed speech by the RTTM
    assert rttm.precision == 1.0
    assert rttm.recall == pytest.approx(2 / 3)
    assert doc["segments"] != doc["segments_rttm"]  # the case file itself is left as it was
    with pytest.raises(BenchError, match="'raw' is not one of trimmed, rttm"):
        truth_of(doc, "raw")


def test_the_interruption_latency_counts_from_the_true_onset() -> None:
    """The device decides 1.0 s after the onset it heard: the latency the issue limits runs from when the
    interrupting speech began, which the listener may have missed the first 0.85 s of (a reviewer found the
    bench printing 1.00 s for every case, a decision 1.85 s after the speech began among them)."""
    from bench.interruptions import score_events, summary_json

    truth = {
        "audio": {"seconds": 20.0},
        "segments": [{"party": "customer", "start": 0.0, "end": 8.0}, {"party": "rep", "start": 3.0, "end": 6.0}],
    }
    heard_late = {"type": "interruption", "by": "rep", "t": 3.85, "decided_s": 4.85, "successful": False}
    score = score_events(truth, {"events": [heard_late]}, Config())
    assert score.matches["interruption"].tp == 1
    assert score.latencies_s == pytest.approx((1.0,)) and score.true_latencies_s == pytest.approx((1.85,))
    latency = summary_json(score)["interruption_latency_s"]
    assert latency == {"median": pytest.approx(1.85), "max": pytest.approx(1.85), "over_1s": 1, "n": 1}
