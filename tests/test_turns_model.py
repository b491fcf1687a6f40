"""The shipped turn model: small, int8, run by the real onnxruntime, streaming frame by frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from listener.cli import main
from listener.config import Config, geometry, parse_config
from listener.events import (
    ActivityFrames,
    AudioBlock,
    SourceState,
    SpatialFrames,
    TurnPredictions,
)
from listener.service.runner import sample_conversation
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns import derive
from listener.turns.base import decide_activity, slice_frames
from listener.turns.features import features_of
from listener.turns.spec import INPUT_FEATURES, INPUT_STATE, load_spec, shipped_model_path, sidecar_path
from tests import synth
from tests.conftest import TurnModelOpener
from tests.turn_frames import dialogue_frames, joined, silence, stream

MAX_BYTES = 1_000_000


@pytest.fixture(scope="module")
def frames() -> SpatialFrames:
    return dialogue_frames()


def test_shipped_model_is_int8_small_and_described() -> None:
    onnx = pytest.importorskip("onnx")
    path = shipped_model_path()
    assert path.stat().st_size <= MAX_BYTES
    graph = onnx.load(str(path)).graph
    int8 = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert sum(int(np.prod(t.dims)) for t in int8) > 0.9 * sum(int(np.prod(t.dims)) for t in graph.initializer)
    assert {n.op_type for n in graph.node} >= {"QuantizeLinear", "DequantizeLinear", "Gemm"}
    doc = json.loads(sidecar_path(path).read_text())
    assert doc["training"]["command"] == "python -m models.train"
    assert doc["figures"]["validation"]["int8"]["f1_mean"] > 0.7
    spec = load_spec(path)
    assert spec.n_outputs == 2 + 2 * spec.n_bins and spec.vad_off < spec.vad_on


def test_frame_by_frame_equals_whole_sequence(frames: SpatialFrames, turn_model: TurnModelOpener) -> None:
    config = parse_config({})
    whole = stream(turn_model(config), frames, [frames.n_frames])
    single = stream(turn_model(config), frames, [1])
    ragged = stream(turn_model(config), frames, [3, 1, 7, 10, 2])
    for other in (single, ragged):
        # activity and the model's outputs are bit-identical; the derived probabilities go through
        # vectorised exp/log, whose last bit may depend on the array length
        for field in ("rep_active", "customer_active", "rep_prob", "customer_prob"):
            np.testing.assert_array_equal(joined(whole, ActivityFrames, field), joined(other, ActivityFrames, field))
        for field in ("p_hold", "p_backchannel"):
            np.testing.assert_allclose(
                joined(whole, TurnPredictions, field), joined(other, TurnPredictions, field), rtol=0, atol=1e-6
            )
    assert joined(whole, ActivityFrames, "rep_active").shape == (frames.n_frames,)


def test_stage_runs_the_model_one_frame_at_a_time(frames: SpatialFrames, turn_model: TurnModelOpener) -> None:
    stage = turn_model(parse_config({}))
    events = stream(stage, frames, [10])
    features = features_of(frames)
    direct = stage.run_sequence(features)
    rep_prob = joined(events, ActivityFrames, "rep_prob")
    # a look-ahead model's output step j labels step j - D; the stage shifts it back into place
    ahead = stage.spec.lookahead_steps
    labelled = direct[ahead:, 0]
    np.testing.assert_allclose(rep_prob[::2][: len(labelled)], labelled, rtol=0, atol=1e-6)
    assert stage.steps == len(direct) and np.all((direct >= 0) & (direct <= 1))


def test_bound_steps_compute_what_plain_session_runs_do(frames: SpatialFrames, turn_model: TurnModelOpener) -> None:
    # the stage steps through onnxruntime's I/O binding (two state buffers in turn); session.run is the reference
    stage = turn_model(parse_config({}))
    features = features_of(frames)[:60]
    state, plain = np.zeros((1, stage.spec.state_size), np.float32), []
    session = stage.session
    assert session is not None
    for row in features:
        probs, state = session.run(None, {INPUT_FEATURES: row[None], INPUT_STATE: state})  # type: ignore[attr-defined]
        plain.append(probs[0])
    bound = [stage.step(row) for row in features[:31]]  # an odd count: the next step reads the other buffer
    mid = stage.state
    np.testing.assert_array_equal(stage.run_sequence(features[:7]), plain[:7])  # from a fresh state
    np.testing.assert_array_equal(stage.state, mid)  # ... and the stream's state is back
    assert stage.run_sequence(features[:0]).shape == (0, stage.spec.n_outputs)  # (T, n_outputs) at T = 0 too
    bound += [stage.step(row) for row in features[31:]]
    np.testing.assert_array_equal(np.stack(bound), np.stack(plain))
    np.testing.assert_array_equal(stage.state, state)
    stage.reset_state()
    assert not stage.state.any()


def test_each_stream_starts_from_a_fresh_state(frames: SpatialFrames, turn_model: TurnModelOpener) -> None:
    stage = turn_model(parse_config({}))
    first = stream(stage, frames, [10])
    second = stream(stage, frames, [10])
    np.testing.assert_array_equal(joined(first, ActivityFrames, "rep_prob"), joined(second, ActivityFrames, "rep_prob"))
    np.testing.assert_array_equal(joined(first, TurnPredictions, "p_hold"), joined(second, TurnPredictions, "p_hold"))


def test_a_session_gap_resets_the_model(frames: SpatialFrames, turn_model: TurnModelOpener) -> None:
    config: Config = parse_config({"analytics": {"session_gap_s": 5.0}})
    stage = turn_model(config)
    list(stage.process(frames))
    state_after_speech = stage.state
    silent = silence(frames, 600)  # 6 s
    sessions = stage.sessions
    out = list(stage.process(silent))
    assert not joined(out, ActivityFrames, "rep_active").any()
    assert stage.sessions == sessions + 1
    assert np.abs(state_after_speech).max() > 0.05


def rep_talking_on(frames: SpatialFrames) -> SpatialFrames:
    """10 s of the rep alone (pauses under 2 s), right after ``frames``: the customer has left."""
    utts = [synth.Utterance("rep", t, f"cmu_arctic_us_axb_a000{n}.wav", 0.0) for t, n in ((0.2, 4), (3.6, 5), (7.0, 6))]
    samples, _ = synth.render(utts, 10.0)
    config = parse_config({})
    front = SpatialFrontEnd(config, geometry(config))
    (part,) = [e for e in front.process(AudioBlock(frames.end_s, 16000, samples)) if isinstance(e, SpatialFrames)]
    return part


def test_the_model_is_reset_for_the_next_customer_while_the_rep_talks_on(
    frames: SpatialFrames, turn_model: TurnModelOpener
) -> None:
    """The analytics end a session after a session gap of the customer's silence, whoever else talks: the
    model's memory of that customer must not colour the next one's first turns. It resets at a pause of the
    rep's, not within a word (it used to wait for a session gap with nobody speaking, which never came)."""
    config: Config = parse_config({"analytics": {"session_gap_s": 5.0}})
    stage = turn_model(config)
    resets: list[float] = []
    reset_state = stage.reset_state

    def noted() -> None:
        resets.append(stage.customer_silent_steps)
        reset_state()

    stage.reset_state = noted  # type: ignore[method-assign]
    rep = rep_talking_on(frames)
    out = list(stage.process(frames)) + list(stage.process(rep))
    active = joined(out, ActivityFrames, "rep_active")
    customer = joined(out, ActivityFrames, "customer_active")
    assert not customer[frames.n_frames + 100 :].any(), "the rep's words were heard as the customer's"
    assert active[frames.n_frames :].mean() > 0.5  # the rep talks on
    assert len(resets) == 1, resets
    # after the customer's gap (in 20 ms steps), within the rep's next pause
    assert 5.0 / 0.02 <= resets[0] < (5.0 + 2.0) / 0.02, resets


