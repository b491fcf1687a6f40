"""A turn model that fails mid-run: the heuristic decider takes its frames on, the fault said and shown.

Each graph here passes the checks and the run on silence as it opens, then misbehaves 4.56 s into the test
dialogue (tests/turn_graphs.py, ``fault``). Before: NaN stopped the run with exit 2 (the unit does not
restart on it: the counter stayed dark), onnxruntime's own error with a traceback and exit 1 (a restart every
RestartSec), and values of 2.0 were read as probabilities, both parties speaking (exit 0).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from listener.config import parse_config
from listener.errors import ModelStepError
from listener.events import ActivityFrames, DeviceMode, DeviceState, EndOfStream, Event, SpatialFrames, TurnPredictions
from listener.outputs.condition import DeviceCondition
from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.spool import encode
from listener.spatial.decide import ActivityDecider
from listener.turns import activity_stage
from listener.turns.base import slice_frames
from listener.turns.fallback import FAULT_DETAIL
from listener.turns.onnx_model import OnnxTurnModel
from listener.turns.spec import CONFIGURED_FIX
from tests.mqtt_broker import validate
from tests.turn_frames import dialogue_frames, joined, stream
from tests.turn_graphs import step_graph

FAULTS = ["nan", "above_one", "raise"]
FAILS_AT_S = 4.56  # the step the faults' first trigger (tests/turn_graphs.py: FAULT_ABOVE)
PIECES = [7, 3, 50]  # blocks of odd sizes: a frame held over, and the look-ahead's frames waiting, at the failure


@pytest.fixture(scope="module")
def frames() -> SpatialFrames:
    return dialogue_frames()


def _stage(path: Path) -> OnnxTurnModel:
    stage = activity_stage(parse_config({"turn_model": {"path": str(path)}}))
    assert isinstance(stage, OnnxTurnModel)
    return stage


def _activity(events: list[Event]) -> list[ActivityFrames]:
    return [e for e in events if isinstance(e, ActivityFrames)]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_model_failing_mid_run_hands_every_frame_it_left_to_the_heuristic_decider(
    tmp_path: Path, frames: SpatialFrames, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = step_graph(tmp_path / "turn.onnx", fault=fault)
    with caplog.at_level(logging.ERROR, logger="listener.turns"), _stage(path) as stage:
        events = stream(stage, frames, PIECES)
    faults = [e for e in events if isinstance(e, DeviceState)]
    assert [(f.mode, f.cause, f.detail) for f in faults] == [(DeviceMode.FAULT, "turn_model", FAULT_DETAIL)]
    assert faults[0].t_s == pytest.approx(FAILS_AT_S)
    # every frame decided once, in order, with no gap: nothing measured is lost
    activity = _activity(events)
    starts = np.array([a.start_s for a in activity])
    ends = starts + np.array([a.n_frames for a in activity]) * frames.hop_s
    np.testing.assert_allclose(starts[1:], ends[:-1], atol=1e-9)
    assert starts[0] == frames.start_s and sum(a.n_frames for a in activity) == frames.n_frames
    # after the fault, the decider's decisions from the first frame the model had not labelled
    after = _activity(events[events.index(faults[0]) :])
    first = round((after[0].start_s - frames.start_s) / frames.hop_s)
    assert 0 < first <= round(FAILS_AT_S / frames.hop_s)
    decider = ActivityDecider(parse_config({}))
    want = _activity(list(decider.process(slice_frames(frames, first, frames.n_frames))))
    for field in ("rep_active", "customer_active", "rep_prob", "customer_prob"):
        np.testing.assert_array_equal(joined(after, ActivityFrames, field), joined(want, ActivityFrames, field))
    assert joined(after, ActivityFrames, "customer_active").any()  # the dialogue's customer, still heard
    # the model's predictions stop where its activity does, each a probability
    predictions = [e for e in events if isinstance(e, TurnPredictions)]
    assert predictions[-1].start_s + predictions[-1].n_frames * frames.hop_s == pytest.approx(after[0].start_s)
    for field in ("p_hold", "p_backchannel"):
        values = joined(predictions, TurnPredictions, field)
        assert np.all((values >= 0) & (values <= 1))
    (record,) = caplog.records
    line = record.getMessage()
    assert line.startswith(f"turn model {path} ") and f" at {FAILS_AT_S:.2f} s of audio: " in line
    assert "heuristic decider" in line and line.endswith(CONFIGURED_FIX) and "\n" not in line


def test_the_next_stream_is_the_deciders_alone_and_the_fault_is_not_said_again(
    tmp_path: Path, frames: SpatialFrames
) -> None:
    with _stage(step_graph(tmp_path / "turn.onnx", fault="nan")) as stage:
        stream(stage, frames, PIECES)
        again = stream(stage, frames, PIECES)
    assert not [e for e in again if isinstance(e, DeviceState | TurnPredictions)]
    want = _activity(list(ActivityDecider(parse_config({})).process(frames)))
    for field in ("rep_active", "customer_active"):
        np.testing.assert_array_equal(
            joined(_activity(again), ActivityFrames, field), joined(want, ActivityFrames, field)
        )


def test_a_model_failing_on_the_frame_a_clock_jump_flushes_leaves_the_frames_after_to_the_decider(
    tmp_path: Path, frames: SpatialFrames
) -> None:
    # the frame held over (an odd count) is stepped alone at the jump, and the model fails on it
    first_bad = round(FAILS_AT_S / frames.hop_s)
    later = slice_frames(frames, first_bad + 1, frames.n_frames)
    jumped = dataclasses.replace(later, start_s=later.start_s + 1.0)
    with _stage(step_graph(tmp_path / "turn.onnx", fault="nan")) as stage:
        events = list(stage.process(slice_frames(frames, 0, first_bad + 1)))
        assert not [e for e in events if isinstance(e, DeviceState)]
        events += stage.process(jumped)
    (fault,) = [e for e in events if isinstance(e, DeviceState)]
    after = events[events.index(fault) :]
    assert not [e for e in after if isinstance(e, TurnPredictions)]
    assert _activity(after)[-1].end_s == pytest.approx(jumped.end_s)


def test_a_model_failing_on_a_streams_last_frame_leaves_the_next_stream_to_a_fresh_decider(
    tmp_path: Path, frames: SpatialFrames
) -> None:
    first_bad = round(FAILS_AT_S / frames.hop_s)
    with _stage(step_graph(tmp_path / "turn.onnx", fault="nan")) as stage:
        ended = [*stage.process(slice_frames(frames, 0, first_bad + 1)), *stage.process(EndOfStream(FAILS_AT_S))]
        assert [e.cause for e in ended if isinstance(e, DeviceState)] == ["turn_model"]
        # the decider's smoothing and hangover of the customer's speech at the end do not reach into the next
        again = list(stage.process(frames))
    want = _activity(list(ActivityDecider(parse_config({})).process(frames)))
    for field in ("rep_active", "customer_active", "rep_prob", "customer_prob"):
        np.testing.assert_array_equal(joined(again, ActivityFrames, field), joined(want, ActivityFrames, field))


def test_a_stage_built_without_a_fall_back_raises_the_failure(tmp_path: Path, frames: SpatialFrames) -> None:
    # models.evaluate scores the model itself: a heuristic standing in would be scored as the model
    path = step_graph(tmp_path / "turn.onnx", fault="raise")
    with OnnxTurnModel(parse_config({}), path) as stage, pytest.raises(ModelStepError) as err:
        stream(stage, frames, PIECES)
    assert str(err.value).startswith(f"turn model {path} fails to run (") and "Gather" in str(err.value)
    assert str(err.value).endswith(CONFIGURED_FIX)


def test_the_fault_reaches_the_mqtt_state_under_its_own_cause() -> None:
    condition = DeviceCondition()
    assert condition.update(DeviceState(FAILS_AT_S, DeviceMode.FAULT, FAULT_DETAIL, cause="turn_model"))
    assert (condition.mode, condition.causes) == (DeviceMode.FAULT, ["turn_model"])
    message = payloads.state(condition.mode, False, None, 4, 1_796_657_723_501, condition.causes)
    message["seq"] = 7  # the spool numbers it as it stores it
    validate("listener/x/state", encode(message))  # the schema lists the cause, for a dashboard to tell it apart
    # the device measures on: a privacy pause is what a gap in its figures is shown as, the fault back after it
    condition.update(DeviceState(5.0, DeviceMode.PAUSED, "privacy button", cause="button"))
    assert (condition.mode, condition.causes) == (DeviceMode.PAUSED, ["button"])
    condition.update(DeviceState(6.0, DeviceMode.LISTENING, "privacy button", cause="button"))
    assert (condition.mode, condition.causes) == (DeviceMode.FAULT, ["turn_model"])


def test_analyze_goes_on_past_a_model_failing_mid_run(tmp_path: Path, dialogue_4ch: tuple[Path, object]) -> None:
    path = step_graph(tmp_path / "turn.onnx", fault="nan")
    cfg = tmp_path / "listener.toml"
    cfg.write_text(f'[turn_model]\npath = "{path}"\n')
    command = [sys.executable, "-m", "listener", "analyze", str(dialogue_4ch[0]), "--json", "--config", str(cfg)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"turn model {path} produced non-finite values (NaN or infinity) at {FAILS_AT_S:.2f} s" in result.stderr
    report = json.loads(result.stdout)
    assert any(s["party"] == "customer" and s["start"] > FAILS_AT_S for s in report["segments"])
