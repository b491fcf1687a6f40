"""Train the turn model and ship it: ``python -m models.train``.

Reproduces ``listener/data/models/turn.int8.onnx`` and its sidecar from
scratch on the CPU, with fixed seeds. The shipped model is an ensemble: one
model per seed in ``ENSEMBLE_SEEDS`` (each in ``models/.cache/members/``),
merged into one step graph that averages them (models.ensemble), its
thresholds chosen again on the first seed's validation dialogues.
``--seed N`` trains a single model instead. Per model:

1. simulate two-party dialogues and compute their features (cached in
   ``models/.cache``; see models.simulate),
2. train the GRU on per-party activity now and the projection of each
   party's activity over the next 2 s (masked where the dialogue ends),
3. choose the activity thresholds on the validation dialogues,
4. export the one-frame step as float ONNX, quantize it to static int8,
5. score float and int8 on the validation dialogues, write the sidecar.

``--smoke`` does all of it on a few seconds of data in two epochs (tests).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from listener.config import parse_config
from listener.turns.features import FEATURE_VERSION, FRAMES_PER_STEP, N_FEATURES
from listener.turns.onnx_model import OnnxTurnModel
from listener.turns.sidecar import MAX_LOOKAHEAD_STEPS
from listener.turns.spec import (
    SHIPPED_NAME,
    SIDECAR_SCHEMA,
    load_spec,
    shipped_model_path,
    sidecar_path,
)
from models import cli_types, ensemble, provenance, staging
from models.corpus import ESPEAK_SPEAKERS
from models.fit import fit, torch_outputs
from models.music import MusicPlan
from models.net import TurnNet, export_step
from models.quantize import calibration_pairs, quantize
from models.simulate import CACHE, load_split, sim_version
from models.tracks import BIN_EDGES_S, N_OUT, Track, targets
from models.validation import choose_decision_thresholds, choose_thresholds, figures

SEED = 20251125
# the shipped ensemble's members: two seeds keep the merged step within the 0.1 ms budget (bench.turns)
ENSEMBLE_SEEDS = (SEED, 7)
VERSION = "1.0.0"


@dataclass(frozen=True, slots=True)
class Settings:
    train: int = 96
    val: int = 16
    seconds: float = 40.0
    epochs: int = 60
    chunk_s: float = 5.0
    lr: float = 3e-3
    enc: int = 64
    hidden: int = 64
    # activity loss weight of frames where both parties speak: overlaps are a small share of the
    # frames but decide every interruption and backchannel, and a model that drops the holder
    # there misses both
    overlap_weight: float = 3.0
    # the activity targets of step j are those of step j - lookahead_steps: the model labels each 20 ms
    # step having heard this many steps past it (the device decides that much later)
    lookahead_steps: int = 5
    # share of dialogues per epoch that start at their first step, where the feature floors are fresh
    # and the state is zero: what the device sees when the service starts (the rest start anywhere in
    # the first chunk, so the zero state is also seen mid-conversation)
    from_start: float = 0.25
    seed: int = SEED
    voices: int = ESPEAK_SPEAKERS
    # share of the rooms (training, validation and test alike) with shop music from ceiling
    # loudspeakers (models.music; simulation version 4); 0 is the shipped model's training
    music: float = 0.0
    # how (models.music.MusicPlan; recorded, and keyed in the cache, only matter with music > 0)
    music_lead_in: float = MusicPlan().lead_in
    music_lead_in_s: tuple[float, float] = MusicPlan().lead_in_s
    music_db_below: tuple[float, float] = MusicPlan().db_below
    music_noise_under_db: tuple[float, float] | None = MusicPlan().noise_under_db


FLOAT_NAME = "turn.float.onnx"

SMOKE = Settings(train=1, val=1, seconds=4.0, epochs=2, chunk_s=2.0, enc=8, hidden=8, voices=1)


def recorded_settings(s: Settings) -> dict[str, object]:
    """The sidecar's ``training.settings``: without music, those of the trainings before music existed (the
    same dialogues and weights), so their members still merge with a new seed (models.ensemble compares them)."""
    settings = asdict(s)
    if s.music == 0:
        settings = {k: v for k, v in settings.items() if not k.startswith("music")}
    return settings


def music_plan(s: Settings) -> MusicPlan:
    return MusicPlan(s.music, s.music_lead_in, s.music_lead_in_s, s.music_db_below, s.music_noise_under_db)


def sidecar(
    s: Settings, on: float, off: float, thresholds: tuple[float, float, float], extra: dict[str, object]
) -> dict[str, object]:
    nb = len(BIN_EDGES_S) - 1
    columns = ["rep_active", "customer_active"] + [f"{p}_future_{k}" for p in ("rep", "customer") for k in range(nb)]
    return {
        "schema": SIDECAR_SCHEMA,
        "version": VERSION,
        "state_size": s.hidden,
        "input": {
            "feature_version": FEATURE_VERSION,
            "n_features": N_FEATURES,
            "frames_per_step": FRAMES_PER_STEP,
            "hop_s": 0.02,
            "spec": "listener/turns/features.py",
        },
        "output": {
            "columns": columns,
            "bin_edges_s": list(BIN_EDGES_S),
            "vad_on": on,
            "vad_off": off,
            "lookahead_steps": s.lookahead_steps,
            "thresholds": dict(zip(("shift", "continue", "resume"), thresholds, strict=True)),
        },
        "training": {
            "command": "python -m models.train",
            "seed": s.seed,
            "settings": recorded_settings(s),
            "simulation_version": sim_version(s.music),
            "torch": torch.__version__,
            **provenance.provenance(),
        },
        **extra,
    }


def onnx_outputs(path: Path, val: list[Track]) -> list[np.ndarray]:
    with OnnxTurnModel(parse_config({}), path) as model:
        return [model.run_sequence(seq.features) for seq in val]


def main(argv: Sequence[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    s = replace(SMOKE if args.smoke else Settings(), lookahead_steps=args.lookahead_steps, music=args.music)
    s = replace(s, epochs=args.epochs) if args.epochs else s
    if args.music_empty_counter:
        if args.music == 0:
            ap.error("--music-empty-counter needs --music SHARE above 0 (the share of rooms with music)")
        s = replace(s, music_lead_in=1.0, music_lead_in_s=(10.0, 30.0), music_noise_under_db=(5.0, 20.0))
    out, cache = _places(args.out, args.cache, args.smoke)
    problem = staging.unwritable(out)
    if problem:
        print(f"models.train: {problem}", file=sys.stderr)
        return 2
    if args.seed is not None:
        run(replace(s, seed=args.seed), out, cache, log=not args.smoke)
    else:
        run_ensemble(s, args.seeds, out, cache, log=not args.smoke)
    return 0


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--out",
        type=Path,
        help=f"folder for turn.int8.onnx (default {shipped_model_path().parent}, the shipped model's; "
        "with --smoke a temporary folder)",
    )
    ap.add_argument("--cache", type=Path, help=f"simulation cache (default {CACHE}; with --smoke a temporary folder)")
    ap.add_argument("--seed", type=int, help="train one model with this seed instead of the ensemble")
    ap.add_argument(
        "--seeds",
        type=cli_types.seeds,
        default=ENSEMBLE_SEEDS,
        help=f"the ensemble's members, comma-separated (default {','.join(map(str, ENSEMBLE_SEEDS))})",
    )
    ap.add_argument(
        "--epochs",
        type=cli_types.whole_number(1, 10_000),
        help=f"passes over the training dialogues (default {Settings().epochs})",
    )
    ap.add_argument(
        "--lookahead-steps",
        type=cli_types.whole_number(0, MAX_LOOKAHEAD_STEPS),
        default=Settings().lookahead_steps,
        help=f"20 ms steps the model hears past the step it labels (default {Settings().lookahead_steps})",
    )
    _music_options(ap)
    ap.add_argument("--smoke", action="store_true", help="a tiny end-to-end run (seconds of data, a few steps)")
    return ap


def _music_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--music",
        type=cli_types.share,
        default=Settings().music,
        help="share of the rooms with shop music from ceiling loudspeakers, 0-1 (models.music; "
        f"default {Settings().music:g}, none)",
    )
    ap.add_argument(
        "--music-empty-counter",
        action="store_true",
        help="every music room starts with 10-30 s of music alone and its own noise lies 5-20 dB under the "
        "music (the music sets the floor, as on an empty counter)",
    )


def _places(out: Path | None, cache: Path | None, smoke: bool) -> tuple[Path, Path]:
    """Where the model and the simulation cache go: a smoke run's tiny model never replaces the shipped one
    (nor the cached members a real run reuses) unless told to."""
    if not smoke:
        return out or shipped_model_path().parent, cache or CACHE
    if out is None or cache is None:
        scratch = Path(tempfile.mkdtemp(prefix="listener-smoke-"))  # kept: the run's model is what one looks at
        out, cache = out or scratch / "out", cache or scratch / "cache"
    print(f"smoke run: the model goes to {out}, the simulation to {cache} (kept; delete them when done)")
    return out, cache


def trained(s: Settings, cache: Path, log: bool = True) -> tuple[TurnNet, list[Track], list[Track]]:
    """The network trained on ``s``'s dialogues (simulated, or read from ``cache``), and those dialogues."""
    torch.manual_seed(s.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    t0 = time.perf_counter()
    ahead = s.lookahead_steps
    plan = music_plan(s)
    train = [targets(x, ahead) for x in load_split("train", s.train, s.seconds, s.seed, cache, log, s.voices, plan)]
    val = [targets(x, ahead) for x in load_split("val", s.val, s.seconds, s.seed, cache, log, s.voices, plan)]
    if log:
        print(f"data ready in {time.perf_counter() - t0:.0f} s: {len(train)} train, {len(val)} val dialogues")
    net = TurnNet(N_FEATURES, N_OUT, s.enc, s.hidden)
    feats = np.concatenate([x.features for x in train])
    net.mean.copy_(torch.from_numpy(feats.mean(axis=0)))
    net.std.copy_(torch.from_numpy(feats.std(axis=0) + 1e-3))
    fit(net, train, val, s, log)
    net.eval()
    return net, train, val


def run(s: Settings, out: Path, cache: Path, log: bool = True, float_dir: Path | None = None) -> dict[str, object]:
    """One model: simulate, train, export (float into ``float_dir``, default ``cache``), quantize, score."""
    t0 = time.perf_counter()
    ahead = s.lookahead_steps
    net, train, val = trained(s, cache, log)
    val_outputs = [torch_outputs(net, v) for v in val]
    on, off = choose_thresholds(val_outputs, val, ahead)
    decisions = choose_decision_thresholds(val_outputs, val)
    with staging.staged(out, float_dir or cache) as (int8_stage, float_stage):
        float_path, int8_path = float_stage / FLOAT_NAME, int8_stage / SHIPPED_NAME
        export_step(net, float_path)
        sidecar_path(float_path).write_text(json.dumps(sidecar(s, on, off, decisions, {}), indent=1) + "\n")
        x, h = calibration_pairs(net, [t.features for t in train], s.seed)
        quantize(float_path, int8_path, x, h)
        sidecar_path(int8_path).write_text(json.dumps(sidecar(s, on, off, decisions, {}), indent=1) + "\n")
        results = {
            "validation": {
                "dialogues": len(val),
                "float": figures(onnx_outputs(float_path, val), val, on, off, decisions, ahead),
                "int8": figures(onnx_outputs(int8_path, val), val, on, off, decisions, ahead),
            },
            "size_bytes": {"int8": int8_path.stat().st_size, "float": float_path.stat().st_size},
        }
        for path in (float_path, int8_path):
            doc = sidecar(s, on, off, decisions, {"figures": results, "sha256": provenance.sha256(path)})
            sidecar_path(path).write_text(json.dumps(doc, indent=1) + "\n")
        staging.install(float_path, float_dir or cache)
        int8_path = staging.install(int8_path, out)
    if log:
        print(json.dumps(results, indent=1))
        size = int8_path.stat().st_size
        print(f"wrote {int8_path} ({size} bytes) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return results


def run_ensemble(s: Settings, seeds: Sequence[int], out: Path, cache: Path, log: bool = True) -> dict[str, object]:
    """One model per seed, merged (float and int8); thresholds and figures on the first seed's validation."""
    t0 = time.perf_counter()
    members = [cache / "members" / f"s{seed}" for seed in seeds]
    for seed, folder in zip(seeds, members, strict=True):
        run(replace(s, seed=seed), folder, cache, log, float_dir=folder)
    # merged, scored and described in staging folders: `out` (the shipped model's by default) and the
    # cache's float export are replaced only once all of it is done
    with staging.staged(out, cache) as (int8_stage, float_stage):
        int8_path = ensemble.merge([m / SHIPPED_NAME for m in members], int8_stage)
        float_path = ensemble.merge([m / FLOAT_NAME for m in members], float_stage, FLOAT_NAME)
        results = _describe_ensemble(s, seeds, int8_path, float_path, cache, log)
        staging.install(float_path, cache)
        int8_path = staging.install(int8_path, out)
    if log:
        print(json.dumps(results, indent=1))
        size, took_s = int8_path.stat().st_size, time.perf_counter() - t0
        print(f"wrote {int8_path} ({size} bytes) in {took_s:.0f} s", file=sys.stderr)
    return results


def _describe_ensemble(
    s: Settings, seeds: Sequence[int], int8_path: Path, float_path: Path, cache: Path, log: bool
) -> dict[str, object]:
    """Choose the merged model's thresholds, score it and write its final sidecars; its figures."""
    state_size = load_spec(int8_path).state_size  # the members' states side by side, as merged
    ahead = s.lookahead_steps
    plan = music_plan(s)
    val = [targets(x, ahead) for x in load_split("val", s.val, s.seconds, seeds[0], cache, log, s.voices, plan)]
    outputs = {kind: onnx_outputs(path, val) for kind, path in (("float", float_path), ("int8", int8_path))}
    on, off = choose_thresholds(outputs["int8"], val, ahead)
    decisions = choose_decision_thresholds(outputs["int8"], val)
    results = {
        "validation": {"dialogues": len(val)}
        | {kind: figures(o, val, on, off, decisions, ahead) for kind, o in outputs.items()},
        "size_bytes": {"int8": int8_path.stat().st_size, "float": float_path.stat().st_size},
    }
    for path in (float_path, int8_path):
        doc = sidecar(
            replace(s, seed=seeds[0]), on, off, decisions, {"figures": results, "sha256": provenance.sha256(path)}
        )
        doc["state_size"] = state_size
        doc["training"]["seeds"] = list(seeds)  # type: ignore[index]
        sidecar_path(path).write_text(json.dumps(doc, indent=1) + "\n")
    return results


if __name__ == "__main__":
    raise SystemExit(main())
