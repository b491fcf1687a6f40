"""What the listener makes of a shop's ceiling loudspeakers: background music and PA announcements.

    python -m bench.store_sounds [--levels 20 15 10] [--tracks armygeddon feelings frozen-bubble]
                                 [--minutes 5] [--rooms 2] [--speakers 2] [--announce-every-s 90]
                                 [--skip-empty] [--skip-heldout] [--config FILE]

Needs ``apt-get install fretsonfire-songs-muldjord fretsonfire-songs-sectoid fb-music-high espeak-ng ffmpeg``
(the sounds, made at run time into ``bench/.cache/store``: bench.store_audio).
Levels are how far the music lies below the talkers' speech at the array
(mean power over all mics; the talkers' over their speech). An
announcement plays ``ANNOUNCE_OVER_MUSIC_DB`` above the music.

1. **An empty counter**: ``--minutes`` of music alone (an announcement every
   ``--announce-every-s``) in ``--rooms`` shop rooms (bench.room), no talker,
   through ``listener analyze --json``; the speech it reports per hour, the
   sessions, events and dominance, then where that speech comes from: the
   turn model's probabilities in music and in announcements, and the
   directions the front end hears (its DOA is azimuth-only; the loudspeakers
   hang high above the array).
2. **Conversations under music**: the held-out cases (``bench.accuracy --split
   heldout --overlaps separate --variants 6``) with the music rendered into
   each case's own room and added at each level, scored like bench.accuracy.
``--config`` is passed to every ``listener analyze`` and read by the
diagnosis (another turn model: ``[turn_model] path = ...``).
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import interruptions as events
from bench import store_audio as sa
from bench.accuracy import BenchError, analyze, cases_dir, ensure_cases, overall_figures, run
from bench.arrays import DEFAULT_ARRAY, mics_of
from bench.heldout import HeldoutError, data_for
from bench.room import RATE_HZ, Placement, Room, random_room
from bench.scoring import summarize
from bench.signals import DATA_DIR, MIC_SELF_NOISE_DBFS, smooth_mask
from bench.simulate import DEFAULT_SEED
from bench.store_diagnose import diagnose, print_diagnosis
from bench.truth import segments_from_json
from listener.config import load_config

SPEECH_DBFS = -30.0  # the talkers' level at the array on the empty counter: the middle of the cases' -34...-26
ANNOUNCE_OVER_MUSIC_DB = 10.0
LEVELS_DB = (20.0, 15.0, 10.0)
FIRST_ANNOUNCEMENT_S = 30.0
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class Shop:
    """One room with its loudspeakers."""

    index: int
    room: Room
    speakers: list[Placement]
    rng: np.random.Generator


def shop(seed: int, index: int, speakers: int) -> Shop:
    rng = np.random.default_rng([seed, 7, index])
    room = random_room(rng)
    return Shop(index, room, sa.ceiling_speakers(room, rng, speakers), rng)


@dataclass(frozen=True, slots=True)
class EmptyCounter:
    """A rendered recording of an empty counter and what played in it."""

    wav: Path
    track: str
    db_below: float
    shop: Shop
    announcements: list[tuple[float, float]]
    seconds: float


def render_empty(shop_: Shop, tracks: Sequence[str], samples: int, every_s: float) -> dict[str, np.ndarray]:
    """Per track ("none": announcements alone), the music and the announcements at the mics, unscaled."""
    spans = sa.announcements_at(samples, every_s, FIRST_ANNOUNCEMENT_S)
    programmes = [sa.announcement_track(samples, spans)]
    for name in tracks:
        x = sa.music(name)
        programmes.append(sa.looped(x, samples, int(shop_.rng.integers(len(x)))))
    heard = sa.through_speakers(programmes, shop_.room, shop_.speakers, shop_.rng, mics_of(DEFAULT_ARRAY))
    return {"announcement": heard[0], **dict(zip(tracks, heard[1:], strict=True))}


def mixed(heard: dict[str, np.ndarray], track: str, db_below: float, spans: list[tuple[float, float]]) -> np.ndarray:
    """Music at ``SPEECH_DBFS - db_below``, announcements ``ANNOUNCE_OVER_MUSIC_DB`` above it, and mic self-noise."""
    music_dbfs = SPEECH_DBFS - db_below
    ann = heard["announcement"]
    out = np.zeros_like(ann)  # --announce-every-s 0: none (a level over no samples would be NaN)
    if spans:
        out = sa.at_level(ann, music_dbfs + ANNOUNCE_OVER_MUSIC_DB, smooth_mask(spans, ann.shape[1], RATE_HZ) > 0.5)
    if track != "none":
        out = out + sa.at_level(heard[track], music_dbfs)
    rng = np.random.default_rng(zlib.crc32(f"{track}{db_below}".encode()))
    return out + rng.normal(scale=10.0 ** (MIC_SELF_NOISE_DBFS / 20.0), size=out.shape)


def empty_counters(args: argparse.Namespace) -> list[EmptyCounter]:
    """Every room x (tracks and "none") x level, written into the cache."""
    samples = int(args.minutes * 60 * RATE_HZ)
    spans = sa.announcements_at(samples, args.announce_every_s, FIRST_ANNOUNCEMENT_S)
    out = []
    for index in range(args.rooms):
        room = shop(args.seed, index, args.speakers)
        heard = render_empty(room, args.tracks, samples, args.announce_every_s)
        for track in ["none", *args.tracks]:
            for db in args.levels:
                wav = sa.STORE_CACHE / "empty" / f"room{index}-{track}-{db:g}dB.wav"
                sa.save(wav, mixed(heard, track, db, spans))
                out.append(EmptyCounter(wav, track, db, room, spans, samples / RATE_HZ))
    return out


def counted(report: dict[str, Any], seconds: float) -> dict[str, float]:
    """What a dashboard would count from the report, per hour."""
    m, per_h = report["metrics"], HOUR_S / seconds
    interruptions = m["interruptions_by_rep"] + m["interruptions_by_customer"]
    backchannels = m["backchannels_by_rep"] + m["backchannels_by_customer"]
    return {
        "rep_s": m["rep_talk_s"] * per_h,
        "cust_s": m["customer_talk_s"] * per_h,
        "sessions": m["sessions"] * per_h,
        "summaries": len(report["sessions"]) * per_h,
        "interruptions": interruptions * per_h,
        "backchannels": backchannels * per_h,
        "dominance": float(m["dominance_episodes"]),
        "dominance_s": float(m["dominance_s"]),
    }


def print_empty(found: list[tuple[EmptyCounter, dict[str, float]]]) -> None:
    print("1. empty counter, per hour of music and announcements (dominance: episodes, seconds in the recording)")
    head = f"{'room':<5} {'track':<14} {'dB':>4} {'rep s/h':>8} {'cust s/h':>8} {'sess/h':>6} {'summ/h':>6}"
    print(head + f" {'intr/h':>6} {'bc/h':>6} {'domin':>5} {'dom s':>6}")
    for ec, c in found:
        print(
            f"{ec.shop.index:<5} {ec.track:<14} {ec.db_below:>4g} {c['rep_s']:>8.0f} {c['cust_s']:>8.0f}"
            f" {c['sessions']:>6.1f} {c['summaries']:>6.1f} {c['interruptions']:>6.1f} {c['backchannels']:>6.1f}"
            f" {c['dominance']:>5.0f} {c['dominance_s']:>6.1f}"
        )


def describe_shop(s: Shop) -> str:
    room = s.room
    where = ", ".join(
        f"az {p.azimuth_deg:.0f} deg el {p.to_json(room)['elevation_deg']:.0f} deg at {p.distance_m:.1f} m"
        for p in s.speakers
    )
    size = "x".join(f"{v:.1f}" for v in room.size_m)
    return f"room {s.index}: {size} m, RT60 {room.rt60_s:.2f} s; loudspeakers {where}"


def run_empty(args: argparse.Namespace) -> None:
    counters = empty_counters(args)
    for index in range(args.rooms):
        print(describe_shop(next(c.shop for c in counters if c.shop.index == index)))
    found = [(ec, counted(analyze(ec.wav, args.config, args.timeout), ec.seconds)) for ec in counters]
    print_empty(found)
    print("\n3. where the empty counter's speech comes from (the turn model's probabilities, the front end's DOA)")
    for ec in counters:
        azimuths = [p.azimuth_deg for p in ec.shop.speakers]
        print_diagnosis(
            f"room{ec.shop.index} {ec.track} {ec.db_below:g} dB",
            diagnose(ec.wav, ec.announcements, azimuths, load_config(args.config)),
        )


def case_audio(folder: Path, entry: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    from scipy.io import wavfile

    _, data = wavfile.read(folder / entry["wav"])
    truth = json.loads((folder / entry["truth"]).read_text(encoding="utf-8"))
    return data.T.astype(np.float64) / 32767.0, truth


def case_room(truth: dict[str, Any]) -> Room:
    r = truth["room"]
    return Room(size_m=tuple(r["size_m"]), rt60_s=float(r["rt60_s"]), array_center_m=tuple(r["array_center_m"]))


def music_for_case(
    audio: np.ndarray, truth: dict[str, Any], tracks: Sequence[str], args: argparse.Namespace
) -> dict[str, np.ndarray]:
    """Each track through loudspeakers in the case's own room, at the level of the case's speech (0 dB below)."""
    rng = np.random.default_rng([args.seed, 11, zlib.crc32(truth["case"].encode())])
    room = case_room(truth)
    speakers = sa.ceiling_speakers(room, rng, args.speakers)
    samples = audio.shape[1]
    programmes = [sa.looped(x, samples, int(rng.integers(len(x)))) for x in map(sa.music, tracks)]
    heard = sa.through_speakers(programmes, room, speakers, rng, mics_of(DEFAULT_ARRAY))
    segments = [(s.start_s, s.end_s) for s in segments_from_json(truth["segments"])]
    speech_dbfs = sa.level_dbfs(audio, smooth_mask(segments, samples, RATE_HZ) > 0.5)
    return {t: sa.at_level(h, speech_dbfs) for t, h in zip(tracks, heard, strict=True)}


def write_music_cases(folder: Path, manifest: dict[str, Any], args: argparse.Namespace) -> dict[str, Path]:
    """The held-out cases with each track at each level added: one folder (and manifest) per (track, level)."""
    out = {f"{t} {db:g}": sa.STORE_CACHE / f"heldout-{t}-{db:g}dB" for t in args.tracks for db in args.levels}
    for entry in manifest["cases"]:
        audio, truth = case_audio(folder, entry)
        for track, music in music_for_case(audio, truth, args.tracks, args).items():
            for db in args.levels:
                target = out[f"{track} {db:g}"]
                sa.save(target / entry["wav"], audio + music * 10.0 ** (-db / 20.0))
                (target / entry["truth"]).write_text(json.dumps(truth), encoding="utf-8")
    for target in out.values():
        (target / "manifest.json").write_text(json.dumps({"cases": manifest["cases"]}), encoding="utf-8")
    return out


def print_scores(
    label: str, folder: Path, manifest: dict[str, Any], timeout_s: float, config: Path | None = None
) -> None:
    results = run(folder, manifest, config, "", timeout_s, quiet=True)
    s, fig = summarize([r.score for r in results]), overall_figures(results)
    m = events.pooled([r.events for r in results if r.events is not None]).matches["interruption"]
    opened = sum(r.score.opening_false_s for r in results)
    print(
        f"{label:<20} {fig['f1_mean'] or 0:>6.3f} {s.rep.precision or 0:>6.3f} {s.customer.precision or 0:>6.3f}"
        f" {fig['attribution'] or 0:>6.3f} {fig['share_error_pp'] or 0:>6.1f}"
        f" {m.f1 or 0:>6.3f} {f'({m.tp} of {m.tp + m.fn}, {m.tp + m.fp} reported)':<24} {opened:>7.1f}"
    )


def run_heldout(args: argparse.Namespace) -> None:
    folder = cases_dir("separate", "heldout").resolve()
    manifest: dict[str, Any] = ensure_cases(folder, 6, args.seed, "heldout", data_for("heldout", args.data), "separate")
    music_folders = write_music_cases(folder, manifest, args)
    print(f"\n2. held-out cases ({len(manifest['cases'])}, separate overlaps, 6 rooms each) under music")
    head = f"{'music, dB below':<20} {'F1':>6} {'P rep':>6} {'P cust':>6} {'attr':>6} {'err pp':>6}"
    print(head + f" {'intr F1 (tp, reported)':<31} {'early s':>7}")
    print_scores("none", folder, manifest, args.timeout, args.config)
    for label, target in music_folders.items():
        print_scores(label, target, manifest, args.timeout, args.config)
    print("(P: precision; early s: seconds of speech heard before anybody spoke, all cases together)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.store_sounds", description=__doc__.split("\n")[0])
    ap.add_argument("--levels", type=float, nargs="+", default=list(LEVELS_DB), help="dB below the speech")
    ap.add_argument("--tracks", nargs="+", choices=sorted(sa.TRACKS), default=list(sa.TRACKS))
    ap.add_argument("--minutes", type=float, default=5.0, help="length of each empty-counter recording")
    ap.add_argument("--rooms", type=int, default=2, help="shop rooms for the empty counter")
    ap.add_argument("--speakers", type=int, default=2, help="ceiling loudspeakers per room")
    ap.add_argument("--announce-every-s", type=float, default=90.0, help="0: music alone")
    ap.add_argument("--skip-empty", action="store_true")
    ap.add_argument("--skip-heldout", action="store_true")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--config", type=Path, help="config file passed to listener analyze (e.g. another turn model)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if not args.skip_empty:
            run_empty(args)
        if not args.skip_heldout:
            run_heldout(args)
    except (BenchError, HeldoutError, sa.StoreSoundError) as exc:
        print(f"bench.store_sounds: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
