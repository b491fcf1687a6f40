"""A live array whose channels carry digital silence (a plug over a smaller card, a dead mic) is said once.

Real capture: pyaudio reading the private ALSA test device, whose infiles hold the channels.
"""

from __future__ import annotations

import logging

import pytest

from listener.audio.channel_watch import WATCH_S, ChannelWatch
from listener.audio.live import LiveSource
from listener.config import geometry
from listener.events import AudioBlock, Event
from tests import alsa_device
from tests.alsa_device import AlsaConfig, tones
from tests.live_source import live_config, run_source

alsa_config = alsa_device.alsa_config  # fixture


def _watched(alsa_config: AlsaConfig, dead: list[int], caplog: pytest.LogCaptureFixture) -> list[str]:
    signal = tones(16000, WATCH_S + 1.5, 4)
    signal[:, dead] = 0  # what a plug over a 2-channel card hands on for the missing two
    alsa_config.add("listener_test_array", signal, 16000)
    config = live_config()
    watch = ChannelWatch(geometry(config))

    def step(event: Event, events: list[Event]) -> bool:
        watch.process(event)
        heard_s = sum(e.duration_s for e in events if isinstance(e, AudioBlock))
        return heard_s >= WATCH_S + 0.5

    with caplog.at_level(logging.WARNING, logger="listener.audio.channel_watch"), LiveSource(config) as source:
        run_source(source, step, timeout_s=30.0)
    return [r.getMessage() for r in caplog.records if r.name == "listener.audio.channel_watch"]


def test_channels_of_digital_silence_are_said_once(alsa_config: AlsaConfig, caplog: pytest.LogCaptureFixture) -> None:
    (said,) = _watched(alsa_config, [2, 3], caplog)
    assert said.startswith("captured channel(s) [2, 3] carry digital silence while the others hear sound")
    assert "'respeaker-4mic' geometry" in said and "arecord -l" in said


def test_an_array_whose_channels_all_hear_is_not_flagged(
    alsa_config: AlsaConfig, caplog: pytest.LogCaptureFixture
) -> None:
    assert _watched(alsa_config, [], caplog) == []
