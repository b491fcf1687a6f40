"""The turn model run by onnxruntime: one session, one frame per call.

The ONNX graph is a single model step: ``features`` (batch, n_features)
and ``state`` (batch, state_size) in; ``probs`` (batch, n_outputs) and
``state_out`` out. The stage reads its sidecar when it is built, and loads
the graph, checks it against the sidecar and runs it once on silence when it
is opened (the pipeline opens it before the array), so a missing or corrupt
file stops the service at start-up with a message naming the file.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from listener.config import Config
from listener.errors import DENIED_FIX, ModelError, ModelFileError, ModelStepError, NotOpenError, os_reason_and_fix
from listener.turns.base import TurnStage
from listener.turns.features import N_FEATURES
from listener.turns.spec import (
    INPUT_FEATURES,
    INPUT_STATE,
    OUTPUT_PROBS,
    OUTPUT_STATE,
    ModelSpec,
    fix_for,
    load_spec,
    model_path,
)

Float = npt.NDArray[np.float32]


class _Port(Protocol):
    name: str
    shape: Sequence[int | str | None]


class _Binding(Protocol):
    def bind_ortvalue_input(self, name: str, value: object) -> None: ...
    def bind_ortvalue_output(self, name: str, value: object) -> None: ...


class Session(Protocol):
    """The part of ``onnxruntime.InferenceSession`` used here (onnxruntime ships no type hints)."""

    def get_inputs(self) -> Sequence[_Port]: ...
    def get_outputs(self) -> Sequence[_Port]: ...
    def io_binding(self) -> _Binding: ...
    def run_with_iobinding(self, binding: _Binding) -> None: ...


def read_model(spec: ModelSpec) -> bytes:
    """The model file's bytes; ModelFileError naming the file and the fix when it cannot be read."""
    try:  # read here: onnxruntime says only "system error number 13" of a file it may not read
        return spec.path.read_bytes()
    except OSError as exc:
        reason = os_reason_and_fix(exc, fix_for(spec.path), {errno.EACCES: DENIED_FIX})
        raise ModelFileError(f"turn model {spec.path} cannot be read {reason}") from exc


