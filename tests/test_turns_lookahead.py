"""A look-ahead turn model: each step labelled once the model has heard past it, decisions stamped that late."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from listener.analytics.replay import activity, frame_blocks
from listener.analytics.stage import ConversationAnalytics
from listener.analytics.timeline import Timeline
from listener.config import Config, parse_config
from listener.errors import ConfigError, ModelError
from listener.events import (
    ActivityFrames,
    EndOfStream,
    Event,
    Interruption,
    Party,
    Reported,
    SourceState,
    SpatialFrames,
    SpeechSegment,
    TurnPredictions,
)
from listener.turns.base import join_frames, slice_frames
from listener.turns.features import features_of
from listener.turns.spec import load_spec, shipped_model_path, sidecar_path
from tests.conftest import TurnModelOpener
from tests.turn_frames import dialogue_frames, joined, silence, stream

AHEAD = 3


def model_with(tmp_path: Path, lookahead: object, hop_s: float | None = None) -> Path:
    """The shipped weights under a sidecar that states ``lookahead`` (None: the key left out), and ``hop_s``."""
    path = tmp_path / "turn.onnx"
    shutil.copy(shipped_model_path(), path)
    doc = json.loads(sidecar_path(shipped_model_path()).read_text())
    if hop_s is not None:
        doc["input"]["hop_s"] = hop_s
    doc["output"].pop("lookahead_steps", None)
    if lookahead is not None:
        doc["output"]["lookahead_steps"] = lookahead
    sidecar_path(path).write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def frames() -> SpatialFrames:
    return dialogue_frames()


@pytest.fixture(scope="module")
def ahead_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_with(tmp_path_factory.mktemp("ahead"), AHEAD)


def activity_of(events: list[Event]) -> list[ActivityFrames]:
    return [e for e in events if isinstance(e, ActivityFrames)]


def test_the_sidecar_states_the_look_ahead(tmp_path: Path) -> None:
    assert load_spec(model_with(tmp_path, None)).lookahead_steps == 0  # models from before it existed
    spec = load_spec(model_with(tmp_path, 5))
    assert spec.lookahead_steps == 5 and spec.lag_s == pytest.approx(0.1)
    for bad in (-1, 26, 2.5, "3", True):
        with pytest.raises(ModelError, match="lookahead_steps") as err:
            load_spec(model_with(tmp_path, bad))
        assert "set [turn_model] path = '' to use the model shipped" in str(err.value)  # a copy the config names


def test_the_look_ahead_is_bounded_in_seconds_not_steps(tmp_path: Path) -> None:
    """25 steps of 40 ms (frame_ms 20) are 1.0 s: interruptions were decided 1.1 s after their onset."""
    assert load_spec(model_with(tmp_path, 12, hop_s=0.04)).lag_s == pytest.approx(0.48)
    for steps in (13, 25):
        with pytest.raises(ModelError, match="lookahead_steps") as err:
            load_spec(model_with(tmp_path, steps, hop_s=0.04))
        assert f"= {steps}, which should be at most 12 steps of input.hop_s = 0.04 s" in str(err.value)


def test_a_look_ahead_that_would_decide_interruptions_late_is_refused(
    tmp_path: Path, turn_model: TurnModelOpener
) -> None:
    """The shipped model's 0.1 s lag and min_speech_s 0.1: an interruption is known 0.2 s after its onset at the
    earliest, so interruption_min_s = 0.15 would have its interruptions decided 0.05 s late."""
    with pytest.raises(ConfigError, match=r"analytics.interruption_min_s = 0.15: .* set interruption_min_s to 0.2"):
        turn_model(parse_config({"analytics": {"interruption_min_s": 0.15}}))
    turn_model(parse_config({"analytics": {"interruption_min_s": 0.2}}))
    turn_model(parse_config({"analytics": {"interruption_min_s": 0.15}}), model_with(tmp_path, 2))  # 0.04 s lag


def test_each_step_is_labelled_by_the_output_that_heard_past_it(
    frames: SpatialFrames, ahead_model: Path, turn_model: TurnModelOpener
) -> None:
    stage = turn_model(parse_config({}), ahead_model)
    events = stream(stage, frames, [10])
    direct = stage.run_sequence(features_of(frames))
    rep_prob = np.concatenate([a.rep_prob for a in activity_of(events)])
    assert rep_prob.shape == (frames.n_frames,)
    steps = rep_prob[::2]
    # step j carries output j + AHEAD; the last AHEAD steps, never heard past, the last output
    np.testing.assert_allclose(steps[:-AHEAD], direct[AHEAD:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(steps[-AHEAD:], np.full(AHEAD, direct[-1, 0]), rtol=0, atol=1e-6)
    lags = [a.lag_s for a in activity_of(events)]
    # the steps still waiting at the stream's end are decided then: no look-ahead left to date them by
    assert lags[:-1] == [pytest.approx(0.06)] * (len(lags) - 1) and lags[-1] == 0.0
    starts = [a.start_s for a in activity_of(events)]
    assert starts == sorted(starts) and starts[0] == frames.start_s


def test_the_delay_line_does_not_depend_on_block_sizes(
    frames: SpatialFrames, ahead_model: Path, turn_model: TurnModelOpener
) -> None:
    config = parse_config({"turn_model": {"path": str(ahead_model)}})
    whole = stream(turn_model(config), frames, [frames.n_frames])
    for sizes in ([1], [3, 1, 7, 10, 2], [5]):
        other = stream(turn_model(config), frames, sizes)
        for field in ("rep_active", "customer_active", "rep_prob", "customer_prob", "doa_deg"):
            np.testing.assert_array_equal(
                np.concatenate([getattr(a, field) for a in activity_of(whole)]),
                np.concatenate([getattr(a, field) for a in activity_of(other)]),
            )
        hold = [np.concatenate([p.p_hold for p in e if isinstance(p, TurnPredictions)]) for e in (whole, other)]
        np.testing.assert_allclose(hold[0], hold[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("n_before", [600, 601], ids=["whole steps", "an odd frame held"])
@pytest.mark.parametrize("gap", ["clock jump", "source state"])
def test_lagging_steps_are_labelled_before_a_gap(
    frames: SpatialFrames, ahead_model: Path, gap: str, n_before: int, turn_model: TurnModelOpener
) -> None:
    """Nothing after a jump in the clock or a change of source labels audio from before it: not the steps in the
    delay line, nor an odd 10 ms frame waiting for its pair (a source change kept it, to be paired with the
    first frame after the outage and labelled by the model reset for it)."""
    stage = turn_model(parse_config({}), ahead_model)
    before = slice_frames(frames, 0, n_before)
    out = list(stage.process(before))
    assert sum(a.n_frames for a in activity_of(out)) == 600 - 2 * AHEAD  # the delay line holds the rest
    if gap == "source state":  # the source goes and comes back, its clock running on where it stopped
        out += stage.process(SourceState(t_s=before.end_s, available=False, detail="unplugged"))
    jump_s = 5.0 if gap == "clock jump" else 0.0
    out += stage.process(dataclasses.replace(slice_frames(frames, 700, 1000), start_s=before.end_s + jump_s))
    after = [i for i, e in enumerate(out) if isinstance(e, ActivityFrames) and e.start_s >= before.end_s]
    heard = activity_of(out[: after[0]] if after else out)
    assert sum(a.n_frames for a in heard) == n_before
    assert heard[-1].end_s == pytest.approx(before.end_s)


def lagged(block: ActivityFrames, lag_s: float) -> ActivityFrames:
    return dataclasses.replace(block, lag_s=lag_s)


def analysed(lag_s: float, p_backchannel: float, rep: tuple[tuple[float, float], ...] = ((2.0, 4.0),)) -> list[Event]:
    """The rep coming in over the customer's speech, the model guessing ``p_backchannel`` throughout."""
    act = activity([("customer", 0.0, 5.0), *(("rep", a, b) for a, b in rep)], 8.0)
    stages = [Timeline(Config()), ConversationAnalytics(Config())]
    out: list[Event] = []

    def feed(event: Event, first: int = 0) -> None:
        for index in range(first, len(stages)):
            for emitted in stages[index].process(event):
                out.append(emitted)
                feed(emitted, index + 1)

    for block in frame_blocks(act, bounds=list(range(10, 800, 10))):
        half = np.full(block.n_frames, 0.5, np.float32)
        feed(TurnPredictions(block.start_s, 0.01, half, np.full(block.n_frames, p_backchannel, np.float32)))
        feed(lagged(block, lag_s))
    feed(EndOfStream(8.0))
    return out


