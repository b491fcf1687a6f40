"""Spatialize the AMI excerpts onto a ReSpeaker 4-mic array in simulated shop rooms.

    python -m bench.simulate --out DIR [--variants 2] [--split dev|eval|all|heldout]
                             [--array PRESET] [--customer-side DEG]
    python -m bench.simulate --long 600 --out X.wav      (one long recording, for the speed bench)
    python -m bench.simulate --sample                      (listener/data/sample/conversation.wav)

Each excerpt's mono mix is split by its RTTM: a speaker's signal is the mix
under a smooth mask of that speaker's segments. Overlapping speech is in the
mix once, so in overlaps *every* active speaker carries the whole mix; the
overlap is then heard from several directions at once (unavoidable with a
mono source). The REP (most talkative speaker unless chosen) stands near
azimuth 0 deg, everybody else is CUSTOMER side around 180 deg (``--customer-side``
moves them; ``--array`` records on another board: bench.arrays).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.arrays import ARRAYS, DEFAULT_ARRAY, DEFAULT_LAYOUT, Layout, captured, mics_of
from bench.heldout import HELDOUT_EXCERPTS as HELDOUT_EXCERPTS
from bench.heldout import MEMBERS, data_for
from bench.overlaps import OVERLAP_MODES, solo_material, speaker_source
from bench.room import (
    RATE_HZ,
    Placement,
    Room,
    far_point,
    impulse_responses,
    measured_rt60_s,
    place,
    random_room,
    render,
)
from bench.signals import (
    DATA_DIR,
    FloatArray,
    load_mono,
    mix_to_level,
    noise_sources,
    wrap_deg,
    write_wav,
)
from bench.truth import (
    PartySegment,
    SpeakerTurn,
    merge_intervals,
    most_talkative,
    party_intervals,
    read_rttm,
    segments_from_json,
    to_segments,
    truth_intervals,
)

GENERATOR_VERSION = 1
DEFAULT_SEED = 20240611
EXCERPTS = tuple(f"trn{i:02d}" for i in range(1, 10))
EVAL_EXCERPTS = frozenset({"trn08", "trn09"})  # held out from tuning and turn-model training
# voices never heard by anything in this project until scored (bench.heldout fetches them; --split heldout):
# HELDOUT_EXCERPTS, imported above; bench.heldout also fetches trn00, in no split (its voices are trained on)
SPLITS = ("all", "dev", "eval", "heldout")
NOISE_POINTS = 3
DONOR_MIN_S = 2.0


def split_of(excerpt: str) -> str:
    if excerpt in HELDOUT_EXCERPTS:
        return "heldout"
    return "eval" if excerpt in EVAL_EXCERPTS else "dev"


def _excerpt_index(excerpt: str) -> int:
    """A number for the excerpt's random stream: the rooms of each excerpt are its own."""
    if excerpt in EXCERPTS:
        return EXCERPTS.index(excerpt)
    # numbered by the archive's order, so an excerpt keeps its rooms whichever excerpts are in the split
    return 100 + tuple(MEMBERS).index(excerpt) if excerpt in MEMBERS else 99


def _excerpts(split: str) -> tuple[str, ...]:
    """The excerpts a split renders ("all" is the nine shared ones; "heldout" lives in bench.heldout's folder)."""
    if split == "heldout":
        return HELDOUT_EXCERPTS
    return tuple(e for e in EXCERPTS if split in ("all", split_of(e)))


@dataclass(frozen=True, slots=True)
class Case:
    """One rendered recording and its truth."""

    name: str
    audio: FloatArray  # (mics, samples)
    truth: dict[str, object]

    @property
    def segments(self) -> list[PartySegment]:
        return segments_from_json(self.truth["segments"])  # type: ignore[arg-type]


def place_speakers(
    room: Room, speakers: Sequence[str], rep: str, rng: np.random.Generator, customer_side_deg: float = 180.0
) -> dict[str, Placement]:
    """Where each speaker stands: the rep near 0 deg, 0.5-1 m; the others near ``customer_side_deg``, 0.6-1.5 m."""
    out = {}
    for spk in speakers:
        if spk == rep:
            out[spk] = place(room, rng.uniform(-15, 15), rng.uniform(0.5, 1.0), rng.uniform(1.5, 1.75))
        else:
            azimuth_deg = wrap_deg(customer_side_deg + rng.uniform(-25, 25))
            out[spk] = place(room, azimuth_deg, rng.uniform(0.6, 1.5), rng.uniform(1.5, 1.8))
    return out


