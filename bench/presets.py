"""How the listener does on every array preset it supports, not only the 4-mic board it was tuned on.

    python -m bench.presets [--split heldout] [--variants 6] [--overlaps separate] [--arrays A,B]
                            [--customer-side DEG]

The turn model was trained on simulated ReSpeaker 4-mic recordings only
(models/README.md); an installer may fit any of the presets. This bench
renders the same conversations in the same rooms (placements, noise and
levels drawn alike) on each board, recorded in the board's own channels
(bench.arrays), runs ``listener analyze`` with a config that names the
preset and the parties' directions, and scores it like ``bench.accuracy``:
per-party activity F1, attribution, rep-share error, interruption F1.
``--customer-side`` moves the customers from across the counter (180°,
the default) toward the rep's side, as at a corner counter or a desk where
the customer sits beside the rep; the config says where they are.

Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.accuracy import BenchError, cases_dir, ensure_cases, overall_figures, run
from bench.arrays import ARRAYS, Layout
from bench.heldout import HeldoutError, data_for
from bench.overlaps import OVERLAP_MODES
from bench.signals import DATA_DIR
from bench.simulate import DEFAULT_SEED, SPLITS

FIGURES = ("f1_mean", "attribution", "share_error_pp", "interruption_f1")


def folder_for(layout: Layout, overlaps: str, split: str) -> Path:
    """The default layout's cases are ``bench.accuracy``'s own; every other one renders beside them."""
    base = cases_dir(overlaps, split)
    return base.with_name(base.name + layout.suffix())


def score_layout(layout: Layout, args: argparse.Namespace) -> dict[str, float | None]:
    folder = folder_for(layout, args.overlaps, args.split).resolve()
    data = data_for(args.split, args.data)
    manifest = ensure_cases(folder, args.variants, DEFAULT_SEED, args.split, data, args.overlaps, layout)
    config = folder / "listener.toml"
    config.write_text(layout.config_text(), encoding="utf-8")
    return overall_figures(run(folder, manifest, config, "", args.timeout, quiet=True))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.presets", description=__doc__.split("\n")[0])
    ap.add_argument("--arrays", default=",".join(ARRAYS), help=f"comma-separated (default {','.join(ARRAYS)})")
    ap.add_argument("--overlaps", choices=OVERLAP_MODES, default="separate")
    ap.add_argument("--variants", type=int, default=6, help="rooms per excerpt (default 6)")
    ap.add_argument("--split", choices=SPLITS, default="heldout")
    ap.add_argument(
        "--customer-side", type=float, default=180.0, help="azimuth the customers stand around, 30-180 (default 180)"
    )
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per analyze run")
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    arrays = [a.strip() for a in args.arrays.split(",") if a.strip()]
    try:
        layouts = [Layout(a, args.customer_side) for a in arrays]  # an unknown board or side: the rule
    except ValueError as exc:
        print(f"bench.presets: {exc}", file=sys.stderr)
        return 2
    print(f"{args.split} split, {args.variants} rooms per excerpt, {args.overlaps} overlaps", end="")
    print(f", rep at 0 deg, customers around {args.customer_side:g} deg")
    print(f"  {'array':<18} {'F1 mean':>8} {'attribution':>12} {'share err pp':>13} {'interruption F1':>16}")
    for layout in layouts:
        try:
            found = score_layout(layout, args)
        except (BenchError, HeldoutError) as exc:
            print(f"bench.presets: {layout.array}: {exc}", file=sys.stderr)
            return 2
        cells = ["-" if found[k] is None else f"{found[k]:.3f}" for k in FIGURES]
        print(f"  {layout.array:<18} {cells[0]:>8} {cells[1]:>12} {cells[2]:>13} {cells[3]:>16}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
