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
    fault: str = "",
    fault_above: float = 0.0,
    busy_n: int = 0,
) -> Path:
    """A model step the shipped sidecar describes: probs = sigmoid(features @ 0) = 0.5, state passed through.

    ``batch``: the first dimension of every port (the stage feeds 1); ``extra_input``: a further required input
    the listener never binds; ``bad_reshape``: features go through a reshape to (-1, 7), which loads (the
    batch is unknown) but fails at run time, since 43 features do not split into sevens; ``sqrt``: the
    features go through a square root first, so a negative one makes every output NaN; ``level_gain``: each
    party's activity output is sigmoid(level_gain x that party's level feature) instead, a model that hears
    exactly the front end's levels; ``offset``: added to every output after the sigmoid (1: no probabilities);
    ``fault``: what the graph does on a step whose customer SNR feature is above FAULT_ABOVE (none of the smoke
    test's silence, some of the test dialogue's speech): "nan" outputs NaN, "above_one" outputs 1.5 more, "raise"
    fails in onnxruntime (a Gather out of its bounds); ``fault_above``: that threshold, if not FAULT_ABOVE;
    ``busy_n``: each step first multiplies two busy_n x busy_n matrices made from the features, and adds 0 times
    their sum to every output, a model as slow as wanted that still outputs what it would.
    """
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    doc = json.loads(sidecar_path(shipped_model_path()).read_text())
    state, n_out = doc["state_size"], len(doc["output"]["columns"])
    nodes, weights = _probabilities(onnx, n_out, bad_reshape=bad_reshape, sqrt=sqrt, level_gain=level_gain)
    weights.append(onnx.numpy_helper.from_array(np.array(offset, np.float32), "offset"))
    nodes += [helper.make_node("Add", ["sigmoid", "offset"], ["unbusy" if busy_n else "shifted"])]
    if busy_n:
        nodes += _busy(onnx, busy_n, weights)
    nodes += (
        _fault(onnx, fault, weights, fault_above or FAULT_ABOVE)
        if fault
        else [helper.make_node("Identity", ["shifted"], ["probs"])]
    )
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


FAULT_FEATURE = 2 * N_MELS + 1  # the customer's SNR (20 dB units)
FAULT_ABOVE = 1.5  # over 30 dB: first passed 4.6 s into tests/synth.py's dialogue (step 228 of 850)


def _busy(onnx: Any, n: int, weights: list[Any]) -> list[Any]:
    """Nodes from "unbusy" to "shifted", via an n x n by n x n MatMul on the features (step_graph's
    ``busy_n``): it depends on the input, so onnxruntime can neither fold it away nor skip it."""
    make, array = onnx.helper.make_node, onnx.numpy_helper.from_array
    rng = np.random.default_rng(0)
    weights += [
        array(rng.standard_normal((N_FEATURES, n)).astype(np.float32), "spread"),
        array(rng.standard_normal((n, n)).astype(np.float32), "square"),
        array(np.array(0.0, np.float32), "nothing"),
    ]
    return [
        make("MatMul", ["features", "spread"], ["row"]),  # (batch, n)
        make("Transpose", ["row"], ["column"]),  # (n, batch): with a batch of 1, the outer product is n x n
        make("MatMul", ["column", "row"], ["outer"]),
        make("MatMul", ["outer", "square"], ["product"]),
        make("ReduceSum", ["product"], ["total"], keepdims=0),
        make("Mul", ["total", "nothing"], ["none"]),
        make("Add", ["unbusy", "none"], ["shifted"]),
    ]


def _fault(onnx: Any, fault: str, weights: list[Any], above: float = FAULT_ABOVE) -> list[Any]:
    """Nodes from "shifted" to "probs" that misbehave (step_graph's ``fault``) on a step past FAULT_ABOVE."""
    make, array = onnx.helper.make_node, onnx.numpy_helper.from_array
    weights += [
        array(np.array([FAULT_FEATURE], np.int64), "fault_at"),
        array(np.array(above, np.float32), "above"),
    ]
    weights += [array(np.array(1.0, np.float32), "one"), array(np.array([1], np.int64), "axis1")]
    nodes = [
        make("Gather", ["features", "fault_at"], ["watched"], axis=1),
        make("Greater", ["watched", "above"], ["hit"]),
    ]
    nodes += [make("Cast", ["hit"], ["trigger"], to=onnx.TensorProto.FLOAT)]  # (batch, 1): 1.0 past the threshold
    if fault == "nan":  # 0 / (1 - trigger): 0 / 1, or 0 / 0 = NaN
        weights.append(array(np.array(0.0, np.float32), "zero"))
        nodes += [make("Sub", ["one", "trigger"], ["room"]), make("Div", ["zero", "room"], ["bad"])]
    elif fault == "above_one":
        weights.append(array(np.array(1.5, np.float32), "jump"))
        nodes += [make("Mul", ["trigger", "jump"], ["bad"])]
    elif fault == "raise":  # index 1 into a one-element tensor: "indices element out of data bounds"
        weights.append(array(np.zeros(1, np.float32), "single"))
        nodes += [
            make("Cast", ["trigger"], ["index"], to=onnx.TensorProto.INT64),
            make("Squeeze", ["index", "axis1"], ["flat"]),
        ]
        nodes += [
            make("Gather", ["single", "flat"], ["picked"], axis=0),
            make("Unsqueeze", ["picked", "axis1"], ["bad"]),
        ]
    else:
        raise ValueError(f"no such fault {fault!r}: nan, above_one or raise")
    return [*nodes, make("Add", ["shifted", "bad"], ["probs"])]


def _ports(onnx: Any, shapes: dict[str, list[int | str]]) -> list[Any]:
    return [onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape) for name, shape in shapes.items()]
