"""``seq`` across a stop after the card refused the spool: the seqs handed out in memory stay handed out.

Messages the card refused were numbered in memory, above the file's ``seq`` counter (see spool_held, spool_start).
Once every one of them had been sent and acknowledged, the stop wrote nothing into the file, since nothing waited in
memory: its counter stayed below them, and the next start with room on the card counted on from it, handing the same
seqs out again to other messages, which a consumer drops as seen (or, after a start in memory, seqs below those it
had already sent).
"""

from __future__ import annotations

import json
from pathlib import Path

from listener.outputs.mqtt.spool import Spool
from tests.full_card import in_a_card_namespace, read_only_for_a_while
from tests.mqtt_feed import numbered


def test_a_stop_after_every_message_kept_in_memory_was_sent_keeps_their_seqs_handed_out(tmp_path: Path) -> None:
    """The card refuses the writes as sqlite refuses them on a card remounted read-only (SQLITE_READONLY), takes
    them again before the stop, which finds nothing left in memory."""
    path = tmp_path / "mqtt-spool.sqlite3"
    with Spool(path, max_messages=100) as spool:
        before = spool.put("event", numbered(1))
        with read_only_for_a_while(spool):  # writable again after it; the stop comes before the next message
            in_memory = [spool.put("event", numbered(n)) for n in (2, 3)]
            sent = spool.take(0, 10)  # the broker connected: all three sent, and acknowledged
            spool.delete([row.id for row in sent])
            assert (spool.depth, spool.held) == (0, 0)
    with Spool(path, max_messages=100) as again:
        counted = again.counter("seq")  # the file's own: a start counts on above the clock too, which hides it
        after = again.put("event", numbered(4))
    assert before < min(in_memory) and counted == max(in_memory) and after > max(in_memory), (before, in_memory, after)


# runs in the private namespace, its folder the tmpfs: a start on the full card (the spool in memory), every message
# sent and acknowledged, the card freed, the stop (the file opens then, nothing left in memory), a start with room
START_IN_MEMORY_ALL_SENT = """
import json, logging, os, sys, time
from pathlib import Path
from listener.outputs.mqtt.spool import Spool
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
folder = Path(sys.argv[1])
path = folder / "mqtt-spool.sqlite3"
with Spool(path, max_messages=1000) as before:
    backlog = [before.put("event", {"n": n}) for n in range(2)]
time.sleep(0.01)  # a restart: the clock has moved on past the 2 seqs
from tests.full_card import fill_card
fill_card(folder)
spool = Spool(path, max_messages=1000)
spool.open()
put = [spool.put("event", {"n": n}) for n in range(2, 5)]
rows = spool.take(0, 10)
spool.delete([row.id for row in rows])
os.unlink(folder / "fill")
spool.close()
with Spool(path, max_messages=1000) as again:
    counted = again.counter("seq")
    after = again.put("event", {"n": 5})
said = {"backlog": backlog, "put": put, "sent": [row.seq for row in rows], "counted": counted, "after": after}
print(json.dumps(said))
"""


def test_a_stop_after_a_start_in_memory_whose_messages_were_all_sent_keeps_seq_above_them(tmp_path: Path) -> None:
    result = in_a_card_namespace(tmp_path, START_IN_MEMORY_ALL_SENT)
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert said["sent"] == said["put"] and min(said["put"]) > max(said["backlog"]), said
    assert said["after"] > max(said["put"]), said  # was max(backlog) + 1: below the seqs already sent
    assert said["counted"] >= max(said["put"]), said  # the file's own counter, not only the clock at the start
    assert "opens now that the card has room" in result.stderr, result.stderr
