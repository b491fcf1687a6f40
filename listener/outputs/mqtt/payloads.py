"""The JSON payload of every topic: numbers, enums and random ids only.

Each builder returns a dict that starts with ``schema``, ``ts`` (UTC epoch
milliseconds of when the device measured it) and ``seq`` (stamped by the
spool). Their JSON Schemas ship in ``listener/data/schemas/<topic>.json``
and the topics in ``listener/data/asyncapi.yaml``; the tests validate every
published payload against them. Never put a string here that is not an
enum value, a version, a fingerprint or a random id: the device must not
leak words.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, get_args

from listener.events import (
    Backchannel,
    DeviceMode,
    DominanceChanged,
    DominanceReason,
    Interruption,
    Party,
    Reported,
    SessionEnded,
    SessionStarted,
    SessionSummary,
    rep_share_of,
)
from listener.events.base import nullable
from listener.outputs import condition
from listener.outputs.mqtt.spool_card import STORAGE_STATES as STORAGE_STATES  # info's storage
from listener.strict_json import defined

if TYPE_CHECKING:
    from listener.transcription.summary import CueFigures

TOPICS = ("status", "info", "state", "metrics", "event", "session")
EVENT_TYPES = (
    "interruption",
    "interruption_outcome",
    "backchannel",
    "dominance_on",
    "dominance_off",
    "session_start",
    "session_end",
)
PARTIES = tuple(p.value for p in Party)
MODES = tuple(m.value for m in DeviceMode)
STATUSES = ("online", "offline")
CAUSES: tuple[str, ...] = condition.CAUSES  # a state's causes
DOMINANCE_REASONS: tuple[DominanceReason, ...] = get_args(DominanceReason)


def schema_name(topic: str) -> str:
    return f"listener.mqtt.{topic}/1"


def json_schema(topic: str) -> dict[str, Any]:
    """The shipped JSON Schema of ``topic``'s payload."""
    text = (resources.files("listener") / "data" / "schemas" / f"{topic}.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _head(topic: str, ts_ms: int) -> dict[str, object]:
    # seq is stamped by the spool, in the same transaction that stores the message
    return {"schema": schema_name(topic), "ts": ts_ms, "seq": 0}


def _rounded(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def _defined(value: float | None, digits: int) -> float | None:
    """A figure that may be undefined: null unless a finite number (a NaN would make the message unreadable)."""
    value = defined(value)
    return None if value is None else _rounded(value, digits)


def status(state: str, ts_ms: int) -> dict[str, object]:
    return {**_head("status", ts_ms), "state": state}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    software: str
    build: str  # listener.build.build_id(): tells apart installs that say the same release version
    paho: str
    protocol: str
    array_preset: str
    party_mode: str
    turn_model: str | None
    asr_model: str | None
    config_hash: str
    metrics_interval_s: float


@dataclass(frozen=True, slots=True)
class SpoolFigures:
    """What ``info`` says of the spool when it is made (info.json describes each)."""

    dropped: int
    depth: int
    in_memory: int  # of depth, the messages waiting in memory because the card refused them
    storage: str  # one of STORAGE_STATES


def info(device: DeviceInfo, spool: SpoolFigures, clock_ok: bool, ts_ms: int) -> dict[str, object]:
    return {
        **_head("info", ts_ms),
        "software": device.software,
        "build": device.build,
        "paho": device.paho,
        "protocol": device.protocol,
        "array_preset": device.array_preset,
        "party_mode": device.party_mode,
        "turn_model": device.turn_model,
        "asr_model": device.asr_model,
        "config_hash": device.config_hash,
        "metrics_interval_s": device.metrics_interval_s,
        "spool_dropped": spool.dropped,
        "spool_depth": spool.depth,
        "spool_in_memory": spool.in_memory,
        "storage": spool.storage,
        "clock_ok": clock_ok,
    }


def state(
    mode: DeviceMode,
    dominating: bool,
    session_id: str | None,
    sessions_today: int,
    ts_ms: int,
    causes: Sequence[str],
) -> dict[str, object]:
    """``causes``: the names of what holds ``mode`` (:attr:`DeviceCondition.causes`), never their free-text detail."""
    return {
        **_head("state", ts_ms),
        "mode": mode.value,
        "causes": sorted(causes),
        "dominating": dominating,
        "session_id": session_id,
        "sessions_today": sessions_today,
    }


def event(
    reported: Reported, ts_ms: int, onset_ms: int, session_id: str | None, *, outcome: bool = False
) -> dict[str, object] | None:
    """The ``event`` payload of an analytics event, or None for kinds that are not published.

    ``onset_ms`` is the wall time of ``reported.onset_s`` (see ``WallClock.wall_ms``).
    """
    body: dict[str, object]
    if isinstance(reported, Interruption):
        kind = "interruption_outcome" if outcome else "interruption"
        body = {"by": reported.by.value, "successful": reported.successful}
    elif isinstance(reported, Backchannel):
        kind = "backchannel"
        body = {"by": reported.by.value, "duration_s": _rounded(reported.duration_s)}
    elif isinstance(reported, DominanceChanged):
        kind = "dominance_on" if reported.dominating else "dominance_off"
        body = {"rep_share": _rounded(reported.rep_share), "reason": reported.reason}
    elif isinstance(reported, SessionStarted):
        kind, session_id, body = "session_start", reported.session_id, {}
    elif isinstance(reported, SessionEnded):
        kind, session_id = "session_end", reported.session_id
        body = {"duration_s": _rounded(reported.end_s - reported.onset_s, 4)}  # as the session message's
    else:
        return None
    return {**_head("event", ts_ms), "type": kind, "session_id": session_id, "onset_ms": onset_ms, **body}


@dataclass(slots=True)
class SessionFigures:
    """What the device knows about the running session; the source of ``metrics``."""

    session_id: str
    onset_s: float
    rep_talk_s: float = 0.0
    customer_talk_s: float = 0.0
    interruptions_by_rep: int = 0
    interruptions_by_customer: int = 0
    backchannels_by_rep: int = 0
    backchannels_by_customer: int = 0
    final_s: float | None = None  # the session's duration, once it has ended

    @property
    def rep_share(self) -> float | None:
        return rep_share_of(self.rep_talk_s, self.customer_talk_s)


def metrics(
    figures: SessionFigures,
    session_s: float,
    rolling_share: float | None,
    dominating: bool,
    spool_dropped: int,
    ts_ms: int,
    audio_overflow_s: float,
) -> dict[str, object]:
    share = figures.rep_share
    # rounded as in the session summary, so a session's final metrics equal its summary's figures
    return {
        **_head("metrics", ts_ms),
        "session_id": figures.session_id,
        "session_s": _rounded(session_s, 4),
        "rep_share_rolling": _defined(rolling_share, 4),
        "rep_share": _defined(share, 4),
        "rep_talk_s": _rounded(figures.rep_talk_s, 4),
        "customer_talk_s": _rounded(figures.customer_talk_s, 4),
        "interruptions_by_rep": figures.interruptions_by_rep,
        "interruptions_by_customer": figures.interruptions_by_customer,
        "backchannels_by_rep": figures.backchannels_by_rep,
        "backchannels_by_customer": figures.backchannels_by_customer,
        "dominating": dominating,
        "spool_dropped": spool_dropped,
        "audio_overflow_s": _rounded(audio_overflow_s),
    }


# Audio-clock fields of SessionSummary: sent as wall times (start_ms, end_ms) instead.
SUMMARY_AUDIO_TIMES = ("onset_s", "end_s", "decided_s")


def session(
    summary: SessionSummary, start_ms: int, end_ms: int, ts_ms: int, cues: CueFigures | None = None
) -> dict[str, object]:
    """A session summary: every figure of :class:`SessionSummary`, numbers (or null) only, and the
    session's content-cue counts (``cues``: numbers and one flag; None without transcription)."""
    body: dict[str, object] = {"cues": _cue_figures(cues) if cues is not None else None}
    for f in dataclasses.fields(summary):
        value = getattr(summary, f.name)
        if f.name in SUMMARY_AUDIO_TIMES or f.name == "session_id":
            continue
        if isinstance(value, float):
            body[f.name] = _defined(value, 4) if nullable(f) else _rounded(value, 4)
        elif value is None or isinstance(value, int):
            body[f.name] = value
        # anything else (a string a later version might add) never leaves the device
    return {**_head("session", ts_ms), "session_id": summary.session_id, "start_ms": start_ms, "end_ms": end_ms, **body}


def _cue_figures(cues: CueFigures) -> dict[str, object]:
    """Only numbers (or null) and the partial flag leave the device, whatever field a later version might add."""
    out: dict[str, object] = {}
    for key, value in cues.record().items():
        if value is None or isinstance(value, bool | int):
            out[key] = value
        elif isinstance(value, float):
            out[key] = _rounded(value, 3)  # the rates, null when undefined (CueFigures.record)
    return out