def test_decisions_are_stamped_when_the_activity_arrives() -> None:
    plain, late = analysed(0.0, 0.2), analysed(0.1, 0.2)
    assert [type(e) for e in plain] == [type(e) for e in late]
    for a, b in zip(plain, late, strict=True):
        if isinstance(a, Reported) and isinstance(b, Reported) and not isinstance(a, Interruption):
            assert a.onset_s == b.onset_s
            assert b.decided_s == pytest.approx(min(a.decided_s + 0.1, 8.0))
    segments = [(e.start_s, e.decided_s) for e in late if isinstance(e, SpeechSegment)]
    assert segments[0] == (pytest.approx(2.0), pytest.approx(4.0 + 0.2 + 0.1))  # type: ignore[comparison-overlap]  # rep: bridge gap, then the lag


def interruptions(lag_s: float, p_backchannel: float, rep: tuple[tuple[float, float], ...]) -> list[tuple[object, ...]]:
    return [(e.by, e.onset_s, e.decided_s) for e in analysed(lag_s, p_backchannel, rep) if isinstance(e, Interruption)]


STEADY = ((2.0, 4.0),)
GAP_AT_THE_LIMIT = ((2.0, 2.85), (2.95, 4.0))  # a 0.1 s gap: bridged, but not yet heard to have ended


