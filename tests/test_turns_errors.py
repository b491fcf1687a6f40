"""A missing, corrupt or mismatched turn model stops start-up with a message naming the file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from listener.config import geometry, parse_config
from listener.errors import ModelError
from listener.service.build import analysis_stages
from listener.spatial.decide import ActivityDecider
from listener.turns import activity_stage
from listener.turns.onnx_model import OnnxTurnModel
from listener.turns.spec import shipped_model_path, sidecar_path


def copy_model(tmp_path: Path) -> Path:
    path = tmp_path / "turn.onnx"
    shutil.copy(shipped_model_path(), path)
    shutil.copy(sidecar_path(shipped_model_path()), sidecar_path(path))
    return path


def config_for(path: Path) -> object:
    return parse_config({"turn_model": {"path": str(path)}})


def test_missing_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "turn.onnx"
    with pytest.raises(ModelError) as err:
        activity_stage(config_for(missing))  # type: ignore[arg-type]
    assert str(missing) in str(err.value) and "enabled = false" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ModelError) as err:
        OnnxTurnModel(parse_config({}), path)
    assert str(path) in str(err.value) and "corrupt" in str(err.value)


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.write_text("not a model at all")
    with pytest.raises(ModelError, match="corrupt"):
        OnnxTurnModel(parse_config({}), path)


def test_missing_or_mismatched_sidecar_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    doc = json.loads(sidecar_path(path).read_text())
    doc["input"]["n_features"] += 1
    sidecar_path(path).write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="n_features"):
        OnnxTurnModel(parse_config({}), path)
    sidecar_path(path).unlink()
    with pytest.raises(ModelError, match="sidecar"):
        OnnxTurnModel(parse_config({}), path)


def test_sidecar_that_does_not_match_the_graph_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    doc = json.loads(sidecar_path(path).read_text())
    doc["state_size"] += 4
    sidecar_path(path).write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="does not match its sidecar"):
        OnnxTurnModel(parse_config({}), path)


def test_disabled_model_uses_the_heuristic_even_without_a_file(tmp_path: Path) -> None:
    config = parse_config({"turn_model": {"enabled": False, "path": str(tmp_path / "gone.onnx")}})
    assert isinstance(activity_stage(config), ActivityDecider)
    stages = analysis_stages(config, geometry(config))
    assert any(isinstance(s, ActivityDecider) for s in stages)
    enabled = parse_config({})
    assert any(isinstance(s, OnnxTurnModel) for s in analysis_stages(enabled, geometry(enabled)))


def test_cli_exits_2_with_one_line_naming_the_file(tmp_path: Path, dialogue_4ch: tuple[Path, object]) -> None:
    bad = copy_model(tmp_path)
    bad.write_bytes(b"\x00" * 100)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'[turn_model]\npath = "{bad}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "listener", "analyze", str(dialogue_4ch[0]), "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(bad) in result.stderr
