"""A missing, corrupt or mismatched turn model stops start-up with a message naming the file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from listener.cli import main
from listener.config import SHIPPED_TURN_MODEL_FRAME_MS, geometry, parse_config
from listener.errors import ConfigError, ModelError
from listener.service import doctor
from listener.service.build import analysis_stages
from listener.spatial.decide import ActivityDecider
from listener.turns import activity_stage
from listener.turns.features import FRAMES_PER_STEP, N_FEATURES
from listener.turns.onnx_model import OnnxTurnModel
from listener.turns.spec import CONFIGURED_FIX, FIX, fix_for, load_spec, shipped_model_path, sidecar_path
from tests.cli_run import SAMPLE
from tests.conftest import TurnModelOpener
from tests.doctor_config import config as doctor_config
from tests.turn_graphs import step_graph


def copy_model(tmp_path: Path) -> Path:
    path = tmp_path / "turn.onnx"
    shutil.copy(shipped_model_path(), path)
    shutil.copy(sidecar_path(shipped_model_path()), sidecar_path(path))
    return path


def edited_model(tmp_path: Path, edit: Callable[[dict[str, Any]], object]) -> Path:
    """A copy of the shipped model whose sidecar ``edit`` has changed in place."""
    path = copy_model(tmp_path)
    doc = json.loads(sidecar_path(path).read_text())
    edit(doc)
    sidecar_path(path).write_text(json.dumps(doc))
    return path


def config_for(path: Path) -> object:
    return parse_config({"turn_model": {"path": str(path)}})


def test_missing_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "turn.onnx"
    with pytest.raises(ModelError) as err:
        activity_stage(config_for(missing))  # type: ignore[arg-type]
    assert str(missing) in str(err.value) and "enabled = false" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    # the config named the file: reinstalling the package would not bring it back, the shipped model is one key away
    assert "set [turn_model] path = '' to use the model shipped" in str(err.value)
    assert "reinstall" not in str(err.value)


def test_only_the_shipped_model_is_mended_by_reinstalling(tmp_path: Path) -> None:
    assert fix_for(shipped_model_path()) == FIX and FIX.startswith("reinstall the listener package")
    assert fix_for(copy_model(tmp_path)) == CONFIGURED_FIX


def test_a_configured_models_missing_sidecar_gives_the_reason_not_a_raw_error(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    sidecar_path(path).unlink()
    with pytest.raises(ModelError) as err:
        load_spec(path)
    assert f"its sidecar {sidecar_path(path)} is missing or unreadable (No such file or directory): " in str(err.value)
    assert "[Errno" not in str(err.value)


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ModelError) as err:
        OnnxTurnModel(parse_config({}), path).open()
    assert str(path) in str(err.value) and "corrupt" in str(err.value)


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    path.write_text("not a model at all")
    with pytest.raises(ModelError, match="corrupt"):
        OnnxTurnModel(parse_config({}), path).open()


def test_missing_or_mismatched_sidecar_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    doc = json.loads(sidecar_path(path).read_text())
    doc["input"]["n_features"] += 1
    sidecar_path(path).write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="n_features"):
        OnnxTurnModel(parse_config({}), path).open()
    sidecar_path(path).unlink()
    with pytest.raises(ModelError, match="sidecar"):
        OnnxTurnModel(parse_config({}), path).open()


def test_a_sidecar_of_another_schema_or_not_an_object_is_refused_naming_the_schema(tmp_path: Path) -> None:
    for doc in ({"schema": "listener.turn-model/2"}, ["listener.turn-model/1"]):
        path = copy_model(tmp_path)
        sidecar_path(path).write_text(json.dumps(doc))
        with pytest.raises(ModelError) as err:
            load_spec(path)
        assert str(err.value) == (
            f"turn model {path}: sidecar {sidecar_path(path)} is not 'listener.turn-model/1'; {CONFIGURED_FIX}"
        )


def test_sidecar_that_does_not_match_the_graph_is_refused(tmp_path: Path) -> None:
    path = copy_model(tmp_path)
    doc = json.loads(sidecar_path(path).read_text())
    doc["state_size"] += 4
    sidecar_path(path).write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="does not match its sidecar"):
        OnnxTurnModel(parse_config({}), path).open()


def test_an_onnxruntime_that_cannot_be_imported_is_one_line_with_the_way_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken or partial install: the import inside the model's opening was a traceback at the service's start
    (doctor: "report this as a bug"). One line, exit 2, naming reinstalling and the heuristic decider."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what a missing package makes the import meet
    assert main(["analyze", str(SAMPLE)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("listener: onnxruntime cannot be imported (") and err.count("\n") == 1, err
    assert err.endswith("or set [turn_model] enabled = false\n"), err


def test_disabled_model_uses_the_heuristic_even_without_a_file(tmp_path: Path) -> None:
    config = parse_config({"turn_model": {"enabled": False, "path": str(tmp_path / "gone.onnx")}})
    assert isinstance(activity_stage(config), ActivityDecider)
    stages = analysis_stages(config, geometry(config))
    assert any(isinstance(s, ActivityDecider) for s in stages)
    enabled = parse_config({})
    assert any(isinstance(s, OnnxTurnModel) for s in analysis_stages(enabled, geometry(enabled)))


def _analyze_with_model(tmp_path: Path, model: Path, wav: Path) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'[turn_model]\npath = "{model}"\n')
    command = [sys.executable, "-m", "listener", "analyze", str(wav), "--config", str(cfg)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_cli_exits_2_with_one_line_naming_the_file(tmp_path: Path, dialogue_4ch: tuple[Path, object]) -> None:
    bad = copy_model(tmp_path)
    bad.write_bytes(b"\x00" * 100)
    result = _analyze_with_model(tmp_path, bad, dialogue_4ch[0])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(bad) in result.stderr


def test_a_hand_built_step_graph_loads_and_runs(tmp_path: Path, turn_model: TurnModelOpener) -> None:
    # the control for the broken graphs below: each fails for the one thing it adds
    model = turn_model(parse_config({}), step_graph(tmp_path / "turn.onnx"))
    assert np.allclose(model.run_sequence(np.zeros((3, N_FEATURES), np.float32)), 0.5)


def test_cli_says_a_graph_failing_at_run_time_in_one_line(tmp_path: Path, dialogue_4ch: tuple[Path, object]) -> None:
    bad = step_graph(tmp_path / "turn.onnx", bad_reshape=True)
    result = _analyze_with_model(tmp_path, bad, dialogue_4ch[0])
    assert result.returncode == 2 and result.stdout == ""
    # onnxruntime's logger printed its own ERROR line (in colour) first unless told to print only fatal ones
    assert result.stderr.count("\n") == 1 and "\x1b[" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"listener: turn model {bad} fails to run (") and "Reshape" in result.stderr


def test_a_model_step_giving_nan_is_a_model_failure_naming_the_file(
    tmp_path: Path, turn_model: TurnModelOpener
) -> None:
    """NaN passed silently: analyze --json reported p_shift NaN, which its own schema refuses."""
    path = step_graph(tmp_path / "turn.onnx", sqrt=True)
    model = turn_model(parse_config({}), path)
    assert np.allclose(model.step(np.ones(N_FEATURES, np.float32)), 0.5)
    with pytest.raises(ModelError) as err:
        model.step(-np.ones(N_FEATURES, np.float32))
    message = str(err.value)
    assert message.startswith(f"turn model {path} produced non-finite values (NaN or infinity) at step ")
    assert "\n" not in message and message.endswith(CONFIGURED_FIX)


def test_a_graph_with_an_input_the_listener_does_not_feed_is_refused_naming_it(tmp_path: Path) -> None:
    # unchecked, it loaded and then failed the smoke test with "Trying to get a TensorSeq, but got: (null)"
    path = step_graph(tmp_path / "turn.onnx", extra_input="extra")
    with pytest.raises(ModelError) as err:
        OnnxTurnModel(parse_config({}), path).open()
    message = str(err.value)
    assert message.startswith(f"turn model {path} has an input 'extra' the listener does not feed (it feeds only")
    assert "\n" not in message and message.endswith(CONFIGURED_FIX) and "TensorSeq" not in message


def test_a_graph_whose_outputs_are_no_probabilities_is_refused_as_it_opens(tmp_path: Path) -> None:
    path = step_graph(tmp_path / "turn.onnx", offset=1.0)  # every output 1.5
    with pytest.raises(ModelError) as err:
        OnnxTurnModel(parse_config({}), path).open()
    message = str(err.value)
    assert message.startswith(f"turn model {path} produced values outside [0, 1] (from 1.5 to 1.5) as it opens")
    assert "\n" not in message and message.endswith(CONFIGURED_FIX)
    for edge in (-0.5, 0.5):  # every output exactly 0, then exactly 1: probabilities still
        OnnxTurnModel(parse_config({}), step_graph(tmp_path / "turn.onnx", offset=edge)).open()


def test_a_graph_for_another_batch_size_says_which_dimension_and_what_it_expects(tmp_path: Path) -> None:
    # onnxruntime puts "index: 0 Got: 1 Expected: 2" on the line after "... for the following indices"
    path = step_graph(tmp_path / "turn.onnx", batch=2)
    with pytest.raises(ModelError) as err:
        OnnxTurnModel(parse_config({}), path).open()
    message = str(err.value)
    assert "invalid dimensions for input: features for the following indices; index: 0 Got: 1 Expected: 2" in message
    assert "\n" not in message and message.endswith(CONFIGURED_FIX)


def _set(part: str, key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda doc: (doc[part] if part else doc).__setitem__(key, value)


# (edit, the field the message must name, the value as it must show, what it must say is allowed)
DAMAGED_SIDECARS = [
    (_set("", "input", []), "input", "[]", "an object"),
    (_set("output", "thresholds", []), "output.thresholds", "[]", "an object with the fields shift"),
    (_set("input", "hop_s", "nan"), "input.hop_s", '"nan"', "a number from 0.02 to 0.04"),
    (_set("input", "hop_s", float("nan")), "input.hop_s", "NaN", "a number from 0.02 to 0.04"),
    (_set("input", "hop_s", 0), "input.hop_s", "0", "a number from 0.02 to 0.04"),
    (_set("input", "hop_s", -0.02), "input.hop_s", "-0.02", "a number from 0.02 to 0.04"),
    (lambda d: d["input"].pop("hop_s"), "input.hop_s", "", "a number from 0.02 to 0.04"),
    # between two frame_ms (10.5 and 12.5 ms frames): the stage blamed [activity] frame_ms, with circular advice
    (_set("input", "hop_s", 0.021), "input.hop_s", "0.021", "2 x a whole number of milliseconds"),
    (_set("input", "hop_s", 0.025), "input.hop_s", "0.025", "2 x a whole number of milliseconds"),
    (_set("", "output", "probs"), "output", '"probs"', "an object"),
    (_set("", "state_size", 12.5), "state_size", "12.5", "a whole number"),
    (_set("", "version", None), "version", "null", "a non-empty string"),
    (_set("output", "vad_on", 1.5), "output.vad_on", "1.5", "a number from 0 to 1"),
    (_set("output", "vad_off", "0.5"), "output.vad_off", '"0.5"', "a number from 0 to 1"),
    (_set("output", "vad_off", 0.9), "output.vad_off", "0.9", "at most output.vad_on (0.7)"),
    (_set("output", "bin_edges_s", [0.0, 0.6, 0.2, 1.2, 2.0]), "output.bin_edges_s", "[0.0, 0.6, 0.2", "increasing"),
    (_set("output", "bin_edges_s", [0.0, 0.2, 0.4, 0.6, 0.8]), "output.bin_edges_s", "[0.0, 0.2", "at least 1.2"),
    (_set("output", "bin_edges_s", {"0": 0.0}), "output.bin_edges_s", '{"0": 0.0}', "a list"),
    (_set("output", "bin_edges_s", [0.0, "1.2", 2.0]), "output.bin_edges_s", '[0.0, "1.2", 2.0]', "numbers"),
    (_set("output", "thresholds", {"continue": 0}), "output.thresholds.continue", "0", "strictly between 0 and 1"),
    (_set("output", "lookahead_steps", -1), "output.lookahead_steps", "-1", "a whole number from 0 to 25"),
    (lambda d: d["output"]["thresholds"].update(shift=1.0), "output.thresholds.shift", "1.0", "strictly between 0"),
    (lambda d: d["output"]["thresholds"].update(resume=None), "output.thresholds.resume", "null", "a number"),
    (lambda d: d["output"]["thresholds"].update(pause=0.4), "output.thresholds.pause", "0.4", "one of shift"),
    (_set("input", "n_features", True), "input.n_features", "true", "43, what this listener computes"),
    # past any float: math.isfinite raised OverflowError, a traceback at the start
    (_set("output", "vad_on", 10**400), "output.vad_on", "1" + "0" * 56 + "...", "a number from 0 to 1"),
]


@pytest.mark.parametrize(("edit", "field", "shown", "allowed"), DAMAGED_SIDECARS)
def test_a_damaged_sidecar_is_refused_naming_file_field_value_and_what_is_allowed(
    tmp_path: Path, edit: Callable[[dict[str, Any]], object], field: str, shown: str, allowed: str
) -> None:
    path = edited_model(tmp_path, edit)
    with pytest.raises(ModelError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(sidecar_path(path)) in message and "\n" not in message
    named = f"lacks {field}, which should be" if not shown else f"has {field} = {shown}"
    assert named in message and allowed in message and message.endswith(CONFIGURED_FIX), message


@pytest.mark.parametrize(("length", "shown"), [(58, '"' + "x" * 58 + '"'), (59, '"' + "x" * 56 + "...")])
def test_a_value_is_shown_whole_up_to_60_characters_and_cut_to_57_and_dots_beyond(
    tmp_path: Path, length: int, shown: str
) -> None:
    # a long value (a pasted array, a wrong file's text) kept the journal's line readable
    path = edited_model(tmp_path, _set("", "output", "x" * length))
    with pytest.raises(ModelError) as err:
        load_spec(path)
    assert f"has output = {shown}, which should be an object" in str(err.value)


def test_the_sidecar_may_leave_out_what_has_a_default(tmp_path: Path) -> None:
    def leave_out(doc: dict[str, Any]) -> None:
        del doc["output"]["lookahead_steps"], doc["output"]["thresholds"]["resume"]

    spec = load_spec(edited_model(tmp_path, leave_out))
    shipped = json.loads(sidecar_path(shipped_model_path()).read_text())["output"]["thresholds"]
    assert spec.lookahead_steps == 0 and spec.resume_threshold == 0.5 and spec.shift_threshold == shipped["shift"]
    assert load_spec(shipped_model_path()).hop_s == 0.02
    for hop_s in (0.024, 0.04):  # 12 and 20 ms frames
        assert load_spec(edited_model(tmp_path, _set("input", "hop_s", hop_s))).hop_s == hop_s


def test_a_sidecar_may_set_vad_off_at_vad_on(tmp_path: Path) -> None:
    """The refusal allows vad_off "at most output.vad_on": no hysteresis band is allowed, only an inverted one."""
    spec = load_spec(edited_model(tmp_path, lambda doc: doc["output"].update(vad_on=0.6, vad_off=0.6)))
    assert spec.vad_on == spec.vad_off == 0.6


def test_a_sidecar_may_use_the_ends_of_the_ranges_its_refusals_name(tmp_path: Path) -> None:
    """vad_on and vad_off 'a number from 0 to 1'; bin_edges_s 'from 0 to at least 1.2': one bin will do."""
    spec = load_spec(edited_model(tmp_path, lambda doc: doc["output"].update(vad_on=1.0, vad_off=0.0)))
    assert (spec.vad_on, spec.vad_off) == (1.0, 0.0)
    assert load_spec(edited_model(tmp_path, _set("output", "bin_edges_s", [0.0, 2.0]))).n_bins == 1


def test_doctor_gives_a_turn_model_error_its_own_fix_not_the_reinstall(tmp_path: Path) -> None:
    # a folder given as the model: reinstalling the package would not help, pointing at the file does
    check = doctor.check_turn_model(doctor_config(tmp_path, turn_model={"path": str(tmp_path)}))
    assert (check.status, check.detail) == ("FAIL", f"{tmp_path} is a folder")  # the line names the check once
    assert check.fix == "set [turn_model] path to its .onnx file, or to ''"


def test_doctor_fails_a_sidecar_that_analyze_would_refuse(tmp_path: Path) -> None:
    path = edited_model(tmp_path, _set("input", "hop_s", "nan"))
    check = doctor.check_turn_model(doctor_config(tmp_path, turn_model={"path": str(path)}))
    assert check.status == "FAIL" and check.fix == CONFIGURED_FIX
    assert check.detail.endswith(
        'has input.hop_s = "nan", which should be a number from 0.02 to 0.04 (seconds per model step), 2 x a whole '
        "number of milliseconds (an [activity] frame_ms)"
    )


def test_cli_exits_2_on_a_sidecar_with_a_nan_hop(tmp_path: Path, dialogue_4ch: tuple[Path, object]) -> None:
    bad = edited_model(tmp_path, _set("input", "hop_s", "nan"))
    result = _analyze_with_model(tmp_path, bad, dialogue_4ch[0])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"sidecar {sidecar_path(bad)} has input.hop_s" in result.stderr


def test_a_sidecar_nested_past_the_parsers_depth_is_refused_as_invalid_json(
    tmp_path: Path, dialogue_4ch: tuple[Path, object]
) -> None:
    # json.loads raises RecursionError, not ValueError, on this: it was a traceback (rc 1) and a doctor "bug"
    path = copy_model(tmp_path)
    sidecar_path(path).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match=f"its sidecar {sidecar_path(path)} is not valid JSON") as err:
        load_spec(path)
    assert "\n" not in str(err.value) and str(err.value).endswith(CONFIGURED_FIX)
    check = doctor.check_turn_model(doctor_config(tmp_path, turn_model={"path": str(path)}))
    assert check.status == "FAIL" and check.fix == CONFIGURED_FIX and "is not valid JSON" in check.detail
    result = _analyze_with_model(tmp_path, path, dialogue_4ch[0])
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "is not valid JSON" in result.stderr


def test_a_frame_length_the_model_was_not_trained_on_is_refused_naming_the_key() -> None:
    """At frame_ms = 20 the shipped model would be fed 40 ms steps: its dynamics and look-ahead would be off by two.
    The configuration refuses it for the shipped model (so check-config does), the stage for any model."""
    with pytest.raises(ConfigError) as info:
        parse_config({"activity": {"frame_ms": 20}})
    assert info.value.path == "activity.frame_ms" and "frame_ms = 10" in str(info.value)
    spec = load_spec(shipped_model_path())
    assert spec.hop_s == pytest.approx(FRAMES_PER_STEP * SHIPPED_TURN_MODEL_FRAME_MS / 1000)
    cfg = parse_config({"activity": {"frame_ms": 20}, "turn_model": {"path": str(shipped_model_path())}})
    with pytest.raises(ConfigError) as info:
        OnnxTurnModel(cfg).open()
    assert info.value.path == "activity.frame_ms" and "frame_ms = 10" in str(info.value)
    assert "enabled = false" in str(info.value)
    heuristic = parse_config({"activity": {"frame_ms": 20}, "turn_model": {"enabled": False}})
    assert isinstance(activity_stage(heuristic), ActivityDecider)  # without the model, 20 ms frames are fine


def test_a_failed_open_leaves_nothing_half_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """Binding the session failed after it was made: open() again found the session and returned with no step."""
    from listener.turns import onnx_model

    stage = OnnxTurnModel(parse_config({}))
    real = onnx_model.BoundStep

    def once(*args: object) -> onnx_model.BoundStep:
        monkeypatch.setattr(onnx_model, "BoundStep", real)
        raise MemoryError("no buffers")

    monkeypatch.setattr(onnx_model, "BoundStep", once)
    with pytest.raises(MemoryError):
        stage.open()
    assert stage.session is None
    with stage:  # opened afresh, it runs
        assert stage.step(np.zeros(N_FEATURES, np.float32)).shape == (stage.spec.n_outputs,)
