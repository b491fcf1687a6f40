"""The held-out excerpts' fetcher (bench.heldout), on a small archive of the same layout."""

from __future__ import annotations

import hashlib
import io
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from bench import heldout
from bench.signals import DATA_DIR
from bench.simulate import EXCERPTS, HELDOUT_EXCERPTS, _excerpts, split_of
from bench.truth import read_rttm
from models.corpus import ami_training_speakers


def _archive(tmp_path: Path) -> Path:
    """A tar.gz with every member bench.heldout reads; each excerpt is 1 s of a different tone."""
    path = tmp_path / "pyannote.tar.gz"
    rttms: dict[str, list[str]] = {}
    with tarfile.open(path, "w:gz") as tar:
        for k, (excerpt, (wav, rttm)) in enumerate(heldout.MEMBERS.items()):
            buf = io.BytesIO()
            t = np.arange(16000) / 16000
            wavfile.write(buf, 16000, (0.1 * np.sin(2 * np.pi * (200 + 100 * k) * t)).astype(np.float32))
            _add(tar, wav, buf.getvalue())
            rttms.setdefault(rttm, []).append(f"SPEAKER {excerpt} 1 0.100 0.500 <NA> <NA> spk{k} <NA> <NA>")
        rttms["tests/data/debug.train.rttm"].append("SPEAKER trn01 1 0.0 1.0 <NA> <NA> other <NA> <NA>")
        for name, lines in rttms.items():
            _add(tar, name, ("\n".join(lines) + "\n").encode())
    return path


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(f"{heldout.TOP}/{name}")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_heldout_data_is_laid_out_like_the_shared_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _archive(tmp_path)
    monkeypatch.setattr(heldout, "ARCHIVE_URL", archive.as_uri())
    monkeypatch.setattr(heldout, "ARCHIVE_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    shared = tmp_path / "shared"
    (shared / "noise").mkdir(parents=True)
    folder = heldout.heldout_data(tmp_path / "data", shared)
    assert sorted(p.stem for p in (folder / "ami-train").glob("*.wav")) == sorted(heldout.MEMBERS)
    rttm = read_rttm(folder / "ami-train" / "train.rttm")
    assert sorted(rttm) == sorted(heldout.MEMBERS)  # trn01's line in the same RTTM file is not taken
    assert (folder / "noise").resolve() == (shared / "noise").resolve()
    assert "MIT" in (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert all(split_of(e) == "heldout" for e in HELDOUT_EXCERPTS)
    archive.unlink()  # a second call uses what is there, and points noise at its own shared data
    other = tmp_path / "other"
    (other / "noise").mkdir(parents=True)
    assert heldout.heldout_data(tmp_path / "data", other) == folder
    assert (folder / "noise").resolve() == (other / "noise").resolve()
    assert [p.name for p in tmp_path.iterdir() if ".partial" in p.name] == []


def test_two_first_runs_at_once_both_end_with_every_excerpt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _archive(tmp_path)
    monkeypatch.setattr(heldout, "ARCHIVE_URL", archive.as_uri())
    monkeypatch.setattr(heldout, "ARCHIVE_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    (tmp_path / "noise").mkdir()
    with ThreadPoolExecutor(4) as pool:
        folders = list(pool.map(lambda _: heldout.heldout_data(tmp_path / "data", tmp_path), range(4)))
    assert set(folders) == {tmp_path / "data"}
    assert sorted(p.stem for p in (tmp_path / "data" / "ami-train").glob("*.wav")) == sorted(heldout.MEMBERS)
    assert [p.name for p in tmp_path.iterdir() if ".partial" in p.name] == []


def test_a_changed_archive_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _archive(tmp_path)
    monkeypatch.setattr(heldout, "ARCHIVE_URL", archive.as_uri())
    with pytest.raises(heldout.HeldoutError, match="expected 3a903dfb"):
        heldout.heldout_data(tmp_path / "data", tmp_path)
    assert not (tmp_path / "data").exists()


def _heldout_speakers() -> dict[str, set[str]]:
    """Each held-out excerpt's voices: from the fetched RTTM if it is in the cache, else as bench.heldout lists them."""
    if (heldout.HELDOUT_DIR / heldout.DONE).is_file():
        rttm = read_rttm(heldout.HELDOUT_DIR / "ami-train" / "train.rttm")
        return {e: {t.speaker for t in turns} for e, turns in rttm.items()}
    return {e: set(heldout.HELDOUT_SPEAKERS) for e in HELDOUT_EXCERPTS}  # offline: the listed voices


@pytest.mark.skipif(not (DATA_DIR / "ami-train" / "train.rttm").exists(), reason="shared data absent")
def test_no_heldout_voice_was_trained_or_tuned_on() -> None:
    """The held-out split's headline figures must come from voices nothing here heard: not the turn model's AMI
    training voices (models.corpus), nor any voice of the nine shared excerpts the analyzer was tuned on."""
    voices = _heldout_speakers()
    split = {v for e in _excerpts("heldout") for v in voices[e]}
    assert split, "no held-out voices"
    assert not split & ami_training_speakers(), "held-out voices the turn model was trained on"
    shared = read_rttm(DATA_DIR / "ami-train" / "train.rttm")
    tuned = {t.speaker for e in EXCERPTS for t in shared[e]}
    assert not split & tuned, "held-out voices of the shared excerpts"
    # trn00 is fetched but in no split, since its voices are trained on
    assert set(heldout.TRAINED_VOICES) <= set(heldout.MEMBERS) - set(_excerpts("heldout"))
    assert all(voices[e] & ami_training_speakers() for e in heldout.TRAINED_VOICES if e in voices)


def test_heldout_speakers_listed_are_the_fetched_ones() -> None:
    """bench.heldout's list of the held-out voices (the offline check above) is what the archive holds."""
    if not (heldout.HELDOUT_DIR / heldout.DONE).is_file():
        pytest.skip("held-out excerpts not fetched (bench/.cache/heldout-data)")
    voices = _heldout_speakers()
    assert {v for e in HELDOUT_EXCERPTS for v in voices[e]} == heldout.HELDOUT_SPEAKERS
