"""Draw a conversation: both parties' speech, overlaps, the decided events, rolling rep share.

Draws the typed segments and events the analysis collected (``ReportCollector``).
matplotlib is imported lazily and only through its Agg canvas (no pyplot, no
display): it is an optional extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from listener.config.schema import AnalyticsConfig
from listener.errors import OutputError, OutputFileError, os_reason_and_fix, shown_path
from listener.events import (
    Backchannel,
    DominanceChanged,
    FloorHeld,
    Interruption,
    LongSilence,
    Party,
    Pause,
    PrematureStart,
    Reported,
    ResponseGap,
    SessionEnded,
    SessionStarted,
    SpeechSegment,
)

HOP_S = 0.01
COLORS = {"rep": "#1f77b4", "customer": "#ff7f0e", "overlap": "#d62728", "dominance": "#f2a900"}
LANES = {Party.REP: 1.0, Party.CUSTOMER: 0.0}


PLOT_FORMATS = (".png", ".svg", ".pdf")


def check_plot_path(out: Path) -> None:
    """Before the analysis: a path the figure can be written to, so no run is wasted on a typo."""
    shown = shown_path(out)
    if out.suffix.lower() not in PLOT_FORMATS:  # also "", "." and ".png" (a hidden file with no suffix)
        raise OutputError(f"--plot '{shown}': name a {', '.join(PLOT_FORMATS)} file, e.g. --plot conversation.png")
    try:
        is_dir, parent_is_dir, parent_exists = out.is_dir(), out.parent.is_dir(), out.parent.exists()
    except OSError as exc:  # a folder on the way we may not enter, a name too long: said, not a traceback
        raise OutputFileError(
            f"--plot {shown} cannot be used {os_reason_and_fix(exc, 'choose another path')}"
        ) from None
    if is_dir:
        raise OutputFileError(
            f"--plot {shown}: that is a folder; name a file in it, e.g. {shown_path(out / 'conversation.png')}"
        )
    if parent_exists and not parent_is_dir:
        raise OutputFileError(
            f"--plot {shown}: {shown_path(out.parent)} is a file, not a folder; choose a path in a folder"
        )
    if not parent_is_dir:
        raise OutputFileError(
            f"--plot {shown}: folder {shown_path(out.parent)} does not exist; create it or choose another path"
        )


def require_matplotlib() -> None:
    """matplotlib and the Agg canvas the figure is drawn on: checked before the analysis, not after it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise OutputError(
            "--plot needs matplotlib, which is not installed: pip install matplotlib (or the 'plot' extra)"
        ) from exc
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
    except ImportError as exc:  # a partial install, or a distribution's matplotlib split into packages
        raise OutputError(
            f"--plot needs matplotlib's Agg backend, which cannot be loaded ({exc}): "
            "reinstall matplotlib, e.g. pip install --force-reinstall matplotlib"
        ) from exc


