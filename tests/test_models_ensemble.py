"""``python -m models.ensemble``: seeds of one training merged into one step graph, run by onnxruntime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

import onnx

from listener.config import geometry, parse_config
from listener.events import AudioBlock, SpatialFrames
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns.features import features_of
from listener.turns.spec import load_spec, shipped_model_path, sidecar_path
from models import ensemble
from tests import synth
from tests.conftest import TurnModelOpener


def member(folder: Path, head_scale: float, lookahead: int | None = None) -> Path:
    """The shipped model with its output layer's weight scales multiplied: another member to merge."""
    folder.mkdir()
    model = onnx.load(str(shipped_model_path()))
    # (the shipped model may itself be an ensemble, whose members' names carry a prefix)
    scales = [t for t in model.graph.initializer if t.name.endswith("head.weight_scale")]
    assert scales
    for scale in scales:
        scaled = onnx.numpy_helper.to_array(scale) * np.float32(head_scale)
        scale.CopyFrom(onnx.numpy_helper.from_array(scaled, scale.name))
    path = folder / "turn.int8.onnx"
    onnx.save(model, str(path))
    doc = json.loads(sidecar_path(shipped_model_path()).read_text())
    if lookahead is not None:
        doc["output"]["lookahead_steps"] = lookahead
    sidecar_path(path).write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    samples, _ = synth.render(synth.DIALOGUE, 17.0)
    config = parse_config({})
    front = SpatialFrontEnd(config, geometry(config))
    (frames,) = [e for e in front.process(AudioBlock(0.0, 16000, samples)) if isinstance(e, SpatialFrames)]
    return features_of(frames)


def test_the_merged_model_averages_its_members_step_by_step(
    tmp_path: Path, features: np.ndarray, turn_model: TurnModelOpener
) -> None:
    a, b = member(tmp_path / "a", 1.0), member(tmp_path / "b", 0.5)
    merged = ensemble.merge([a, b], tmp_path / "merged")
    config = parse_config({})
    out_a, out_b, out = (turn_model(config, p).run_sequence(features) for p in (a, b, merged))
    assert np.abs(out_a - out_b).max() > 0.05  # two different members
    np.testing.assert_allclose(out, (out_a + out_b) / 2, rtol=0, atol=1e-6)
    spec, first = load_spec(merged), load_spec(a)
    assert spec.state_size == 2 * first.state_size
    assert spec.lookahead_steps == first.lookahead_steps and spec.vad_on == first.vad_on
    assert spec.thresholds == first.thresholds
    doc = json.loads(sidecar_path(merged).read_text())
    assert doc["training"]["seeds"] == [20251125, 20251125] and "figures" not in doc


def test_members_of_other_trainings_are_refused_with_the_entry_that_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = member(tmp_path / "a", 1.0), member(tmp_path / "b", 1.0, lookahead=3)
    shipped = load_spec(a).lookahead_steps
    with pytest.raises(ValueError, match=rf"output.lookahead_steps = 3, but .* has {shipped}"):
        ensemble.merge([a, b], tmp_path / "merged")
    assert ensemble.main([str(tmp_path / "merged"), str(a), str(b)]) == 2
    assert "merge only seeds of one training" in capsys.readouterr().err
    assert ensemble.main([str(tmp_path / "merged"), str(a)]) == 2
    assert not (tmp_path / "merged").exists()
    shutil.rmtree(tmp_path / "b")
    assert ensemble.main([str(tmp_path / "merged"), str(a), str(tmp_path / "b" / "turn.int8.onnx")]) == 2


def _edit_training(path: Path, **changes: object) -> None:
    doc = json.loads(sidecar_path(path).read_text())
    for key, value in changes.items():
        if key in doc["training"]["settings"]:
            doc["training"]["settings"][key] = value
        if key not in doc["training"]["settings"] or key == "seed":  # the seed is in both
            doc["training"][key] = value
    sidecar_path(path).write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        # an 8-wide smoke member averaged with the shipped model: the features and columns agree
        ({"enc": 8}, "sidecar training.settings.enc = 8, but .* has 64"),
        ({"simulation_version": 2}, "sidecar training.simulation_version = 2, but .* has 3"),
        ({"epochs": 2}, "sidecar training.settings.epochs = 2"),
    ],
)
def test_members_of_trainings_with_other_settings_are_refused(
    changes: dict[str, object], said: str, tmp_path: Path
) -> None:
    a, b = member(tmp_path / "a", 1.0), member(tmp_path / "b", 0.5)
    _edit_training(b, **changes)
    with pytest.raises(ValueError, match=said):
        ensemble.merge([a, b], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_seeds_of_one_training_are_merged_and_a_member_with_no_training_record_is_refused(tmp_path: Path) -> None:
    a, b = member(tmp_path / "a", 1.0), member(tmp_path / "b", 0.5)
    _edit_training(b, seed=7)  # the seed is what differs between members
    doc = json.loads(sidecar_path(ensemble.merge([a, b], tmp_path / "merged")).read_text())
    assert doc["training"]["seeds"] == [20251125, 7]
    # (a models.ensemble output as a member was a KeyError traceback)
    bare = json.loads(sidecar_path(b).read_text())
    bare["training"] = {"command": "python -m models.ensemble", "seeds": [1, 2]}
    sidecar_path(b).write_text(json.dumps(bare))
    with pytest.raises(ValueError, match=r"its sidecar records no training \(training.settings and training.seed\)"):
        ensemble.merge([a, b], tmp_path / "again")


def test_a_truncated_member_is_one_line_not_a_protobuf_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = member(tmp_path / "a", 1.0), member(tmp_path / "b", 0.5)
    b.write_bytes(b.read_bytes()[:50000])
    assert ensemble.main([str(tmp_path / "merged"), str(a), str(b)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"models.ensemble: {b} is damaged or not an ONNX model (")
    assert line.endswith("merge the turn.int8.onnx files models.train wrote")
