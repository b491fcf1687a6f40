"""`analyze --plot` onto a figure already there: the old one is replaced whole or kept as it was, with its mode.

Written in place ("w+b"), a figure that failed part way left the old one truncated and half written, and a
write-only one (mode 0200) passed the check before the analysis, then was refused after it ("Permission denied;
choose a writable path") because it was opened for reading too.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from listener.analytics.plot import plot_conversation
from listener.analytics.plot_checks import check_plot_path
from tests.analytics_timelines import CONFIG, run
from tests.cli_run import SAMPLE, as_installer, listener_cli, one_line
from tests.test_plot import GAPS

OLD_FIGURE = b"%PDF-1.4 the figure of an earlier run\n" * 1000  # 38 kB: past the 8 kB limit below on its own
PNG_START = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def umask_027() -> Iterator[None]:
    before = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(before)


def _draw(out: Path) -> None:
    collector = run(GAPS, 20.0)
    plot_conversation(collector.segments, collector.events, 20.0, out, CONFIG.analytics)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_a_figure_that_fails_part_way_leaves_the_old_one_whole(tmp_path: Path) -> None:
    """`ulimit -f 8` (as a full card): the new figure stops at 8 kB. The old one was truncated to those 8 kB."""
    out = tmp_path / "fig.pdf"
    out.write_bytes(OLD_FIGURE)
    limit = (8192, resource.RLIM_INFINITY)
    result = listener_cli(
        "analyze", str(SAMPLE), "--plot", str(out), preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    )
    assert one_line(result) == f"listener: cannot write the plot to {out}: File too large; choose a writable path\n"
    assert out.read_bytes() == OLD_FIGURE
    assert _leftovers(tmp_path) == []


def test_a_write_only_figure_is_replaced_and_stays_write_only(tmp_path: Path) -> None:
    """Mode 0200: the check before the analysis says it may be written, and now it is, keeping its mode."""
    out = tmp_path / "fig.png"
    out.write_bytes(OLD_FIGURE)
    out.chmod(0o200)
    result = as_installer("analyze", str(SAMPLE), "--plot", str(out))
    assert (result.returncode, result.stderr) == (0, "")
    assert "rep share" in result.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o200
    assert out.read_bytes().startswith(PNG_START)  # read as root: the test's own account
    assert _leftovers(tmp_path) == []


@pytest.mark.usefixtures("umask_027")
def test_a_replaced_figure_keeps_its_mode_and_a_new_one_gets_the_umasks(tmp_path: Path) -> None:
    """A figure kept private (0600) stays so once replaced; a new one gets 0666 less the umask, as open gives."""
    kept, new = tmp_path / "kept.png", tmp_path / "new.png"
    kept.write_bytes(OLD_FIGURE)
    kept.chmod(0o600)
    _draw(kept)
    _draw(new)
    assert kept.read_bytes().startswith(PNG_START)
    assert (stat.S_IMODE(kept.stat().st_mode), stat.S_IMODE(new.stat().st_mode)) == (0o600, 0o640)
    assert _leftovers(tmp_path) == []


def test_through_a_link_the_figure_it_leads_to_is_replaced_and_the_link_kept(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "today.png").write_bytes(OLD_FIGURE)
    out = tmp_path / "fig.png"
    out.symlink_to("shared/today.png")
    check_plot_path(out)
    _draw(out)
    assert out.is_symlink() and out.readlink() == Path("shared/today.png")
    assert (shared / "today.png").read_bytes().startswith(PNG_START)
    assert _leftovers(shared) == []


def test_a_link_into_a_folder_that_takes_no_new_file_is_refused_before_the_analysis(tmp_path: Path) -> None:
    """The copy is made beside the file the link leads to: that folder, not the link's, must take it (a plain
    path into such a folder was refused already). Judged by the link's folder, it failed after the analysis."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    (folder / "today.png").write_bytes(OLD_FIGURE)
    out = tmp_path / "fig.png"
    out.symlink_to("readonly/today.png")
    folder.chmod(0o555)
    try:
        result = as_installer("analyze", str(SAMPLE), "--plot", str(out))
    finally:
        folder.chmod(0o755)
    one_line(result, f"--plot {out}: no permission to write there")
    assert result.stdout == ""
    assert (folder / "today.png").read_bytes() == OLD_FIGURE


def test_a_device_is_written_as_it_is_not_replaced(tmp_path: Path) -> None:
    """/dev/null takes the figure as it is: no copy made beside it (nor renamed over the device)."""
    out = tmp_path / "fig.png"
    out.symlink_to(os.devnull)
    _draw(out)
    assert Path(os.devnull).is_char_device() and out.is_symlink()
