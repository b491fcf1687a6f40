"""The bundled sample conversation (``python -m bench.simulate --sample``).

A ~28 s counter dialogue cut from real AMI speech: the rep is FEE083 (trn06),
the customer MÉO069 (trn03), each piece taken from a stretch where the RTTM
has that speaker alone. The customer opens, the rep answers, backchannels
once and then interrupts the customer (successfully) with a long turn; in
the second half the rep clearly dominates (rep share about 0.7), so a looped
demo lights the dominance LED. Rendered like the benchmark cases: rep at
azimuth ~0 deg, customer at ~180 deg, kitchen noise, 4-channel 16 kHz int16.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.room import RATE_HZ, Room, far_point, impulse_responses, measured_rt60_s, place, render
from bench.signals import DATA_DIR, ROOT, FloatArray, load_mono, mix_to_level, smooth_mask, write_wav
from bench.truth import (
    BRIDGE_GAP_S,
    MIN_PIECE_S,
    PARTIES,
    Interval,
    merge_intervals,
    read_rttm,
    to_segments,
    truth_intervals,
)
from listener.events import Party

SAMPLE_DIR = ROOT / "listener" / "data" / "sample"
SEED = 7
SECONDS = 27.6
LEVEL_DBFS = -28.0
SNR_DB = 20.0
NOISE_FILE = "doing_the_dishes.wav"
PIECE_FADE_S = 0.02


@dataclass(frozen=True, slots=True)
class Piece:
    """``excerpt`` from ``src_start_s`` to ``src_end_s``, placed at ``at_s`` in the dialogue."""

    party: Party
    excerpt: str
    speaker: str
    src_start_s: float
    src_end_s: float
    at_s: float


REP, CUSTOMER = ("trn06", "FEE083"), ("trn03", "MÉO069")
PIECES = (
    Piece(Party.CUSTOMER, *CUSTOMER, 7.95, 10.15, 0.3),  # opens with a problem
    Piece(Party.REP, *REP, 0.0, 3.5, 2.9),  # answers
    Piece(Party.CUSTOMER, *CUSTOMER, 13.35, 17.15, 6.8),  # explains more ...
    Piece(Party.REP, *REP, 10.55, 11.1, 8.2),  # ... rep backchannel while the customer talks
    Piece(Party.REP, *REP, 13.52, 21.8, 9.8),  # rep interrupts 0.8 s before the customer's end
    Piece(Party.CUSTOMER, *CUSTOMER, 20.65, 22.15, 18.5),  # short question
    Piece(Party.REP, *REP, 22.6, 26.75, 20.4),  # long answer ...
    Piece(Party.REP, *REP, 27.9, 30.0, 24.9),  # ... and more
)
# What the arrangement contains, by piece index (times are taken from the truth).
EVENTS = (
    (3, {"type": "backchannel", "party": "rep"}),
    (4, {"type": "interruption", "party": "rep", "successful": True}),
)


def _piece_truth(piece: Piece, truth_by_excerpt: dict[str, dict[Party, list[Interval]]]) -> list[Interval]:
    """The piece's speech in dialogue time, from its excerpt's truth (pauses already cut)."""
    shift = piece.at_s - piece.src_start_s
    out = []
    for a, b in truth_by_excerpt[piece.excerpt][piece.party]:
        lo, hi = max(a, piece.src_start_s), min(b, piece.src_end_s)
        if hi > lo:
            out.append((lo + shift, hi + shift))
    return out


def _tracks(data_dir: Path) -> tuple[dict[Party, FloatArray], dict[Party, list[Interval]], list[float]]:
    """Dry per-party signals, their speech intervals and each piece's speech onset."""
    rttm = read_rttm(data_dir / "ami-train" / "train.rttm")
    total = round(SECONDS * RATE_HZ)
    tracks: dict[Party, FloatArray] = {p: np.zeros(total) for p in PARTIES}
    truth: dict[Party, list[Interval]] = {p: [] for p in PARTIES}
    mixes, by_excerpt, onsets = {}, {}, []
    for excerpt, speaker in (REP, CUSTOMER):
        mixes[excerpt] = load_mono(data_dir / "ami-train" / f"{excerpt}.wav", RATE_HZ)
        # Within its excerpt the chosen speaker is "rep" for the truth helper, whatever its party here.
        own = truth_intervals(mixes[excerpt], rttm[excerpt], speaker, RATE_HZ)[Party.REP]
        by_excerpt[excerpt] = dict.fromkeys(PARTIES, own)
    for piece in PIECES:
        src = mixes[piece.excerpt][int(piece.src_start_s * RATE_HZ) : int(piece.src_end_s * RATE_HZ)]
        src = src * smooth_mask([(0.0, len(src) / RATE_HZ)], len(src), RATE_HZ, PIECE_FADE_S)
        speech = _piece_truth(piece, by_excerpt)
        local = smooth_mask([(a - piece.at_s, b - piece.at_s) for a, b in speech], len(src), RATE_HZ) > 0.5
        src = src / np.sqrt(np.mean(src[local] ** 2))  # every piece at the same speech level
        start = round(piece.at_s * RATE_HZ)
        tracks[piece.party][start : start + len(src)] += src[: total - start]
        truth[piece.party].extend(speech)
        onsets.append(speech[0][0] if speech else piece.at_s)
    bridged = {
        p: [(a, b) for a, b in merge_intervals(iv, BRIDGE_GAP_S) if b - a >= MIN_PIECE_S] for p, iv in truth.items()
    }
    return tracks, bridged, onsets