def test_a_lost_microphone_starts_the_model_afresh(frames: SpatialFrames, turn_model: TurnModelOpener) -> None:
    """Whatever was said before the array went away is not the conversation it hears when it is back:
    the model's memory of it must not colour the first turns after the outage."""
    stage = turn_model(parse_config({}))
    list(stage.process(frames))
    assert np.abs(stage.state).max() > 0.05
    sessions = stage.sessions
    list(stage.process(SourceState(t_s=frames.end_s, available=False, detail="unplugged")))
    assert stage.sessions == sessions + 1
    assert not np.any(stage.state)


def test_a_stream_of_an_odd_number_of_frames_is_decided_to_its_last_frame(
    frames: SpatialFrames, turn_model: TurnModelOpener
) -> None:
    """The model steps two 10 ms frames at a time; the last, unpaired frame of a stream still gets its
    activity and predictions, so the timeline and the analytics run to the stream's end."""
    odd = slice_frames(frames, 0, 101)
    out = stream(turn_model(parse_config({})), odd, [101])
    assert joined(out, ActivityFrames, "rep_active").size == 101
    assert joined(out, TurnPredictions, "p_hold").size == 101
    last = [e for e in out if isinstance(e, ActivityFrames)][-1]
    assert last.end_s == pytest.approx(odd.end_s)


