"""What doctor holds back while its checks run, and what it gives back after: the log lines of the parts it
opens unless the log level is debug, and Kaldi's stderr while a model loads (the whole report, end to end:
test_doctor_report)."""

from __future__ import annotations

import logging
import os

import pytest

from listener.service.doctor.quiet import no_stderr, own_lines_only


def test_with_debug_logging_nothing_is_held_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="listener")  # service.log_level = "debug": someone asked to see it all
    with own_lines_only():
        logging.getLogger("listener.audio.live").info("capturing 4 channels")
    assert "capturing 4 channels" in caplog.text


def test_the_info_lines_of_the_parts_doctor_opens_are_held_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="listener")
    with own_lines_only():
        logging.getLogger("listener.audio.live").info("capturing 4 channels")
    logging.getLogger("listener.audio.live").info("after the report")
    assert "capturing 4 channels" not in caplog.text and "after the report" in caplog.text


def test_stderr_goes_to_stderr_again_after_a_model_load_was_hushed(capfd: pytest.CaptureFixture[str]) -> None:
    with no_stderr():
        os.write(2, b"ERROR (VoskAPI:Model())\n")  # what Kaldi writes past Python's sys.stderr
    os.write(2, b"after\n")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "after\n")
