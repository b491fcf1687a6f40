"""``python -m models.evaluate``: bad options and models are refused before any room is simulated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from listener.turns.spec import shipped_model_path, sidecar_path
from models import evaluate


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The simulations asked for (none is run: each takes minutes)."""
    asked: list[object] = []

    def recordings(*args: object) -> list[object]:
        asked.append(args)
        raise AssertionError("simulated")

    monkeypatch.setattr(evaluate, "ami_recordings", recordings)
    monkeypatch.setattr(evaluate, "sim_recordings", recordings)
    return asked


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--variants", "0"], "argument --variants: 0 is outside 1-1000"),  # IndexError on no recordings
        (["--sim", "-1"], "argument --sim: -1 is outside 0-10000"),  # the same, after the whole AMI part
        (["--variants", "two"], "argument --variants: 'two' is not a whole number"),
    ],
)
def test_a_bad_count_is_refused_before_any_simulation(
    args: list[str], said: str, simulated: list[object], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(args)
    assert exit_.value.code == 2 and said in capsys.readouterr().err and simulated == []


def _model(folder: Path, feature_version: int | None = None, truncate: bool = False) -> Path:
    folder.mkdir()
    path = folder / "turn.int8.onnx"
    data = shipped_model_path().read_bytes()
    path.write_bytes(data[: len(data) // 3] if truncate else data)
    doc = json.loads(sidecar_path(shipped_model_path()).read_text())
    if feature_version is not None:
        doc["input"]["feature_version"] = feature_version
    sidecar_path(path).write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("made", "said"),
    [
        ({"feature_version": 3}, "input.feature_version = 3, which should be 4"),
        ({"truncate": True}, "is corrupt or not an ONNX model"),
    ],
)
def test_a_model_the_listener_refuses_is_refused_before_any_simulation_with_this_commands_fix(
    made: dict[str, object],
    said: str,
    tmp_path: Path,
    simulated: list[object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # it came as the listener's message inside a traceback, after the AMI rooms, telling to set [turn_model] path
    path = _model(tmp_path / "m", **made)  # type: ignore[arg-type]
    assert evaluate.main(["--model", str(path), "--cache", str(tmp_path / "cache"), "--sim", "0"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"models.evaluate: turn model {path}") and said in line
    assert line.endswith(": pass --model the turn.int8.onnx of a folder made by 'python -m models.train'")
    assert "[turn_model]" not in line and simulated == []


def test_a_missing_sidecar_is_named(
    tmp_path: Path, simulated: list[object], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _model(tmp_path / "m")
    sidecar_path(path).unlink()
    assert evaluate.main(["--model", str(path)]) == 2
    assert f"its sidecar {sidecar_path(path)} is missing" in capsys.readouterr().err and simulated == []


def test_a_float_twin_that_does_not_load_is_left_out(tmp_path: Path, simulated: list[object]) -> None:
    path = _model(tmp_path / "m")
    shutil.copy(sidecar_path(path), tmp_path / "m" / "turn.float.json")
    (tmp_path / "m" / "turn.float.onnx").write_bytes(b"not onnx")
    with pytest.raises(AssertionError, match="simulated"):  # on to the rooms, int8 only
        evaluate.main(["--model", str(path), "--cache", str(tmp_path / "cache")])
    assert simulated and evaluate.unusable(path) is None
