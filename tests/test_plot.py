"""The `analyze --plot` figure, judged by the artists it draws (positions, zorder, legend, limits), not pixels."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from matplotlib.patches import ArrowStyle, FancyArrowPatch, Rectangle

from listener.analytics import figures
from listener.analytics.figures import SAMPLES
from listener.analytics.plot import (
    ROW_S,
    ROW_SLACK_S,
    SHARE_MARGIN_S,
    plot_conversation,
    row_spans,
)
from listener.analytics.plot_checks import check_plot_path
from listener.analytics.plot_spans import dominance_spans, overlaps, rolling_share
from listener.analytics.summary import all_sessions
from listener.errors import OutputFileError
from listener.events import DominanceChanged, Interruption, Party, Pause, PrematureStart, ResponseGap, SpeechSegment
from tests.analytics_timelines import CONFIG, of, run

GAP_LABEL = re.compile(r"^[+-]\d+\.\d$")
OVERLAP_BAR = (0.35, 0.65)  # between the lanes, where both parties' speech overlaps
CUSTOMER_LANE_BOTTOM = -0.25
# answers of -0.5 s (overlap), 0.3 s and 1.2 s: docs/metrics.md's gaps figure
GAPS = [
    (str(party), start_s, end_s)
    for sample in SAMPLES
    if sample.name == "gaps"
    for party, start_s, end_s in sample.segments
]


def drawn(
    segments: list[tuple[str, float, float]], seconds: float, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Any:
    """The figure `analyze --plot` would write for this timeline, kept instead of written."""
    kept: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: kept.append(fig))
    collector = run(segments, seconds)
    plot_conversation(collector.segments, collector.events, seconds, tmp_path / "x.png", CONFIG.analytics)
    (fig,) = kept
    return fig


def gap_labels(ax: Any) -> list[Any]:
    return [t for t in ax.texts if GAP_LABEL.match(t.get_text())]


def test_a_gap_label_sits_on_its_arrow_in_a_white_box_above_everything_between_the_lanes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # it was drawn at y 0.62, on the rep's floor line (0.64) and inside the red overlap bar, unboxed
    ax = drawn(GAPS, 20.0, monkeypatch, tmp_path).axes[0]
    labels = gap_labels(ax)
    assert [t.get_text() for t in labels] == ["-0.5", "+0.3", "+1.2"]
    others = max(a.get_zorder() for a in [*ax.lines, *ax.collections, *ax.patches])
    for label in labels:
        assert label.get_position()[1] == 0.5 and label.get_va() == "center"
        box = label.get_bbox_patch()
        assert box is not None and box.get_facecolor()[:3] == (1.0, 1.0, 1.0)
        assert label.get_zorder() > others


def test_a_short_gap_has_a_plain_line_not_arrowheads_wider_than_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the 0.3 s arrow's two heads were wider than the gap: it read "><"
    ax = drawn(GAPS, 20.0, monkeypatch, tmp_path).axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]  # drawn in the gaps' order
    heads = [isinstance(a.get_arrowstyle(), ArrowStyle.CurveAB) for a in arrows]
    assert heads == [True, False, True]  # -0.5 s, 0.3 s, 1.2 s


def test_a_partys_markers_sit_beyond_its_lane_never_on_the_overlap_bar(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the customer interrupts the rep (and says "mm" in the rep's turn): its markers were drawn on the red bar
    timeline = [("rep", 0.5, 9.0), ("customer", 2.0, 2.3), ("customer", 6.0, 12.0)]
    collector = run(timeline, 14.0)
    assert [e.by for e in of(collector, Interruption)] == [Party.CUSTOMER]
    ax = drawn(timeline, 14.0, monkeypatch, tmp_path).axes[0]
    markers = [line for line in ax.lines if line.get_marker() in ("v", "^", "o", "X")]
    ys = [y for line in markers for y in line.get_ydata()]
    assert len(ys) >= 2  # the interruption and the backchannel
    assert all(y < CUSTOMER_LANE_BOTTOM or y > 1.25 for y in ys)
    assert all(y < CUSTOMER_LANE_BOTTOM for y in ys)  # both are the customer's: beyond its own lane, not the rep's
    assert not [y for y in ys if OVERLAP_BAR[0] <= y <= OVERLAP_BAR[1]]


def test_the_legends_explain_the_gap_arrows_the_dominance_shading_and_the_band(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fig = drawn(GAPS, 20.0, monkeypatch, tmp_path)
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "response gap (s)" in labels and "dominating" in labels
    # the share alone does not switch it on: a 0.7 share of 10 s of speech is no dominance
    assert "band: on at 0.65, off below 0.6\n(on needs 30 s of speech\nin the window)" in labels


def test_a_share_of_0_or_1_is_drawn_clear_of_the_axis_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a customer alone: the share is 0 all session, and was hidden under the bottom axis line
    fig = drawn([("customer", 0.5, 20.0)], 25.0, monkeypatch, tmp_path)
    low, high = fig.axes[1].get_ylim()
    assert low < 0.0 and high > 1.0


@pytest.mark.parametrize(
    ("timeline", "note"),
    [
        ([], "no conversation: nobody spoke"),
        ([("rep", 0.5, 9.0)], "no session: only the rep spoke (a session starts with customer speech)"),
    ],
)
def test_an_empty_share_panel_says_why(
    timeline: list[tuple[str, float, float]], note: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fig = drawn(timeline, 12.0, monkeypatch, tmp_path)
    assert [t.get_text() for t in fig.axes[1].texts] == [note]


def test_a_conversation_has_no_empty_share_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert not list(drawn(GAPS, 20.0, monkeypatch, tmp_path).axes[1].texts)


def exchanges(seconds: float) -> list[tuple[str, float, float]]:
    """Quick question and answer all along: a response gap every 4 s."""
    out = []
    t = 1.0
    while t + 4.0 < seconds:
        out += [("customer", t, t + 1.6), ("rep", t + 1.9, t + 3.6)]
        t += 4.0
    return out


def once_a_minute(seconds: float) -> list[tuple[str, float, float]]:
    return [
        seg
        for k in range(int(seconds // 60))
        for seg in [("customer", 60.0 * k + 1, 60.0 * k + 5), ("rep", 60.0 * k + 6, 60.0 * k + 9)]
    ]


def test_an_hour_wraps_into_rows_of_10_minutes_each_a_timeline_and_share_pair(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # it was one row 24 in wide, 150 s an inch, its gap labels printed over each other
    fig = drawn(once_a_minute(3600.0), 3600.0, monkeypatch, tmp_path)
    assert len(fig.axes) == 12
    assert [ax.get_xlim() for ax in fig.axes[::2]] == [(k * 600.0, k * 600.0 + 600.0) for k in range(6)]
    assert [ax.get_xlim() for ax in fig.axes[1::2]] == [ax.get_xlim() for ax in fig.axes[::2]]
    assert len({ax.get_ylim() for ax in fig.axes[::2]}) == 1 and len({ax.get_ylim() for ax in fig.axes[1::2]}) == 1
    assert fig.get_figwidth() == 24.0
    assert [bool(ax.get_legend()) for ax in fig.axes] == [True, True] + [False] * 10


@pytest.mark.parametrize("name", ["floor", "silence", "sessions"])
def test_the_pause_ticks_are_the_pauses_the_summary_counts(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # every Pause event was ticked: before the first session, between two, the silence that ends one
    # (sessions.png: 5 ticks, 2 pauses counted; silence.png 4 and 3; floor.png 3 and 2)
    (sample,) = [s for s in SAMPLES if s.name == name]
    timeline = [(str(party), a, b) for party, a, b in sample.segments]
    collector = run(timeline, sample.duration_s)
    counted = all_sessions(collector.segments, collector.events, sample.duration_s, CONFIG.analytics).pauses
    ax = drawn(timeline, sample.duration_s, monkeypatch, tmp_path).axes[0]
    ticks = [line for line in ax.lines if line.get_marker() == "|"]
    assert len(of(collector, Pause)) > counted == len(ticks)


def test_each_row_draws_only_the_speech_sessions_and_share_that_reach_into_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # every row drew the whole recording (its segments, overlaps, sessions and share line): 4 h took 1.7 GB
    minutes = [[("customer", 60.0 * k + 1, 60.0 * k + 5), ("rep", 60.0 * k + 4.5, 60.0 * k + 9)] for k in range(60)]
    fig = drawn([seg for minute in minutes for seg in minute], 3600.0, monkeypatch, tmp_path)
    for top, bottom in zip(fig.axes[::2], fig.axes[1::2], strict=True):
        lo, hi = top.get_xlim()
        bars = [path.vertices[:, 0] for c in top.collections for path in c.get_paths()]
        assert len(bars) == 30  # 10 minutes: each party's 10 stretches and their 10 overlaps
        spans = [(r.get_x(), r.get_x() + r.get_width()) for r in top.patches if isinstance(r, Rectangle)]
        assert len(spans) == 10  # a session a minute
        assert all(xs.max() >= lo and xs.min() <= hi for xs in bars)
        assert all(b >= lo and a <= hi for a, b in spans)
        (line,) = bottom.lines[2:]  # after the band's two dashed levels
        assert lo - SHARE_MARGIN_S <= min(line.get_xdata()) and max(line.get_xdata()) <= hi + SHARE_MARGIN_S


def naive_overlaps(segments: list[SpeechSegment]) -> list[tuple[float, float]]:
    """The definition: every customer segment against every rep segment."""
    rep = [s for s in segments if s.party is Party.REP]
    pairs = [
        (max(r.start_s, c.start_s), min(r.end_s, c.end_s)) for c in segments for r in rep if c.party is Party.CUSTOMER
    ]
    return [(lo, hi - lo) for lo, hi in pairs if hi > lo]


@st.composite
def one_party(draw: st.DrawFn, party: Party) -> list[SpeechSegment]:
    """A party's segments as the timeline makes them: disjoint, in time order (touching allowed)."""
    cuts = sorted(draw(st.lists(st.integers(0, 400), max_size=30)))
    return [SpeechSegment(party, a / 10, b / 10, b / 10) for a, b in itertools.pairwise(cuts)][::2]


