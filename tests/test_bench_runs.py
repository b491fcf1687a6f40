"""bench.boundaries and bench.misses run end to end: one simulated case, the real `listener analyze`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

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


def _run(module: Any, case: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    monkeypatch.setattr(module, "prepared", lambda args: case)
    assert module.main(list(argv)) == 0


@needs_data
def test_misses_prints_what_the_listener_heard_and_why_it_missed_the_rest(
    one_case: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(misses, one_case, monkeypatch)
    out = capsys.readouterr().out
    assert out.startswith("1 cases (heldout, separate overlaps)")
    scores = re.findall(r"(rep|customer)\s+precision ([\d.]+), recall ([\d.]+)", out)
    assert [party for party, _, _ in scores] == ["rep", "customer"]
    # trn08's two sides both talk for many seconds: the listener hears most of it, and little that is not there.
    assert all(float(p) > 0.8 and float(r) > 0.5 for _, p, r in scores)
    counts = re.search(r"truth interruptions: (\d+), found (\d+), missed (\d+)", out)
    assert counts
    total, found, missed = map(int, counts.groups())
    assert total > 0 and found + missed == total
    causes = [int(n) for n in re.findall(r"^\s+(\d+)\s{2}\S", out, flags=re.MULTILINE)]
    assert len(causes) == len(misses.CAUSES) and sum(causes) == missed


@needs_data
def test_boundaries_prints_errors_and_an_oracle_that_is_perfect_without_them(
    one_case: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(boundaries, one_case, monkeypatch, "--draws", "2")
    out = capsys.readouterr().out
    assert out.startswith("1 cases (heldout, separate overlaps)")
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
    def truth_interruptions() -> int:
        counts = re.search(r"truth interruptions: (\d+)", capsys.readouterr().out)
        assert counts
        return int(counts[1])

    _run(misses, one_case, monkeypatch)
    default = truth_interruptions()
    strict = tmp_path / "strict.toml"
    strict.write_text("[analytics]\ninterruption_min_s = 3.0\n", encoding="utf-8")
    _run(misses, one_case, monkeypatch, "--config", str(strict))
    assert truth_interruptions() < default, "the truth's interruptions follow the config's definition"
    bad = tmp_path / "bad.toml"
    bad.write_text("[analytics]\ninterruption_min = 3.0\n", encoding="utf-8")
    assert misses.main(["--config", str(bad)]) == 2
    assert "analytics.interruption_min" in capsys.readouterr().err
