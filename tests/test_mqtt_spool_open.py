"""What opening the spool says: the backlog it starts with, and a folder it cannot be made in (no broker needed)."""

from __future__ import annotations

import logging
import re
import resource
import signal
import sqlite3
from pathlib import Path

import pytest

from listener.errors import OutputError
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.spool_access import storage_problem
from tests.folders import refusing_writes
from tests.forked import said_in_child


def test_a_spool_opened_with_messages_from_before_says_they_are_sent_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spool.sqlite3"
    with Spool(path, max_messages=10) as spool:
        for n in range(2):
            spool.put("event", {"type": "backchannel", "n": n})
    with caplog.at_level(logging.INFO, logger="listener.outputs.mqtt.spool"), Spool(path, max_messages=10) as spool:
        assert spool.depth == 2
    assert [r.getMessage() for r in caplog.records] == ["MQTT spool holds 2 messages from before; they are sent first"]


def test_a_spool_whose_folder_cannot_be_made_gives_the_reason_as_words_and_its_fix(tmp_path: Path) -> None:
    """The OS's reason ("Permission denied", or for root an immutable folder's "Operation not permitted") and
    the advice for it, not the exception's "[Errno 13] ...: 'path'"."""
    locked = tmp_path / "var"
    locked.mkdir()
    with refusing_writes(locked), pytest.raises(OutputError) as err:
        Spool(locked / "state" / "spool.sqlite3", 10).open()
    text = str(err.value)
    assert text.startswith(f"MQTT spool {locked / 'state' / 'spool.sqlite3'} cannot be opened "), text
    assert re.search(r"opened \((Permission denied|Operation not permitted)\): check the (permissions|file's)", text)


def _opened_where_no_write_succeeds(path: Path) -> str:
    """What opening the spool at ``path`` says in a child process whose writes to files all fail (a file size limit
    of 0 bytes: sqlite gets the "disk I/O error" a card that takes no more writes gives): its error or "opened"."""

    def no_writes() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit fails, not the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    def opened() -> str:
        try:
            Spool(path, max_messages=10).open()
        except OutputError as exc:
            return str(exc)
        return "opened"

    return said_in_child(opened, no_writes)


@pytest.mark.parametrize("before", ["none", "damaged"])
def test_a_spool_the_card_will_not_write_stops_the_start_with_one_line_naming_it(tmp_path: Path, before: str) -> None:
    """A new spool (or the fresh one after a damaged file was set aside) that cannot be written for another reason
    than permissions (an I/O error, a full card) stops the start with the spool's name and sqlite's reason, not
    with sqlite's bare exception (a traceback) or a TypeError."""
    path = tmp_path / "state" / "spool.sqlite3"
    if before == "damaged":
        path.parent.mkdir()
        path.write_bytes(b"not a database, as a power cut leaves one " * 100)
    said = _opened_where_no_write_succeeds(path)
    assert said == (
        f"MQTT spool {path} cannot be opened (disk I/O error): the card failed a read or write: check `dmesg` for "
        f"card errors, repair or replace the card (and see `df -h {path.parent}` for space)"
    ), said
    if before == "damaged":  # it was set aside, kept, before the fresh spool was tried
        assert len(list(path.parent.glob("spool.sqlite3.corrupt-*"))) == 1


def _sqlite_error(text: str, code: int) -> sqlite3.Error:
    """sqlite's error as the sqlite3 module raises it, its extended result code attached."""
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorcode = code
    return exc


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            _sqlite_error("database or disk is full", 13),
            "the card is full: free at least 1 MB on it (`df -h {folder}`;",
        ),
        (_sqlite_error("disk I/O error", 778), "the card failed a read or write: check `dmesg`"),  # IOERR_WRITE
        (_sqlite_error("database is locked", 5), None),
        (sqlite3.OperationalError("no code attached"), None),
    ],
)
def test_a_card_that_fails_the_spool_is_named_as_the_card_not_the_folder(
    tmp_path: Path, error: sqlite3.Error, said: str | None
) -> None:
    """A full card or one failing its writes is not cured by checking the state folder's owner: the start's one
    line says what to look at (free space, the kernel's log; the I/O error through a real open above); any other
    sqlite error keeps the folder's advice."""
    told = storage_problem(error, tmp_path)
    assert told is None if said is None else told is not None and told.startswith(said.format(folder=tmp_path))


@pytest.mark.parametrize("what", ["-wal is a folder", "-shm is a folder", "a link to nothing"])
def test_a_folder_or_dead_link_where_a_spool_file_belongs_is_named_with_its_cure(tmp_path: Path, what: str) -> None:
    """sqlite says "disk I/O error", "readonly database" or "unable to open" of these, and the advice followed
    (the card; a chown; for root, `lsattr`): none of it cures a folder or a dead link in the file's place."""
    path = tmp_path / "mqtt-spool.sqlite3"
    if what == "a link to nothing":
        path.symlink_to(tmp_path / "gone" / "mqtt-spool.sqlite3")
        cure = f"{path} is a link to {tmp_path / 'gone' / 'mqtt-spool.sqlite3'}, which does not exist: remove the link"
    else:
        suffix = what.split(" ", 1)[0]
        Path(f"{path}{suffix}").mkdir()
        cure = f"{path}{suffix} is a folder, where the spool file belongs: remove it (or move it away)"
    with pytest.raises(OutputError) as err, Spool(path, max_messages=10):
        pass
    told = str(err.value)
    assert told.startswith(f"MQTT spool {path} cannot be opened (") and cure in told, told
    assert "dmesg" not in told and "chown" not in told and "lsattr" not in told, told
