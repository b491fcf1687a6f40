"""What a full spool drops to make room: the least needed messages first, not merely the oldest.

A visit every 5 minutes spools some 460 messages an hour, a third of them rolling ``metrics`` snapshots
(one per ``metrics_interval_s``), each repeated by its session's next one and made redundant by the
session's final ``metrics`` and its ``session`` summary. Dropping strictly the oldest lost whole visits,
summaries included, while keeping those snapshots. So a full spool drops, oldest first within each class:

1. ``metrics`` snapshots a later one of the same session, already stored, supersedes;
2. the other events (``session_start``, ``interruption``, ``backchannel``, ...); an ``interruption``
   takes its ``interruption_outcome`` along, which alone completes nothing a consumer counted;
3. last of all, session endings: a session's ``session`` summary, ``session_end`` event and final (or,
   while it runs, latest) ``metrics``, together, as a summary without its ``session_end`` is half a visit.

What is left is sent in the order it was stored (by id), as before. Each row carries its class, its
``rank``, kept up to date as messages are stored (see spool_schema): choosing reads the rows it drops,
and their groups, through indexes, not the spool: it may hold millions, and a full one chooses at every
message stored, on the pipeline thread. Rows the publisher has been handed (up to ``held_through``) are
on their way, and never chosen.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping

from listener.outputs.mqtt.spool_schema import ENDING, EVENT, SUPERSEDED, decoded
from listener.outputs.mqtt.spool_warnings import evicted_warning, say_again

Chooser = Callable[[sqlite3.Connection, int, int], dict[int, str]]


def evict(db: sqlite3.Connection, excess: int, held_through: int = 0, keyed: bool = True) -> Counter[str]:
    """Delete at least ``excess`` rows, the least needed first (more when a group goes whole); the number
    deleted by kind. Called inside the insert's transaction. Rows up to ``held_through`` are not deleted.
    ``keyed``: the rows carry their rank (see spool_schema), else the oldest go, as before they did."""
    lost: Counter[str] = Counter()
    # keyed: every row has its rank (spool_schema ranks all rows at open, and each as it is stored)
    choosers: tuple[Chooser, ...] = (_superseded, _events, _endings) if keyed else (_oldest,)
    for choose in choosers:
        need = excess - lost.total()
        if need <= 0:
            break
        chosen = choose(db, need, held_through)
        db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in chosen])
        lost.update(chosen.values())
    return lost


def _oldest(db: sqlite3.Connection, need: int, held_through: int) -> dict[int, str]:
    rows = db.execute("SELECT id, leaf FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (held_through, need))
    return dict(rows.fetchall())


def _ranked(db: sqlite3.Connection, rank: int, need: int, held_through: int) -> dict[int, str]:
    """The oldest ``need`` rows of ``rank`` not held, through the index on (rank, id)."""
    rows = db.execute(
        "SELECT id, kind FROM outbox WHERE rank = ? AND id > ? ORDER BY id LIMIT ?", (rank, held_through, need)
    )
    return dict(rows.fetchall())


def _superseded(db: sqlite3.Connection, need: int, held_through: int) -> dict[int, str]:
    return _ranked(db, SUPERSEDED, need, held_through)


def _events(db: sqlite3.Connection, need: int, held_through: int) -> dict[int, str]:
    chosen = _ranked(db, EVENT, need, held_through)
    for row_id in [i for i, kind in chosen.items() if kind == "interruption"]:
        chosen |= dict.fromkeys(_outcomes_of(db, row_id), "interruption_outcome")  # after it, so not held
    return chosen


def _outcomes_of(db: sqlite3.Connection, interruption_id: int) -> list[int]:
    """The stored interruption_outcome rows of the interruption ``interruption_id`` (same session, by, onset)."""
    row = db.execute("SELECT session_id, payload FROM outbox WHERE id = ?", (interruption_id,)).fetchone()
    if row is None:
        return []
    mine = decoded(row[1])
    rows = db.execute(
        "SELECT id, payload FROM outbox INDEXED BY outbox_session "
        "WHERE session_id IS ? AND kind = 'interruption_outcome' AND id > ?",
        (row[0], interruption_id),
    ).fetchall()
    return [i for i, payload in rows if _same_interruption(mine, decoded(payload))]


def _same_interruption(one: Mapping[str, object], other: Mapping[str, object]) -> bool:
    return one.get("by") == other.get("by") and one.get("onset_ms") == other.get("onset_ms")


def _endings(db: sqlite3.Connection, need: int, held_through: int) -> dict[int, str]:
    """Whole sessions' endings, oldest first, until ``need`` rows are chosen. A session with a row held is
    passed over whole: that row is delivered, and the rest of its ending must go with it."""
    chosen: dict[int, str] = {}
    passed: set[str] = set()
    cursor = db.execute(
        "SELECT id, kind, session_id FROM outbox WHERE rank = ? AND id > ? ORDER BY id", (ENDING, held_through)
    )
    try:  # read lazily: the oldest rows are the likeliest, and a full spool chooses at every message
        for row_id, kind, session_id in cursor:
            if len(chosen) >= need:
                break
            if row_id in chosen or session_id in passed:
                continue
            group = {row_id: kind}
            if session_id is not None:  # INDEXED BY: without statistics sqlite would read every rank-3 row
                rows = db.execute(
                    "SELECT id, kind FROM outbox INDEXED BY outbox_session WHERE session_id = ? AND rank = ?",
                    (session_id, ENDING),
                )
                group = dict(rows.fetchall())
            if min(group) <= held_through:
                passed.add(session_id)
                continue
            chosen |= group
    finally:
        cursor.close()
    return chosen


class EvictionLog:
    """What a full spool dropped since this process started, said once, then at every WARN_EVERY-th
    message dropped, with the session summaries among them: an outage must not also fill the journal."""

    def __init__(self) -> None:
        self.lost: Counter[str] = Counter()
        self._told = -1  # messages dropped at the last warning (-1: none since the spool was last emptied)

    def add(self, lost: Counter[str], max_messages: int, keyed: bool = True, connected: bool = False) -> str | None:
        """The warning to log now, if any (the spool logs it, under its own name, as it always did);
        ``connected``: the broker is connected as the spool fills (see evicted_warning)."""
        self.lost.update(lost)
        if not say_again(self.lost.total(), self._told):
            return None
        self._told = self.lost.total()
        return evicted_warning(max_messages, self.lost, keyed, connected)

    def emptied(self) -> None:
        """The backlog was sent: the next overflow is another outage's, news again."""
        self._told = -1
