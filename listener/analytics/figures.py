"""The timeline figures of ``docs/metrics.md``, made from small sample timelines.

    python -m listener.analytics.figures [OUT_DIR]      (default: docs/img)

Each figure is a hand-made two-party timeline run through the analytics
(``listener.analytics.replay``) and drawn with ``listener.analytics.plot``;
the last one is the bundled sample recording analysed from its audio.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from listener.analytics.plot import draw_share, draw_timeline
from listener.analytics.plot_checks import require_matplotlib
from listener.analytics.plot_spans import Drawn
from listener.analytics.replay import Segment, replay
from listener.config import Config

DEFAULT_OUT = Path("docs/img")


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    title: str
    duration_s: float
    segments: Sequence[Segment]
    share: bool = False
    analytics: dict[str, Any] = dataclasses.field(default_factory=dict)  # AnalyticsConfig fields to override


SAMPLES = (
    Sample(
        "floor",
        "A customer story with rep backchannels, then the rep takes the floor (floor held: thin lines)",
        16.0,
        [
            ("customer", 0.5, 7.5),
            ("rep", 2.5, 2.8),
            ("rep", 5.0, 5.4),
            ("customer", 8.0, 9.0),
            ("rep", 9.6, 15.0),
        ],
    ),
    Sample(
        "backchannel",
        "Backchannels: over the holder's speech, and in its pause (the holder goes on within 1 s)",
        10.0,
        [
            ("customer", 0.5, 4.0),
            ("rep", 2.0, 2.4),
            ("rep", 4.4, 4.8),
            ("customer", 5.5, 9.5),
        ],
    ),
    Sample(
        "interruption",
        "Interruptions: the customer yields within 2 s (filled), the customer talks on (open)",
        18.0,
        [
            ("customer", 0.5, 5.0),
            ("rep", 4.0, 8.0),
            ("customer", 9.0, 16.5),
            ("rep", 11.0, 13.0),
        ],
    ),
    Sample(
        "premature",
        "Premature start: the rep starts in the customer's pause and the customer resumes within 1 s",
        10.0,
        [
            ("customer", 0.5, 4.0),
            ("rep", 4.6, 6.5),
            ("customer", 5.3, 9.0),
        ],
    ),
    Sample(
        "gaps",
        "Response gaps (customer to rep floor changes): -0.5 s (overlap), 0.3 s, 1.2 s (patient)",
        20.0,
        [
            ("customer", 0.5, 3.5),
            ("rep", 3.0, 6.0),
            ("customer", 6.5, 10.0),
            ("rep", 10.3, 13.0),
            ("customer", 13.5, 16.5),
            ("rep", 17.7, 19.5),
        ],
    ),
    Sample(
        "silence",
        "Pauses (ticks: each mutual silence of 0.25 s or more in a session) and a long silence (3 s or more)",
        14.0,
        [
            ("customer", 0.5, 3.0),
            ("customer", 3.5, 5.0),
            ("rep", 5.4, 6.5),
            ("rep", 10.0, 13.0),
        ],
    ),
    Sample(
        "dominance",
        "Dominance: rolling rep share over 120 s; on at 0.65 with 30 s of speech, off below 0.60",
        180.0,
        [
            ("customer", 1.0, 12.0),
            ("rep", 12.5, 40.0),
            ("customer", 40.5, 44.0),
            ("rep", 44.5, 80.0),
            ("customer", 60.0, 60.4),
            ("customer", 80.5, 140.0),
            ("rep", 140.5, 150.0),
            ("customer", 150.5, 178.0),
        ],
        share=True,
    ),
    Sample(
        "sessions",
        "Sessions (shaded): the second starts after 30 s without customer speech",
        100.0,
        [
            ("rep", 1.0, 3.0),
            ("customer", 4.0, 14.0),
            ("rep", 14.5, 30.0),
            ("customer", 66.0, 80.0),
            ("rep", 80.5, 95.0),
        ],
    ),
)


def draw_sample(sample: Sample, out_dir: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    config = Config()
    config = dataclasses.replace(config, analytics=dataclasses.replace(config.analytics, **sample.analytics))
    collector = replay(sample.segments, sample.duration_s, config)
    fig = Figure(figsize=(8.0, 3.6 if sample.share else 2.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes: Any = fig.subplots(2, 1, sharex=True, height_ratios=[2.0, 1.2]) if sample.share else [fig.subplots()]
    drawn = Drawn.of(collector.segments, collector.events, sample.duration_s, config.analytics.rolling_window_s)
    draw_timeline(axes[0], collector.segments, collector.events, sample.duration_s, drawn, legend=False)
    if sample.share:
        draw_share(axes[1], collector.segments, sample.duration_s, drawn, config.analytics, legend=False)
    else:
        axes[0].set_xlabel("time (s)")
    axes[0].set_title(sample.title, loc="left", fontsize=9)
    path = out_dir / f"{sample.name}.png"
    fig.savefig(path, dpi=100)
    return path


def draw_recording(out_dir: Path) -> Path:
    """The bundled sample conversation, analysed from its audio as ``listener analyze --plot`` does."""
    from listener.cli import main

    wav = Path(__file__).resolve().parents[1] / "data" / "sample" / "conversation.wav"
    path = out_dir / "sample-conversation.png"
    with contextlib.redirect_stdout(io.StringIO()):  # the figure is the output, not the summary
        main(["analyze", str(wav), "--plot", str(path)])
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m listener.analytics.figures", description="Draw the timeline figures of docs/metrics.md."
    )
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT, help=f"(default: {DEFAULT_OUT})")
    out_dir = parser.parse_args(argv).out_dir
    require_matplotlib()
    out_dir.mkdir(parents=True, exist_ok=True)
    for sample in SAMPLES:
        print(draw_sample(sample, out_dir))
    print(draw_recording(out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
