"""A live channel that carries no sound while the others hear it, or two that carry one signal: said
once in the journal.

The installed ``listener_array`` is an ALSA ``plug``: over a card with fewer channels than the
configured array it fills the missing ones with zeros, and a dead mic or a wrong channel map reads
the same, or sticks at a constant level. A mono mic on a stereo input hands the same signal to both
channels, as a plug that copies one channel does. Directions, or in channel-map mode the parties,
are then wrong without any error. ``listener doctor`` measures the levels at install time; this says
it on a running device, after the first WATCH_S of audio and again after each outage (the array that
comes back may be another one), by doctor's own rules (``listener.audio.levels``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from listener.audio.base import selected_channels
from listener.audio.levels import DEAD_DBFS, LevelMeter, dead_channels, describe_twins
from listener.config import ArrayGeometry
from listener.events import AudioBlock, Event, SourceState
from listener.pipeline import Stage

log = logging.getLogger(__name__)

WATCH_S = 10.0  # audio looked at after each start of capture: long enough for anyone to have spoken


class ChannelWatch(Stage):
    """AudioBlock in, nothing out: one warning when some channels stay under DEAD_DBFS while others do not,
    one when channels carry one signal."""

    name = "channel-watch"

    def __init__(self, geometry: ArrayGeometry) -> None:
        self.geometry = geometry
        self.channels = selected_channels(geometry)
        self._restart()

    def _restart(self) -> None:
        self._meter = LevelMeter(len(self.channels))

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, SourceState) and event.available:
            self._restart()  # back after an outage: perhaps another device, looked at afresh
        elif isinstance(event, AudioBlock) and self._meter.n < WATCH_S * event.sample_rate_hz:
            self._meter.add(event.samples)
            if self._meter.n >= WATCH_S * event.sample_rate_hz:
                self._judge()
        return ()

    def _judge(self) -> None:
        dead = dead_channels(self._meter.dbfs(), self.channels)
        if dead and len(dead) < len(self.channels):  # all silent is a muted input, which the levels cannot place
            log.warning(
                "captured channel(s) %s carry no sound (under %.0f dBFS) while the others hear it: the device behind "
                "[array] device has fewer channels than the '%s' geometry, or a mic is dead; directions are "
                "wrong until it is fixed: check `arecord -l` against [array] preset and mic_channels "
                "(`listener doctor` measures each channel's level)",
                dead,
                DEAD_DBFS,
                self.geometry.preset,
            )
        twins = self._meter.twins(self.channels)
        if twins:
            log.warning("%s", twins_message(twins, self.geometry))


def twins_message(twins: list[tuple[int, int]], geo: ArrayGeometry) -> str:
    """What channels carrying one signal mean, and what to check: the parties' two mics, or the array's."""
    if geo.mode == "channels":
        return (
            f"the rep's channel {geo.rep_channel} and the customer's channel {geo.customer_channel} carry the "
            "same signal (a mono mic on a stereo input, or a plug copying one channel): the parties cannot be told "
            "apart until each has its own mic: check `arecord -l` and the wiring against [parties] rep_channel and "
            "customer_channel"
        )
    return (
        f"captured {describe_twins(twins)} carry the same signal (copies: the device behind [array] device has "
        f"fewer channels than the '{geo.preset}' geometry, or a mono input feeds several): directions are wrong "
        "until it is fixed: check `arecord -l` against [array] preset and mic_channels"
    )
