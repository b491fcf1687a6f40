"""bench.simulate's --rep is checked against the split's excerpts and who speaks in them, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import simulate


@pytest.mark.parametrize(
    ("rep", "said"),
    [
        ("trn08=MEE067", "MEE067 does not speak in trn08; its speakers: FEE087, FEE088, MEE089, MEO086"),  # a KeyError
        ("trn3=MEE067", "--split eval renders trn08, trn09, not trn3"),  # was told to write the form it had
        ("trn03=MEE067", "--split eval renders trn08, trn09, not trn03"),  # was ignored
        ("trn03", "write EXCERPT=SPEAKER"),
    ],
)
def test_a_rep_the_split_cannot_render_is_named_with_what_it_can(tmp_path: Path, rep: str, said: str) -> None:
    out = tmp_path / "cases"
    with pytest.raises(SystemExit, match=said):
        simulate.main(["--out", str(out), "--variants", "1", "--split", "eval", "--rep", rep])
    assert not out.exists()
