"""A recogniser that cannot keep up with live audio says so in the journal, thinned, and when it keeps up again.

It used to be told only as ``TranscriptionSkipped`` events, which the cue tally alone reads: the session
summaries read ``asr_partial`` and nothing else, the state at listening.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from listener.transcription.lag import LagNotice
from tests import asr_audio
from tests.asr_pipeline import asr_config, run_pipeline
from tests.test_transcription_realtime import slow_recogniser

STAGE_LOG = "listener.transcription"


def test_a_recogniser_that_falls_behind_says_so_once_with_the_fixes(
    ko_model: Path,
    ko_dialogue: tuple[Path, list[dict[str, object]]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the dialogue read flat out with "skip" is a live stream the slowed recogniser cannot follow
    slow_recogniser(monkeypatch)
    config = asr_config(ko_model, queue_s=1.0, overflow="skip", finish_wait_s=0.0)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger=STAGE_LOG):
        run_pipeline(config, ko_dialogue[0])
    assert time.monotonic() - t0 < 10.0
    said = [r for r in caplog.records if "cannot keep up" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    assert said[0].levelno == logging.WARNING
    message = said[0].getMessage()
    assert "[asr] queue_s" in message and "[asr] speech_only is on" in message and "CPU" in message


def test_the_warning_is_thinned_and_the_catching_up_said_once(caplog: pytest.LogCaptureFixture) -> None:
    notice = LagNotice(queue_s=10.0, speech_only=False)
    with caplog.at_level(logging.INFO, logger=STAGE_LOG):
        for t_s in range(30, 300, 10):  # skipping, every 10 s for 4.5 minutes: one warning
            notice.skipped(5.0, float(t_s))
            notice.tick(float(t_s))
        notice.tick(289.0 + 60.0)
        assert not [r for r in caplog.records if "keeps up again" in r.getMessage()]
        notice.tick(290.0 + 60.0)  # a minute without a skip (reliability.md: "nothing was skipped for 60 s")
        assert "keeps up again" in caplog.records[-1].getMessage()
        notice.tick(400.0)
        notice.skipped(5.0, 420.0)  # behind again within 10 min of the warning: not said again, nor its end
        notice.tick(420.0 + 60.0)
        notice.skipped(2.5, 30.0 + 600.0)  # ten minutes after the first: said, with the total so far
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == [logging.WARNING, logging.INFO, logging.WARNING], messages
    assert "5.0 s of it skipped in the 30 s" in messages[0][1]
    assert "set [asr] speech_only = true" in messages[0][1]
    assert "keeps up again" in messages[1][1] and "135.0 s skipped in all" in messages[1][1]
    assert "142.5 s of it skipped in the 630 s" in messages[2][1]


def test_a_recogniser_that_keeps_up_says_nothing(
    ko_model: Path, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # the dialogue's first two lines, read flat out with overflow "wait": a warning at the first block would show
    # as well as on the whole dialogue, which took twice as long
    with caplog.at_level(logging.INFO, logger=STAGE_LOG):
        run_pipeline(asr_config(ko_model, overflow="wait"), asr_audio.session_dialogue(tmp_path_factory, 2, 8.0)[0])
    assert not [r.getMessage() for r in caplog.records if "keep up" in r.getMessage()]