@settings(max_examples=200, deadline=None)
@given(one_party(Party.REP), one_party(Party.CUSTOMER), st.randoms(use_true_random=False))
def test_overlaps_are_the_definitions_every_pair_found_in_one_sweep(
    rep: list[SpeechSegment], customer: list[SpeechSegment], rnd: Any
) -> None:
    """The sweep finds what trying every pair found, in the same order for a timeline's events (each party's
    in time order, the parties interleaved as they are decided), whatever the interleaving."""
    merged = sorted(rep + customer, key=lambda s: (s.end_s, rnd.random()))
    assert overlaps(merged) == naive_overlaps(merged)
    rnd.shuffle(merged)
    assert sorted(overlaps(merged)) == sorted(naive_overlaps(merged))


@pytest.mark.parametrize(("seconds", "rows"), [(30.0, 1), (600.0, 1), (650.0, 1), (700.0, 2)])
def test_short_recordings_keep_one_row(
    seconds: float, rows: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fig = drawn(once_a_minute(seconds), seconds, monkeypatch, tmp_path)
    assert len(fig.axes) == 2 * rows
    assert fig.axes[0].get_xlim()[1] == (seconds if rows == 1 else 600.0)


def test_gap_labels_never_print_over_each_other(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fig = drawn(exchanges(600.0), 600.0, monkeypatch, tmp_path)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = sorted((t.get_window_extent(renderer) for t in gap_labels(ax) if t.get_visible()), key=lambda b: b.x0)
    assert len(boxes) > 20
    assert all(a.x1 <= b.x0 for a, b in itertools.pairwise(boxes))
    # a crowded label is left out, never its gap's arrow
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(of(run(exchanges(600.0), 600.0), ResponseGap)) > len(boxes)


@pytest.mark.parametrize("duration_s", [650.0, 700.0, 1250.0, 1855.0, 3600.0, 3630.0])
def test_rows_never_show_the_same_seconds_twice_and_share_one_scale(duration_s: float) -> None:
    # 1250 s gave rows 0-650 and 600-1250: a session start at 619 s and its silences were drawn in both
    rows = row_spans(duration_s)
    assert rows[0][0] == 0.0 and rows[-1][1] >= duration_s
    assert all(a[1] == pytest.approx(b[0]) for a, b in itertools.pairwise(rows))  # edge to edge
    assert len({round(b - a, 6) for a, b in rows}) == 1
    assert all(b - a <= ROW_S + ROW_SLACK_S for a, b in rows)


def test_the_figures_script_takes_help_for_help_not_for_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # it took any first argument as the folder: `--help` made ./--help/ with eight figures, then failed
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        figures.main(["--help"])
    assert done.value.code == 0 and "OUT_DIR" in capsys.readouterr().out.upper()
    assert list(tmp_path.iterdir()) == []


def test_the_share_line_is_the_reps_share_of_the_window_within_its_session() -> None:
    """The figure's share: the rep's part of the speech in the last ``window_s`` of the session (docs/metrics.md's
    rolling share), from the session's first instant (here 0.0 s); none where the window holds no speech or
    outside a session."""
    segments = [SpeechSegment(Party.REP, 0.0, 10.0, 10.0), SpeechSegment(Party.CUSTOMER, 10.0, 20.0, 20.0)]
    segments.append(SpeechSegment(Party.REP, 24.0, 25.0, 25.0))
    t_s, share = rolling_share(segments, [(0.0, 30.0)], 35.0, window_s=8.0)
    at = {round(t, 2): s for t, s in zip(t_s, share, strict=True)}
    assert at[5.0] == 1.0  # the rep alone so far
    assert at[15.0] == pytest.approx(3 / 8)  # 7-15 s: the rep's last 3 s, the customer's first 5
    assert not np.isnan(at[29.5]) and np.isnan(at[32.0])  # outside the session: none
    _, quiet = rolling_share(segments[:1], [(0.0, 30.0)], 35.0, window_s=8.0)
    assert np.isnan(quiet[round(20.0 / 0.01) - 1])  # 12-20 s: nobody spoke in the window, no share of 0


def test_the_dominance_shading_runs_from_each_start_to_its_end_or_the_recordings() -> None:
    on_off = [(True, 5.0), (False, 9.0), (True, 12.0)]
    events = [
        DominanceChanged(dominating=on, onset_s=t, decided_s=t + 0.5, rep_share=0.7, reason="share") for on, t in on_off
    ]
    assert dominance_spans(events, 20.0) == [(5.0, 9.0), (12.0, 20.0)]


def test_a_gap_label_is_drawn_in_its_own_row_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # 700 s wraps into two rows: the one answer, at 5 s, is labelled in the first, not in the second's margin
    fig = drawn([("customer", 1.0, 5.0), ("rep", 5.3, 9.0)], 700.0, monkeypatch, tmp_path)
    first, second = fig.axes[0], fig.axes[2]
    assert [t.get_text() for t in gap_labels(first)] == ["+0.3"] and gap_labels(second) == []


def sample_timeline(name: str) -> tuple[list[tuple[str, float, float]], float]:
    """One of docs/metrics.md's figure samples, as the timeline ``drawn`` takes."""
    (sample,) = [s for s in SAMPLES if s.name == name]
    return [(str(party), a, b) for party, a, b in sample.segments], sample.duration_s


def test_a_premature_start_is_a_purple_cross_above_the_reps_lane_at_its_onset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The rep starts at 4.6 s in the customer's pause and the customer resumes: one X at 4.6 s, on the rep's
    side beyond its lane (y 1.45), in the legend's "premature start" colour."""
    timeline, seconds = sample_timeline("premature")
    assert [p.onset_s for p in of(run(timeline, seconds), PrematureStart)] == [4.6]
    ax = drawn(timeline, seconds, monkeypatch, tmp_path).axes[0]
    crosses = [line for line in ax.lines if line.get_marker() == "X"]
    assert [(list(c.get_xdata()), list(c.get_ydata()), c.get_color()) for c in crosses] == [([4.6], [1.45], "#9467bd")]


def test_the_share_panel_shades_dominance_from_its_start_to_its_end(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """docs/metrics.md's dominance sample: dominance on at 33.0 s, off at 107.7 s; the share panel shades just
    that stretch, full height (the hysteresis band is the other shaded patch, 0.60-0.65 across the panel)."""
    timeline, seconds = sample_timeline("dominance")
    on_off = [(d.dominating, d.onset_s) for d in of(run(timeline, seconds), DominanceChanged)]
    assert on_off == [(True, 33.0), (False, 107.7)]
    share = drawn(timeline, seconds, monkeypatch, tmp_path).axes[1]
    spans = [(r.get_x(), r.get_x() + r.get_width()) for r in share.patches if (r.get_y(), r.get_height()) == (0, 1)]
    assert spans == [(33.0, pytest.approx(107.7))]


def test_a_plot_path_that_is_a_folder_is_refused_naming_a_file_in_it(tmp_path: Path) -> None:
    """`--plot figures.png` where figures.png is a folder: refused before the analysis (savefig would fail
    only after it), and the message says what to write instead."""
    folder = tmp_path / "figures.png"
    folder.mkdir()
    with pytest.raises(OutputFileError) as err:
        check_plot_path(folder)
    assert str(err.value) == (
        f"--plot {folder}: that is a folder; name a file in it, e.g. {folder / 'conversation.png'}"
    )
    check_plot_path(folder / "conversation.png")  # which is accepted


def test_a_plot_that_cannot_be_written_is_one_error_naming_the_path_and_the_reason(tmp_path: Path) -> None:
    """A folder gone between the check and the writing: an OutputFileError (exit 2, one line), not matplotlib's
    FileNotFoundError. (test_analyze.py writes to /proc through the CLI, which only root gets past the check.)"""
    collector = run(GAPS, 20.0)
    out = tmp_path / "gone" / "x.png"
    with pytest.raises(OutputFileError) as err:
        plot_conversation(collector.segments, collector.events, 20.0, out, CONFIG.analytics)
    assert str(err.value) == f"cannot write the plot to {out}: No such file or directory; choose a writable path"
