"""What the spool says when it cannot store messages: a full card, a file it may not write, a spool that is full.

Said once, then at every WARN_EVERY-th message dropped: an outage must not also fill the journal. The spool
logs these lines itself, under its own logger name, so the journal reads as it always did.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from pathlib import Path

from listener.errors import OutputFileError
from listener.outputs.mqtt.spool_access import access_problem, is_access_error, storage_problem
from listener.outputs.mqtt.spool_damage import START_AGAIN

WARN_EVERY = 100  # while the disk or the spool is full, one warning per this many messages dropped


def say_again(dropped: int, told_at: int) -> bool:
    """Once (``told_at`` -1: not said since it was news), then at every WARN_EVERY-th message dropped."""
    return told_at < 0 or dropped // WARN_EVERY != told_at // WARN_EVERY


def evicted_warning(max_messages: int, lost: Counter[str], keyed: bool = True, connected: bool = False) -> str:
    """The spool full: the least needed messages give way (see eviction); ``lost``: those dropped, by kind.
    ``keyed`` False: the spool could not add the columns that say which (see spool_schema): the oldest go.
    ``connected``: the broker is connected as it fills, so no outage is to blame: the drain is too slow."""
    summaries = lost["session"]
    among = f"including {summaries} session {'summary' if summaries == 1 else 'summaries'}"
    among = among if summaries else "no session summary among them"
    which = (
        "the least needed to make room (superseded metrics snapshots first; session summaries last)"
        if keyed
        else "the oldest to make room (this start could not add what tells the least needed: see its warning)"
    )
    why = (
        "the broker is connected, but the link sends messages slower than they are made (at most "
        "mqtt.drain_rate_per_s a second, the live ones too); raise mqtt.drain_rate_per_s"
        if connected
        else "the broker has been away too long; raise mqtt.spool_max_messages or fix the outage"
    )
    return (
        f"MQTT spool full ({max_messages} messages): dropping {which}, {lost.total()} dropped so far, {among} "
        f"(said again every {WARN_EVERY}; the total ever is in info.spool_dropped): {why}"
    )


def unkeyed_warning(path: Path, exc: sqlite3.Error) -> str:
    """A spool from before this version on a full card: it starts without the columns that choose what a full
    spool drops (see spool_schema)."""
    return (
        f"MQTT spool {path}: the columns that choose what a full spool drops could not be added ({exc}); "
        "until then a full spool drops the oldest messages, session summaries too: free space on "
        "service.state_dir and restart the service"
    )


def _fix(path: Path, exc: BaseException) -> tuple[int, str]:
    """(level, fix) for a spool the process may not write or the card will not take."""
    if isinstance(exc, sqlite3.Error) and is_access_error(
        exc
    ):  # an install fault: "free space" would send the installer the wrong way
        return logging.ERROR, access_problem(path)
    return logging.WARNING, storage_problem(exc, path.parent) or "free space on service.state_dir"


def unwritable_warning(path: Path, exc: sqlite3.Error) -> tuple[int, str]:
    """(level, line) for a counter (seq, the day's sessions) or a delete the spool could not write."""
    level, fix = _fix(path, exc)
    return level, f"MQTT spool {path} cannot be written ({exc}): {fix}"


def held_warning(path: Path, exc: sqlite3.Error, held: tuple[int, int], dropped: int) -> tuple[int, str]:
    """(level, line) for messages kept in memory because the spool's file refused them (see spool_held):
    ``held``: how many wait there, and how many may; ``dropped``: by this process, ever (beyond that, or a full
    spool)."""
    level, fix = _fix(path, exc)
    lost = f", {dropped} dropped ever by this run (the least needed first)" if dropped else ""
    return level, (
        f"MQTT spool {path} cannot be written ({exc}): {held[0]} messages wait in memory (at most {held[1]}{lost}), "
        f"stored once it takes writes again and sent meanwhile while the broker is connected; a stop before "
        f"then loses them: {fix}"
    )


def held_lost(path: Path, exc: BaseException, held: int) -> str:
    """The stop came while the file still refused the messages waiting in memory."""
    if isinstance(exc, OutputFileError):  # a damaged file not set aside: its own line names it, and the fix
        return f"{exc}; {held} messages waiting in memory are lost at this stop"
    said = f"MQTT spool {path} still cannot be written ({exc}): {held} messages waiting in memory are lost at this stop"
    return f"{said}; {_fix(path, exc)[1]}"


def stored_again(moved: int) -> str:
    """What became of the messages kept in memory, once the file took writes again."""
    return f"the {moved} messages kept in memory are stored" if moved else "every message kept in memory was sent"


def full_at_start(path: Path, exc: BaseException, room: int, reopen_s: float, storage: str = "full") -> str:
    """The spool's file refused the start for a full card (``storage`` "full") or a read-only one ("unwritable"):
    the device runs on, the spool in memory."""
    return (
        f"MQTT spool {path} cannot be opened ({exc}): {_fix(path, exc)[1]}; the device runs on, its messages "
        f"waiting in memory (at most {room}; sent from there while the broker is connected, lost if the service "
        f"stops before {_card_back(storage)}), and the spool is opened again every {reopen_s:g} s"
    )


def damaged_in_memory(path: Path, exc: BaseException, storage: str, reopen_s: float) -> str:
    """Damage met while running, and the file could not be set aside (``exc`` an OutputFileError, which says
    why and the fix) or its fresh spool made: the spool runs in memory, ``storage`` what info says meanwhile."""
    problem = (
        str(exc).removesuffix(START_AGAIN)  # the device runs on: a start would lose what waits in memory
        if isinstance(exc, OutputFileError)
        else f"MQTT spool {path}: its fresh spool, after the damage, cannot be made ({exc}): {_fix(path, exc)[1]}"
    )
    return (
        f"{problem}; meanwhile messages wait in memory, sent from there while the broker is connected and lost if "
        f"the service stops before the spool has a file again (info.storage says {storage}, info.spool_in_memory "
        f"counts them); it is tried again every {reopen_s:g} s"
    )


def reopened(path: Path, held: int, backlog: int, sent_from_memory: bool, refused_as: str = "full") -> str:
    """The spool's file opened after a start on a full card (or damage: ``refused_as``, what info said of it)."""
    later = " (at the next start: newer ones were sent meanwhile)" if backlog and sent_from_memory else ""
    before = f"; the {backlog} messages it held from before are sent{later}" if backlog else ""
    now = _card_back(refused_as)
    return f"MQTT spool {path} opens now that {now}: the {held} messages in memory go into it{before}"


def _card_back(storage: str) -> str:
    """What ends the spool's time in memory for a card that refused it as ``storage`` (see spool_card)."""
    return "the card has room" if storage == "full" else "the card takes writes"
