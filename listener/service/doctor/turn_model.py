"""doctor's turn model check: it loads, runs on speech as well as on silence, and keeps up with the audio.

Opening the model runs it on two frames of silence only, so a model that fails on real audio (NaN, values
outside [0, 1], a node raising) passed as "loads and runs", to hand over to the heuristic decider at the
first customer (turns/fallback.py). So the model also runs here on the first seconds of the bundled sample
conversation through the real front end, the steps timed: a model slower than the audio made live capture
overflow, and the overflow's warning blamed whatever else took the CPU.
"""

from __future__ import annotations

import statistics
import time
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from listener.config import Config, geometry
from listener.config.schema import ArrayConfig, PartiesConfig
from listener.errors import ListenerError, ModelStepError
from listener.service.doctor import Check, fail, failed_with, warn

if TYPE_CHECKING:
    from listener.turns.onnx_model import OnnxTurnModel

# The sample's first seconds: the customer opens, the rep answers over the kitchen's noise (both parties'
# SNR features up to 1.0-1.3, i.e. 20-26 dB). 6 s cost doctor ~0.1 s on the x86-64 host.
SAMPLE_RUN_S = 6.0
# Of its own frame a model step may take on the device: the same pipeline thread runs the front end, the
# features, the analytics and the outputs within that frame, and the capture ring rides out short stalls only.
STEP_SHARE_MAX = 0.5
# How much slower a Raspberry Pi 4's core steps a model than the machine doctor runs on, where that is not
# a Pi (assumed, not measured: no Pi was at hand; a Pi measures itself and is not scaled).
PI_SLOWDOWN = 4.0
REINSTALL_FIX = "reinstall the listener's packages (scripts/setup, or firmware/provision.sh on a device)"

Float = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SampleRun:
    """The model over the sample's first seconds: its median step time (0 where a step failed), and the step that
    failed, if one did."""

    step_s: float
    failure: ModelStepError | None = None
    failed_at_s: float = 0.0


def check_turn_model(config: Config) -> Check:
    if not config.turn_model.enabled:
        return Check("turn model", "ok", "disabled: the heuristic decider is used")
    try:
        from listener.turns.onnx_model import OnnxTurnModel, read_model
        from listener.turns.spec import fix_for, load_spec, model_path
    except ImportError as exc:  # a build without the turn model package
        return warn("turn model", f"not in this build ({exc})", "set [turn_model] enabled = false")
    try:
        spec = load_spec(model_path(config))
        data = read_model(spec)  # once: the model loaded is the one fingerprinted
        model = OnnxTurnModel(config, spec=spec, model=data)
        model.open()  # opened, it has run on silence
    except ListenerError as exc:
        return failed_with("turn model", exc, fix_for(model_path(config)))
    with closing(model):
        try:
            features, step_hop_s = sample_features(config)
        except (ListenerError, OSError) as exc:  # the sample is part of the package: a damaged install
            return fail("turn model", f"the bundled sample {sample_path()} cannot be read ({exc})", REINSTALL_FIX)
        run = run_on_sample(model, features, step_hop_s)
    if run.failure is not None:
        return _failed_on_speech(run)
    from listener.outputs.mqtt.identity import turn_model_version

    # the fingerprint MQTT's info publishes: every model says version 1.0.0, so devices compare by it
    fingerprint = turn_model_version(config, data)
    said = f"{spec.path} loads and runs on silence and speech (version {spec.version}, fingerprint {fingerprint})"
    slow = _too_slow(run.step_s, config)
    if slow is not None:
        return warn("turn model", f"{said}, but {slow}", SLOW_FIX)
    return Check("turn model", "ok", said)


def sample_path() -> Path:
    from listener.service.runner import sample_conversation

    return sample_conversation()


def run_on_sample(model: OnnxTurnModel, features: Float, step_hop_s: float) -> SampleRun:
    """Step ``model`` from a fresh state over ``features`` (sample_features'), each step timed."""
    model.reset_state()
    times_s: list[float] = []
    for k, row in enumerate(features):
        start_s = time.perf_counter()
        try:
            model.step(row)
        except ModelStepError as exc:
            return SampleRun(0.0, exc, k * step_hop_s)  # a failed model is not timed
        times_s.append(time.perf_counter() - start_s)
    return SampleRun(statistics.median(times_s))


def sample_features(config: Config) -> tuple[Float, float]:
    """The model's features of the sample's first SAMPLE_RUN_S through the front end, and a step's length (s).

    Analysed with the sample's own array and parties (rep at 0 deg, customer at 180 deg, as the demo plays
    it): the configured ones would read its four mics as something they are not.
    """
    from listener.audio.wav import WavSource
    from listener.events import AudioBlock, SpatialFrames
    from listener.spatial.frontend import SpatialFrontEnd
    from listener.turns.base import join_frames
    from listener.turns.features import FRAMES_PER_STEP, features_of

    own = replace(config, array=replace(ArrayConfig(), block_ms=config.array.block_ms), parties=PartiesConfig())
    geo = geometry(own)
    source, front = WavSource(sample_path(), geo, block_ms=own.array.block_ms), SpatialFrontEnd(own, geo)
    frames: list[SpatialFrames] = []
    try:
        for block in source.events():
            if isinstance(block, AudioBlock) and block.start_s >= SAMPLE_RUN_S:
                break
            frames += [out for out in front.process(block) if isinstance(out, SpatialFrames)]
    finally:
        source.close()
    joined = join_frames(*frames)
    return features_of(joined), FRAMES_PER_STEP * joined.hop_s


def _failed_on_speech(run: SampleRun) -> Check:
    exc = run.failure
    assert exc is not None
    return fail(
        "turn model",
        f"{exc.path} runs on silence but {exc.reason} on speech, at {run.failed_at_s:.2f} s of the bundled sample"
        f" {sample_path()}: live, the heuristic decider would take over at the first such audio",
        exc.fix,
    )


SLOW_FIX = (
    "use a smaller model ([turn_model] path), more threads ([turn_model] threads), or [turn_model] enabled = false"
    " (the heuristic decider)"
)


def _too_slow(step_s: float, config: Config) -> str | None:
    """What is said of a median step over STEP_SHARE_MAX of its frame on a Pi (measured there, else estimated)."""
    from listener.outputs.gpio import board_model
    from listener.turns.features import FRAMES_PER_STEP

    frame_s = FRAMES_PER_STEP * config.activity.frame_ms / 1000.0
    said = f"a step takes {step_s * 1e3:.2f} ms, {step_s / frame_s:.0%} of the {frame_s * 1e3:g} ms of audio it steps"
    on_pi_s = step_s
    if not board_model().startswith("Raspberry Pi"):  # a Pi measures itself; elsewhere its time is estimated
        on_pi_s = PI_SLOWDOWN * step_s
        said += f" here; on a Raspberry Pi, assumed {PI_SLOWDOWN:g}x slower, about {on_pi_s / frame_s:.0%}"
    if on_pi_s <= STEP_SHARE_MAX * frame_s:
        return None
    beside = "beside the rest of the pipeline (live audio may overflow)"
    return f"{said}: over the {STEP_SHARE_MAX:.0%} a step may take {beside}"
