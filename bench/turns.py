"""Per-frame latency of the turn model on one core: ``python -m bench.turns [--repeat 3]``.

The process pins itself to one CPU and onnxruntime runs with one thread.
Features come from the bundled sample conversation run through the front
end, so the model sees real inputs. Printed per 20 ms model frame (both
parties at once):

* ``step``: one model step as the stage runs it, through onnxruntime's I/O
  binding (median, 90th and 99th percentile of single calls); ``run p50``:
  the same step through plain ``session.run``, for comparison,
* ``stage``: the whole TurnStage per frame (features, model step,
  hysteresis, turn predictions), fed blocks of the live size
  (``array.block_ms``),
* ``front end``: the spatial front end per 20 ms, for scale.

The int8 model is the shipped one; the float model is the one
``python -m models.train`` leaves in ``models/.cache``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from listener.config import geometry, parse_config
from listener.events import AudioBlock, SpatialFrames
from listener.service.runner import sample_conversation
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns.base import join_frames
from listener.turns.features import features_of
from listener.turns.onnx_model import OnnxTurnModel
from listener.turns.spec import INPUT_FEATURES, INPUT_STATE, shipped_model_path

ROOT = Path(__file__).resolve().parents[1]
FLOAT_MODEL = ROOT / "models" / ".cache" / "turn.float.onnx"
BUDGET_US = 100.0


def front_end(repeat: int) -> tuple[list[SpatialFrames], float]:
    """Front-end frames of the sample in live-sized blocks (array.block_ms), and its CPU time per 20 ms."""
    import soundfile as sf

    audio, rate = sf.read(sample_conversation(), dtype="float32", always_2d=True)
    config = parse_config({})
    block = rate * config.array.block_ms // 1000
    best = float("inf")
    for _ in range(repeat):
        front = SpatialFrontEnd(config, geometry(config))
        frames: list[SpatialFrames] = []
        t0 = time.process_time()
        for a in range(0, len(audio), block):
            frames += [
                e
                for e in front.process(AudioBlock(a / rate, rate, audio[a : a + block]))
                if isinstance(e, SpatialFrames)
            ]
        best = min(best, time.process_time() - t0)
    steps = sum(f.n_frames for f in frames) / 2
    return frames, best / steps * 1e6


def step_latency(model: OnnxTurnModel, features: np.ndarray, repeat: int) -> np.ndarray:
    times = []
    for _ in range(repeat):
        model.reset_state()
        for row in features:
            t0 = time.perf_counter()
            model.step(row)
            times.append(time.perf_counter() - t0)
    return np.asarray(times) * 1e6


def run_latency(model: OnnxTurnModel, features: np.ndarray, repeat: int) -> float:
    """Median of single ``session.run`` calls: what the I/O binding saves."""
    times, session = [], model.session
    assert session is not None, "the model is opened by its caller"
    for _ in range(repeat):
        state = np.zeros((1, model.spec.state_size), np.float32)
        for row in features:
            t0 = time.perf_counter()
            _, state = session.run(None, {INPUT_FEATURES: row[None], INPUT_STATE: state})  # type: ignore[attr-defined]
            times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def stage_latency(path: Path, frames: list[SpatialFrames], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        with OnnxTurnModel(parse_config({}), path) as stage:
            t0 = time.process_time()
            for block in frames:
                list(stage.process(block))
            best = min(best, (time.process_time() - t0) / stage.steps)
    return best * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.turns", description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="passes over the sample (best pass is reported)")
    args = ap.parse_args(argv)
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    frames, front_us = front_end(args.repeat)
    features = features_of(join_frames(*frames))
    models = {"int8": shipped_model_path()}
    if FLOAT_MODEL.exists():
        models["float"] = FLOAT_MODEL
    print(f"turn model latency per 20 ms frame (both parties), CPU {cpu} only, 1 onnxruntime thread")
    block_ms = parse_config({}).array.block_ms
    print(
        f"{len(features)} frames of the sample conversation x {args.repeat} passes, {block_ms} ms blocks;"
        f" budget {BUDGET_US:.0f} us\n"
    )
    print(f"{'model':<6} {'size':>9} {'step p50':>9} {'p90':>7} {'p99':>7} {'run p50':>8} {'stage':>8}")
    for name, path in models.items():
        with OnnxTurnModel(parse_config({}), path) as model:
            t = step_latency(model, features, args.repeat)
            run_p50 = run_latency(model, features, args.repeat)
        stage = stage_latency(path, frames, args.repeat)
        p50, p90, p99 = np.percentile(t, [50, 90, 99])
        size = path.stat().st_size
        print(f"{name:<6} {size:>7} B {p50:>6.1f} us {p90:>5.1f} us {p99:>5.1f} us {run_p50:>5.1f} us {stage:>5.1f} us")
    if "float" not in models:
        print(f"(float model: run python -m models.train to make {FLOAT_MODEL})")
    print(f"\nfront end for comparison: {front_us:.0f} us CPU per 20 ms")
    print("step = one bound run (I/O binding), run = one session.run; stage = features + step + decisions + events,")
    print("CPU time per frame (best pass)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
