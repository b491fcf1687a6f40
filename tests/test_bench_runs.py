"""The benches run end to end: bench.boundaries and bench.misses on one simulated case with the real
`listener analyze`, the rules replay, and bench.turns on the shipped model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from bench import boundaries, misses
from bench.signals import DATA_DIR
from bench.truth import read_rttm
from listener.config import Config

needs_data = pytest.mark.skipif(not (DATA_DIR / "ami-train" / "train.rttm").exists(), reason="shared data absent")


@pytest.fixture(scope="module")
def one_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    from bench.simulate import simulate_case, write_case

    folder = tmp_path_factory.mktemp("cases")
    turns = read_rttm(DATA_DIR / "ami-train" / "train.rttm")["trn08"]
    wav, js = write_case(simulate_case("trn08", 0, turns, overlaps="separate"), folder)
    return folder, {"cases": [{"case": wav.stem, "wav": wav.name, "truth": js.name}]}


def _output(
    module: Any,
    case: tuple[Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
) -> str:
    """What the bench's main prints on the one case (it exits 0 and names the cases it ran)."""
    monkeypatch.setattr(module, "prepared", lambda args: case)
    assert module.main(list(argv)) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 cases (heldout, separate overlaps)")
    return out


@needs_data
def test_misses_prints_what_the_listener_heard_and_why_it_missed_the_rest(
    one_case: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _output(misses, one_case, monkeypatch, capsys)
    scores = re.findall(r"(rep|customer)\s+precision ([\d.]+), recall ([\d.]+)", out)
    assert [party for party, _, _ in scores] == ["rep", "customer"]
    # trn08's two sides both talk for many seconds: the listener hears most of it, and little that is not there.
    assert all(float(p) > 0.8 and float(r) > 0.5 for _, p, r in scores)
    counts = re.search(r"truth interruptions: (\d+), found (\d+), missed (\d+)", out)
    assert counts
    total, found, missed = map(int, counts.groups())
    assert total > 0 and found + missed == total
    missed_part, false_part = out.split("reported interruptions:")
    causes = [int(n) for n in re.findall(r"^\s+(\d+)\s{2}\S", missed_part, flags=re.MULTILINE)]
    assert len(causes) == len(misses.CAUSES) and sum(causes) == missed
    reported = re.match(r" (\d+), matching none in the truth (\d+):", false_part)
    assert reported
    false = [int(n) for n in re.findall(r"^\s+(\d+)\s{2}\S", false_part, flags=re.MULTILINE)]
    assert len(false) == len(misses.FALSE_CAUSES) and sum(false) == int(reported[2]) <= int(reported[1])
    assert int(reported[1]) - int(reported[2]) == found  # each true report matches one truth interruption


@needs_data
def test_boundaries_prints_errors_and_an_oracle_that_is_perfect_without_them(
    one_case: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _output(boundaries, one_case, monkeypatch, capsys, "--draws", "2")
    onsets = re.search(r"(\d+) of (\d+) truth onsets unmatched", out)
    assert onsets and int(onsets[1]) < int(onsets[2])
    f1 = {float(s): float(f) for s, f in re.findall(r"scale ([\d.]+): F1 mean ([\d.]+)", out)}
    assert sorted(f1) == list(boundaries.SCALES)
    assert f1[0.0] == 1.0, "the truth's own boundaries through the analytics give back the truth's interruptions"
    assert all(0.0 <= v <= 1.0 for v in f1.values())
    truth = json.loads((one_case[0] / one_case[1]["cases"][0]["truth"]).read_text(encoding="utf-8"))
    leads = sum(int(n) for n in re.findall(r"^\s{2}\S.*?\s(\d+), found by the listener", out, flags=re.MULTILINE))
    assert leads == len(boundaries.Case.of(truth, Config()).interruptions)


@needs_data
def test_a_config_reaches_both_the_listener_and_the_truth_and_a_bad_one_is_refused(
    one_case: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def heard_and_truth(*argv: str) -> tuple[list[str], int]:
        out = _output(misses, one_case, monkeypatch, capsys, *argv)
        counts = re.search(r"truth interruptions: (\d+)", out)
        assert counts
        return re.findall(r"precision [\d.]+, recall [\d.]+", out), int(counts[1])

    heard, truth = heard_and_truth()
    strict = tmp_path / "strict.toml"
    strict.write_text("[analytics]\ninterruption_min_s = 3.0\n", encoding="utf-8")
    assert heard_and_truth("--config", str(strict))[1] < truth, "the truth follows the config"
    heuristic = tmp_path / "heuristic.toml"
    heuristic.write_text("[turn_model]\nenabled = false\n", encoding="utf-8")
    other_heard, same_truth = heard_and_truth("--config", str(heuristic))
    assert other_heard != heard and same_truth == truth, "the listener runs with the config; the truth is unmoved"
    bad = tmp_path / "bad.toml"
    bad.write_text("[analytics]\ninterruption_min = 3.0\n", encoding="utf-8")
    assert misses.main(["--config", str(bad)]) == 2
    assert "analytics.interruption_min" in capsys.readouterr().err


def test_voicing_and_level_tell_a_voiced_sound_from_noise() -> None:
    from bench.audibility import edge_distance_s, frame_level_db, frame_voicing
    from bench.overlap_features import separation

    rng = np.random.default_rng(0)
    rate = 16000
    t = np.arange(rate) / rate
    # a 140 Hz voice with harmonics from 0.4 to 0.7 s, 20 dB over white noise
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    noise = rng.normal(0.0, 0.01, rate)
    x = noise + np.where((t >= 0.4) & (t < 0.7), 0.1 * voice, 0.0)
    voicing, level = frame_voicing(x, rate), frame_level_db(x, rate)
    assert len(voicing) == len(level) == 100
    inside, outside = slice(45, 65), np.r_[0:35, 75:100]
    # a Hann window's own taper caps a perfect period's score near 0.8
    assert voicing[inside].min() > 0.7 and np.median(voicing[outside]) < 0.3
    assert np.median(level[inside]) > 15 and abs(np.median(level[outside])) < 3
    assert separation(voicing[inside], voicing[outside]) == 1.0 and np.isnan(separation(voicing[inside], voicing[:0]))
    active = np.zeros(100, dtype=bool)
    active[40:70] = True
    assert edge_distance_s(active)[[0, 40, 55, 69, 99]] == pytest.approx([0.4, 0.0, 0.15, 0.01, 0.29])
    assert np.isinf(edge_distance_s(np.zeros(5, dtype=bool))).all()


def test_a_speakers_level_is_read_where_it_alone_speaks() -> None:
    from bench.audibility import speaker_levels
    from bench.truth import SpeakerTurn

    rate = 16000
    t = np.arange(3 * rate) / rate
    loud, quiet = 0.1 * np.sin(2 * np.pi * 200 * t), 0.01 * np.sin(2 * np.pi * 300 * t)
    mix = np.where(t < 1.0, loud, 0.0) + np.where((t >= 1.0) & (t < 2.0), quiet, 0.0)
    mix[int(0.5 * rate) : int(1.5 * rate)] += 0.3 * np.sin(2 * np.pi * 500 * t[:rate])  # an overlap, loud
    turns = [SpeakerTurn("A", 0.0, 1.5), SpeakerTurn("B", 0.5, 2.0), SpeakerTurn("C", 0.6, 0.65)]
    levels = speaker_levels(mix, turns, rate)
    (a_db, a_s), (b_db, b_s) = levels["A"], levels["B"]
    assert a_s == pytest.approx(0.5) and b_s == pytest.approx(0.5), "overlapped frames are nobody's alone"
    assert a_db is not None and b_db is not None
    assert a_db - b_db == pytest.approx(20.0, abs=0.1), "the loud overlap does not lift B's level"
    assert a_db == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.1)
    assert levels["C"] == (None, 0.0), "never alone: no level"


@needs_data
def test_audibility_finds_heard_speech_louder_and_more_voiced_than_silence(
    one_case: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import audibility

    out = _output(audibility, one_case, monkeypatch, capsys)
    rows = {
        kind.strip(): (int(n), float(level), float(voicing))
        for kind, n, level, voicing in re.findall(
            r"^  (\S.*?)\s+(\d+) frames, level\s+(-?[\d.]+) dB, voicing ([\d.]+)", out, flags=re.MULTILINE
        )
    }
    assert set(rows) >= {"heard speech", "silence"}
    heard, silence = rows["heard speech"], rows["silence"]
    assert heard[0] > 500 and silence[0] > 100
    assert heard[1] > silence[1] + 6 and heard[2] > silence[2] + 0.1
    auc_level = re.search(r"heard speech .* AUC level / voicing ([\d.]+) / ([\d.]+)", out)
    assert auc_level and float(auc_level[1]) > 0.8
    trn08 = re.search(r"^  trn08 +rep (\S+) (-[\d.]+) dB \(([\d.]+) s\), customer", out, flags=re.MULTILINE)
    assert trn08, "the excerpt's speakers, the rep first"
    assert -60 < float(trn08[2]) < -20 and float(trn08[3]) > 1.0


def test_a_sustained_overlap_keeps_the_quieter_voice_where_the_shipped_rule_drops_it() -> None:
    from bench.rules import shipped_rule, sustained_rule

    shipped, sustained = shipped_rule(0.7, 0.55), sustained_rule(0.7, 0.55, 5, 0.3)
    both_on = (True, True)
    # the customer dips to 0.5 while the rep talks on: dropped at once by the shipped rule ...
    assert shipped(both_on, 10, 0.95, 0.5) == (True, False)
    # ... kept by the sustained rule once the overlap has lasted its 5 steps, not before
    assert sustained(both_on, 5, 0.95, 0.5) == (True, True)
    assert sustained(both_on, 4, 0.95, 0.5) == (True, False)
    assert sustained(both_on, 10, 0.95, 0.25) == (True, False)
    # a party speaking alone is decided as shipped
    assert sustained((True, False), 0, 0.6, 0.1) == shipped((True, False), 0, 0.6, 0.1) == (True, False)


def test_joining_lets_a_party_in_over_the_other_below_the_on_threshold() -> None:
    from bench.rules import joining_rule, shipped_rule

    shipped, joining = shipped_rule(0.7, 0.55), joining_rule(0.7, 0.55, 0.5)
    rep_talking = (True, False)
    assert shipped(rep_talking, 0, 0.9, 0.6) == (True, False)
    assert joining(rep_talking, 0, 0.9, 0.6) == (True, True)
    assert joining(rep_talking, 0, 0.9, 0.45) == (True, False)
    assert joining((False, False), 0, 0.1, 0.6) == (False, False), "into silence it takes the shipped 0.7"


def test_hangover_keeps_a_party_on_for_its_steps_after_the_shipped_rule_drops_it() -> None:
    from bench.rules import hangover_rule

    def run(rule: Callable[..., tuple[bool, bool]], probs: list[tuple[float, float]]) -> list[tuple[bool, bool]]:
        state, out = (False, False), []
        for rep, cust in probs:
            state = rule(state, 0, rep, cust)
            out.append(state)
        return out

    rep_stops = [(0.9, 0.0), (0.1, 0.0), (0.1, 0.0), (0.1, 0.0), (0.1, 0.0)]
    assert [r for r, _ in run(hangover_rule(0.7, 0.55, 2, False), rep_stops)] == [True, True, True, False, False]
    assert [r for r, _ in run(hangover_rule(0.7, 0.55, 0, False), rep_stops)] == [True, False, False, False, False]
    handover = [(0.9, 0.0), (0.1, 0.9), (0.1, 0.9), (0.1, 0.9)]
    assert run(hangover_rule(0.7, 0.55, 2, False), handover)[1:3] == [(True, True), (True, True)]
    assert run(hangover_rule(0.7, 0.55, 2, True), handover)[1] == (False, True), "alone: the next voice ends it"


@needs_data
def test_rules_replay_gives_back_the_listeners_own_report_under_the_shipped_rule(
    one_case: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import rules
    from bench.accuracy import analyze

    folder, manifest = one_case
    entry = manifest["cases"][0]
    truth = json.loads((folder / entry["truth"]).read_text(encoding="utf-8"))
    run = rules.model_run(folder / entry["wav"], truth, Config())
    replayed, changed = rules.decided(run, rules.shipped_rule(*rules.thresholds(Config())), Config())
    report = analyze(folder / entry["wav"], None, 600.0)
    assert changed == 0
    assert replayed["segments"] == report["segments"] and replayed["metrics"] == report["metrics"]

    def unnamed(doc: dict[str, object]) -> list[dict[str, Any]]:  # a session's id is drawn afresh each run
        return [{k: v for k, v in e.items() if k != "session_id"} for e in cast(list[dict[str, Any]], doc["events"])]

    assert unnamed(replayed) == unnamed(report)
    assert any(e["type"] == "interruption" for e in unnamed(report)), "the case has an interruption to compare"
    out = _output(rules, one_case, monkeypatch, capsys)
    assert re.search(r"shipped rule .* frames changed 0$", out, flags=re.MULTILINE)
    sustained = re.findall(r"^  sustained overlap .* frames changed \d+$", out, flags=re.MULTILINE)
    assert len(sustained) == len(rules.SUSTAINED)
    hangover = re.findall(r"^  hangover .* frames changed \d+$", out, flags=re.MULTILINE)
    assert len(hangover) == 2 * len(rules.HANGOVER_STEPS)


def test_turns_bench_times_the_bound_step_beside_session_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from bench import turns

    monkeypatch.setattr(turns, "FLOAT_MODEL", Path("/nonexistent/turn.float.onnx"))  # the shipped int8 alone
    cpus = os.sched_getaffinity(0)
    try:
        assert turns.main(["--repeat", "1"]) == 0
    finally:
        os.sched_setaffinity(0, cpus)  # the bench pins itself to one CPU
    out = capsys.readouterr().out
    row = re.search(r"^int8 +(\d+) B +([\d.]+) us +[\d.]+ us +[\d.]+ us +([\d.]+) us +([\d.]+) us$", out, re.MULTILINE)
    assert row, out
    size_b, step_us, run_us, stage_us = int(row[1]), float(row[2]), float(row[3]), float(row[4])
    assert size_b > 0 and step_us > 0 and run_us > 0 and stage_us > 0  # how small and fast: bench/turns.py
    assert "front end for comparison" in out


@needs_data
@pytest.mark.parametrize(
    ("array", "recording", "service"),
    [
        ("respeaker-4mic", "long_0.1min.wav: 6 s, 4 ch, 16000 Hz, respeaker-4mic", True),
        # another board: its own channels, and a config naming it (the default one would refuse 2 channels)
        ("respeaker-2mic", "long_0.1min-respeaker-2mic.wav: 6 s, 2 ch, 16000 Hz, respeaker-2mic", False),
    ],
)
def test_speed_bench_renders_a_recording_and_prints_the_cost_per_audio_second(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    array: str,
    recording: str,
    service: bool,
) -> None:
    from bench import speed

    monkeypatch.setattr(speed, "CACHE", tmp_path)
    more = ["--service"] if service else []
    monkeypatch.setattr("sys.argv", ["bench.speed", "--minutes", "0.1", "--array", array, *more])
    speed.main()
    out = capsys.readouterr().out
    if service:  # `listener run --input --fast` of the same file, beside analyze's figure
        cost = re.search(r"^service streaming +(-?[\d.]+) CPU s per audio s, (-?[\d.]+)x analyze's$", out, re.MULTILINE)
        run = re.search(r"^run --input --fast +([\d.]+) s CPU, [\d.]+ s wall, peak RSS (\d+) MiB", out, re.MULTILINE)
        assert cost and run and float(run[1]) > 0 and int(run[2]) > 0, out
    assert recording in out
    assert re.search(r"^streaming cost +-?[\d.]+ CPU s per audio s \(target <= 0.02\)$", out, re.MULTILINE), out
    whole = re.search(r"^including start-up +([\d.]+) CPU s per audio s$", out, re.MULTILINE)
    rss = re.search(r"peak RSS (\d+) MiB \((\d+) MB\)", out)  # /proc counts KiB; the target is in MB
    assert whole and rss and float(whole[1]) > 0 and int(rss[2]) >= int(rss[1]) > 0, out
    assert abs(int(rss[2]) - int(rss[1]) * 1.048576) <= 1, out  # MB from MiB, not the same figure relabelled


def test_calibrate_bench_calibrates_each_scenario_and_counts_the_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import calibrate

    results = calibrate.run(rooms=1, seed=calibrate.DEFAULT_SEED, log=False)
    assert [r.scenario for r in results] == list(calibrate.SCENARIOS)
    assert {r.verdict for r in results} <= set(calibrate.VERDICTS)
    alone = results[0]
    # the first room's rep, alone and without the side noise, is placed within a few degrees and stored
    assert alone.verdict == "stored right" and alone.rep_error_deg < 10.0 and alone.customer_from == "opposite the rep"
    assert [r.noise_snr_db == r.noise_snr_db for r in results] == [False, False, True, True, True, False]  # NaN: none
    # the customer 40-55 deg beside the rep, nearer than the parties may be: refused, saying why
    beside = results[-1]
    assert beside.verdict == "refused" and "too near for the listener to tell them apart" in beside.refusal
    table = calibrate.report(results).splitlines()
    assert table[1].split()[:3] == ["rep", "alone", "1"]
    assert sum(int(n) for n in table[1].split()[3:7]) == 1
