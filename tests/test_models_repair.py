"""`listener models fetch` repairs a model it installed that has since been damaged, and keeps an intact one.

The zip is served from a file URL laid out like a vosk model: the tests never reach the internet.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pwd
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from listener.errors import ModelError
from listener.transcription.models import STAMP, VoskModelSpec, fetch, installed_problem
from tests.forked import said_as

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


def test_a_model_file_this_account_may_not_read_is_named_not_a_traceback(tmp_path: Path) -> None:
    """The check of each file against the stamp read it unguarded: a file the account may not read (or a card
    failing under it) ended `models fetch` in a traceback and doctor's check in "report this as a bug"."""
    if os.geteuid() != 0:
        pytest.skip("needs root: to become an account the file refuses")
    spec, _ = served(tmp_path)
    dest = Path(tempfile.mkdtemp(prefix="listener-models-"))  # tmp_path's folders refuse other accounts
    try:
        dest.chmod(0o755)
        model = fetch(spec, dest)
        (model / "am" / "final.mdl").chmod(0o600)
        said = said_as(pwd.getpwnam("nobody").pw_uid, lambda: str(installed_problem(spec, model)))
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    assert said == "am/final.mdl cannot be read (Permission denied)"
