"""Ground truth for the benchmark: RTTM turns, per-party segments, 10 ms frames.

Pure functions only (no audio, no files beyond the RTTM reader) so the
scoring can be unit-tested on hand-made timelines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from listener.events import Party
from listener.frames import runs as runs
from listener.frames import span_frames

PARTIES: tuple[Party, Party] = (Party.REP, Party.CUSTOMER)  # the order of the rows of frame_activity
FRAME_S = 0.01  # metrics.md: activity is judged on 10 ms frames
BRIDGE_GAP_S = 0.2  # metrics.md: shorter gaps inside one party's speech are bridged
QUIET_BELOW_DB = 30.0  # pauses this far under the excerpt's speech level are not speech
QUIET_MIN_S = 0.3
MIN_PIECE_S = 0.1  # slivers left between two cut pauses are clicks, not speech

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """One RTTM line: ``speaker`` talks from ``start_s`` to ``end_s``."""

    speaker: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class PartySegment:
    """One stretch of speech activity of a party."""

    party: Party
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_json(self) -> dict[str, object]:
        return {"party": self.party, "start": round(self.start_s, 3), "end": round(self.end_s, 3)}


def read_rttm(path: Path) -> dict[str, list[SpeakerTurn]]:
    """Turns per recording id (``uri``) from an RTTM file."""
    turns: dict[str, list[SpeakerTurn]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 8 or parts[0] != "SPEAKER":
            continue
        start_s, dur_s = float(parts[3]), float(parts[4])
        turns[parts[1]].append(SpeakerTurn(parts[7], start_s, start_s + dur_s))
    return dict(turns)


def talk_time_s(turns: Iterable[SpeakerTurn]) -> dict[str, float]:
    """Seconds each speaker talks (own overlaps merged)."""
    by_speaker: dict[str, list[Interval]] = defaultdict(list)
    for turn in turns:
        by_speaker[turn.speaker].append((turn.start_s, turn.end_s))
    return {spk: sum(b - a for a, b in merge_intervals(iv)) for spk, iv in by_speaker.items()}


def most_talkative(turns: Sequence[SpeakerTurn]) -> str:
    """The speaker with the most speech (ties broken by name, so it is stable)."""
    times = talk_time_s(turns)
    if not times:
        raise ValueError("no speaker turns: cannot choose a rep")
    return max(sorted(times), key=lambda spk: times[spk])


def merge_intervals(intervals: Iterable[Interval], bridge_s: float = 0.0) -> list[Interval]:
    """Union of intervals; gaps shorter than ``bridge_s`` are closed."""
    merged: list[list[float]] = []
    for start, end in sorted(iv for iv in intervals if iv[1] > iv[0]):
        if merged and start - merged[-1][1] < bridge_s + 1e-9:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def party_intervals(
    turns: Iterable[SpeakerTurn], rep_speaker: str, bridge_s: float = BRIDGE_GAP_S
) -> dict[Party, list[Interval]]:
    """Rep = ``rep_speaker``; customer = union of every other speaker."""
    raw: dict[Party, list[Interval]] = {p: [] for p in PARTIES}
    for turn in turns:
        raw[Party.REP if turn.speaker == rep_speaker else Party.CUSTOMER].append((turn.start_s, turn.end_s))
    return {party: merge_intervals(raw[party], bridge_s) for party in PARTIES}


def to_segments(intervals: dict[Party, list[Interval]]) -> list[PartySegment]:
    """Flatten per-party intervals into segments sorted by start time."""
    segs = [PartySegment(p, a, b) for p in PARTIES for a, b in intervals.get(p, [])]
    return sorted(segs, key=lambda s: (s.start_s, s.party))


def segments_from_frames(active: BoolArray, frame_s: float = FRAME_S) -> list[PartySegment]:
    """(2, frames) activity -> segments sorted by start time: the reverse of :func:`frame_activity`."""
    return to_segments({p: [(a * frame_s, b * frame_s) for a, b in runs(active[row])] for row, p in enumerate(PARTIES)})


def segments_from_json(items: Iterable[dict[str, object]]) -> list[PartySegment]:
    """Parse ``[{"party", "start", "end"}]`` (the report and truth format)."""
    out = []
    for item in items:
        if item["party"] not in PARTIES:
            raise ValueError(f"segment party {item['party']!r} is neither 'rep' nor 'customer'")
        party = Party(str(item["party"]))
        start, end = item["start"], item["end"]
        if not isinstance(start, int | float) or not isinstance(end, int | float):
            raise ValueError(f"segment {item!r}: start and end must be numbers")
        out.append(PartySegment(party, float(start), float(end)))
    return out


def n_frames(seconds: float, frame_s: float = FRAME_S) -> int:
    return round(seconds / frame_s)


def frame_activity(segments: Iterable[PartySegment], frames: int, frame_s: float = FRAME_S) -> BoolArray:
    """(2, frames) activity, row 0 rep, row 1 customer.

    A frame is active when its centre lies in ``[start, end)`` of a segment,
    so a segment covers round(duration / frame) frames whatever its phase.
    """
    active = np.zeros((len(PARTIES), frames), dtype=bool)
    for seg in segments:
        first, stop = span_frames(seg.start_s, seg.end_s, frame_s, frames)
        active[PARTIES.index(seg.party), first:stop] = True
    return active


def quiet_intervals(
    signal: FloatArray,
    rate_hz: int,
    below_db: float = 30.0,
    min_s: float = 0.3,
    ref_percentile: float = 95.0,
    active: Iterable[Interval] = (),
) -> list[Interval]:
    """Stretches of ``signal`` at least ``min_s`` long and ``below_db`` under its speech level.

    The speech level is the ``ref_percentile`` of 10 ms frame power over the
    ``active`` intervals (the whole signal if none). AMI's RTTM segments run
    through pauses of up to a second; these are what gets cut out of the truth.
    """
    hop = int(rate_hz * FRAME_S)
    frames = len(signal) // hop
    power = np.mean(signal[: frames * hop].reshape(frames, hop) ** 2, axis=1)
    level_db = 10.0 * np.log10(np.convolve(power, np.ones(5) / 5, mode="same") + 1e-12)
    centres = (np.arange(frames) + 0.5) * FRAME_S
    in_speech = np.zeros(frames, dtype=bool)
    for start, end in active:
        in_speech |= (centres >= start) & (centres < end)
    ref_db = float(np.percentile(level_db[in_speech] if in_speech.any() else level_db, ref_percentile))
    quiet = level_db < ref_db - below_db
    min_frames = round(min_s / FRAME_S)
    return [(a * FRAME_S, b * FRAME_S) for a, b in runs(quiet) if b - a >= min_frames]


def subtract(intervals: Iterable[Interval], holes: Sequence[Interval]) -> list[Interval]:
    """``intervals`` minus the union of ``holes``."""
    out: list[Interval] = []
    for start, end in intervals:
        pieces = [(start, end)]
        for h_start, h_end in holes:
            nxt: list[Interval] = []
            for a, b in pieces:
                if h_end <= a or h_start >= b:
                    nxt.append((a, b))
                    continue
                if h_start > a:
                    nxt.append((a, h_start))
                if h_end < b:
                    nxt.append((h_end, b))
            pieces = nxt
        out.extend(pieces)
    return out


def truth_intervals(
    mix: FloatArray, turns: Sequence[SpeakerTurn], rep: str, rate_hz: int
) -> dict[Party, list[Interval]]:
    """Per-party truth: RTTM union, minus long quiet pauses of ``mix``, bridged per metrics.md.

    ``mix`` is what the speakers play together (the excerpt itself when overlaps are coherent).
    """
    raw = party_intervals(turns, rep, bridge_s=0.0)
    speech = merge_intervals([iv for ivs in raw.values() for iv in ivs])
    quiet = quiet_intervals(mix, rate_hz, QUIET_BELOW_DB, QUIET_MIN_S, active=speech)
    out = {}
    for party, ivs in raw.items():
        pieces = merge_intervals(subtract(ivs, quiet), BRIDGE_GAP_S)
        out[party] = [(a, b) for a, b in pieces if b - a >= MIN_PIECE_S]
    return out
