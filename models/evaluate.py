"""Evaluate a turn model: ``python -m models.evaluate [--model M] [--cache C] [--variants 4] [--overlaps separate]``.

Held-out real speech: AMI ``trn08`` and ``trn09`` (never trained on, and
their speakers left out of training), spatialized by the benchmark
(bench.simulate: random shop rooms, ReSpeaker 4-mic, kitchen or machine
noise) in ``--variants`` rooms each. Also the held-out simulated dialogues
(``test`` split: validation voices only, rooms drawn afresh), which hold
many more turn-taking events than the two AMI excerpts. Both draw their
noise from the two recordings training uses (bench.signals.noise_sources):
other stretches, points and rooms, not another noise.

The model is the int8 ONNX file ``--model`` (default: the shipped one),
with its sidecar beside it. Its float export is scored too if there is
one from the same training: ``turn.float.onnx`` beside the model or in
``--cache`` (where ``python -m models.train --cache`` writes it), taken
only if its sidecar says the same training and validation figures.
``--cache`` (default ``models/.cache``) also holds the espeak voices and
validation dialogues the simulated part and the pause baseline read, and
the baselines' wheels.

Printed: per-party voice-activity F1 of the model (int8 and float), of the
project's heuristic decider and of silero-vad / WebRTC VAD on beams toward
each party (and "any speech" F1 on one mic); shift/hold balanced accuracy
0.2 s into pauses against a pause-length baseline and Smart Turn v3.2;
backchannel vs interruption 0.5 s after overlap onsets; "holder resumes"
at starts in a pause (premature starts). See models.tasks for definitions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from bench.overlaps import OVERLAP_MODES
from bench.scoring import score_frames
from bench.signals import DATA_DIR
from bench.simulate import DEFAULT_SEED, EVAL_EXCERPTS, simulate_case
from bench.truth import PartySegment, frame_activity, read_rttm
from listener.analytics.timeline import Timeline
from listener.config import Config, geometry, parse_config
from listener.errors import ModelError
from listener.events import AudioBlock, EndOfStream, SpeechSegment
from listener.pipeline import EventLog, Pipeline, Stage
from listener.spatial.decide import ActivityDecider
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns.onnx_model import OnnxTurnModel
from listener.turns.spec import fix_for, shipped_model_path, sidecar_path
from models import baselines, scoring, tasks
from models.cli_types import whole_number
from models.corpus import check_shared_data, load_corpus
from models.simulate import CACHE, array_config, dialogue_rng, features_of, simulate_audio, spatial_frames
from models.tracks import BIN_EDGES_S
from models.train import FLOAT_NAME, SEED, Settings

BLOCK_S = 0.1  # the live block size
NO_PARTIES = "(no parties)"  # systems that only say whether anybody speaks


@dataclass
class Recording:
    name: str
    audio: np.ndarray  # (channels, samples)
    config: Config
    truth: np.ndarray  # (2, frames) at 10 ms


def pipeline_frames(rec: Recording, stage: Stage) -> np.ndarray:
    """The pipeline's (2, frames) activity as reported."""
    collect = EventLog(SpeechSegment)
    stages = [SpatialFrontEnd(rec.config, geometry(rec.config)), stage, Timeline(rec.config), collect]
    block = int(BLOCK_S * 16000)
    with Pipeline(stages) as pipe:
        for a in range(0, rec.audio.shape[1], block):
            pipe.feed(AudioBlock(a / 16000, 16000, np.ascontiguousarray(rec.audio[:, a : a + block].T, np.float32)))
        pipe.feed(EndOfStream(rec.audio.shape[1] / 16000))
    system = [PartySegment(s.party, s.start_s, s.end_s) for s in collect.of(SpeechSegment)]
    return frame_activity(system, rec.truth.shape[1])


def ami_recordings(variants: int, overlaps: str = "coherent") -> list[Recording]:
    """The held-out excerpts in ``variants`` rooms each, overlaps rendered as ``overlaps`` (bench.overlaps)."""
    check_shared_data(excerpts=sorted(EVAL_EXCERPTS), speech=False)  # the AMI rooms read no CMU ARCTIC voice
    rttm = read_rttm(DATA_DIR / "ami-train" / "train.rttm")
    out = []
    for excerpt in sorted(EVAL_EXCERPTS):
        for v in range(variants):
            case = simulate_case(excerpt, v, rttm[excerpt], DEFAULT_SEED, overlaps=overlaps)
            n = round(case.audio.shape[1] / 160)
            out.append(Recording(case.name, case.audio, array_config(), frame_activity(case.segments, n)))
    return out


