"""`listener models fetch --dir X` where X cannot be the folder: what stands there is named, with the fix.

mkdir says only "File exists" of a file, a device or a broken link, and "Not a directory" of a path below a
file; the fetch used to pass that on as if the folder were merely not writable. The model's URL is a local
server's (tests/test_transcription_models.py's), so no case ever reaches the internet.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from listener.cli import main
from listener.transcription.models import MODELS
from tests.test_transcription_models import GOOD, Server, serving, spec_for

ELSEWHERE = "pass --dir with a folder (or a name not yet taken) and point [asr] model_path at it"


@pytest.fixture()
def server() -> Iterator[Server]:
    """A server of GOOD at /m.zip."""
    yield from serving({"/m.zip": GOOD})


def _file(at: Path) -> None:
    at.write_text("notes\n")


def _null_device(at: Path) -> None:
    # a device node of the test's own: /dev/null itself is never pointed at
    os.mknod(at, 0o666 | stat.S_IFCHR, os.makedev(1, 3))


def _fifo(at: Path) -> None:
    os.mkfifo(at)


def _loop(at: Path) -> None:
    at.symlink_to(at.name)


def _dangling(at: Path) -> None:
    at.symlink_to("gone/models")


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What is at a path, not when it was last read: reading a link (its readlink) moves its atime."""
    return st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns


@pytest.mark.parametrize(
    ("make", "below", "said"),
    [
        (_file, False, f"(it is a file, not a folder): {ELSEWHERE}"),
        (_file, True, "({at} is a file, not a folder): " + ELSEWHERE),
        (_null_device, False, f"(it is a device, not a folder): {ELSEWHERE}"),
        (_fifo, False, f"(it is a pipe, not a folder): {ELSEWHERE}"),
        (_loop, False, f"(it is a link to X, which leads round in a loop): replace it, or {ELSEWHERE}"),
        (_loop, True, f"({{at}} is a link to X, which leads round in a loop): replace it, or {ELSEWHERE}"),
        (_dangling, False, f"(it is a link to gone/models, which does not exist): make that folder, or {ELSEWHERE}"),
        (_dangling, True, "({at} is a link to gone/models, which does not exist): make that folder, or " + ELSEWHERE),
    ],
    ids=["file", "below-a-file", "device", "fifo", "link-loop", "below-a-link-loop", "dangling", "below-dangling"],
)
def test_what_stands_where_the_folder_belongs_is_named_with_the_fix(
    server: Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[Path], None],
    below: bool,
    said: str,
) -> None:
    monkeypatch.setitem(MODELS, "en-small", spec_for(server.url("/m.zip"), GOOD))
    at = tmp_path / "X"
    make(at)
    before = _identity(os.lstat(at))
    dest = at / "models" if below else at
    assert main(["models", "fetch", "en-small", "--dir", str(dest)]) == 2
    err = capsys.readouterr().err
    assert err == f"listener: cannot write the model into {dest} {said.format(at=at)}\n"
    assert server.hits == 0  # refused before the download
    assert _identity(os.lstat(at)) == before  # nothing was put in its place


def _closed_port() -> int:
    with socket.socket() as s:  # a port nobody listens on: the machine is as good as offline
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("offline", [True, False], ids=["offline", "corrupt-download"])
def test_a_failed_fetch_removes_the_folders_it_made_and_leaves_those_it_found(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, offline: bool
) -> None:
    """`--dir newdir` while offline made newdir and left it empty: the next look at the card found a models
    folder with no model. What fetch made it removes again; a folder that was there stays, and so does its
    content."""
    url = f"http://127.0.0.1:{_closed_port()}/m.zip" if offline else server.url("/m.zip")
    monkeypatch.setitem(MODELS, "en-small", spec_for(url, b"another model"))  # GOOD does not match it
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine\n")
    for dest, made in ((tmp_path / "new" / "deeper", tmp_path / "new"), (kept / "models", kept / "models")):
        assert main(["models", "fetch", "en-small", "--dir", str(dest)]) == 2
        assert ("seems to be offline" if offline else "is corrupt") in capsys.readouterr().err
        assert not made.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    for found in (kept, empty):
        assert main(["models", "fetch", "en-small", "--dir", str(found)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "kept"]
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
    assert list(empty.iterdir()) == []


def test_a_folder_named_through_a_dotdot_is_left_when_it_was_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--dir new/../found: 'new' does not exist, so neither does the path as written, but mkdir makes new and
    then finds found, which was there before: the failed fetch removed found (empty) and left new."""
    monkeypatch.setitem(MODELS, "en-small", spec_for(f"http://127.0.0.1:{_closed_port()}/m.zip", b"a model"))
    (tmp_path / "found").mkdir()
    assert main(["models", "fetch", "en-small", "--dir", str(tmp_path / "new" / ".." / "found")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["found"]
