"""Draw a conversation: both parties' speech, overlaps, the decided events, rolling rep share.

Works from the ``analyze --json`` report (segments and events), so a report
saved earlier can be drawn again. matplotlib is imported lazily and only
through its Agg canvas (no pyplot, no display): it is an optional extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from listener.config.schema import AnalyticsConfig
from listener.errors import OutputError, OutputFileError

HOP_S = 0.01
COLORS = {"rep": "#1f77b4", "customer": "#ff7f0e", "overlap": "#d62728", "dominance": "#f2a900"}
LANES = {"rep": 1.0, "customer": 0.0}
Record = dict[str, Any]


PLOT_FORMATS = (".png", ".svg", ".pdf")


def check_plot_path(out: Path) -> None:
    """Before the analysis: a path the figure can be written to, so no run is wasted on a typo."""
    if out.suffix.lower() not in PLOT_FORMATS:  # also "", "." and ".png" (a hidden file with no suffix)
        raise OutputError(f"--plot {str(out)!r}: name a {', '.join(PLOT_FORMATS)} file, e.g. --plot conversation.png")
    if out.is_dir():
        raise OutputFileError(f"--plot {out}: that is a folder; name a file in it, e.g. {out / 'conversation.png'}")
    if not out.parent.is_dir():
        raise OutputFileError(f"--plot {out}: folder {out.parent} does not exist; create it or choose another path")


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise OutputError(
            "--plot needs matplotlib, which is not installed: pip install matplotlib (or the 'plot' extra)"
        ) from exc


def plot_report(report: Record, out: Path, config: AnalyticsConfig, title: str = "") -> Path:
    """Write the conversation figure of ``report`` to ``out`` (PNG, SVG or PDF, by its suffix)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    duration_s = float(report["audio"]["seconds"])
    fig = Figure(figsize=(min(24.0, max(9.0, duration_s / 6.0)), 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1.0])
    draw_timeline(top, report["segments"], report["events"], duration_s)
    draw_share(bottom, report["segments"], report["events"], duration_s, config)
    if title:
        top.set_title(title, loc="left", fontsize=10)
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise OutputFileError(f"cannot write the plot to {out}: {exc.strerror or exc}; choose a writable path") from exc
    except ValueError as exc:  # a format matplotlib lacks in this installation
        raise OutputError(f"cannot write the plot to {out}: {exc}; use a .png file") from exc
    return out


def draw_timeline(
    ax: Any, segments: Sequence[Record], events: Sequence[Record], duration_s: float, legend: bool = True
) -> None:
    """Speech lanes, overlaps, sessions, floors and event markers on one axis."""
    for party, y in LANES.items():
        bars = [(s["start"], s["end"] - s["start"]) for s in segments if s["party"] == party]
        ax.broken_barh(bars, (y - 0.25, 0.5), color=COLORS[party], label=f"{party} speech")
    ax.broken_barh(_overlaps(segments), (0.35, 0.3), color=COLORS["overlap"], alpha=0.6, label="overlap")
    for start, end in _sessions(events, duration_s):
        ax.axvspan(start, end, color="0.93", zorder=0)
    for e in events:
        _marker(ax, e)
    ax.set_yticks([LANES["customer"], LANES["rep"]], ["customer", "rep"])
    ax.set_ylim(-0.75, 1.75)
    ax.set_xlim(0.0, duration_s)
    if legend:
        _legend(ax)


def _marker(ax: Any, e: Record) -> None:
    kind, t = e["type"], float(e["t"])
    if kind == "interruption" and e["successful"] is not None:
        y = LANES[e["by"]] + 0.45
        face = COLORS["overlap"] if e["successful"] else "white"
        ax.plot([t], [y], marker="v", ms=9, mfc=face, mec=COLORS["overlap"], ls="none")
    elif kind == "backchannel":
        ax.plot([t], [LANES[e["by"]] + 0.4], marker="o", ms=5, color="#2ca02c", ls="none")
    elif kind == "premature_start":
        ax.plot([t], [LANES["rep"] + 0.45], marker="X", ms=8, color="#9467bd", ls="none")
    elif kind == "long_silence":
        ax.axvspan(t, t + float(e["duration_s"]), ymin=0.1, ymax=0.9, color="0.6", alpha=0.25, hatch="//", lw=0)
    elif kind == "response_gap":
        gap = float(e["gap_s"])
        ax.annotate(
            "", xy=(t, 0.5), xytext=(t - gap, 0.5), arrowprops={"arrowstyle": "<->", "color": "#2ca02c", "lw": 1}
        )
        ax.text(t - gap / 2, 0.62, f"{gap:+.1f}", ha="center", fontsize=7, color="#2ca02c")
    elif kind == "pause":
        ax.plot([t], [0.5], marker="|", ms=12, color="0.35", ls="none")
    elif kind == "floor_held":
        y = LANES[e["by"]] - 0.36
        ax.plot([t, float(e["end_s"])], [y, y], color=COLORS[e["by"]], lw=2.5, alpha=0.5, solid_capstyle="butt")