def sim_recordings(count: int, cache: Path = CACHE) -> list[Recording]:
    s = Settings()
    corpus = load_corpus(SEED, cache, s.voices)
    out = []
    for i in range(count):
        audio, config, mode, truth = simulate_audio(corpus, True, s.seconds, dialogue_rng(SEED, "test", i))
        out.append(Recording(f"test-{i:04d}-{mode}", audio, config, truth))
    return out


def party_signals(rec: Recording) -> list[np.ndarray]:
    """What a single-channel VAD hears for each party: a beam, or the party's own mic."""
    geo = geometry(rec.config)
    if geo.mode == "channels":
        return [rec.audio[0], rec.audio[1]]
    p = rec.config.parties
    return [baselines.delay_and_sum(rec.audio, geo.mics_m, az) for az in (p.rep_azimuth_deg, p.customer_azimuth_deg)]


def vad_table(
    recs: list[Recording], systems: dict[str, Callable[[Recording], np.ndarray]]
) -> dict[str, dict[str, float | None]]:
    out = {}
    for name, run in systems.items():
        truth = np.concatenate([r.truth for r in recs], axis=1)
        system = np.concatenate([run(r) for r in recs], axis=1)
        sc = score_frames(truth, system)
        # numpy's stubs allow a scalar for any axis
        anyone_truth, anyone_system = cast(np.ndarray, truth.any(axis=0)), cast(np.ndarray, system.any(axis=0))
        anyone = scoring.counts(anyone_truth[None], anyone_system[None])[0]
        single = ~truth.all(axis=0)  # frames where the truth has at most one party speaking
        apart = scoring.counts(truth[:, single], system[:, single])
        parties = not name.endswith(NO_PARTIES)
        out[name] = {
            "f1_rep": sc.rep.f1 if parties else None,
            "f1_customer": sc.customer.f1 if parties else None,
            "f1_any_speech": scoring.f1(anyone),
            "attribution": sc.attribution if parties else None,
            "f1_rep_no_overlap": scoring.f1(apart[0]) if parties else None,
            "f1_customer_no_overlap": scoring.f1(apart[1]) if parties else None,
        }
    return out


def single_vad(vad: baselines.Silero | baselines.WebRtc, per_party: bool) -> Callable[[Recording], np.ndarray]:
    def run(rec: Recording) -> np.ndarray:
        n = rec.truth.shape[1]
        signals = party_signals(rec) if per_party else [rec.audio[0]] * 2
        return np.stack([scoring.timeline(vad.frames(x, n)) for x in signals])

    return run


Scorer = Callable[[int, tasks.Item], float]


EVERY_TASK = ("pause", "overlap", "premature")


def turn_table(
    recs: list[Recording],
    outputs: dict[str, tuple[list[np.ndarray], tuple[float, float, float]]],
    smart: baselines.SmartTurn | None,
    pause_threshold: int,
) -> dict[str, dict[str, object]]:
    """Balanced accuracy (and AUC) per task of the models and of the baselines that apply to it."""
    items = [(k, i) for k, r in enumerate(recs) for i in tasks.all_items(r.truth)]
    scorers = _scorers(recs, outputs, smart, pause_threshold)
    table: dict[str, dict[str, object]] = {}
    for task in EVERY_TASK:
        chosen = [(k, i) for k, i in items if i.task == task]
        labels = [i.label for _, i in chosen]
        row: dict[str, object] = {"n": len(chosen), "positives": sum(labels)}
        for name, (applies, score) in scorers.items():
            if task in applies:
                probs = [score(k, i) for k, i in chosen]
                ba = tasks.balanced_accuracy(labels, probs)
                row[name] = {"balanced_accuracy": ba, "auc": tasks.auc(labels, probs)}
        table[task] = row
    return table


