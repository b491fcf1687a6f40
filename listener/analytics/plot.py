"""Draw a conversation: both parties' speech, overlaps, the decided events, rolling rep share.

Draws the typed segments and events the analysis collected (``ReportCollector``).
matplotlib is imported lazily and only through its Agg canvas (no pyplot, no
display): it is an optional extra.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from listener.analytics.plot_checks import require_matplotlib
from listener.analytics.plot_file import write_figure
from listener.analytics.plot_spans import Drawn, in_row
from listener.analytics.summary import counted, no_session
from listener.config.schema import AnalyticsConfig
from listener.errors import OutputError, OutputFileError, shown_path
from listener.events import (
    Backchannel,
    FloorHeld,
    Interruption,
    LongSilence,
    Party,
    Pause,
    PrematureStart,
    Reported,
    ResponseGap,
    SpeechSegment,
)

COLORS = {"rep": "#1f77b4", "customer": "#ff7f0e", "overlap": "#d62728", "dominance": "#f2a900", "gap": "#2ca02c"}
LANES = {Party.REP: 1.0, Party.CUSTOMER: 0.0}
# a party's event markers sit on the far side of its lane: the band between the lanes holds the overlap bar
MARKER_Y = {Party.REP: 1.45, Party.CUSTOMER: -0.55}
GAP_Y = 0.5  # response gaps and pauses: between the lanes
GAP_GID = "response-gap"
MIN_ARROW_S = 0.4  # a shorter gap gets no arrowheads at any scale
ARROW_ROOM_IN = 0.15  # nor one narrower than this on the page
LABEL_SPACE_PX = 3.0
ROW_S = 600.0  # a long recording wraps into rows of 10 minutes: at 24 in, about 25 s an inch
ROW_SLACK_S = 60.0
ROW_HEIGHT_IN = 5.0
MAX_WIDTH_IN = 24.0
SHARE_MARGIN_S = 1.0  # of the share line drawn past each row edge: it leaves the axes as the whole line did
# matplotlib's warning of a character its font cannot draw (the title is a file name: 日本.wav, an emoji)
MISSING_GLYPH = re.compile(r"Glyph (\d+) \(.*\) missing from font\(s\) (.+?)\.?$")

log = logging.getLogger(__name__)


def plot_conversation(
    segments: Sequence[SpeechSegment],
    events: Sequence[Reported],
    duration_s: float,
    out: Path,
    config: AnalyticsConfig,
    title: str = "",
) -> Path:
    """Write the conversation figure to ``out`` (PNG, SVG or PDF, by its suffix)."""
    drawn = BytesIO()
    with _missing_glyphs_said(title):
        fig = conversation_figure(segments, events, duration_s, config, title)
        try:
            fig.savefig(drawn, format=out.suffix[1:].lower(), dpi=110)
            write_figure(drawn.getbuffer(), out)
        except OSError as exc:
            shown = shown_path(out)
            raise OutputFileError(
                f"cannot write the plot to {shown}: {(exc.strerror or str(exc)).rstrip('.')}; choose a writable path"
            ) from exc
        except ValueError as exc:  # a format matplotlib lacks in this installation
            raise OutputError(f"cannot write the plot to {shown_path(out)}: {exc}; use a .png file") from exc
    return out


@contextlib.contextmanager
def _missing_glyphs_said(title: str) -> Iterator[None]:
    """matplotlib warns of each character its font cannot draw, at the layout and again at the save, with its
    own source lines on stderr: eight lines for a title of two Japanese letters. One line says it instead;
    any other warning is shown as it would have been, the block raising or not (a plot path that takes no file)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield
    finally:  # outside catch_warnings, which would record what is shown here
        _say_caught(caught, title)


def _say_caught(caught: list[warnings.WarningMessage], title: str) -> None:
    missing: dict[str, str] = {}  # character: the font that lacks it
    for warning in caught:
        match = MISSING_GLYPH.match(str(warning.message))
        if match is None:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
        else:
            missing[chr(int(match[1]))] = match[2]
    if missing:
        log.warning(
            "the plot's title '%s' shows %s as boxes: the figure's font (%s) has no glyph for them; the figure is"
            " drawn all the same",
            title,
            " ".join(missing),
            ", ".join(sorted(set(missing.values()))),
        )