def _legend(ax: Any) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=COLORS["rep"], label="rep speech"),
        Patch(color=COLORS["customer"], label="customer speech"),
        Patch(color=COLORS["overlap"], alpha=0.6, label="overlap"),
        Line2D([], [], color="0.5", lw=2.5, alpha=0.5, label="floor held"),
        Line2D([], [], marker="v", mfc=COLORS["overlap"], mec=COLORS["overlap"], ls="none", label="interruption"),
        Line2D([], [], marker="v", mfc="white", mec=COLORS["overlap"], ls="none", label="interruption, failed"),
        Line2D([], [], marker="o", color="#2ca02c", ls="none", label="backchannel"),
        Line2D([], [], marker="X", color="#9467bd", ls="none", label="premature start"),
        Line2D([], [], marker="|", ms=10, color="0.35", ls="none", label="pause"),
        Patch(facecolor="0.6", alpha=0.25, hatch="//", label="long silence"),
        Patch(color="0.93", label="session"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


def draw_share(
    ax: Any, segments: Sequence[Record], events: Sequence[Record], duration_s: float, config: AnalyticsConfig
) -> None:
    """Rolling rep share inside sessions, the hysteresis band and the dominance spans."""
    t, share = rolling_share(segments, _sessions(events, duration_s), duration_s, config.rolling_window_s)
    ax.axhspan(config.dominance_off_share, config.dominance_on_share, color=COLORS["dominance"], alpha=0.2, lw=0)
    for level in (config.dominance_off_share, config.dominance_on_share):
        ax.axhline(level, color=COLORS["dominance"], lw=0.8, ls="--")
    for start, end in _dominance(events, duration_s):
        ax.axvspan(start, end, color=COLORS["dominance"], alpha=0.35, lw=0)
    ax.plot(t, share, color=COLORS["rep"], lw=1.5)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel(f"rep share\n({config.rolling_window_s:g} s)")
    ax.set_xlabel("time (s)")


def rolling_share(
    segments: Sequence[Record], sessions: Sequence[tuple[float, float]], duration_s: float, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rep share over the last ``window_s`` of the current session, every 10 ms (NaN outside sessions)."""
    n = max(1, round(duration_s / HOP_S))
    cum = {}
    for party in LANES:
        active = np.zeros(n, dtype=np.int64)
        for s in segments:
            if s["party"] == party:
                active[round(s["start"] / HOP_S) : round(s["end"] / HOP_S)] = 1
        cum[party] = np.concatenate([[0], np.cumsum(active)])
    t = np.arange(1, n + 1)
    since = np.full(n, -1)
    for start, end in sessions:
        since[round(start / HOP_S) : round(end / HOP_S)] = round(start / HOP_S)
    lo = np.maximum(t - round(window_s / HOP_S), since)
    ok = since >= 0
    lo = np.where(ok, lo, 0)
    rep = cum["rep"][t] - cum["rep"][lo]
    total = rep + cum["customer"][t] - cum["customer"][lo]
    share = np.where(ok & (total > 0), rep / np.maximum(total, 1), np.nan)
    return t * HOP_S, share


def _overlaps(segments: Sequence[Record]) -> list[tuple[float, float]]:
    rep = [(s["start"], s["end"]) for s in segments if s["party"] == "rep"]
    out = []
    for s in segments:
        if s["party"] == "customer":
            for a, b in rep:
                lo, hi = max(a, s["start"]), min(b, s["end"])
                if hi > lo:
                    out.append((lo, hi - lo))
    return out


def _sessions(events: Sequence[Record], duration_s: float) -> list[tuple[float, float]]:
    ends = {e["session_id"]: float(e["end_s"]) for e in events if e["type"] == "session_end"}
    return [(float(e["t"]), ends.get(e["session_id"], duration_s)) for e in events if e["type"] == "session_start"]


def _dominance(events: Sequence[Record], duration_s: float) -> list[tuple[float, float]]:
    spans, since = [], None
    for e in sorted((e for e in events if e["type"] == "dominance"), key=lambda e: e["decided_s"]):
        if e["dominating"] and since is None:
            since = float(e["t"])
        elif not e["dominating"] and since is not None:
            spans.append((since, float(e["t"])))
            since = None
    if since is not None:
        spans.append((since, duration_s))
    return spans
