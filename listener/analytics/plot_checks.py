"""Before a long analysis: whether its ``--plot`` figure can be drawn (matplotlib) and written (the path).

A figure is written only after the whole recording has been analysed: a typo in the path, a folder, a pipe or a
link that leads nowhere must be said first, not after minutes of work.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from listener.errors import OutputError, OutputFileError, dead_link, file_kind, os_reason_and_fix, shown_path

PLOT_FORMATS = (".png", ".svg", ".pdf")


def check_plot_path(out: Path) -> None:
    """Before the analysis: a path the figure can be written to, so no run is wasted on a typo."""
    shown = shown_path(out)
    if out.suffix.lower() not in PLOT_FORMATS:  # also "", "." and ".png" (a hidden file with no suffix)
        raise OutputError(f"--plot '{shown}': name a {', '.join(PLOT_FORMATS)} file, e.g. --plot conversation.png")
    if (in_the_way := _unwritable_there(out)) is not None:
        raise OutputFileError(f"--plot {shown} {in_the_way}")
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
    if not _may_write(out):
        raise OutputFileError(
            f"--plot {shown}: no permission to write there; choose a folder of yours (or fix its permissions)"
        )


def _may_write(out: Path) -> bool:
    """Whether this user may write the figure where ``out`` leads: a device as it is; a file is replaced by a
    copy made beside it (plot_file), so its folder must take one, and a file made read-only stays as it is."""
    target = Path(os.path.realpath(out))
    if target.exists() and not target.is_file():
        return os.access(target, os.W_OK)
    return os.access(target.parent, os.W_OK | os.X_OK) and (not target.exists() or os.access(target, os.W_OK))


def _unwritable_there(out: Path) -> str | None:
    """What stands at ``out`` that savefig fails on only after the analysis, and its fix: ``Path.exists``
    says False of a loop of links and of a link to nothing; a pipe takes no PNG or PDF (they seek), and one
    nobody reads from holds the writing up for good."""
    try:
        mode = out.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            link = dead_link(out)  # None: out is no link, the loop is in a folder on its path
            if link is None:
                return "cannot be used: a folder on its path is a link that leads round in a loop; fix the links"
            return f"is {link.said()}: remove it or name a file"
        folder = Path(os.path.realpath(out)).parent  # where the links lead: savefig makes the file there
        if exc.errno != errno.ENOENT or not out.is_symlink() or folder.is_dir():
            return None
        return (
            f"is a link to {shown_path(out.readlink())}, which cannot be made: folder {shown_path(folder)} does not"
            " exist; create it, remove the link or name another file"
        )
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):  # a device is written as it takes it (/dev/null)
        return None
    return f"is {file_kind(mode)}, not a file: name a file, e.g. --plot conversation.png"


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