@dataclass(frozen=True, slots=True)
class _Scene:
    """A rendered room before noise and level are set."""

    speech: FloatArray  # (mics, samples), every speaker
    dry: FloatArray  # (samples,), the sum of what the speakers play, before the room
    noise: FloatArray  # (mics, samples), every noise point
    noise_file: str
    measured_rt60_s: float


def _render_scene(
    mix: FloatArray,
    turns: Sequence[SpeakerTurn],
    placements: dict[str, Placement],
    room: Room,
    rng: np.random.Generator,
    data_dir: Path,
    overlaps: str,
    excerpt: str,
    array: str,
) -> _Scene:
    speakers = list(placements)
    noise_file, noises = noise_sources(rng, NOISE_POINTS, len(mix), RATE_HZ, data_dir)
    noise_pos = [far_point(room, rng) for _ in noises]
    sources = [placements[s].position_m(room) for s in speakers] + noise_pos
    hs = impulse_responses(room, sources, rng, mics_m=mics_of(array))
    speech = np.zeros((hs[0].shape[0], len(mix)))
    dry = np.zeros(len(mix))
    for spk, h in zip(speakers, hs, strict=False):
        # The speaker's own short pauses stay in the signal, as the truth bridges them too.
        source = speaker_source(mix, turns, spk, RATE_HZ, overlaps, lambda: donor_voice(excerpt, data_dir))
        dry += source
        speech += render(source, h)
    noise = np.zeros_like(speech)
    for n, h in zip(noises, hs[len(speakers) :], strict=True):
        noise += render(n, h)
    return _Scene(speech, dry, noise, noise_file, measured_rt60_s(hs[0]))


@lru_cache(maxsize=16)
def donor_voice(excerpt: str, data_dir: Path = DATA_DIR) -> FloatArray:
    """The solo speech of a voice from another excerpt, for a speaker with too little of their own.

    The next excerpt (in order, same split first) with a voice that does not
    speak in ``excerpt`` and has ``DONOR_MIN_S`` of solo speech lends its
    voice with the most; a dev excerpt never borrows a voice of the eval
    excerpts, so those stay unheard by anything tuned or trained on dev.
    Cached: every variant of a case, and every speaker in it that needs a
    voice, gets the same one without reading the excerpts again.
    """
    rttm = read_rttm(data_dir / "ami-train" / "train.rttm")
    here = {t.speaker for t in rttm.get(excerpt, [])}
    held_out = {t.speaker for e in EVAL_EXCERPTS for t in rttm.get(e, [])} if split_of(excerpt) == "dev" else set()
    pool = HELDOUT_EXCERPTS if excerpt in HELDOUT_EXCERPTS else EXCERPTS  # the held-out ones lend among themselves
    start = pool.index(excerpt) if excerpt in pool else -1
    order = [pool[(start + k) % len(pool)] for k in range(1, len(pool))]
    order.sort(key=lambda e: split_of(e) != split_of(excerpt))
    for other in order:
        mix = load_mono(data_dir / "ami-train" / f"{other}.wav", RATE_HZ)
        voices = sorted({t.speaker for t in rttm[other]} - here - held_out)
        best = max((solo_material(mix, rttm[other], v, RATE_HZ) for v in voices), key=len, default=np.zeros(0))
        if len(best) >= DONOR_MIN_S * RATE_HZ:
            best.setflags(write=False)  # shared by every caller through the cache
            return best
    raise ValueError(f"no excerpt has a voice with enough solo speech to lend to {excerpt}")