def plot_conversation(
    segments: Sequence[SpeechSegment],
    events: Sequence[Reported],
    duration_s: float,
    out: Path,
    config: AnalyticsConfig,
    title: str = "",
) -> Path:
    """Write the conversation figure to ``out`` (PNG, SVG or PDF, by its suffix)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(min(24.0, max(9.0, duration_s / 6.0)), 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1.0])
    draw_timeline(top, segments, events, duration_s)
    draw_share(bottom, segments, events, duration_s, config)
    if title:
        # the title is a file name: a "$" in it is text, not the start of mathtext that fails at savefig
        top.set_title(title, loc="left", fontsize=10, parse_math=False)
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        shown = shown_path(out)
        raise OutputFileError(
            f"cannot write the plot to {shown}: {exc.strerror or exc}; choose a writable path"
        ) from exc
    except ValueError as exc:  # a format matplotlib lacks in this installation
        raise OutputError(f"cannot write the plot to {shown_path(out)}: {exc}; use a .png file") from exc
    return out


def draw_timeline(
    ax: Any, segments: Sequence[SpeechSegment], events: Sequence[Reported], duration_s: float, legend: bool = True
) -> None:
    """Speech lanes, overlaps, sessions, floors and event markers on one axis."""
    for party, y in LANES.items():
        bars = [(s.start_s, s.duration_s) for s in segments if s.party is party]
        ax.broken_barh(bars, (y - 0.25, 0.5), color=COLORS[party], label=f"{party} speech")
    ax.broken_barh(_overlaps(segments), (0.35, 0.3), color=COLORS["overlap"], alpha=0.6, label="overlap")
    for start, end in _sessions(events, duration_s):
        ax.axvspan(start, end, color="0.93", zorder=0)
    for e in sorted(events, key=lambda e: e.onset_s):
        _marker(ax, e)
    ax.set_yticks([LANES[Party.CUSTOMER], LANES[Party.REP]], ["customer", "rep"])
    ax.set_ylim(-0.75, 1.75)
    ax.set_xlim(0.0, duration_s)
    if legend:
        _legend(ax)


def _marker(ax: Any, e: Reported) -> None:
    t = e.onset_s
    if isinstance(e, Interruption) and e.successful is not None:
        y = LANES[e.by] + 0.45
        face = COLORS["overlap"] if e.successful else "white"
        ax.plot([t], [y], marker="v", ms=9, mfc=face, mec=COLORS["overlap"], ls="none")
    elif isinstance(e, Backchannel):
        ax.plot([t], [LANES[e.by] + 0.4], marker="o", ms=5, color="#2ca02c", ls="none")
    elif isinstance(e, PrematureStart):
        ax.plot([t], [LANES[Party.REP] + 0.45], marker="X", ms=8, color="#9467bd", ls="none")
    elif isinstance(e, LongSilence):
        ax.axvspan(t, t + e.duration_s, ymin=0.1, ymax=0.9, color="0.6", alpha=0.25, hatch="//", lw=0)
    elif isinstance(e, ResponseGap):
        gap = e.gap_s
        ax.annotate(
            "", xy=(t, 0.5), xytext=(t - gap, 0.5), arrowprops={"arrowstyle": "<->", "color": "#2ca02c", "lw": 1}
        )
        ax.text(t - gap / 2, 0.62, f"{gap:+.1f}", ha="center", fontsize=7, color="#2ca02c")
    elif isinstance(e, Pause):
        ax.plot([t], [0.5], marker="|", ms=12, color="0.35", ls="none")
    elif isinstance(e, FloorHeld):
        y = LANES[e.by] - 0.36
        ax.plot([t, e.end_s], [y, y], color=COLORS[e.by], lw=2.5, alpha=0.5, solid_capstyle="butt")


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
    ax: Any,
    segments: Sequence[SpeechSegment],
    events: Sequence[Reported],
    duration_s: float,
    config: AnalyticsConfig,
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
    segments: Sequence[SpeechSegment], sessions: Sequence[tuple[float, float]], duration_s: float, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rep share over the last ``window_s`` of the current session, every 10 ms (NaN outside sessions)."""
    n = max(1, round(duration_s / HOP_S))
    cum = {}
    for party in LANES:
        active = np.zeros(n, dtype=np.int64)
        for s in segments:
            if s.party is party:
                active[round(s.start_s / HOP_S) : round(s.end_s / HOP_S)] = 1
        cum[party] = np.concatenate([[0], np.cumsum(active)])
    t = np.arange(1, n + 1)
    since = np.full(n, -1)
    for start, end in sessions:
        since[round(start / HOP_S) : round(end / HOP_S)] = round(start / HOP_S)
    lo = np.maximum(t - round(window_s / HOP_S), since)
    ok = since >= 0
    lo = np.where(ok, lo, 0)
    rep = cum[Party.REP][t] - cum[Party.REP][lo]
    total = rep + cum[Party.CUSTOMER][t] - cum[Party.CUSTOMER][lo]
    share = np.where(ok & (total > 0), rep / np.maximum(total, 1), np.nan)
    return t * HOP_S, share


def _overlaps(segments: Sequence[SpeechSegment]) -> list[tuple[float, float]]:
    rep = [(s.start_s, s.end_s) for s in segments if s.party is Party.REP]
    out = []
    for s in segments:
        if s.party is Party.CUSTOMER:
            for a, b in rep:
                lo, hi = max(a, s.start_s), min(b, s.end_s)
                if hi > lo:
                    out.append((lo, hi - lo))
    return out


def _sessions(events: Sequence[Reported], duration_s: float) -> list[tuple[float, float]]:
    ends = {e.session_id: e.end_s for e in events if isinstance(e, SessionEnded)}
    starts = sorted((e for e in events if isinstance(e, SessionStarted)), key=lambda e: e.onset_s)
    return [(e.onset_s, ends.get(e.session_id, duration_s)) for e in starts]


def _dominance(events: Sequence[Reported], duration_s: float) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    since = None
    changes = sorted((e for e in events if isinstance(e, DominanceChanged)), key=lambda e: (e.decided_s, e.onset_s))
    for e in changes:
        if e.dominating and since is None:
            since = e.onset_s
        elif not e.dominating and since is not None:
            spans.append((since, e.onset_s))
            since = None
    if since is not None:
        spans.append((since, duration_s))
    return spans
