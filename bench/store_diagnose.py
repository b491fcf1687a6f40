"""Where an empty counter's false speech comes from, for bench.store_sounds.

Runs the front end and the turn model once on a recording (bench.rules.model_run)
and reads what they emit: per 10 ms frame, each party's speech probability,
the decision, and the dominant direction of arrival (azimuth only: the
ReSpeaker's mics lie in one plane, so a loudspeaker 1.5-2 m above the array
has no well-defined azimuth of its own beyond its horizontal bearing).
Frames are split into music alone and announcements.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.rules import model_run
from bench.signals import wrap_deg
from listener.config import Config
from listener.config.array_checks import angle_apart_deg
from listener.config.schema import PartiesConfig
from listener.events import ActivityFrames

NEAR_SPEAKER_DEG = 30.0


@dataclass(frozen=True, slots=True)
class Region:
    """Figures over one kind of frame (music alone, or announcements)."""

    frames: int
    rep_on: float  # fraction of frames the device calls rep speech
    customer_on: float
    rep_prob: tuple[float, float]  # mean, 95th percentile
    customer_prob: tuple[float, float]
    heard_rep: float  # fraction of frames with a direction that lie in the rep's sector (the config's parties)
    heard_customer: float  # in the customer's
    near_speaker: float  # within 30 deg of a loudspeaker's azimuth


@dataclass(frozen=True, slots=True)
class Frames:
    t_s: np.ndarray
    rep_on: np.ndarray
    customer_on: np.ndarray
    rep_prob: np.ndarray
    customer_prob: np.ndarray
    doa_deg: np.ndarray


def frames_of(wav: Path, config: Config) -> Frames:
    """Every ActivityFrames the model stage emits on ``wav``, concatenated."""
    got = [e for e in model_run(wav, {}, config).emitted if isinstance(e, ActivityFrames)]
    t = np.concatenate([e.start_s + e.hop_s * np.arange(e.n_frames) for e in got])

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(e, name) for e in got])

    return Frames(t, cat("rep_active"), cat("customer_active"), cat("rep_prob"), cat("customer_prob"), cat("doa_deg"))


def region(f: Frames, sel: np.ndarray, speaker_azimuths: list[float], parties: PartiesConfig) -> Region:
    n = int(sel.sum())
    if n == 0:
        return Region(0, 0.0, 0.0, (0.0, 0.0), (0.0, 0.0), 0.0, 0.0, 0.0)
    doa = f.doa_deg[sel]
    doa = doa[np.isfinite(doa)]

    def share(m: np.ndarray) -> float:
        return float(m.mean()) if m.size else 0.0

    near = np.min([angle_apart_deg(doa, a) for a in speaker_azimuths], axis=0) if doa.size else np.zeros(0)
    return Region(
        n,
        float(f.rep_on[sel].mean()),
        float(f.customer_on[sel].mean()),
        (float(f.rep_prob[sel].mean()), float(np.percentile(f.rep_prob[sel], 95))),
        (float(f.customer_prob[sel].mean()), float(np.percentile(f.customer_prob[sel], 95))),
        share(angle_apart_deg(doa, parties.rep_azimuth_deg) <= parties.sector_half_width_deg),
        share(angle_apart_deg(doa, parties.customer_azimuth_deg) <= parties.sector_half_width_deg),
        share(near <= NEAR_SPEAKER_DEG),
    )


def diagnose(
    wav: Path, announcements: list[tuple[float, float]], speaker_azimuths: list[float], config: Config | None = None
) -> dict[str, Region]:
    """Music alone and announcements (with 1 s after each, for the room's tail) on ``wav``, under ``config``."""
    config = config or Config()
    f = frames_of(wav, config)
    in_ann = np.zeros(len(f.t_s), dtype=bool)
    for a, b in announcements:
        in_ann |= (f.t_s >= a) & (f.t_s < b + 1.0)
    azimuths = [wrap_deg(a) for a in speaker_azimuths]
    parties = config.parties
    return {"music": region(f, ~in_ann, azimuths, parties), "announcement": region(f, in_ann, azimuths, parties)}


def print_diagnosis(label: str, found: dict[str, Region]) -> None:
    for name, r in found.items():
        if r.frames == 0:
            continue
        print(
            f"  {label:<28} {name:<12} speech rep {r.rep_on:6.1%} cust {r.customer_on:6.1%};"
            f" p rep {r.rep_prob[0]:.2f} (95th {r.rep_prob[1]:.2f}) cust {r.customer_prob[0]:.2f}"
            f" (95th {r.customer_prob[1]:.2f}); DOA in rep sector {r.heard_rep:4.0%}, cust {r.heard_customer:4.0%},"
            f" near a loudspeaker {r.near_speaker:4.0%}"
        )