def simulate_case(
    excerpt: str,
    variant: int,
    turns: Sequence[SpeakerTurn],
    seed: int = DEFAULT_SEED,
    rep: str | None = None,
    data_dir: Path = DATA_DIR,
    overlaps: str = "coherent",
    layout: Layout = DEFAULT_LAYOUT,
) -> Case:
    """Render ``excerpt`` in a random room (fixed by ``seed``, excerpt and ``variant``).

    ``overlaps`` is how overlapped speech is rendered (bench.overlaps) and
    ``layout`` the board that records it and the customers' side (bench.arrays);
    the room, distances, noise and levels depend on neither.
    """
    rng = np.random.default_rng([seed, _excerpt_index(excerpt), variant])
    mix = load_mono(data_dir / "ami-train" / f"{excerpt}.wav", RATE_HZ)
    rep = rep or most_talkative(turns)
    speakers = sorted({t.speaker for t in turns}, key=lambda s: (s != rep, s))
    room = random_room(rng)
    placements = place_speakers(room, speakers, rep, rng, layout.customer_side_deg)
    scene = _render_scene(mix, turns, placements, room, rng, data_dir, overlaps, excerpt, layout.array)
    truth = truth_intervals(mix if overlaps == "coherent" else scene.dry, turns, rep, RATE_HZ)
    all_speech = merge_intervals([iv for ivs in truth.values() for iv in ivs])
    snr_db, level_dbfs = float(rng.uniform(10, 25)), float(rng.uniform(-34, -26))
    audio = mix_to_level(scene.speech, scene.noise, all_speech, RATE_HZ, snr_db, level_dbfs, rng)
    audio = captured(audio, layout.array)
    name = f"{excerpt}-v{variant}"
    doc: dict[str, object] = {
        **_case_keys(name, excerpt, variant, seed, overlaps),
        "audio": {"seconds": round(len(mix) / RATE_HZ, 4), "channels": int(audio.shape[0]), "sample_rate": RATE_HZ},
        "segments": [s.to_json() for s in to_segments(truth)],
        "segments_rttm": [s.to_json() for s in to_segments(party_intervals(turns, rep))],
        **_scene_keys(placements, rep, room, scene),
        "noise": {"file": scene.noise_file, "points": NOISE_POINTS, "snr_db": round(snr_db, 2)},
        "speech_level_dbfs": round(level_dbfs, 2),
    } | layout.keys()
    return Case(name, audio, doc)


def _case_keys(name: str, excerpt: str, variant: int, seed: int, overlaps: str) -> dict[str, object]:
    """What the case is and how it was made: enough to render it again."""
    return {
        "schema": "listener.bench-truth/1",
        "case": name,
        "excerpt": excerpt,
        "variant": variant,
        "split": split_of(excerpt),
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "overlaps": overlaps,
    }


def _scene_keys(placements: dict[str, Placement], rep: str, room: Room, scene: _Scene) -> dict[str, object]:
    """The truth file's who-stands-where and room keys."""
    return {
        "speakers": [
            {"id": s, "party": "rep" if s == rep else "customer", **p.to_json(room)} for s, p in placements.items()
        ],
        "rep_azimuth_deg": round(placements[rep].azimuth_deg, 2),
        "customer_azimuths_deg": [round(p.azimuth_deg, 2) for s, p in placements.items() if s != rep],
        "room": {**room.to_json(), "measured_rt60_s": round(scene.measured_rt60_s, 3)},
    }


