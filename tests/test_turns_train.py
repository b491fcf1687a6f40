"""``python -m models.train`` end to end, tiny: simulate, train, export, quantize, load in the pipeline stage."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from listener.config import parse_config
from listener.turns.spec import SHIPPED_NAME, shipped_model_path, sidecar_path
from models import fit, tracks, train, validation
from models.simulate import CACHE, Sample, load_split
from tests.conftest import TurnModelOpener


def test_smoke_training_run_produces_a_loadable_int8_model(tmp_path: Path, turn_model: TurnModelOpener) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    results = train.run(replace(train.SMOKE, lookahead_steps=2), out, cache, log=False)
    path = out / SHIPPED_NAME
    doc = json.loads(sidecar_path(path).read_text())
    assert doc["training"]["settings"]["epochs"] == train.SMOKE.epochs
    assert doc["output"]["lookahead_steps"] == 2
    assert doc["figures"] == json.loads(json.dumps(results))
    model = turn_model(parse_config({}), path)
    out_seq = model.run_sequence(np.zeros((5, 43), np.float32))
    assert out_seq.shape == (5, model.spec.n_outputs) and model.spec.lag_s == 0.04
    # the simulation is cached: a second run reads it instead of simulating again
    assert sorted(p.name for p in (cache / "features").rglob("*.npz")) == ["train-0000.npz", "val-0000.npz"]


def test_look_ahead_targets_and_scoring_move_the_activity_by_whole_steps() -> None:
    truth = np.zeros((2, 20), dtype=bool)
    truth[0, 6:10] = True  # rep speaks in steps 3 and 4
    sample = Sample(name="t", mode="array", features=np.zeros((10, 43), np.float32), truth=truth)
    assert tracks.targets(sample).vad[:, 0].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert tracks.targets(sample, 2).vad[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 0]
    outputs = np.arange(5, dtype=np.float32)[:, None]
    assert validation.labelled(outputs, 2)[:, 0].tolist() == [2, 3, 4, 4, 4]  # as the turn stage labels them
    assert validation.labelled(outputs, 0) is outputs


def test_the_command_line_defaults_are_the_shipped_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[train.Settings] = []
    merged: list[tuple[train.Settings, tuple[int, ...]]] = []
    monkeypatch.setattr(train, "run", lambda s, *args, **kwargs: ran.append(s))
    monkeypatch.setattr(train, "run_ensemble", lambda s, seeds, *args, **kwargs: merged.append((s, seeds)))
    assert train.main([]) == 0
    assert train.main(["--lookahead-steps", "3", "--seed", "7"]) == 0
    assert train.main(["--seeds", "1,2,3"]) == 0
    assert ran == [replace(train.Settings(), lookahead_steps=3, seed=7)]
    assert merged == [(train.Settings(), train.ENSEMBLE_SEEDS), (train.Settings(), (1, 2, 3))]
    assert train.ENSEMBLE_SEEDS[0] == train.Settings().seed
    with pytest.raises(SystemExit):
        train.main(["--help"])
    assert f"(default {train.Settings().epochs})" in capsys.readouterr().out


def test_validation_f1_scores_a_look_ahead_model_on_the_steps_it_labels() -> None:
    truth = np.zeros((2, 400), dtype=bool)
    truth[0, 40:200], truth[1, 240:380] = True, True
    sample = Sample(name="t", mode="array", features=np.zeros((200, 43), np.float32), truth=truth)
    late = tracks.targets(sample, 5)  # what a perfect model with a 5-step look-ahead outputs
    assert validation.activity_f1([late.vad], [late], 0.5, 0.35, 5)["f1_mean"] == 1.0
    assert (validation.activity_f1([late.vad], [late], 0.5, 0.35, 0)["f1_mean"] or 0.0) < 0.97


def test_a_smoke_ensemble_is_two_trained_members_merged_with_its_own_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, turn_model: TurnModelOpener
) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    chosen: list[tuple[list[np.ndarray], object]] = []  # (outputs, thresholds) of every choice made
    for name in ("choose_thresholds", "choose_decision_thresholds"):
        real = getattr(train, name)

        def choose(o: list[np.ndarray], *a: object, real: Callable[..., object] = real) -> object:
            chosen.append((o, real(o, *a)))
            return chosen[-1][1]

        monkeypatch.setattr(train, name, choose)
    results = train.run_ensemble(replace(train.SMOKE, lookahead_steps=1), (1, 2), out, cache, log=False)
    path = out / SHIPPED_NAME
    doc = json.loads(sidecar_path(path).read_text())
    assert doc["training"]["command"] == "python -m models.train" and doc["training"]["seeds"] == [1, 2]
    assert doc["state_size"] == 2 * train.SMOKE.hidden and doc["figures"] == json.loads(json.dumps(results))
    config = parse_config({})
    members = [turn_model(config, cache / "members" / f"s{seed}" / SHIPPED_NAME) for seed in (1, 2)]
    features = np.random.default_rng(0).normal(size=(20, 43)).astype(np.float32)
    mean = np.mean([m.run_sequence(features) for m in members], axis=0)
    np.testing.assert_allclose(turn_model(config, path).run_sequence(features), mean, rtol=0, atol=1e-6)
    floats = json.loads(sidecar_path(cache / train.FLOAT_NAME).read_text())
    assert floats["state_size"] == doc["state_size"] and floats["output"] == doc["output"]
    # the last two choices were made on the merged model's outputs, and the sidecar holds them
    s = replace(train.SMOKE, lookahead_steps=1)
    val = [tracks.targets(x, 1) for x in load_split("val", s.val, s.seconds, 1, cache, False, s.voices)]
    merged = train.onnx_outputs(path, val)
    (activity_outputs, vad), (decision_outputs, decisions) = chosen[-2:]
    for outputs in (activity_outputs, decision_outputs):
        np.testing.assert_array_equal(np.concatenate(outputs), np.concatenate(merged))
    assert (doc["output"]["vad_on"], doc["output"]["vad_off"]) == vad
    assert tuple(doc["output"]["thresholds"].values()) == decisions


def test_a_from_start_share_of_dialogues_is_trained_from_its_first_step() -> None:
    # the device's every stream starts with fresh feature floors and a zero state: some training must too
    steps = 600  # 12 s: several 5 s chunks
    dialogues = [
        tracks.Track(
            features=np.full((steps, 43), i, np.float32) + np.arange(steps, dtype=np.float32)[:, None],
            vad=np.zeros((steps, 2), np.float32),
            future=np.zeros((steps, 8), np.float32),
            mask=np.ones(steps),
            truth=np.zeros((2, 2 * steps), bool),
        )
        for i in range(200)
    ]

    def first_steps(from_start: float) -> np.ndarray:
        batch = fit.epoch_chunks(dialogues, np.random.default_rng(0), replace(train.Settings(), from_start=from_start))
        return batch[0][0][:, 0, 0].numpy() - np.arange(200)  # each dialogue's first step in the epoch

    assert (first_steps(1.0) == 0).all()
    assert 0.15 < np.mean(first_steps(0.25) == 0) < 0.35
    assert np.mean(first_steps(0.0) == 0) < 0.02


def test_a_smoke_run_never_writes_over_the_shipped_model_unless_told_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `python -m models.train --smoke` replaced listener/data/models/turn.int8.onnx with its tiny model
    places: list[tuple[Path, Path]] = []
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its temporary folder goes with the test's
    monkeypatch.setattr(train, "run_ensemble", lambda s, seeds, out, cache, **kwargs: places.append((out, cache)))
    assert train.main(["--smoke"]) == 0
    assert train.main([]) == 0
    assert train.main(["--smoke", "--out", str(tmp_path / "mine")]) == 0
    (smoke_out, smoke_cache), (real_out, real_cache), (told, _) = places
    assert smoke_out != real_out and smoke_cache != real_cache and smoke_out.parent == smoke_cache.parent
    assert real_out == shipped_model_path().parent and real_cache == CACHE
    assert told == tmp_path / "mine" and smoke_out.is_relative_to(tmp_path)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--lookahead-steps", "30"], "argument --lookahead-steps: 30 is outside 0-25"),  # trained, then failed
        (["--lookahead-steps", "-1"], "argument --lookahead-steps: -1 is outside 0-25"),  # a numpy traceback
        (["--seeds", "5"], "an ensemble needs two or more different seeds"),  # trained, then failed at the merge
        (["--seeds", "5,5"], "an ensemble needs two or more different seeds"),  # one model averaged with itself
        (["--epochs", "0"], "argument --epochs: 0 is outside 1-10000"),  # an untrained model, exit 0
        (["--music", "1.5"], "argument --music: 1.5 is outside 0-1"),
    ],
)
def test_a_bad_training_option_is_refused_before_any_training(
    args: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        train.main(["--smoke", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), *args])
    assert exit_.value.code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
