"""What the spool's puts leave behind when one of them fails part-way (no broker needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from listener.outputs.mqtt.spool import Spool


def _msg(n: int) -> dict[str, object]:
    return {"schema": "listener.mqtt.event/1", "ts": 1000 + n, "seq": 0, "n": n}


def test_a_message_that_cannot_be_stored_leaves_the_next_one_stored(tmp_path: Path) -> None:
    """A message JSON cannot carry (a NaN figure) is refused whole; the messages after it are stored and sent
    as ever, not dropped as if the disk were full (never drop a metric that was measured)."""
    with Spool(tmp_path / "spool.sqlite3", max_messages=100) as spool:
        first = spool.put("event", _msg(0))
        with pytest.raises(ValueError):
            spool.put_many([("event", _msg(1), 1), ("metrics", {**_msg(2), "rep_talk_s": float("nan")}, 1)])
        after = spool.put("event", _msg(3))
        assert after > first and spool.dropped == 0 and spool.depth == 2
        assert [json.loads(r.payload)["n"] for r in spool.after(0, 100)] == [0, 3]