def _scorers(
    recs: list[Recording],
    outputs: dict[str, tuple[list[np.ndarray], tuple[float, float, float]]],
    smart: baselines.SmartTurn | None,
    pause_threshold: int,
) -> dict[str, tuple[tuple[str, ...], Scorer]]:
    """Each system's score for an item, and the tasks it applies to."""

    def model_scorer(outs: list[np.ndarray], th: tuple[float, float, float]) -> Scorer:
        return lambda k, i: tasks.score(i, outs[k], BIN_EDGES_S, th)

    scorers: dict[str, tuple[tuple[str, ...], Scorer]] = {
        name: (EVERY_TASK, model_scorer(outs, th)) for name, (outs, th) in outputs.items()
    }
    scorers["pause length (knows the pause's end)"] = (
        ("pause",),
        lambda k, i: float(i.pause_frames >= pause_threshold),
    )
    if smart is not None:

        def smart_turn(k: int, i: tasks.Item) -> float:
            done = smart.p_complete(recs[k].audio[0], i.at * 160)
            return done if i.task == "pause" else 1.0 - done

        scorers["Smart Turn v3.2 (mic 1)"] = (("pause", "premature"), smart_turn)
    int8 = outputs["model int8"][0]
    scorers["newcomer still active (model VAD)"] = (
        ("overlap",),
        lambda k, i: float(int8[k][tasks.step_at(i.at), i.party] >= 0.5),
    )
    return scorers


def pause_length_threshold(cache: Path = CACHE) -> int:
    """The pause length (10 ms frames) that best separates shifts from holds on the validation dialogues."""
    from models.simulate import load_split

    s = Settings()
    # the training's cache has them; without it this simulates all s.val of them first (~15 min on a slow machine)
    val = load_split("val", s.val, s.seconds, SEED, cache, log=True)
    items = [i for x in val for i in tasks.pause_items(x.truth)]
    grid = range(25, 300, 5)
    return max(
        grid,
        key=lambda t: (
            tasks.balanced_accuracy([i.label for i in items], [float(i.pause_frames >= t) for i in items]) or 0.0
        ),
    )


def evaluate(recs: list[Recording], models: dict[str, Path], use_smart: bool, cache: Path = CACHE) -> dict[str, object]:
    config = recs[0].config
    outputs = {}
    for name, path in models.items():
        with OnnxTurnModel(config, path) as m:
            outputs[name] = (
                [m.run_sequence(features_of(spatial_frames(r.audio, r.config))) for r in recs],
                m.spec.thresholds,
            )

    def model_frames(path: Path) -> Callable[[Recording], np.ndarray]:
        return lambda r: pipeline_frames(r, OnnxTurnModel(r.config, path))

    systems: dict[str, Callable[[Recording], np.ndarray]] = {name: model_frames(path) for name, path in models.items()}
    systems["heuristic decider"] = lambda r: pipeline_frames(r, ActivityDecider(r.config))
    silero, webrtc = baselines.Silero(cache), baselines.WebRtc()
    systems["silero-vad on party beams"] = single_vad(silero, True)
    systems["WebRTC VAD on party beams"] = single_vad(webrtc, True)
    systems[f"silero-vad, mic 1 {NO_PARTIES}"] = single_vad(silero, False)
    systems[f"WebRTC VAD, mic 1 {NO_PARTIES}"] = single_vad(webrtc, False)
    smart = baselines.SmartTurn(cache) if use_smart else None
    return {
        "recordings": [r.name for r in recs],
        "activity": vad_table(recs, systems),
        "turns": turn_table(recs, outputs, smart, pause_length_threshold(cache)),
    }


def float_twin(model: Path, cache: Path) -> Path | None:
    """The float export of ``model``'s training: beside it, else in ``cache``; None if neither is."""
    ours = _training(model)
    if ours is None:
        return None
    for path in (model.parent / FLOAT_NAME, cache / FLOAT_NAME):
        if path.exists() and _training(path) == ours:
            return path
    return None


