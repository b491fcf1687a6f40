"""What opening the spool says: the backlog it starts with, and a folder it cannot be made in (no broker needed)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from listener.errors import OutputError
from listener.outputs.mqtt.spool import Spool
from tests.folders import refusing_writes


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