def test_derived_decisions_from_a_projection() -> None:
    edges = (0.0, 0.2, 0.6, 1.2, 2.0)
    talks_on = np.array([[1.0, 1.0, 1.0, 1.0]], np.float32)
    falls_silent = np.array([[0.5, 0.0, 0.0, 0.0]], np.float32)
    back_soon = np.array([[0.0, 0.5, 1.0, 1.0]], np.float32)
    assert derive.p_next(talks_on, falls_silent, edges)[0] > 0.9
    assert derive.p_next(falls_silent, talks_on, edges)[0] < 0.1
    assert derive.p_continues(talks_on, edges)[0] == pytest.approx(1.0)
    assert derive.p_continues(falls_silent, edges)[0] == pytest.approx(0.0)
    assert derive.p_resumes(back_soon, edges)[0] == pytest.approx(1.0)
    assert derive.p_resumes(falls_silent, edges)[0] == pytest.approx(0.5)


def test_model_file_is_found_in_the_package() -> None:
    path = shipped_model_path()
    assert path.parent == Path(__file__).resolve().parents[1] / "listener" / "data" / "models"
    assert sidecar_path(path).is_file()


def test_in_overlap_a_party_stays_on_only_at_the_on_threshold_as_training_scores_it(
    turn_model: TurnModelOpener,
) -> None:
    """At a handover the fading voice must not hold on through the hysteresis band into an overlap."""
    from models.scoring import hysteresis

    model = turn_model(parse_config({}), shipped_model_path())
    on, off = model.spec.vad_on, model.spec.vad_off
    hi, mid = on + 0.05, (on + off) / 2  # mid: inside the band, keeps a party on while it speaks alone
    probs = np.array([[hi, 0.0], [mid, 0.0], [mid, hi], [mid, hi], [0.0, mid], [0.0, 0.0]], np.float32)
    decided = [model._decide(row) for row in probs]
    # the rep holds on alone; the customer comes in; in the overlap the rep's mid is not enough
    assert decided == [(True, False), (True, False), (True, True), (False, True), (False, True), (False, False)]
    # training and evaluation score the model with the same rule (models/scoring.py)
    rng = np.random.default_rng(1)
    walk = np.clip(np.cumsum(rng.normal(0.0, 0.08, (2000, 2)), axis=0) % 2.0, 0.0, 1.0).astype(np.float32)
    model._active = (False, False)
    assert [model._decide(row) for row in walk] == [tuple(r) for r in hysteresis(walk, on, off).tolist()]


def test_a_party_turns_on_at_vad_on_and_off_only_below_vad_off() -> None:
    """The rule as its docstring states it: a probability equal to a threshold meets it."""
    on, off = 0.7, 0.4
    assert decide_activity((False, False), on, on, on, off) == (True, True)
    assert decide_activity((True, False), off, 0.0, on, off) == (True, False)  # alone, at vad_off: stays on
    assert decide_activity((False, True), 0.0, off, on, off) == (False, True)
    below = np.nextafter(off, 0.0)
    assert decide_activity((True, False), below, 0.0, on, off) == (False, False)
    assert decide_activity((False, True), 0.0, below, on, off) == (False, False)


def test_at_a_reps_start_p_hold_is_the_silent_customers_chance_to_resume(turn_model: TurnModelOpener) -> None:
    """Even when the rep spoke alone in the customer's pause before (a backchannel keeps no floor)."""
    stage = turn_model(parse_config({}))
    steps = [(False, True)] * 30 + [(False, False)] * 10 + [(True, False)] * 15 + [(False, False)] * 10
    steps += [(True, False)] * 5  # the rep starts again: the last to speak alone was the rep
    active = np.array(steps)
    out = np.random.default_rng(0).random((len(steps), 2 + 2 * (len(stage.spec.bin_edges_s) - 1)), np.float32)
    p_hold, _ = stage._interpret(out, active, 0.0, 0.02)
    view = derive.outlook(out, stage.spec.bin_edges_s, stage.spec.thresholds)
    onset = len(steps) - 5
    assert p_hold[onset] == pytest.approx(view.p_resumes[1][onset])  # the customer's, not the rep's
    assert p_hold[10] == pytest.approx(view.p_resumes[0][10])  # and while the customer talks alone, the rep's
    pause = onset - 5  # in a silence: the last speaker's (the rep's) chance to speak next
    assert p_hold[pause] == pytest.approx(1.0 - view.p_shift[0][pause])


@pytest.mark.parametrize("min_speech_s", [0.1, 0.3])
def test_a_burst_too_short_to_be_speech_does_not_become_the_last_speaker(
    min_speech_s: float, turn_model: TurnModelOpener
) -> None:
    """The rep alone for 1 s, then the customer alone for 0.12 s, then silence. Under activity.min_speech_s
    = 0.3 the burst is no speech to the timeline, so the pause is the rep's and p_hold about the rep; the
    stage's own "who spoke last" kept a fixed 0.1 s and made it the customer's."""
    stage = turn_model(parse_config({"activity": {"min_speech_s": min_speech_s}}))
    active = np.array([(True, False)] * 50 + [(False, True)] * 6 + [(False, False)] * 10)
    out = np.random.default_rng(0).random((len(active), 2 + 2 * (len(stage.spec.bin_edges_s) - 1)), np.float32)
    p_hold, _ = stage._interpret(out, active, 0.0, 0.02)
    view = derive.outlook(out, stage.spec.bin_edges_s, stage.spec.thresholds)
    last = 0 if min_speech_s > 0.12 else 1  # the rep (0), or the customer whose 0.12 s counts as speech
    assert p_hold[-1] == pytest.approx(1.0 - view.p_shift[last][-1])