def test_an_interruption_is_still_decided_one_second_after_its_onset() -> None:
    decided = (Party.REP, 2.0, pytest.approx(3.0))
    for lag_s in (0.0, 0.1):
        for p_backchannel in (0.2, 0.8):
            assert interruptions(lag_s, p_backchannel, STEADY)[:1] == [decided]
    # heard through 0.9 s: the model has heard to the limit. In a gap there, its guess decides
    assert interruptions(0.1, 0.2, GAP_AT_THE_LIMIT)[:1] == [decided]
    assert interruptions(0.1, 0.8, GAP_AT_THE_LIMIT) == []
    assert interruptions(0.0, 0.8, GAP_AT_THE_LIMIT)[:1] == [decided]  # no lag: the gap is bridged at 1.0 s


def test_short_of_the_limit_by_the_look_ahead_a_sure_backchannel_is_no_interruption() -> None:
    """Heard for 0.9 s, the look-ahead model has heard to 1.0 s: an interruption, unless the model is as sure
    of a backchannel (p_backchannel >= model_interruption_prob, 0.9) as it must be of an interruption to
    call one early. A rep who says 0.95 s over the customer: "yes" on the model's word, "no" on its sure no."""
    just_short = ((2.0, 2.95),)
    assert interruptions(0.1, 0.8, just_short)[:1] == [(Party.REP, 2.0, pytest.approx(3.0))]
    assert interruptions(0.1, 0.95, just_short) == []
    assert interruptions(0.0, 0.8, just_short) == []  # without a look-ahead: heard in a gap, the model says stop
    # the model's sure "backchannel" is its word at 0.9 s: a rep who then talks on is not called back
    assert interruptions(0.1, 0.95, STEADY) == []
    assert interruptions(0.0, 0.95, STEADY)[:1] == [(Party.REP, 2.0, pytest.approx(3.0))]  # heard to 1.0 s


@pytest.mark.parametrize("lookahead", [0, AHEAD])
def test_a_session_reset_falls_between_the_same_steps_however_the_frames_are_cut(
    tmp_path: Path, frames: SpatialFrames, lookahead: int, turn_model: TurnModelOpener
) -> None:
    """Speech, 6 s of nobody (a 5 s session gap), speech again: the model restarts at one step."""
    gap = silence(frames, 600)
    again = dataclasses.replace(frames, start_s=gap.end_s)
    talk = join_frames(frames, gap, again)
    path = model_with(tmp_path, lookahead)
    config = parse_config({"analytics": {"session_gap_s": 5.0}})
    whole_stage = turn_model(config, path)
    whole = stream(whole_stage, talk, [talk.n_frames])
    assert whole_stage.sessions >= 2  # the stream's own start and the gap
    for sizes in ([1], [3, 1, 7, 10, 2]):
        stage = turn_model(config, path)
        cut = stream(stage, talk, sizes)
        assert stage.sessions == whole_stage.sessions
        for field in ("rep_prob", "customer_prob", "rep_active", "customer_active"):
            np.testing.assert_array_equal(joined(cut, ActivityFrames, field), joined(whole, ActivityFrames, field))
