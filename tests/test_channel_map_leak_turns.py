"""Channel-map mode, turn model: a voice leaking into the other party's mic starts no speech of theirs."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from listener.cli import main
from listener.config import geometry, parse_config
from listener.events import ActivityFrames, AudioBlock, EndOfStream, SpatialFrames
from listener.spatial.frontend import FFT_SIZE, SILENT_SNR_DB, SpatialFrontEnd
from listener.turns.base import join_frames, slice_frames
from listener.turns.onnx_model import OnnxTurnModel
from tests.lapel_talk import REP_CUT_IN_S, lapel_talk, write_lapel_talk
from tests.level_frames import levels
from tests.synth import RATE_HZ
from tests.turn_frames import joined, stream
from tests.turn_graphs import step_graph

CONFIG = '[array]\npreset = "generic"\nchannels = 2\n[parties]\nrep_channel = 0\ncustomer_channel = 1\n'


def analysed(tmp_path: Path, leak_db: float, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    config = tmp_path / "cm.toml"
    config.write_text(CONFIG)
    wav = write_lapel_talk(tmp_path, leak_db)
    assert main(["analyze", str(wav), "--json", "--config", str(config)]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("leak_db", [-6.0, -12.0, -20.0])
def test_leaked_voice_starts_no_phantom_backchannels_and_real_cut_ins_stay(
    tmp_path: Path, leak_db: float, capsys: pytest.CaptureFixture[str]
) -> None:
    # The customer never backchannels. With the rep's voice leaking 6 dB down into the customer's mic,
    # the turn model started the customer 0.1-1 s into the rep's turns: 9 backchannels, and 2.7 s of
    # customer speech where only the rep spoke (the heuristic decider's echo guard had no counterpart).
    report = analysed(tmp_path, leak_db, capsys)
    events = report["events"]
    assert [e for e in events if e["type"] == "backchannel" and e["by"] == "customer"] == []
    cut_ins = {(e["by"], round(e["t"], 1)) for e in events if e["type"] == "interruption"}
    assert {("customer", round(REP_CUT_IN_S[0], 1)), ("rep", round(REP_CUT_IN_S[1], 1))} <= cut_ins


def test_the_guard_decides_the_same_however_the_stream_is_cut() -> None:
    # its smoothed levels wait with the frames for the model's look-ahead: any blocking, the same activity
    config = parse_config(tomllib.loads(CONFIG))
    samples, _ = lapel_talk(-6.0)
    front = SpatialFrontEnd(config, geometry(config))
    block = AudioBlock(0.0, RATE_HZ, samples[: RATE_HZ * 20].astype(np.float32))
    spatial = join_frames(*[e for e in front.process(block) if isinstance(e, SpatialFrames)])
    runs = []
    for sizes in ([spatial.n_frames], [1], [7, 3, 1]):
        with OnnxTurnModel(config) as stage:
            runs.append(joined(stream(stage, spatial, sizes), ActivityFrames, "customer_active"))
    assert runs[0].sum() > 100
    assert all((run == runs[0]).all() for run in runs)


def test_after_a_jump_in_the_stream_clock_the_guard_weighs_the_frames_it_decides(tmp_path: Path) -> None:
    """The frames still waiting for the look-ahead at a jump are decided then; the guard must let go of their
    levels, or every later step is weighed by levels a look-ahead (0.1 s) old. A model that hears the levels,
    labelling each step 0.1 s back as the shipped sidecar says: the rep starts talking just after the jump, and
    its voice reaches the customer's mic 34 dB down, which that model labels from the rep's onset on."""
    config = parse_config(tomllib.loads(CONFIG))
    path = step_graph(tmp_path / "turn.onnx", level_gain=8.0)  # 40 dB: p 1; 6 dB: p 0.92; silence: p 0
    quiet, ahead, talk = 60, 10, 100
    rep_db = [SILENT_SNR_DB] * quiet + [40.0] * talk
    frames = levels(rep_db, [SILENT_SNR_DB] * (quiet + ahead) + [6.0] * (talk - ahead))
    frames = dataclasses.replace(frames, power=np.zeros((quiet + talk, FFT_SIZE // 2 + 1), np.float32))
    before, after = slice_frames(frames, 0, quiet), slice_frames(frames, quiet, quiet + talk)
    for jump_s in (0.0, 5.0):
        with OnnxTurnModel(config, path) as stage:
            assert stage.spec.lag_s == ahead * frames.hop_s
            later = dataclasses.replace(after, start_s=after.start_s + jump_s)
            events = [*stage.process(before), *stage.process(later), *stage.process(EndOfStream(later.end_s))]
        assert joined(events, ActivityFrames, "rep_active")[quiet:].all(), jump_s
        assert not joined(events, ActivityFrames, "customer_active").any(), jump_s
