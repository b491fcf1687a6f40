"""A live channel that carries digital silence while the others hear sound: said once in the journal.

The installed ``listener_array`` is an ALSA ``plug``: over a card with fewer channels than the
configured array it fills the missing ones with zeros, and a dead mic or a wrong channel map reads
the same. Directions are then wrong without any error. ``listener doctor`` measures the levels at
install time; this says it on a running device, after the first WATCH_S of audio and again after
each outage (the array that comes back may be another one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from listener.audio.base import selected_channels
from listener.config import ArrayGeometry
from listener.events import AudioBlock, Event, SourceState
from listener.pipeline import Stage

log = logging.getLogger(__name__)

WATCH_S = 10.0  # audio looked at after each start of capture: long enough for anyone to have spoken


class ChannelWatch(Stage):
    """AudioBlock in, nothing out: one warning when some channels stay exactly zero while others do not."""

    name = "channel-watch"

    def __init__(self, geometry: ArrayGeometry) -> None:
        self.geometry = geometry
        self.channels = selected_channels(geometry)
        self._restart()

    def _restart(self) -> None:
        self._seen_s = 0.0
        self._zero: npt.NDArray[np.bool_] = np.ones(len(self.channels), dtype=bool)  # every sample 0 so far

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, SourceState) and event.available:
            self._restart()  # back after an outage: perhaps another device, looked at afresh
        elif isinstance(event, AudioBlock) and self._seen_s < WATCH_S:
            self._zero &= ~np.any(event.samples != 0.0, axis=0)
            self._seen_s += event.duration_s
            if self._seen_s >= WATCH_S:
                self._judge()
        return ()

    def _judge(self) -> None:
        dead = [c for c, zero in zip(self.channels, self._zero, strict=True) if zero]
        if dead and not self._zero.all():  # all zero is a muted input, which the levels cannot place
            log.warning(
                "captured channel(s) %s carry digital silence while the others hear sound: the device behind "
                "[array] device has fewer channels than the '%s' geometry, or a mic is dead; directions are "
                "wrong until it is fixed: check `arecord -l` against [array] preset and mic_channels "
                "(`listener doctor` measures each channel's level)",
                dead,
                self.geometry.preset,
            )
