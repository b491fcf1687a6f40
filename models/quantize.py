"""Static int8 quantization of the exported step with onnxruntime's tools.

Calibration feeds real (features, state) pairs: the float model is run
over training dialogues and frames are sampled with the state it had at
that moment, so the recurrent input is calibrated on states the device
will really see. Weights are int8 per output channel, activations uint8;
only the Gemms are quantized (QDQ), the gate nonlinearities stay float.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from listener.turns.spec import INPUT_FEATURES, INPUT_STATE
from models.net import TurnNet

CALIBRATION_FRAMES = 4096
CALIBRATION_BATCH = 256


def calibration_pairs(net: TurnNet, sequences: list[np.ndarray], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, state before the frame) pairs sampled from running the float model over ``sequences``."""
    with torch.no_grad():
        hs = [_states(net, torch.from_numpy(seq)) for seq in sequences]
    x_all, h_all = np.concatenate(sequences), np.concatenate(hs)
    size = min(CALIBRATION_FRAMES, len(x_all))
    pick = np.sort(np.random.default_rng(seed).choice(len(x_all), size=size, replace=False))
    return x_all[pick], h_all[pick]


def _states(net: TurnNet, x: torch.Tensor) -> np.ndarray:
    """The state *entering* each frame, for one sequence (T, F)."""
    e = torch.relu(net.enc((x[None] - net.mean) / net.std))
    y, _ = net.gru(e)
    before = torch.cat([torch.zeros(1, 1, net.hidden), y[:, :-1]], dim=1)
    return before[0].numpy().astype(np.float32)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over the sampled pairs."""

    def __init__(self, x: np.ndarray, h: np.ndarray) -> None:
        self.batches = iter(
            [
                {INPUT_FEATURES: x[i : i + CALIBRATION_BATCH], INPUT_STATE: h[i : i + CALIBRATION_BATCH]}
                for i in range(0, len(x), CALIBRATION_BATCH)
            ]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)

    def rewind(self) -> None:  # pragma: no cover - part of the protocol, unused by MinMax
        pass


def quantize(float_path: Path, int8_path: Path, x: np.ndarray, h: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = type("Reader", (_Reader, CalibrationDataReader), {})(x, h)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(int8_path),
            reader,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["Gemm", "MatMul"],
        )
