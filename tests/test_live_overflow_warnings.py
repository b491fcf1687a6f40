"""How often LiveSource's overflow warnings reach the journal, on a real PortAudio stream from an ALSA file
PCM (see tests/alsa_device.py) whose driver side tests/live_source.py scripts."""

from __future__ import annotations

import logging
import re
import time

import pytest

from listener.audio import live
from listener.audio.live import LiveSource
from listener.events import AudioDropped, Event
from tests import alsa_device
from tests.alsa_device import TestDevice
from tests.live_source import audio_s, live_config, run_source, script_driver

alsa_config = alsa_device.alsa_config  # fixtures
test_array = alsa_device.test_array


def test_the_overflow_warnings_thinning_starts_over_each_day(
    test_array: TestDevice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The 1st, 2nd, 4th, 8th ... overflow of a cause is said: for the life of the process, so on a device up
    for weeks a recurring fault came down to a line a fortnight. The doubling now starts over once
    SAY_AGAIN_AFTER_S (a day; here 1 s) has passed since it began: the 3rd, met after it, is said, and
    the 4th as the second of the new day; the 5th, on that day's doubling, is not."""
    monkeypatch.setattr(live, "SAY_AGAIN_AFTER_S", 1.0)
    script_driver(monkeypatch, lambda _stream, period: 0.1 if period in (5, 8, 11, 14, 17) else 0.0)

    def a_day_after_the_second(event: Event, events: list[Event]) -> bool:
        if isinstance(event, AudioDropped) and sum(isinstance(e, AudioDropped) for e in events) == 2:
            time.sleep(1.2)  # the pipeline reads on after the day is over
        return audio_s(events) >= 2.5

    with (
        caplog.at_level(logging.WARNING, logger=live.__name__),
        LiveSource(live_config(block_ms=100, buffer_s=10.0)) as source,
    ):
        run_source(source, a_day_after_the_second)
    said = [r.getMessage() for r in caplog.records if "in the driver" in r.getMessage()]
    assert [re.findall(r"\((\d+) overflows? so far\)", m) for m in said] == [["1"], ["2"], ["3"], ["4"]], said