ROOM = Room(size_m=(5.2, 4.1, 2.8), rt60_s=0.45, array_center_m=(2.5, 2.1, 1.0))
REP_AT = place(ROOM, 4.0, 0.7, 1.62)
CUSTOMER_AT = place(ROOM, 183.0, 1.1, 1.70)


def make_sample(out_dir: Path = SAMPLE_DIR, data_dir: Path = DATA_DIR) -> Path:
    """Render the sample conversation and write ``conversation.wav`` and ``truth.json``."""
    rng = np.random.default_rng(SEED)
    tracks, truth, onsets = _tracks(data_dir)
    noise = load_mono(data_dir / "noise" / NOISE_FILE, RATE_HZ)
    total = len(tracks[Party.REP])
    starts = rng.integers(0, len(noise) - total, size=3)
    noise_pos = [far_point(ROOM, rng) for _ in starts]
    hs = impulse_responses(ROOM, [REP_AT.position_m(ROOM), CUSTOMER_AT.position_m(ROOM), *noise_pos], rng)
    speech = render(tracks[Party.REP], hs[0]) + render(tracks[Party.CUSTOMER], hs[1])
    noise_img = np.zeros_like(speech)
    for start, h in zip(starts, hs[2:], strict=True):
        noise_img += render(noise[start : start + total], h)
    all_speech = merge_intervals([iv for ivs in truth.values() for iv in ivs])
    audio = mix_to_level(speech, noise_img, all_speech, RATE_HZ, SNR_DB, LEVEL_DBFS, rng)
    wav = out_dir / "conversation.wav"
    write_wav(wav, audio, RATE_HZ)
    doc = _truth_doc(truth, onsets, total / RATE_HZ, measured_rt60_s(hs[0]))
    (out_dir / "truth.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return wav


def _truth_doc(
    truth: dict[Party, list[Interval]], onsets: list[float], seconds: float, rt60_s: float
) -> dict[str, object]:
    talk = {p: sum(b - a for a, b in iv) for p, iv in truth.items()}
    return {
        "schema": "listener.bench-truth/1",
        "case": "sample-conversation",
        "audio": {"seconds": round(seconds, 3), "channels": 4, "sample_rate": RATE_HZ},
        "segments": [s.to_json() for s in to_segments(truth)],
        "talk_s": {p: round(v, 2) for p, v in talk.items()},
        "rep_share": round(talk[Party.REP] / (talk[Party.REP] + talk[Party.CUSTOMER]), 3),
        "events_as_arranged": [{**event, "time": round(onsets[i], 3)} for i, event in EVENTS],
        "rep": {"source": "/".join(REP), **REP_AT.to_json(ROOM)},
        "customer": {"source": "/".join(CUSTOMER), **CUSTOMER_AT.to_json(ROOM)},
        "pieces": [
            {
                "party": p.party,
                "excerpt": p.excerpt,
                "speaker": p.speaker,
                "src": [p.src_start_s, p.src_end_s],
                "at": p.at_s,
            }
            for p in PIECES
        ],
        "room": {**ROOM.to_json(), "measured_rt60_s": round(rt60_s, 3)},
        "noise": {"file": NOISE_FILE, "points": 3, "snr_db": SNR_DB},
        "speech_level_dbfs": LEVEL_DBFS,
        "made_by": "python -m bench.simulate --sample",
    }
