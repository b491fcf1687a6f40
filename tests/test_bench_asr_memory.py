"""bench.asr_memory runs end to end: its shipped mode (speech only, renewed and trimmed at each visit's
end) on one minute of recording, through the real gate and worker, in this process (the bench runs each
mode in a fresh one); and the recording's visits end in a session gap of silence."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from bench import asr_memory


def test_visits_end_in_a_session_gap_of_silence() -> None:
    lengths = [2.0, 3.5, 1.2]
    plan = asr_memory.speech_plan(600.0, 150.0, lengths)
    assert {int(start_s // 150) for start_s, _ in plan} == {0, 1, 2, 3}
    for (start_s, i), (next_s, _) in itertools.pairwise(plan):
        assert start_s + lengths[i] + asr_memory.SENTENCE_GAP_S <= next_s + 1e-9, "sentences never overlap"
    for start_s, i in plan:
        assert start_s + lengths[i] <= (start_s // 150 + 1) * 150 - asr_memory.LEAVE_S


def test_shipped_mode_prints_a_row_each_minute_and_renews_at_each_visit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(asr_memory, "CACHE", tmp_path)
    wav, speech_s = asr_memory.recording(1.0, 20.0)
    assert 15.0 < speech_s < 45.0
    summary = asr_memory.run_mode("renewed+trim", wav, 20.0)
    rows = capsys.readouterr().out.splitlines()
    minutes = [r for r in rows if re.search(r" min +\d+ ", r)]
    assert [int(m[1]) for r in minutes if (m := re.search(r" min +(\d+) ", r))] == [0, 1]
    found = re.search(r"fed +([\d.]+) s .* (\d+) words +(\d+) renewals", minutes[-1])
    assert found
    fed_s, words, renewals = float(found[1]), int(found[2]), int(found[3])
    assert speech_s < fed_s < 60.0, "speech and its pads are fed, the silences between turns are not"
    assert words > 0
    assert renewals == 2, "visits end at 20 s and 40 s; the minute's row comes before the third's end"
    visits = [int(m[1]) for r in rows if (m := re.search(r"visit +\d+ ends at .*\((\d+) renewals\)", r))]
    assert visits == [1, 2, 3], "each visit's end waits for its fresh recogniser"
    lines = summary.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["summary", "renewed+trim", "minutes"],
        ["summary", "renewed+trim", "3"],
    ]