def test_the_sample_reps_own_pause_is_no_premature_start(capsys: pytest.CaptureFixture[str]) -> None:
    """At 3.9 s the rep resumes its answer; the customer's next words come at 6.8 s."""
    assert main(["analyze", str(sample_conversation()), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not [e for e in report["events"] if e["type"] == "premature_start"]


EDGES_S = (0.0, 0.2, 0.6, 1.2, 2.0)  # the shipped model's future bins (sidecar ``output.bin_edges_s``)


def outputs(rep_future: list[list[float]], customer_future: list[list[float]]) -> np.ndarray:
    """Raw model outputs, one row per frame: activity now (unused here), then each party's projection."""
    now = np.zeros((len(rep_future), 2))
    return np.concatenate([now, rep_future, customer_future], axis=1).astype(np.float32)


def test_p_shift_in_a_pause_is_the_other_partys_share_of_the_projected_speech() -> None:
    # A pause turns into a shift when the *other* party speaks next; if the parties' p_shift were swapped,
    # every hold would read as a shift and the reverse. Checked against the definition written out here.
    rng = np.random.default_rng(4)
    rep_future, customer_future = rng.random((50, 4)), rng.random((50, 4))
    view = derive.Outlooker(EDGES_S)(outputs(rep_future.tolist(), customer_future.tolist()))
    widths = np.diff(EDGES_S)
    rep_s, customer_s = rep_future @ widths, customer_future @ widths  # projected seconds of speech
    np.testing.assert_allclose(view.p_shift[0], customer_s / (rep_s + customer_s), atol=1e-3)
    np.testing.assert_allclose(view.p_shift[1], rep_s / (rep_s + customer_s), atol=1e-3)


def test_a_raw_probability_at_its_threshold_is_calibrated_to_the_decision_boundary() -> None:
    # The analytics decide at 0.5; the thresholds chosen in training (the shipped sidecar's) must land there.
    view = derive.Outlooker(EDGES_S, thresholds=(0.42, 0.62, 0.54))(
        outputs(
            [[0.58] * 4, [0.62] * 4, [0.54] * 4],  # rep's pause: the customer's share of the speech is 0.42
            [[0.42] * 4, [0.62] * 4, [0.54] * 4],  # then both project 0.62 (the continue threshold), then 0.54
        )
    )
    assert view.p_shift[0][0] == pytest.approx(0.5, abs=1e-4)
    assert view.p_continues[0][1] == pytest.approx(0.5, abs=1e-4)
    assert view.p_continues[1][1] == pytest.approx(0.5, abs=1e-4)
    assert view.p_resumes[0][2] == pytest.approx(0.5, abs=1e-4)
    assert view.p_resumes[1][2] == pytest.approx(0.5, abs=1e-4)
    # above the threshold is above the boundary, below it below
    assert view.p_shift[1][0] > 0.5  # the rep's share, 0.58 > 0.42
    assert view.p_resumes[0][1] > 0.5  # 0.62 > 0.54
    assert view.p_continues[0][2] < 0.5  # 0.54 < 0.62


def test_a_customer_burst_too_short_to_be_speech_does_not_put_the_reset_off(
    frames: SpatialFrames, turn_model: TurnModelOpener
) -> None:
    """The analytics end the session a session gap after the customer's last speech, a burst under min_speech_s
    being no speech; the model counted the gap from any active step, so such a burst put its reset off a whole
    gap (the next visit's first turns heard with the last one's memory)."""
    config: Config = parse_config({"analytics": {"session_gap_s": 5.0}})
    stage = turn_model(config)
    list(stage.process(frames))
    hop_s = 2 * frames.hop_s
    silent = stage.customer_silent_steps
    assert stage.sessions == 1 and silent * hop_s < 1.5  # the customer spoke lately
    # the customer heard for 0.06 s (3 steps, under the 0.1 s of speech), 2 s into the silence
    for k in range(round(7.0 / hop_s)):
        stage._watch_session((False, round(2.0 / hop_s) <= k < round(2.06 / hop_s)), hop_s)
    assert stage.sessions == 2, "no reset a session gap after the customer's last speech"
    assert stage.customer_silent_steps == silent + round(7.0 / hop_s)
