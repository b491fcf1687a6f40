"""What ``models.train`` records about a model, and the listener's check of its bytes against it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from listener.errors import ModelError
from listener.turns.spec import SHIPPED_NAME, load_spec, shipped_model_path, sidecar_path
from models import provenance, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smoke model's folder (seconds)."""
    root = tmp_path_factory.mktemp("provenance")
    train.run(train.SMOKE, root / "out", root / "cache", log=False)
    return root


def test_a_trained_model_records_its_checkout_libraries_and_digest(trained: Path) -> None:
    for path in (trained / "out" / SHIPPED_NAME, trained / "cache" / train.FLOAT_NAME):
        doc = json.loads(sidecar_path(path).read_text())
        made = doc["training"]
        checkout = provenance.provenance()  # a git checkout's commit, or None outside one (an unpacked sdist)
        assert made["git_commit"] == checkout["git_commit"] and made["git_dirty"] == checkout["git_dirty"]
        assert made["git_commit"] is None or len(made["git_commit"]) == 40
        assert made["onnx"] and made["onnxruntime"] and "espeak_ng" in made
        assert doc["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_spec(trained / "out" / SHIPPED_NAME).state_size == train.SMOKE.hidden


def test_a_model_whose_bytes_changed_after_training_is_refused(trained: Path, tmp_path: Path) -> None:
    path = tmp_path / SHIPPED_NAME
    data = bytearray((trained / "out" / SHIPPED_NAME).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of the weights: the model still loads and runs
    path.write_bytes(bytes(data))
    sidecar_path(path).write_bytes(sidecar_path(trained / "out" / SHIPPED_NAME).read_bytes())
    with pytest.raises(ModelError, match=rf"turn model {path} is damaged: its SHA-256 is [0-9a-f]{{64}}, not the"):
        load_spec(path)


def test_a_sidecar_digest_that_is_no_digest_is_refused_and_the_shipped_one_has_none(tmp_path: Path) -> None:
    path = tmp_path / SHIPPED_NAME
    path.write_bytes(shipped_model_path().read_bytes())
    doc = json.loads(sidecar_path(shipped_model_path()).read_text())
    assert "sha256" not in doc  # shipped before the digest was recorded: not checked (models/README.md)
    sidecar_path(path).write_text(json.dumps({**doc, "sha256": "not a digest"}))
    with pytest.raises(ModelError, match='sha256 = "not a digest", which should be the model file\'s SHA-256'):
        load_spec(path)
