"""``python -m models.train``: where the model goes is checked before training, and replaced only at the end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from listener.turns.spec import SHIPPED_NAME, shipped_model_path, sidecar_path
from models import staging, train


def test_an_out_folder_that_cannot_be_written_is_refused_before_any_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--out afile/out` trained and quantized both members, then a NotADirectoryError traceback at the merge
    trainings: list[object] = []
    monkeypatch.setattr(train, "run", lambda *args, **kwargs: trainings.append(args))
    monkeypatch.setattr(train, "run_ensemble", lambda *args, **kwargs: trainings.append(args))
    (tmp_path / "afile").touch()
    out, cache = tmp_path / "afile" / "out", tmp_path / "cache"
    for seed in ([], ["--seed", "3"]):
        assert train.main(["--smoke", "--out", str(out), "--cache", str(cache), *seed]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"models.train: --out {out} cannot be written (Not a directory): choose another --out folder"]
    assert trainings == [] and not cache.exists()


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_training_that_fails_at_its_last_step_leaves_the_model_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the merge went straight into --out (the shipped folder by default), the thresholds were chosen after:
    # a failure there left the new weights under the first member's thresholds, which the listener accepts
    out, cache = tmp_path / "models" / "out", tmp_path / "cache"
    shutil.copytree(shipped_model_path().parent, out)
    before = _contents(out)
    calls: list[int] = []

    def choose(*args: object) -> tuple[float, float]:
        calls.append(1)
        if len(calls) > 2:  # the members' own choices pass: the merged model's fails
            raise RuntimeError("interrupted")
        return 0.5, 0.35

    monkeypatch.setattr(train, "choose_thresholds", choose)
    with pytest.raises(RuntimeError, match="interrupted"):
        train.run_ensemble(train.SMOKE, (1, 2), out, cache, log=False)
    assert _contents(out) == before
    assert not (cache / train.FLOAT_NAME).exists()  # nor is the cache's float export replaced
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # and no staging folder is left
    assert not [p for p in cache.rglob("*") if p.name.startswith(staging.PREFIX)]


def test_a_single_model_is_moved_into_its_folder_only_once_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    shutil.copytree(shipped_model_path().parent, out)
    before = _contents(out)

    def figures(*args: object) -> dict[str, object]:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(train, "figures", figures)
    with pytest.raises(RuntimeError, match="interrupted"):
        train.run(train.SMOKE, out, cache, log=False)
    assert _contents(out) == before and not (cache / train.FLOAT_NAME).exists()
    monkeypatch.undo()
    train.run(train.SMOKE, out, cache, log=False)
    doc = json.loads(sidecar_path(out / SHIPPED_NAME).read_text())
    assert doc["figures"]["validation"]["dialogues"] == 1 and doc["state_size"] == train.SMOKE.hidden
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out"]
