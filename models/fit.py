"""The turn model's training loop: epochs of truncated backprop through time over the simulated dialogues."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from models.net import TurnNet
from models.tracks import Track, swapped

if TYPE_CHECKING:  # models.train imports this module
    from models.train import Settings

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # features, vad, future, mask


def epoch_chunks(data: list[Track], rng: np.random.Generator, s: Settings) -> list[Batch]:
    """One epoch for truncated backprop through time: every dialogue at once, cut into consecutive chunks.

    Each dialogue starts at a random offset (from a zero state), at its very
    first step for a ``from_start`` share of them, and is
    mirrored (rep <-> customer) half the time; chunk k of every dialogue
    forms batch k, so the state can be carried from one batch to the next.
    """
    chunk = int(s.chunk_s * 50)
    tracks = [swapped(t) if rng.random() < 0.5 else t for t in data]
    starts = [0 if rng.random() < s.from_start else int(rng.integers(0, chunk)) for _ in tracks]
    length = max(len(t.features) - st for t, st in zip(tracks, starts, strict=True))
    n_chunks = -(-length // chunk)
    full = []
    for t, st in zip(tracks, starts, strict=True):
        arrays = [a[st:] for a in _full(t)]
        full.append([np.pad(a, ((0, n_chunks * chunk - len(a)), (0, 0))) for a in arrays])
    stacked = [torch.from_numpy(np.stack([f[i] for f in full]).astype(np.float32)) for i in range(4)]
    return [cast(Batch, tuple(a[:, k * chunk : (k + 1) * chunk] for a in stacked)) for k in range(n_chunks)]


def loss_of(
    net: TurnNet,
    x: torch.Tensor,
    vad: torch.Tensor,
    fut: torch.Tensor,
    mask: torch.Tensor,
    h0: torch.Tensor | None = None,
    overlap_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean masked BCE of activity now (overlapped frames weighted) plus of the projection; and the final state."""
    logits, h = net(x, h0)
    lv = F.binary_cross_entropy_with_logits(logits[..., :2], vad, reduction="none").mean(-1)
    lv = lv * (1.0 + (overlap_weight - 1.0) * vad[..., 0] * vad[..., 1])
    lf = F.binary_cross_entropy_with_logits(logits[..., 2:], fut, reduction="none").mean(-1)
    now = (lv * mask[..., 0]).sum() / mask[..., 0].sum().clamp(min=1)
    return now + (lf * mask[..., 1]).sum() / mask[..., 1].sum().clamp(min=1), h


def fit(net: TurnNet, data: list[Track], val: list[Track], s: Settings, log: bool) -> None:
    rng = np.random.default_rng([s.seed, 1])
    # the most chunks an epoch can have (its longest dialogue from its first step): dialogues with music
    # alone before them differ in length, so one drawn epoch can have fewer chunks than a later one
    per_epoch = -(-max(len(t.features) for t in data) // int(s.chunk_s * 50))
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=1e-4)
    total = max(s.epochs * per_epoch, 2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=total, pct_start=0.15)
    val_batch = cast(Batch, tuple(torch.from_numpy(_padded(a)) for a in zip(*map(_full, val), strict=True)))
    best, best_state, t0 = float("inf"), None, time.perf_counter()
    for epoch in range(1, s.epochs + 1):
        net.train()
        h = None
        for batch in epoch_chunks(data, rng, s):
            loss, h = loss_of(net, *batch, h0=h, overlap_weight=s.overlap_weight)
            h = h.detach()
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            vloss = float(loss_of(net, *val_batch, overlap_weight=s.overlap_weight)[0])
        if vloss < best:
            best, best_state = vloss, {k: v.clone() for k, v in net.state_dict().items()}
        if log:
            print(f"  epoch {epoch}: train {float(loss):.4f} val {vloss:.4f} ({time.perf_counter() - t0:.0f} s)")
    if best_state is not None:
        net.load_state_dict(best_state)


def _padded(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Stacked along a new first axis, the shorter ones padded with zeros at their end (a zero mask there):
    dialogues with music playing before anybody speaks are longer than the rest."""
    length = max(len(a) for a in arrays)
    return np.stack([np.pad(a, ((0, length - len(a)), (0, 0))) for a in arrays]).astype(np.float32)


def _full(seq: Track) -> tuple[np.ndarray, ...]:
    return seq.features, seq.vad, seq.future, np.stack([np.ones(len(seq.mask)), seq.mask], axis=1)


def torch_outputs(net: TurnNet, seq: Track) -> np.ndarray:
    with torch.no_grad():
        logits, _ = net(torch.from_numpy(seq.features[None]))
    return torch.sigmoid(logits[0]).numpy()