def _training(model: Path) -> object:
    """What identifies a training in a sidecar (``models.train`` writes the same into float and int8)."""
    try:
        doc = json.loads(sidecar_path(model).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("training") is None:  # no record of a training: no twin to match
        return None
    return [doc["training"], doc.get("figures")]


def unusable(path: Path) -> str | None:
    """Why the listener would refuse the model at ``path`` (None if it loads), with a fix for this command:
    found before minutes of simulated rooms, not after."""
    try:
        with OnnxTurnModel(parse_config({}), path):
            pass
    except ModelError as exc:
        said, fix = str(exc), fix_for(path)  # the listener's fix is about its config, not this command's options
        said = said[: -len(fix)].rstrip(" ;:") if said.endswith(fix) else said
        shipped = (
            "; the shipped one is mended by reinstalling the listener package" if path == shipped_model_path() else ""
        )
        return f"{said}: pass --model the turn.int8.onnx of a folder made by 'python -m models.train'{shipped}"
    return None


def _fmt(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else "-" if v is None else str(v)


def print_report(title: str, res: dict[str, object]) -> None:
    print(f"\n== {title}: {len(res['recordings'])} recordings")  # type: ignore[arg-type]
    keys = ("f1_rep", "f1_customer", "f1_any_speech", "attribution", "f1_rep_no_overlap", "f1_customer_no_overlap")
    print(
        f"{'voice activity':<34} {'F1 rep':>7} {'F1 cust':>7} {'F1 any':>7} {'attr':>6}  outside overlaps:"
        f" {'F1 rep':>7} {'F1 cust':>7}"
    )
    for name, row in res["activity"].items():  # type: ignore[attr-defined]
        c = [_fmt(row[k]) for k in keys]
        print(f"{name:<34} {c[0]:>7} {c[1]:>7} {c[2]:>7} {c[3]:>6}  {'':17} {c[4]:>7} {c[5]:>7}")
    heads = {
        "pause": "shift vs hold, 0.2 s into pauses",
        "overlap": "interruption vs backchannel, onset + 0.5 s",
        "premature": "holder resumes, at a start in its pause",
    }
    for task, row in res["turns"].items():  # type: ignore[attr-defined]
        print(f"{heads[task]} (n = {row['n']}, positives {row['positives']}): balanced accuracy, AUC")
        for name, value in row.items():
            if name not in ("n", "positives"):
                print(f"  {name:<40} {_fmt(value['balanced_accuracy']):>6} {_fmt(value['auc']):>6}")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--model",
        type=Path,
        default=shipped_model_path(),
        help="the int8 ONNX model to evaluate, its sidecar beside it (default: the shipped one)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=CACHE,
        help=f"the training's cache: float model, voices, validation dialogues, baseline wheels (default {CACHE})",
    )
    ap.add_argument(
        "--variants", type=whole_number(1, 1000), default=4, help="rooms per held-out AMI excerpt (default 4)"
    )
    ap.add_argument(
        "--overlaps",
        choices=OVERLAP_MODES,
        default="coherent",
        help="how the AMI excerpts' overlaps are rendered (bench/README.md; default coherent)",
    )
    ap.add_argument(
        "--sim", type=whole_number(0, 10_000), default=16, help="held-out simulated dialogues (default 16, 0 = none)"
    )
    ap.add_argument("--no-smart-turn", action="store_true", help="skip Smart Turn (it takes ~0.1 s per pause)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    problem = unusable(args.model)
    if problem:
        print(f"models.evaluate: {problem}", file=sys.stderr)
        return 2
    models = {"model int8": args.model}
    float_path = float_twin(args.model, args.cache)
    if float_path is not None and unusable(float_path) is None:
        models["model float"] = float_path
    else:
        where = f"{args.model.parent / FLOAT_NAME} or {args.cache / FLOAT_NAME}"
        print(f"note: no float model of the same training ({where}; models.train makes it): int8 only", file=sys.stderr)
    print(f"models: {', '.join(f'{name} {path}' for name, path in models.items())}", file=sys.stderr)
    smart = not args.no_smart_turn
    try:
        results = {"ami": evaluate(ami_recordings(args.variants, args.overlaps), models, smart, args.cache)}
        print_report(f"held-out AMI (trn08, trn09; {args.overlaps} overlaps)", results["ami"])
        if args.sim:
            results["simulated"] = evaluate(sim_recordings(args.sim, args.cache), models, smart, args.cache)
            print_report("held-out simulated dialogues (validation voices)", results["simulated"])
    except baselines.BaselineError as exc:
        print(f"models.evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