def write_case(case: Case, out_dir: Path) -> tuple[Path, Path]:
    wav, js = out_dir / f"{case.name}.wav", out_dir / f"{case.name}.json"
    write_wav(wav, case.audio, RATE_HZ)
    js.write_text(json.dumps(case.truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return wav, js


def manifest_for(
    variants: int,
    seed: int,
    split: str,
    reps: dict[str, str] | None = None,
    overlaps: str = "coherent",
    layout: Layout = DEFAULT_LAYOUT,
) -> dict[str, object]:
    """What identifies a set of cases (a cache is reused only if this matches)."""
    return layout.keys() | {
        "schema": "listener.bench-cases/1",
        "generator_version": GENERATOR_VERSION,
        "overlaps": overlaps,
        "variants": variants,
        "seed": seed,
        "split": split,
        "excerpts": list(_excerpts(split)),  # a split's excerpts also choose its donor voices (donor_voice)
        "reps": dict(sorted((reps or {}).items())),
    }


def generate_cases(
    out_dir: Path,
    variants: int = 2,
    seed: int = DEFAULT_SEED,
    split: str = "all",
    reps: dict[str, str] | None = None,
    data_dir: Path = DATA_DIR,
    log: bool = True,
    overlaps: str = "coherent",
    layout: Layout = DEFAULT_LAYOUT,
) -> dict[str, object]:
    """Render every selected case into ``out_dir``; returns (and writes) the manifest."""
    rttm = read_rttm(data_dir / "ami-train" / "train.rttm")
    excerpts = _excerpts(split)
    manifest = manifest_for(variants, seed, split, reps, overlaps, layout)
    cases = []
    t0 = time.perf_counter()
    for variant in range(variants):
        for excerpt in excerpts:
            rep = (reps or {}).get(excerpt)
            case = simulate_case(excerpt, variant, rttm[excerpt], seed, rep, data_dir, overlaps, layout)
            wav, js = write_case(case, out_dir)
            cases.append({"case": case.name, "split": case.truth["split"], "wav": wav.name, "truth": js.name})
            if log:
                print(f"  {case.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    manifest["cases"] = cases
    manifest["generation_s"] = round(time.perf_counter() - t0, 1)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def _parse_reps(items: Sequence[str], split: str, data_dir: Path) -> dict[str, str]:
    """``--rep EXCERPT=SPEAKER``s: each excerpt one the split renders, each speaker one who talks in it."""
    rttm = read_rttm(data_dir / "ami-train" / "train.rttm") if items else {}
    reps = {}
    for item in items:
        excerpt, sep, speaker = item.partition("=")
        if not sep:
            raise SystemExit(f"--rep {item!r}: write EXCERPT=SPEAKER, e.g. --rep trn03=MEE067")
        if excerpt not in _excerpts(split):
            raise SystemExit(f"--rep {item!r}: --split {split} renders {', '.join(_excerpts(split))}, not {excerpt}")
        speakers = sorted({turn.speaker for turn in rttm.get(excerpt, [])})
        if speaker not in speakers:
            told = f"{speaker} does not speak in {excerpt}; its speakers: {', '.join(speakers)}"
            raise SystemExit(f"--rep {item!r}: {told}")
        reps[excerpt] = speaker
    return reps


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="output folder (or .wav file with --long)")
    ap.add_argument("--variants", type=int, default=2, help="rooms per excerpt (default 2)")
    ap.add_argument("--split", choices=SPLITS, default="all", help="which excerpts (heldout: bench.heldout)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--rep", action="append", default=[], metavar="EXCERPT=SPEAKER", help="choose a rep speaker")
    ap.add_argument("--overlaps", choices=OVERLAP_MODES, default="coherent", help="overlap rendering (bench.overlaps)")
    ap.add_argument("--long", type=float, metavar="SECONDS", help="write one recording this long instead")
    ap.add_argument("--array", choices=ARRAYS, default=DEFAULT_ARRAY, help="the board that records (bench.arrays)")
    ap.add_argument(
        "--customer-side", type=float, default=180.0, help="azimuth the customers stand around, 30-180 (default 180)"
    )
    ap.add_argument("--sample", action="store_true", help="(re)make the bundled sample conversation")
    ap.add_argument("--data", type=Path, default=DATA_DIR, help=f"shared data folder (default {DATA_DIR})")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.sample:
        from bench.sample import SAMPLE_DIR, make_sample

        wav = make_sample(args.out or SAMPLE_DIR, args.data)
        print(f"wrote {wav} and its truth.json in {time.perf_counter() - t0:.1f} s")
        return 0
    if args.out is None:
        ap.error("--out is required (except with --sample)")
    try:
        layout = Layout(args.array, args.customer_side)
    except ValueError as exc:
        ap.error(str(exc))
    if args.long is not None:
        from bench.long import long_recording

        wav = long_recording(args.out, args.long, args.seed, args.data, layout)
        print(f"wrote {wav} ({args.long:.0f} s) in {time.perf_counter() - t0:.1f} s")
        return 0
    data = data_for(args.split, args.data)
    reps = _parse_reps(args.rep, args.split, data)  # before the folder: a mistyped --rep leaves nothing behind
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = generate_cases(
        args.out, args.variants, args.seed, args.split, reps, data, overlaps=args.overlaps, layout=layout
    )
    print(f"wrote {len(manifest['cases'])} cases to {args.out} in {time.perf_counter() - t0:.1f} s")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
