"""How a case renders overlapped speech, given that the AMI excerpts are mono mixes.

Two renderings (``OVERLAP_MODES``):

- ``coherent``: a speaker's source is the mix under that speaker's RTTM mask.
  Where two people speak at once the mix holds both voices once, so *every*
  active speaker carries the same sound: the overlap arrives identically from
  the rep's and the customer's direction. No array can split one sound into
  two talkers, which caps any system (``bench.accuracy --oracle-one-party``).
- ``separate``: within every stretch where a speaker overlaps someone else,
  that speaker plays speech of their *own* voice, taken in order from where
  they speak alone (a speaker with under ``MIN_SOLO_S`` of solo speech borrows
  the most talkative voice of the next excerpt that has enough). Each
  direction then carries one voice, as at a real counter; the timing of every
  overlap, backchannel and interruption is the RTTM's, and each stretch is
  played at the level of the mix there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bench.signals import FloatArray, smooth_mask
from bench.truth import (
    BRIDGE_GAP_S,
    FRAME_S,
    Interval,
    SpeakerTurn,
    merge_intervals,
    runs,
    subtract,
)

OVERLAP_MODES = ("separate", "coherent")
MIN_SOLO_S = 1.0  # less own solo speech than this and a donor voice fills the overlaps
SOLO_FLOOR_DB = 25.0  # solo frames this far under the speaker's loud frames are pauses, not material
MIN_RUN_S = 0.1  # shorter bits of solo speech are not worth a join
JOIN_RAMP_S = 0.005

Donor = Callable[[], FloatArray]


def own_intervals(turns: Sequence[SpeakerTurn], speaker: str) -> list[Interval]:
    return merge_intervals([(t.start_s, t.end_s) for t in turns if t.speaker == speaker], BRIDGE_GAP_S)


def others_intervals(turns: Sequence[SpeakerTurn], speaker: str) -> list[Interval]:
    """Where anybody but ``speaker`` talks."""
    return merge_intervals([(t.start_s, t.end_s) for t in turns if t.speaker != speaker])


def overlapped(turns: Sequence[SpeakerTurn], speaker: str) -> list[Interval]:
    """Where ``speaker`` talks while someone else does too."""
    own = own_intervals(turns, speaker)
    return merge_intervals(subtract(own, subtract(own, others_intervals(turns, speaker))))


def solo_material(mix: FloatArray, turns: Sequence[SpeakerTurn], speaker: str, rate_hz: int) -> FloatArray:
    """The speaker's solo speech, pauses left out, runs joined with short fades."""
    solo = subtract(own_intervals(turns, speaker), others_intervals(turns, speaker))
    keep = smooth_mask(solo, len(mix), rate_hz, ramp_s=0.0) > 0.5
    hop = round(rate_hz * FRAME_S)
    frames = len(mix) // hop
    power = np.mean(mix[: frames * hop].reshape(frames, hop) ** 2, axis=1)
    frame_keep = keep[: frames * hop].reshape(frames, hop).all(axis=1)
    if not frame_keep.any():
        return np.zeros(0)
    level_db = 10.0 * np.log10(power + 1e-12)
    loud = frame_keep & (level_db >= np.percentile(level_db[frame_keep], 95) - SOLO_FLOOR_DB)
    ramp = np.hanning(2 * round(JOIN_RAMP_S * rate_hz) + 2)[1:-1]
    half = len(ramp) // 2
    pieces = []
    for a, b in runs(loud):
        if (b - a) * FRAME_S < MIN_RUN_S:
            continue
        piece = mix[a * hop : b * hop].copy()
        piece[:half] *= ramp[:half]
        piece[-half:] *= ramp[half:]
        pieces.append(piece)
    return np.concatenate(pieces) if pieces else np.zeros(0)


def _filler(mix: FloatArray, stretches: Sequence[Interval], material: FloatArray, rate_hz: int) -> FloatArray:
    """``material`` laid in order (wrapping) into ``stretches``, each at the mix's level there."""
    out = np.zeros(len(mix))
    pos = 0
    for start, end in stretches:
        a, b = max(0, round(start * rate_hz)), min(len(mix), round(end * rate_hz))
        if b <= a:
            continue
        idx = (pos + np.arange(b - a)) % len(material)
        chunk = material[idx]
        pos = int(idx[-1]) + 1
        target = float(np.sqrt(np.mean(mix[a:b] ** 2)))
        have = float(np.sqrt(np.mean(chunk**2)))
        out[a:b] = chunk * (target / have if have > 0 else 0.0)
    return out


def speaker_source(
    mix: FloatArray,
    turns: Sequence[SpeakerTurn],
    speaker: str,
    rate_hz: int,
    mode: str,
    donor: Donor,
) -> FloatArray:
    """The dry signal ``speaker`` plays in the room under overlap rendering ``mode``."""
    own = smooth_mask(own_intervals(turns, speaker), len(mix), rate_hz)
    if mode == "coherent":
        return mix * own
    if mode != "separate":
        raise ValueError(f"overlap mode {mode!r}: expected one of {', '.join(OVERLAP_MODES)}")
    stretches = overlapped(turns, speaker)
    if not stretches:
        return mix * own
    material = solo_material(mix, turns, speaker, rate_hz)
    if len(material) < MIN_SOLO_S * rate_hz:
        material = donor()
    inside = smooth_mask(stretches, len(mix), rate_hz)
    return mix * own * (1.0 - inside) + _filler(mix, stretches, material, rate_hz) * inside
