"""bench.calm for real on the bundled sample: the looks the lights showed, read back as episodes."""

from __future__ import annotations

import itertools
import re

import pytest

from bench.calm import looks_of, main, report
from listener.config import parse_config
from listener.service.runner import sample_conversation


def test_the_sample_shows_calm_and_one_interruption_pulse(capsys: pytest.CaptureFixture[str]) -> None:
    episodes = looks_of(sample_conversation(), parse_config({}))
    # the sample is 28 s: too short for dominance (30 s of speech), so calm green throughout, and the
    # rep's one interruption pulses for interrupting_display_s
    assert [e.look for e in episodes] == ["listening", "listening+pulse", "listening"]
    assert episodes[0].start_s == 0.0 and episodes[-1].end_s == pytest.approx(27.6, abs=0.1)
    assert episodes[1].duration_s == pytest.approx(parse_config({}).analytics.interrupting_display_s, abs=0.2)
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(episodes))
    assert report("x", episodes)[0].startswith("x: 28 s, 2 changes of look")
    assert main([str(sample_conversation())]) == 0
    assert re.search(r"listening\+pulse +1 times", capsys.readouterr().out)