def conversation_figure(
    segments: Sequence[SpeechSegment],
    events: Sequence[Reported],
    duration_s: float,
    config: AnalyticsConfig,
    title: str = "",
) -> Any:
    """The figure: one timeline + share pair per row of at most about ``ROW_S`` (a long file wraps)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = row_spans(duration_s)
    width_in = MAX_WIDTH_IN if len(rows) > 1 else min(MAX_WIDTH_IN, max(9.0, duration_s / 6.0))
    fig = Figure(figsize=(width_in, ROW_HEIGHT_IN * len(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 * len(rows), 1, height_ratios=[2.2, 1.0] * len(rows), squeeze=False)[:, 0]
    drawn = Drawn.of(segments, events, duration_s, config.rolling_window_s)
    for k, xlim in enumerate(rows):
        top, bottom = axes[2 * k], axes[2 * k + 1]
        bottom.sharex(top)
        top.tick_params(labelbottom=False)
        draw_timeline(top, segments, events, duration_s, drawn, legend=k == 0, xlim=xlim)
        draw_share(bottom, segments, duration_s, drawn, config, legend=k == 0, xlim=xlim)
    if title:
        # the title is a file name: a "$" in it is text, not the start of mathtext that fails at savefig
        axes[0].set_title(title, loc="left", fontsize=10, parse_math=False)
    hide_crowded_gap_labels(fig)
    return fig


def row_spans(duration_s: float) -> list[tuple[float, float]]:
    """Each row's x limits: ``ROW_S`` each, the last one partly empty; a last bit shorter than ``ROW_SLACK_S``
    makes no row of its own but is shared out, every row a little wider (1250 s: two rows of 625 s).

    Every row is as wide in seconds as the others, so a second takes the same width in each, and no two rows
    show the same seconds (widening each row from where ROW_S would start it drew up to a minute twice).
    """
    n = max(1, math.ceil((duration_s - ROW_SLACK_S) / ROW_S))
    if n == 1:
        return [(0.0, duration_s)]
    width = duration_s / n if duration_s > n * ROW_S else ROW_S
    return [(k * width, (k + 1) * width) for k in range(n)]


def draw_timeline(
    ax: Any,
    segments: Sequence[SpeechSegment],
    events: Sequence[Reported],
    duration_s: float,
    drawn: Drawn,
    legend: bool = True,
    xlim: tuple[float, float] | None = None,
) -> None:
    """Speech lanes, overlaps, sessions, floors and event markers on one axis (``xlim``: one row of it, and only
    what reaches into it is drawn)."""
    lo, hi = xlim or (0.0, duration_s)
    for party, y in LANES.items():
        bars = in_row([(s.start_s, s.duration_s) for s in segments if s.party is party], lo, hi, bars=True)
        ax.broken_barh(bars, (y - 0.25, 0.5), color=COLORS[party], label=f"{party} speech")
    overlap_bars = in_row(drawn.overlaps, lo, hi, bars=True)
    ax.broken_barh(overlap_bars, (0.35, 0.3), color=COLORS["overlap"], alpha=0.6, label="overlap")
    for start, end in in_row(drawn.sessions, lo, hi):
        ax.axvspan(start, end, color="0.93", zorder=0)
    # arrowheads need room: about 0.15 in each, or a short gap's arrow collapses into "><"
    s_per_in = (hi - lo) / (ax.figure.get_figwidth() * ax.get_position().width)
    heads_from_s = max(MIN_ARROW_S, ARROW_ROOM_IN * s_per_in)
    for e in sorted(events, key=lambda e: e.onset_s):
        start, end = _extent(e)
        # a pause outside a session, or the silence that ends one, is in no summary: a tick would be a pause
        # the figure shows and the metrics never count
        if isinstance(e, Pause) and not counted(e, drawn.span):
            continue
        if end >= lo and start <= hi:  # a label outside its row would be drawn in the margin
            _marker(ax, e, heads_from_s)
    ax.set_yticks([LANES[Party.CUSTOMER], LANES[Party.REP]], ["customer", "rep"])
    ax.set_ylim(-0.75, 1.75)
    ax.set_xlim(lo, hi)
    if legend:
        _legend(ax)


def _extent(e: Reported) -> tuple[float, float]:
    t_s = e.onset_s
    if isinstance(e, ResponseGap):
        return min(t_s, t_s - e.gap_s), max(t_s, t_s - e.gap_s)
    if isinstance(e, LongSilence):
        return t_s, t_s + e.duration_s
    if isinstance(e, FloorHeld):
        return t_s, e.end_s
    return t_s, t_s


def _marker(ax: Any, e: Reported, heads_from_s: float) -> None:
    t_s = e.onset_s
    if isinstance(e, Interruption) and e.successful is not None:
        # above the rep's lane pointing down at it, below the customer's pointing up: never on the overlap bar
        shape = "v" if e.by is Party.REP else "^"
        face = COLORS["overlap"] if e.successful else "white"
        ax.plot([t_s], [MARKER_Y[e.by]], marker=shape, ms=9, mfc=face, mec=COLORS["overlap"], ls="none")
    elif isinstance(e, Backchannel):
        ax.plot([t_s], [MARKER_Y[e.by]], marker="o", ms=5, color=COLORS["gap"], ls="none")
    elif isinstance(e, PrematureStart):
        ax.plot([t_s], [MARKER_Y[Party.REP]], marker="X", ms=8, color="#9467bd", ls="none")
    elif isinstance(e, LongSilence):
        ax.axvspan(t_s, t_s + e.duration_s, ymin=0.1, ymax=0.9, color="0.6", alpha=0.25, hatch="//", lw=0)
    elif isinstance(e, ResponseGap):
        _gap(ax, t_s, e.gap_s, heads_from_s)
    elif isinstance(e, Pause):
        ax.plot([t_s], [GAP_Y], marker="|", ms=12, color="0.35", ls="none")
    elif isinstance(e, FloorHeld):
        y = LANES[e.by] - 0.36
        ax.plot([t_s, e.end_s], [y, y], color=COLORS[e.by], lw=2.5, alpha=0.5, solid_capstyle="butt")


def _gap(ax: Any, t_s: float, gap_s: float, heads_from_s: float) -> None:
    """The gap's arrow between the lanes, its length in seconds on a white box over the arrow's middle."""
    from matplotlib.patches import FancyArrowPatch

    style = "<->" if abs(gap_s) >= heads_from_s else "-"
    arrow = FancyArrowPatch(
        (t_s - gap_s, GAP_Y),
        (t_s, GAP_Y),
        arrowstyle=style,
        mutation_scale=8,
        color=COLORS["gap"],
        lw=1,
        shrinkA=0,
        shrinkB=0,
        zorder=4,
        gid=GAP_GID,
    )
    ax.add_patch(arrow)
    box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9}
    ax.text(
        t_s - gap_s / 2,
        GAP_Y,
        f"{gap_s:+.1f}",
        ha="center",
        va="center",
        fontsize=7,
        color=COLORS["gap"],
        bbox=box,
        zorder=6,
        clip_on=True,
        gid=GAP_GID,
    )


def hide_crowded_gap_labels(fig: Any) -> None:
    """A gap label that would overlap the one before it in its row is left out (its arrow stays).

    Two answers a few seconds apart in a 10-minute row would print their numbers over each other.
    """
    fig.draw_without_rendering()  # lays the figure out: the labels' extents are final
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        labels = sorted((t for t in ax.texts if t.get_gid() == GAP_GID), key=lambda t: t.get_position()[0])
        last_right = -math.inf
        for label in labels:
            box = label.get_window_extent(renderer)
            if box.x0 < last_right + LABEL_SPACE_PX:
                label.set_visible(False)
            else:
                last_right = box.x1


def _legend(ax: Any) -> None:
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def both(face: str) -> tuple[Line2D, ...]:  # by the rep (above its lane), by the customer (below)
        return tuple(Line2D([], [], marker=m, mfc=face, mec=COLORS["overlap"], ls="none") for m in "v^")

    entries: list[tuple[Any, str]] = [
        (Patch(color=COLORS["rep"]), "rep speech"),
        (Patch(color=COLORS["customer"]), "customer speech"),
        (Patch(color=COLORS["overlap"], alpha=0.6), "overlap"),
        (Line2D([], [], color="0.5", lw=2.5, alpha=0.5), "floor held"),
        (both(COLORS["overlap"]), "interruption"),
        (both("white"), "interruption, failed"),
        (Line2D([], [], marker="o", color=COLORS["gap"], ls="none"), "backchannel"),
        (Line2D([], [], marker="X", color="#9467bd", ls="none"), "premature start"),
        (Line2D([], [], marker=_double_arrow(), ms=14, color=COLORS["gap"], ls="none"), "response gap (s)"),
        (Line2D([], [], marker="|", ms=10, color="0.35", ls="none"), "pause"),
        (Patch(facecolor="0.6", alpha=0.25, hatch="//"), "long silence"),
        (Patch(color="0.93"), "session"),
    ]
    handles, labels = zip(*entries, strict=True)
    kw = {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0), "fontsize": 8, "frameon": False}
    ax.legend(handles, labels, handler_map={tuple: HandlerTuple(ndivide=None)}, **kw)


def _double_arrow() -> Any:
    """A "<->" as a marker path: a mathtext arrow would load math fonts, logging a line per system font."""
    from matplotlib.path import Path as MarkerPath

    head, shaft = 0.45, 0.08
    half = [(-1.0, 0.0), (-0.5, head), (-0.5, shaft), (0.5, shaft), (0.5, head), (1.0, 0.0)]
    return MarkerPath([*half, *((-x, -y) for x, y in half[1:-1]), (-1.0, 0.0)], closed=True)


def draw_share(
    ax: Any,
    segments: Sequence[SpeechSegment],
    duration_s: float,
    drawn: Drawn,
    config: AnalyticsConfig,
    legend: bool = True,
    xlim: tuple[float, float] | None = None,
) -> None:
    """Rolling rep share inside sessions, the hysteresis band and the dominance spans (``xlim``: one row)."""
    lo, hi = xlim or (0.0, duration_s)
    off, on = config.dominance_off_share, config.dominance_on_share
    ax.axhspan(off, on, color=COLORS["dominance"], alpha=0.2, lw=0)
    for level in (off, on):
        ax.axhline(level, color=COLORS["dominance"], lw=0.8, ls="--")
    for start, end in in_row(drawn.dominance, lo, hi):
        ax.axvspan(start, end, color=COLORS["dominance"], alpha=0.35, lw=0)
    # the row's stretch of the line and a little beyond, so that it runs off the axes' edges as it did whole
    first, last = np.searchsorted(drawn.t_s, [lo - SHARE_MARGIN_S, hi + SHARE_MARGIN_S], side="right")
    ax.plot(drawn.t_s[first:last], drawn.share[first:last], color=COLORS["rep"], lw=1.5)
    if not drawn.sessions:  # an empty panel would look like a failed plot
        ax.text(0.5, 0.3, no_session(segments), transform=ax.transAxes, ha="center", va="center", color="0.3")
    ax.set_ylim(-0.03, 1.03)  # a share of 0 or 1 drawn clear of the axis line, not under it
    ax.set_xlim(lo, hi)
    ax.set_ylabel(f"rep share\n({config.rolling_window_s:g} s)")
    ax.set_xlabel("time (s)")
    if legend:
        _share_legend(ax, off, on, config.dominance_min_speech_s)


def _share_legend(ax: Any, off: float, on: float, min_speech_s: float) -> None:
    from matplotlib.colors import to_rgba
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], color=COLORS["rep"], lw=1.5, label="rep share"),
        Patch(color=COLORS["dominance"], alpha=0.35, lw=0, label="dominating"),
        # the hysteresis band, in plain words: dominating starts at the top line and ends below the bottom one;
        # a share over the band with less speech than this in the window is no dominance, and would look like one
        Patch(
            fc=to_rgba(COLORS["dominance"], 0.2),
            ec=COLORS["dominance"],
            ls="--",
            # no wider than its first line: a wider legend narrows the plot
            label=f"band: on at {on:g}, off below {off:g}\n(on needs {min_speech_s:g} s of speech\nin the window)",
        ),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
