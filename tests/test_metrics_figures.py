"""docs/metrics.md's figures are the ones ``python -m listener.analytics.figures`` draws: each image the page
shows is in docs/img, the script makes every one of them (and nothing the page leaves out), at the size the
committed file has, so regenerating the figures after a change to the analytics or the plot keeps the page whole."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from listener.analytics import figures

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "metrics.md"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _shown() -> set[str]:
    return set(re.findall(r"!\[[^\]]*\]\(img/([^)]+\.png)\)", PAGE.read_text(encoding="utf-8")))


def _size(path: Path) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's IHDR chunk (always the first)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def test_every_figure_the_page_shows_is_committed_and_drawn_by_the_script() -> None:
    drawn = {f"{sample.name}.png" for sample in figures.SAMPLES} | {"sample-conversation.png"}
    shown = _shown()
    assert len(shown) == len(drawn) == 9
    assert shown == drawn
    assert {p.name for p in (ROOT / "docs" / "img").glob("*.png")} == shown


def test_the_script_draws_each_figure_at_the_committed_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert figures.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(Path(line).name for line in printed) == sorted(_shown())
    for name in _shown():
        made, committed = tmp_path / name, ROOT / "docs" / "img" / name
        assert _size(made) == _size(committed), name
        assert made.stat().st_size > 5_000, f"{name} looks blank"
