"""`listener models fetch` repairs a model it installed that has since been damaged, and keeps an intact one.

The zip is served from a file URL laid out like a vosk model: the tests never reach the internet.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from listener.errors import ModelError
from listener.transcription.models import STAMP, VoskModelSpec, fetch, installed_problem

NAME = "vosk-model-tiny-test"
MEMBERS = {f"{NAME}/am/final.mdl": b"acoustic model" * 100, f"{NAME}/conf/model.conf": b"--beam=10\n"}


def served(tmp_path: Path) -> tuple[VoskModelSpec, Path]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in MEMBERS.items():
            zf.writestr(name, data)
    archive = tmp_path / "m.zip"
    archive.write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    spec = VoskModelSpec("en-small", NAME, archive.as_uri(), digest, len(buf.getvalue()), "en")
    return spec, archive


def _restamp(model: Path, **changes: object) -> None:
    stamp = json.loads((model / STAMP).read_text(encoding="utf-8"))
    (model / STAMP).write_text(json.dumps({**stamp, **changes}), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda m: (m / "am" / "final.mdl").write_bytes(b"acoustic"), "am/final.mdl has changed"),  # truncated
        (lambda m: (m / "conf" / "model.conf").unlink(), "conf/model.conf is missing"),
        # the stamp itself damaged (a power cut while fetch wrote it): nothing in it can vouch for the files
        (lambda m: (m / STAMP).write_text('{"schema": '), f"its stamp {STAMP} is unreadable (Expecting value"),
        (lambda m: (m / STAMP).write_bytes(b"\xff\xfe"), f"its stamp {STAMP} is unreadable ("),
        (lambda m: (m / STAMP).write_text("[]"), f"its stamp {STAMP} is not that of file:"),
        (lambda m: _restamp(m, files={}), f"its stamp {STAMP} lists no files"),
    ],
)
def test_fetch_replaces_a_damaged_model(tmp_path: Path, damage: Callable[[Path], object], problem: str) -> None:
    spec, _ = served(tmp_path)
    model = fetch(spec, tmp_path / "models")
    assert installed_problem(spec, model) == ""
    damage(model)
    assert problem in (installed_problem(spec, model) or "")
    assert fetch(spec, tmp_path / "models") == model
    assert (model / "am" / "final.mdl").read_bytes() == MEMBERS[f"{NAME}/am/final.mdl"]
    assert (model / "conf" / "model.conf").read_bytes() == b"--beam=10\n"
    assert installed_problem(spec, model) == ""
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [NAME]  # the old copy is gone


def test_an_intact_model_is_kept_without_downloading(tmp_path: Path) -> None:
    spec, archive = served(tmp_path)
    model = fetch(spec, tmp_path / "models")
    archive.unlink()  # a download now would fail
    assert fetch(spec, tmp_path / "models") == model
    assert (model / STAMP).is_file()


def test_a_damaged_model_offline_stays_and_says_why(tmp_path: Path) -> None:
    spec, archive = served(tmp_path)
    model = fetch(spec, tmp_path / "models")
    (model / "am" / "final.mdl").write_bytes(b"x")
    archive.unlink()
    with pytest.raises(ModelError, match="cannot download"):
        fetch(spec, tmp_path / "models")
    assert (model / "am" / "final.mdl").read_bytes() == b"x"  # nothing half-replaced


def test_a_model_copied_by_hand_has_no_stamp_and_is_kept(tmp_path: Path) -> None:
    spec, archive = served(tmp_path)
    model = tmp_path / "models" / NAME
    (model / "am").mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"someone's own build")
    archive.unlink()
    assert installed_problem(spec, model) is None
    assert fetch(spec, tmp_path / "models") == model
    assert (model / "am" / "final.mdl").read_bytes() == b"someone's own build"
