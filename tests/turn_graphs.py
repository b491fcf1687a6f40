"""Small hand-built turn model graphs, each with the shipped sidecar, for what a trained model never does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from listener.turns.features import N_FEATURES, N_MELS
from listener.turns.spec import shipped_model_path, sidecar_path


def step_graph(
    path: Path,
    *,
    batch: int | str = "batch",
    extra_input: str = "",
    bad_reshape: bool = False,
    sqrt: bool = False,
    level_gain: float = 0.0,
    offset: float = 0.0,
) -> Path:
    """A model step the shipped sidecar describes: probs = sigmoid(features @ 0) = 0.5, state passed through.

    ``batch``: the first dimension of every port (the stage feeds 1); ``extra_input``: a further required input
    the listener never binds; ``bad_reshape``: features go through a reshape to (-1, 7), which loads (the
    batch is unknown) but fails at run time, since 43 features do not split into sevens; ``sqrt``: the
    features go through a square root first, so a negative one makes every output NaN; ``level_gain``: each
    party's activity output is sigmoid(level_gain x that party's level feature) instead, a model that hears
    exactly the front end's levels; ``offset``: added to every output after the sigmoid (1: no probabilities).
    """
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    doc = json.loads(sidecar_path(shipped_model_path()).read_text())
    state, n_out = doc["state_size"], len(doc["output"]["columns"])
    nodes, weights = _probabilities(onnx, n_out, bad_reshape=bad_reshape, sqrt=sqrt, level_gain=level_gain)
    weights.append(onnx.numpy_helper.from_array(np.array(offset, np.float32), "offset"))
    nodes += [helper.make_node("Add", ["sigmoid", "offset"], ["probs"])]
    nodes += [helper.make_node("Identity", ["state"], ["state_out"])]
    inputs = {"features": [batch, N_FEATURES], "state": [batch, state]}
    outputs = {"probs": [batch, n_out], "state_out": [batch, state]}
    if extra_input:
        inputs[extra_input], outputs[f"{extra_input}_out"] = [1], [1]
        nodes.append(helper.make_node("Identity", [extra_input], [f"{extra_input}_out"]))
    graph = helper.make_graph(nodes, "turn_step", _ports(onnx, inputs), _ports(onnx, outputs), initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    shutil.copy(sidecar_path(shipped_model_path()), sidecar_path(path))
    return path


def _probabilities(
    onnx: Any, n_out: int, *, bad_reshape: bool, sqrt: bool, level_gain: float
) -> tuple[list[Any], list[Any]]:
    """The nodes from the features to "sigmoid" (step_graph's options), and the weights they use."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    w = np.zeros((N_FEATURES, n_out), np.float32)
    w[2 * N_MELS, 0] = w[2 * N_MELS + 1, 1] = level_gain  # rep level -> rep activity, customer's -> customer's
    weights = [numpy_helper.from_array(w, "w")]
    nodes, features = [], "features"
    if bad_reshape:
        weights.append(numpy_helper.from_array(np.array([-1, 7], np.int64), "sevens"))
        nodes += [helper.make_node("Reshape", ["features", "sevens"], ["split"])]
        nodes += [helper.make_node("Shape", ["features"], ["shape"])]
        nodes += [helper.make_node("Reshape", ["split", "shape"], ["back"])]
        features = "back"
    if sqrt:
        nodes += [helper.make_node("Sqrt", [features], ["roots"])]
        features = "roots"
    nodes += [helper.make_node("MatMul", [features, "w"], ["logits"])]
    nodes += [helper.make_node("Sigmoid", ["logits"], ["sigmoid"])]
    return nodes, weights


def _ports(onnx: Any, shapes: dict[str, list[int | str]]) -> list[Any]:
    return [onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape) for name, shape in shapes.items()]
