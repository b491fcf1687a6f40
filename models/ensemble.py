"""Merge trained turn models into one: ``python -m models.ensemble OUT_DIR MEMBER.onnx ...``.

The members are seeds of one training (``python -m models.train --seed N --out DIR``).
The merged graph is still one 20 ms step: it feeds the same features to every
member, averages their outputs and carries their states side by side, so the
stage runs it like any other model (sidecar ``state_size`` = the members' sum).
Its sidecar is the first member's, with that state size and the members'
seeds; the members must agree on the features, the output columns and the
look-ahead, and on their training's settings (but the seed) and simulation
version, which their sidecars record. The thresholds (activity ``vad_on``/``vad_off`` and the decisions'
``output.thresholds``) are the first member's, chosen on its own validation
dialogues; ``python -m models.train``, which builds the shipped ensemble this
way, chooses them again for the merged model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # (no stubs installed)
from onnx import TensorProto, compose, helper

from listener.turns.spec import SHIPPED_NAME, sidecar_path
from models.provenance import sha256

# sidecar entries every member must share: the stage reads them once for the merged model
SHARED_INPUT = ("feature_version", "n_features", "frames_per_step", "hop_s")
SHARED_OUTPUT = ("columns", "bin_edges_s", "lookahead_steps")


def check_members(docs: Sequence[dict[str, object]], paths: Sequence[Path]) -> None:
    """Raise ValueError naming the first sidecar entry on which a member differs from the first."""
    first, first_training = docs[0], _training(docs[0], paths[0])
    for doc, path in zip(docs[1:], paths[1:], strict=True):
        for part, keys in (("input", SHARED_INPUT), ("output", SHARED_OUTPUT)):
            for key in keys:
                # .get: an older sidecar leaves out lookahead_steps (0), which the two may still share
                want, got = first[part].get(key), doc[part].get(key)  # type: ignore[attr-defined]
                _same(f"{part}.{key}", want, got, path, paths[0])
        # the features and columns can agree between trainings of another width, data or simulation
        training = _training(doc, path)
        for key in sorted(first_training.keys() | training.keys()):
            _same(key, first_training.get(key), training.get(key), path, paths[0])


def _same(key: str, want: object, got: object, path: Path, first: Path) -> None:
    if want != got:
        raise ValueError(f"{path}: sidecar {key} = {got!r}, but {first} has {want!r}; merge only seeds of one training")


def _training(doc: dict[str, object], path: Path) -> dict[str, object]:
    """What a member's training must share with the others': its settings but the seed, its simulation."""
    training = doc.get("training")
    if not isinstance(training, dict) or not isinstance(training.get("settings"), dict) or "seed" not in training:
        raise ValueError(
            f"{path}: its sidecar records no training (training.settings and training.seed); "
            "merge only models made by 'python -m models.train --seed N'"
        )
    shared = {f"training.settings.{k}": v for k, v in training["settings"].items() if k != "seed"}
    return shared | {"training.simulation_version": training.get("simulation_version")}


def merged_graph(members: Sequence[onnx.ModelProto], state_sizes: Sequence[int]) -> onnx.ModelProto:
    """One step graph: features shared, states split and concatenated, outputs averaged."""
    n = len(members)
    names = [f"m{i}_" for i in range(n)]
    prefixed = [compose.add_prefix(m, p) for m, p in zip(members, names, strict=True)]
    sizes = helper.make_tensor("state_sizes", TensorProto.INT64, [n], list(state_sizes))
    nodes = [helper.make_node("Split", ["state", "state_sizes"], [f"{p}state" for p in names], axis=1)]
    inits, infos = [sizes], []
    for p, m in zip(names, prefixed, strict=True):
        nodes.append(helper.make_node("Identity", ["features"], [f"{p}features"]))
        nodes += m.graph.node
        inits += m.graph.initializer
        infos += m.graph.value_info
    nodes.append(helper.make_node("Mean", [f"{p}probs" for p in names], ["probs"]))
    nodes.append(helper.make_node("Concat", [f"{p}state_out" for p in names], ["state_out"], axis=1))
    n_features = _width(members[0].graph.input, "features")
    n_out, total = _width(members[0].graph.output, "probs"), sum(state_sizes)
    graph = helper.make_graph(
        nodes,
        "turn_ensemble",
        [_tensor("features", n_features), _tensor("state", total)],
        [_tensor("probs", n_out), _tensor("state_out", total)],
        initializer=inits,
        value_info=infos,
    )
    first = members[0]
    model = helper.make_model(graph, opset_imports=list(first.opset_import), ir_version=first.ir_version)
    onnx.checker.check_model(model)
    return model


def merge(members: Sequence[Path], out_dir: Path, name: str = SHIPPED_NAME) -> Path:
    """Write the merged model (as ``name``) and its sidecar into ``out_dir``; return the model's path."""
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
    docs = [json.loads(sidecar_path(p).read_text()) for p in members]
    check_members(docs, members)
    sizes = [int(d["state_size"]) for d in docs]
    model = merged_graph([_load(p) for p in members], sizes)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    onnx.save(model, str(path))
    doc = dict(docs[0])
    doc["state_size"] = sum(sizes)
    doc["training"] = {
        "command": "python -m models.ensemble",
        "members": [d["training"] for d in docs],
        "seeds": [d["training"]["seed"] for d in docs],
    }
    doc.pop("figures", None)  # the first member's validation figures describe that member alone
    doc["sha256"] = sha256(path)  # the merged file's, not the first member's
    sidecar_path(path).write_text(json.dumps(doc, indent=1) + "\n")
    return path


def _load(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path))
    except DecodeError as exc:  # a truncated or overwritten file: protobuf's own error, neither OSError nor ValueError
        raise ValueError(
            f"{path} is damaged or not an ONNX model ({exc}); merge the turn.int8.onnx files models.train wrote"
        ) from exc


def _tensor(name: str, width: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", width])


def _width(values: Sequence[onnx.ValueInfoProto], name: str) -> int:
    (value,) = [v for v in values if v.name == name]
    return int(value.type.tensor_type.shape.dim[1].dim_value)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.ensemble", description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="folder for the merged turn.int8.onnx and its sidecar")
    ap.add_argument("members", type=Path, nargs="+", help="the members' .onnx files (sidecars beside them)")
    args = ap.parse_args(argv)
    try:
        path = merge(args.members, args.out)
    except (OSError, ValueError) as exc:
        print(f"models.ensemble: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size} bytes) from {len(args.members)} members")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
