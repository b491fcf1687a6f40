"""``python -m models.train`` end to end, tiny: simulate, train, export, quantize, load in the pipeline stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from listener.config import parse_config
from listener.turns.onnx_model import OnnxTurnModel
from listener.turns.spec import SHIPPED_NAME, sidecar_path
from models import train


def test_smoke_training_run_produces_a_loadable_int8_model(tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    results = train.run(train.SMOKE, out, cache, log=False)
    path = out / SHIPPED_NAME
    doc = json.loads(sidecar_path(path).read_text())
    assert doc["training"]["settings"]["epochs"] == train.SMOKE.epochs
    assert doc["figures"] == json.loads(json.dumps(results))
    model = OnnxTurnModel(parse_config({}), path)
    out_seq = model.run_sequence(np.zeros((5, 43), np.float32))
    assert out_seq.shape == (5, model.spec.n_outputs)
    # the simulation is cached: a second run reads it instead of simulating again
    assert sorted(p.name for p in (cache / "features").rglob("*.npz")) == ["train-0000.npz", "val-0000.npz"]
