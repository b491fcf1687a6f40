"""`analyze --plot P` where P is something the figure cannot be written to: refused before the analysis.

``Path.exists`` says False of a loop of symbolic links and of a link to nothing, so check_plot_path let them
through and savefig failed only once the whole recording had been analysed; a FIFO took no PNG or PDF either.
What still fails at the writing (a pipe put there since, a full disk, the file size limit) is one line, its file
closed.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import socket
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from listener.analytics.plot import plot_conversation
from listener.analytics.plot_checks import check_plot_path
from listener.cli import main
from listener.errors import OutputFileError
from tests.analytics_timelines import CONFIG, run
from tests.cli_run import FULL_DISK, SAMPLE, listener_cli, one_line
from tests.test_plot import GAPS


def _loop(at: Path) -> Path:
    at.symlink_to(at.name)
    return at


def _loop_above(at: Path) -> Path:
    _loop(at.with_suffix(""))
    return at.with_suffix("") / "conversation.png"


def _dangling(at: Path) -> Path:
    at.symlink_to("gone/figure.png")
    return at


def _fifo(at: Path) -> Path:
    os.mkfifo(at)
    return at


def _socket(at: Path) -> Path:
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(at.name)  # relative: a socket's path holds at most 107 bytes
    listening.close()  # the socket file stays
    return at


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (_loop, "is a link to fig.png, which leads round in a loop: remove it or name a file"),
        (_loop_above, "cannot be used: a folder on its path is a link that leads round in a loop; fix the links"),
        (
            _dangling,
            "is a link to gone/figure.png, which cannot be made: folder {tmp}/gone does not exist; create it, remove"
            " the link or name another file",
        ),
        (_fifo, "is a pipe, not a file: name a file, e.g. --plot conversation.png"),
        (_socket, "is a socket, not a file: name a file, e.g. --plot conversation.png"),
    ],
    ids=["link-loop", "link-loop-above", "dangling-link", "fifo", "socket"],
)
def test_what_the_figure_cannot_be_written_to_is_refused_before_the_analysis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], Path], said: str
) -> None:
    monkeypatch.chdir(tmp_path)
    out = make(tmp_path / "fig.png")
    with pytest.raises(OutputFileError) as err:
        check_plot_path(out)
    assert str(err.value) == f"--plot {out} {said.format(tmp=tmp_path)}"


def test_the_cli_refuses_a_link_loop_without_analysing_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report goes to stdout before the figure is drawn: none came, so the refusal came before the analysis."""
    out = _loop(tmp_path / "fig.png")
    assert main(["analyze", str(SAMPLE), "--plot", str(out)]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert (
        said.err
        == f"listener: --plot {out} is a link to fig.png, which leads round in a loop: remove it or name a file\n"
    )


def test_a_link_to_a_file_not_yet_made_in_a_folder_that_exists_is_written_through(tmp_path: Path) -> None:
    """Not every broken link is refused: savefig makes the file it names, as a link to a shared folder's
    figure would be used."""
    (tmp_path / "shared").mkdir()
    out = tmp_path / "fig.png"
    out.symlink_to("shared/figure.png")
    check_plot_path(out)
    collector = run(GAPS, 20.0)
    plot_conversation(collector.segments, collector.events, 20.0, out, CONFIG.analytics)
    assert (tmp_path / "shared" / "figure.png").stat().st_size > 0


def _held(path: Path) -> list[int]:
    """This process's descriptors open on ``path`` (where its links lead)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc")
    target = os.path.realpath(path)
    held = []
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor, gone by now
            if str(fd.readlink()) == target:
                held.append(int(fd.name))
    return held


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_a_pipe_made_after_the_check_is_one_tidy_line(tmp_path: Path, suffix: str) -> None:
    """A FIFO put in place between the check and the writing (with a reader, else opening it waits): matplotlib's
    reason ends in a full stop, which read "File or stream is not seekable.; choose ...". Its PDF writer left
    the pipe open for as long as the error lived (a ResourceWarning once it went), and wrote an SVG into it."""
    fifo = tmp_path / f"fig{suffix}"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    collector = run(GAPS, 20.0)
    try:
        with pytest.raises(OutputFileError) as err:
            plot_conversation(collector.segments, collector.events, 20.0, fifo, CONFIG.analytics)
        assert _held(fifo) == [reader], "the plot's pipe was left open"
    finally:
        os.close(reader)
    assert str(err.value) == f"cannot write the plot to {fifo}: File or stream is not seekable; choose a writable path"


@pytest.mark.skipif(not FULL_DISK.exists(), reason="needs /dev/full")
@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_a_plot_onto_a_full_disk_is_one_line_and_closed(tmp_path: Path, suffix: str) -> None:
    """Every write failing (a link to /dev/full, as a full card): matplotlib's PDF writer raised zlib's
    "inconsistent stream state" from its clean-up instead (a traceback, exit 1) and left its file open."""
    out = tmp_path / f"fig{suffix}"
    out.symlink_to(FULL_DISK)
    collector = run(GAPS, 20.0)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(OutputFileError) as err:
            plot_conversation(collector.segments, collector.events, 20.0, out, CONFIG.analytics)
        assert _held(FULL_DISK) == [], "the plot's file was left open"
        said = str(err.value)
        del err  # with it, what its traceback held: a file still open is said as it goes
        gc.collect()
    assert said == f"cannot write the plot to {out}: No space left on device; choose a writable path"
    assert [str(w.message) for w in warned if issubclass(w.category, ResourceWarning)] == []
    assert out.is_symlink()  # not removed: it was there before


@pytest.mark.skipif(not FULL_DISK.exists(), reason="needs /dev/full")
def test_a_title_the_font_cannot_draw_is_said_when_the_plot_cannot_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The glyph warnings were said after the block that drew and wrote the figure, not when it raised: a plot path
    that took no file left them unsaid, recorded and dropped."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "fig.png"
    out.symlink_to(FULL_DISK)
    collector = run(GAPS, 20.0)
    with pytest.raises(OutputFileError, match="No space left on device; choose a writable path"):
        plot_conversation(collector.segments, collector.events, 20.0, out, CONFIG.analytics, title="会議 1.wav")
    assert [r.getMessage() for r in caplog.records if "shows 会 議 as boxes" in r.getMessage()], caplog.text


@pytest.mark.parametrize("through_a_link", [False, True], ids=["file", "link-to-a-file-not-yet-made"])
def test_a_plot_past_the_file_size_limit_is_one_line_and_leaves_no_part_written(
    tmp_path: Path, through_a_link: bool
) -> None:
    """`ulimit -f 8; listener analyze x.wav --plot fig.pdf`: the write fails part way (File too large). The CLI
    gave matplotlib's traceback (exit 1); it is one line (exit 2) and the half-written figure is removed. Through
    a link to a file not yet made too: the link was there before, so the file the write made behind it was kept."""
    out = tmp_path / "fig.pdf"
    made = out
    if through_a_link:
        (tmp_path / "shared").mkdir()
        made = tmp_path / "shared" / "figure.pdf"
        out.symlink_to("shared/figure.pdf")
    limit = (8192, resource.RLIM_INFINITY)
    result = listener_cli(
        "analyze", str(SAMPLE), "--plot", str(out), preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    )
    assert one_line(result) == f"listener: cannot write the plot to {out}: File too large; choose a writable path\n"
    assert "rep share" in result.stdout  # the report came before the figure
    assert not made.exists()
    assert out.is_symlink() is through_a_link  # the link itself stays


@pytest.mark.parametrize(
    ("typed", "meant"), [("x.png/", "x.png"), ("x.png/.", "x.png"), ("figs/", "figs/conversation.png")]
)
def test_a_plot_path_ending_in_a_slash_is_refused_not_written_as_a_file(tmp_path: Path, typed: str, meant: str) -> None:
    # Path drops the '/': the figure was written as the file x.png, where a folder x.png was meant
    result = listener_cli("analyze", str(SAMPLE), "--plot", f"{tmp_path}/{typed}")
    one_line(
        result,
        f"argument --plot: {tmp_path}/{typed} ends in '/', which names a folder: give the figure's file name,"
        f" e.g. --plot {tmp_path}/{meant}",
    )
    assert result.stdout == "" and list(tmp_path.iterdir()) == []  # refused before the analysis


def test_a_title_the_font_cannot_draw_is_one_warning_not_matplotlibs_source_lines(tmp_path: Path) -> None:
    """The title is the recording's name: for 日本 matplotlib's glyph warnings, each with its source line, put
    eight lines on stderr (at the layout and again at the save) around a figure that was written all the same."""
    pytest.importorskip("matplotlib")
    recording = tmp_path / "会議 1.wav"
    recording.write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "figure.png"
    result = listener_cli("analyze", str(recording), "--plot", str(out))
    assert result.returncode == 0 and out.stat().st_size > 0, result.stderr
    said = "WARNING listener.analytics.plot: the plot's title '会議 1.wav' shows 会 議 as boxes: the figure's font ("
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(said), result.stderr
