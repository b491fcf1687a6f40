"""How well the front end's spatial evidence tells the benchmark's overlaps from one talker.

    python -m bench.overlap_features [--cases DIR]

Runs the real ``SpatialFrontEnd`` over every accuracy case and prints, per
feature, the AUC of "overlapped frame" (the truth has both parties: in these
cases, one sound from two directions) against "rep-only frame", and of
"customer-only frame" against "overlapped frame" (see bench/README.md, "What
bounds the scores"). Features, each pooled over the last N 10 ms frames:

- contrast: the front end's rep-vs-customer vote before its sigmoid (best
  rep-sector minus best customer-sector PHAT match, weighted by excess power,
  over the most the geometry allows);
- srp: an SRP-PHAT map over 1-4 kHz with every signal bin weighted alike;
  customer sector (180 +/- 30 deg) minus the broadside directions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from bench.accuracy import cases_dir
from bench.truth import frame_activity, n_frames, segments_from_json
from listener.config import geometry, parse_config
from listener.events import AudioBlock
from listener.spatial import doa
from listener.spatial.frontend import DOA_GRID_DEG, SpatialFrontEnd
from models.tasks import auc

Float = npt.NDArray[np.float64]
SRP_LOW_HZ = 1000.0
POOLS = (15, 35)


class Recorder(SpatialFrontEnd):
    """The real front end, also keeping per-frame sums for the features."""

    rows: list[Float]

    def _setup_directions(self, config, band_hz):
        super()._setup_directions(config, band_hz)
        self.high = band_hz >= SRP_LOW_HZ
        steer = doa.steering(self.geometry.mics_m, self.pairs, band_hz[self.high], DOA_GRID_DEG)
        self.high_conj = np.ascontiguousarray(np.conj(steer.reshape(steer.shape[0], -1)).T)
        self.rows = []

    def _score_difference(self, cross):
        # the block's smoothed cross-spectra, kept for _vote: self.cross has a history, so calling it
        # a second time per block would smooth the block twice
        self._cross = cross
        return super()._score_difference(cross)

    def _vote(self, excess, diff):
        cross = self._cross
        on = (excess[:, self.high] > 0).astype(np.float32)
        c = cross[:, self.high] * on[:, :, None]
        srp = (c.reshape(c.shape[0], -1) @ self.high_conj).real / len(self.pairs)
        self.rows.append(np.column_stack([(excess * diff).sum(1), (excess * self.contrast).sum(1), srp, on.sum(1)]))
        return super()._vote(excess, diff)


def pooled(values: Float, frames: int) -> Float:
    csum = np.cumsum(np.concatenate([np.zeros((frames, values.shape[1])), values]), axis=0)
    return csum[frames:] - csum[:-frames]


def features(rows: Float, frames: int) -> dict[str, Float]:
    p = pooled(rows, frames)
    srp = p[:, 2:-1] / (p[:, -1:] + 1e-9)
    grid = DOA_GRID_DEG
    customer = srp[:, np.abs(grid - 180.0) <= 30.0].max(axis=1)
    broadside = srp[:, (np.abs(grid - 90.0) <= 30.0) | (np.abs(grid - 270.0) <= 30.0)].mean(axis=1)
    return {"contrast": p[:, 0] / (p[:, 1] + 1e-9), "srp customer - broadside": customer - broadside}


def separation(high: Float, low: Float) -> float:
    """AUC of ``high`` over ``low``: P(a random ``high`` value > a random ``low`` one), ties half."""
    value = auc([True] * high.size + [False] * low.size, np.concatenate([high, low]))
    return float("nan") if value is None else value


def case_rows(wav: Path, truth: dict[str, object]) -> tuple[Float, npt.NDArray[np.bool_]]:
    config = parse_config({})
    front = Recorder(config, geometry(config))
    audio, rate = sf.read(wav, dtype="float32")
    step = rate // 20
    for i in range(0, audio.shape[0], step):
        list(front.process(AudioBlock(start_s=i / rate, sample_rate_hz=rate, samples=audio[i : i + step])))
    rows = np.concatenate(front.rows)
    active = frame_activity(segments_from_json(truth["segments"]), n_frames(audio.shape[0] / rate))  # type: ignore[arg-type]
    n = min(rows.shape[0], active.shape[1])
    return rows[:n], active[:, :n]


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.overlap_features", description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=Path, default=cases_dir("coherent"), help="cases rendered by bench.accuracy")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if not (args.cases / "manifest.json").exists():
        print(f"no cases in {args.cases}: `python -m bench.accuracy` renders them (once, minutes)", file=sys.stderr)
        return 2
    manifest = json.loads((args.cases / "manifest.json").read_text())
    groups: dict[tuple[str, int], dict[str, list[Float]]] = {}
    for entry in manifest["cases"]:
        rows, active = case_rows(args.cases / entry["wav"], json.loads((args.cases / entry["truth"]).read_text()))
        rep, cust = active
        for frames in POOLS:
            for name, value in features(rows, frames).items():
                g = groups.setdefault((name, frames), {"overlap": [], "rep only": [], "customer only": []})
                g["overlap"].append(value[rep & cust])
                g["rep only"].append(value[rep & ~cust])
                g["customer only"].append(value[cust & ~rep])
    print(f"{'feature':<26} {'pool':>6} {'AUC rep-only > overlap':>23} {'AUC overlap > customer-only':>28}")
    for (name, frames), g in groups.items():
        ov, ro, co = (np.concatenate(g[k]) for k in ("overlap", "rep only", "customer only"))
        sign = 1.0 if name == "contrast" else -1.0  # contrast is high for the rep; srp high for the customer
        rep_vs_overlap, overlap_vs_customer = separation(sign * ro, sign * ov), separation(sign * ov, sign * co)
        print(f"{name:<26} {frames * 10:>4}ms {rep_vs_overlap:>23.3f} {overlap_vs_customer:>28.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
