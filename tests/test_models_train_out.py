"""``python -m models.train``: where the model goes is checked before training, and replaced only at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from models import train


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
