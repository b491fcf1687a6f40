"""The turn model in PyTorch, and its export as a one-frame ONNX step.

Training uses ``nn.GRU`` over whole sequences. For the device the same
weights are rewritten as one step of the cell with every matrix product in
a single Gemm, so static int8 quantization covers the recurrence too and
onnxruntime runs few nodes per frame::

    e  = relu(W_e ((x - mean) / std) + b_e)
    g  = W_g [e, h] + b_g          # 4H: r and z pre-activations, then the
    r, z = sigmoid(g[:2H])         # input and hidden halves of n
    n  = tanh(g[2H:3H] + r * g[3H:])
    h' = n + z * (h - n)           # = (1 - z) n + z h, as nn.GRU
    probs = sigmoid(W_o h' + b_o)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import cast

import torch
from torch import nn

from listener.turns.spec import INPUT_FEATURES, INPUT_STATE, OUTPUT_PROBS, OUTPUT_STATE


class TurnNet(nn.Module):
    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, n_in: int, n_out: int, enc: int = 48, hidden: int = 48) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        self.enc = nn.Linear(n_in, enc)
        self.gru = nn.GRU(enc, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)
        self.hidden = hidden

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, T, n_out) and the final state (1, B, H)."""
        e = torch.relu(self.enc((x - self.mean) / self.std))
        y, h = self.gru(e, h0)
        return self.head(y), h


class Step(nn.Module):
    """One frame of a TurnNet, in the fused form that is exported."""

    def __init__(self, net: TurnNet) -> None:
        super().__init__()
        h = net.hidden
        w_e = net.enc.weight.detach() / net.std[None, :]
        self.enc = nn.Linear(w_e.shape[1], w_e.shape[0])
        self.enc.weight.data = w_e.clone()
        self.enc.bias.data = (net.enc.bias.detach() - w_e @ net.mean).clone()
        # nn.GRU sets its weights per layer at run time: torch's stubs only know them as Tensor | Module
        w_ih = cast(torch.Tensor, net.gru.weight_ih_l0).detach()
        w_hh = cast(torch.Tensor, net.gru.weight_hh_l0).detach()
        b_ih = cast(torch.Tensor, net.gru.bias_ih_l0).detach()
        b_hh = cast(torch.Tensor, net.gru.bias_hh_l0).detach()
        e_dim = w_ih.shape[1]
        w = torch.zeros(4 * h, e_dim + h)
        w[: 2 * h, :e_dim], w[: 2 * h, e_dim:] = w_ih[: 2 * h], w_hh[: 2 * h]
        w[2 * h : 3 * h, :e_dim], w[3 * h :, e_dim:] = w_ih[2 * h :], w_hh[2 * h :]
        b = torch.cat([b_ih[: 2 * h] + b_hh[: 2 * h], b_ih[2 * h :], b_hh[2 * h :]])
        self.gates = nn.Linear(e_dim + h, 4 * h)
        self.gates.weight.data, self.gates.bias.data = w, b
        self.head = nn.Linear(h, net.head.out_features)
        self.head.weight.data = net.head.weight.detach().clone()
        self.head.bias.data = net.head.bias.detach().clone()
        self.hidden = h

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden
        e = torch.relu(self.enc(x))
        g = self.gates(torch.cat([e, state], dim=-1))
        rz = torch.sigmoid(g[:, : 2 * h])
        n = torch.tanh(g[:, 2 * h : 3 * h] + rz[:, :h] * g[:, 3 * h :])
        new = n + rz[:, h:] * (state - n)
        return torch.sigmoid(self.head(new)), new


def export_step(net: TurnNet, path: Path) -> None:
    step = Step(net).eval()
    x = torch.zeros(1, net.enc.in_features)
    h = torch.zeros(1, net.hidden)
    # The TorchScript exporter on purpose: its graph is the one models/ensemble.py merges, the static
    # quantizer was tuned on, and the shipped file was rebuilt from byte for byte; moving to the torch.export
    # one is a retraining decision, not a warning's. Its deprecation warnings would otherwise fill every
    # training run's and test run's output.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript", category=DeprecationWarning)
        torch.onnx.export(
            step,
            (x, h),
            str(path),
            input_names=[INPUT_FEATURES, INPUT_STATE],
            output_names=[OUTPUT_PROBS, OUTPUT_STATE],
            dynamic_axes={name: {0: "batch"} for name in (INPUT_FEATURES, INPUT_STATE, OUTPUT_PROBS, OUTPUT_STATE)},
            opset_version=17,
            dynamo=False,
        )