def open_session(spec: ModelSpec, threads: int = 1, model: bytes | None = None) -> Session:
    """An onnxruntime session for ``spec.path`` (``model``: its bytes, when read already), checked against the
    sidecar; ModelError otherwise."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # a broken or partial install: one line, not a traceback at the service's start
        raise ModelError(
            f"onnxruntime cannot be imported ({exc}): reinstall the listener's packages (scripts/setup, or "
            "firmware/provision.sh on a device), or set [turn_model] enabled = false"
        ) from None

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # fatal only: at 3 (error) a graph failing at run time printed onnxruntime's own ANSI-coloured ERROR line to
    # stderr before the listener's one line, which says the same (the exception carries every error)
    options.log_severity_level = 4
    if model is None:
        model = read_model(spec)
    try:
        session: Session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for every kind of bad file
        raise ModelError(
            f"turn model {spec.path} is corrupt or not an ONNX model ({_one_line(exc)}); {fix_for(spec.path)}"
        ) from exc
    _check_signature(spec, session)
    return session


def _check_signature(spec: ModelSpec, session: Session) -> None:
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    wanted_in = {INPUT_FEATURES: N_FEATURES, INPUT_STATE: spec.state_size}
    wanted_out = {OUTPUT_PROBS: spec.n_outputs, OUTPUT_STATE: spec.state_size}
    for kind, have, wanted in (("input", inputs, wanted_in), ("output", outputs, wanted_out)):
        for name, width in wanted.items():
            shape = have.get(name)
            if shape is None or len(shape) != 2 or shape[1] != width:
                raise ModelError(
                    f"turn model {spec.path}: {kind} {name!r} should be (batch, {width}), the file has "
                    f"{sorted(have.items())}; it does not match its sidecar. {fix_for(spec.path)}"
                )
    # an input left unbound fails only at run time, where onnxruntime says "Trying to get a TensorSeq, but got: (null)"
    unfed = sorted(inputs.keys() - wanted_in.keys())
    if unfed:
        raise ModelError(
            f"turn model {spec.path} has an input {unfed[0]!r} the listener does not feed (it feeds only "
            f"{INPUT_FEATURES!r} and {INPUT_STATE!r}); {fix_for(spec.path)}"
        )


def _one_line(exc: BaseException) -> str:
    # joined, not cut at the first line: "Got invalid dimensions for input: features for the following indices"
    # names the index, what it got and what the graph expects on the lines after
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text[:200] if text else type(exc).__name__


def _no_probabilities(out: Float) -> str:
    """Why ``out`` are no probabilities, to follow "turn model <path>"."""
    if not np.isfinite(out).all():
        # NaN passes every threshold test as "no" and reached analyze --json as p_shift NaN (invalid JSON schema)
        return "produced non-finite values (NaN or infinity)"
    # 2.0 passed as a probability: both parties active, and a session and its figures made of it (exit 0)
    return f"produced values outside [0, 1] (from {out.min():g} to {out.max():g})"


class OnnxTurnModel(TurnStage):
    """The turn-taking model stage, inference by onnxruntime.

    Built, it has read and checked the sidecar (a missing or mismatched one is a
    :class:`~listener.errors.ModelError` at once); ``open`` makes the onnxruntime
    session and runs it once, so a model that loads but cannot run stops start-up
    there, before the array opens; ``close`` releases the session.
    """

    name = "turn-model"

    def __init__(
        self,
        config: Config,
        path: Path | None = None,
        *,
        spec: ModelSpec | None = None,
        model: bytes | None = None,
        fall_back: bool = False,
    ) -> None:
        """``spec`` and ``model``: the sidecar and the file's bytes, when the caller has read them already;
        ``fall_back``: see :class:`TurnStage`."""
        if spec is None:
            spec = load_spec(path if path is not None else model_path(config))
        super().__init__(config, spec, fall_back=fall_back)
        self._threads = config.turn_model.threads
        self._model = model  # kept only until open(): a caller that read the file spares a second read
        self.session: Session | None = None
        self._step: BoundStep | None = None

    def open(self) -> None:
        if self.session is not None:
            return
        self.session = open_session(self.spec, self._threads, self._model)
        self._model = None
        try:  # never left half open: a later open() would find the session and no step
            self._step = BoundStep(self.session, self.spec)
            self._smoke_test()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.session = self._step = None

    @property
    def _bound(self) -> BoundStep:
        if self._step is None:
            raise NotOpenError("OnnxTurnModel")
        return self._step

    @property
    def state(self) -> Float:
        """A copy of the recurrent state the next step starts from."""
        return self._bound.state.copy()

    def step(self, features: Float) -> Float:
        """One step; ModelStepError when onnxruntime fails on it or its outputs are no probabilities."""
        path = self.spec.path
        bound = self._bound  # used closed is the caller's slip, not the model's fault: NotOpenError, as it was
        try:
            out = bound.run(features)
        except Exception as exc:  # onnxruntime's own types: a node failing on this input (a Gather out of bounds)
            raise ModelStepError(path, f"fails to run ({_one_line(exc)})", self.steps, fix_for(path)) from exc
        # one test on the way that works (min and max carry a NaN, which fails the comparison), ~1.5 us a step
        if not (out.min() >= 0.0 and out.max() <= 1.0):
            raise ModelStepError(path, _no_probabilities(out), self.steps, fix_for(path))
        return out

    def reset_state(self) -> None:
        self._bound.state[...] = 0.0

    def run_sequence(self, features: Float) -> Float:
        """Outputs (T, n_outputs) for features (T, n_features) from a fresh state; the stream is untouched."""
        saved = self.state
        self.reset_state()
        try:
            return (
                np.stack([self.step(row) for row in features])
                if len(features)
                else np.zeros((0, self.spec.n_outputs), np.float32)
            )
        finally:
            self._bound.state[...] = saved

    def _smoke_test(self) -> None:
        try:
            out = self.run_sequence(np.zeros((2, N_FEATURES), dtype=np.float32))
        except ModelStepError as exc:
            raise ModelError(
                f"turn model {self.spec.path} {exc.reason} as it opens (run on silence); {exc.fix}"
            ) from exc
        if out.shape != (2, self.spec.n_outputs):
            raise ModelError(
                f"turn model {self.spec.path} gives outputs of shape {out.shape}, not (2, {self.spec.n_outputs}); "
                f"it does not match its sidecar. {fix_for(self.spec.path)}"
            )


class BoundStep:
    """One model step through onnxruntime's I/O binding.

    ``session.run`` converts its numpy inputs and allocates its outputs on every call, a quarter to
    half of a step's time for networks this small (``bench/turns.py`` prints both). Here the inputs
    and outputs stay bound to the same buffers; the state ping-pongs between two of them, so a step
    never reads the buffer it writes.
    """

    def __init__(self, session: Session, spec: ModelSpec) -> None:
        import onnxruntime as ort

        self._session = session
        self._features = np.zeros((1, N_FEATURES), dtype=np.float32)
        self._states = (np.zeros((1, spec.state_size), np.float32), np.zeros((1, spec.state_size), np.float32))
        self._probs = np.zeros((1, spec.n_outputs), dtype=np.float32)
        value = ort.OrtValue.ortvalue_from_numpy
        features, probs, states = value(self._features), value(self._probs), [value(s) for s in self._states]
        self._values = (features, probs, *states)  # the bindings point into these buffers: keep them alive
        self._bindings = []
        for k in (0, 1):
            binding = session.io_binding()
            binding.bind_ortvalue_input(INPUT_FEATURES, features)
            binding.bind_ortvalue_input(INPUT_STATE, states[k])
            binding.bind_ortvalue_output(OUTPUT_PROBS, probs)
            binding.bind_ortvalue_output(OUTPUT_STATE, states[1 - k])
            self._bindings.append(binding)
        self._current = 0  # the state buffer the next step reads

    @property
    def state(self) -> Float:
        """The state the next step starts from (a view: write into it to set it)."""
        return self._states[self._current]

    def run(self, features: Float) -> Float:
        self._features[0] = features
        self._session.run_with_iobinding(self._bindings[self._current])
        self._current = 1 - self._current
        return self._probs[0].copy()
