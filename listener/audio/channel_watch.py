"""A channel that carries no sound while the others hear it, two that carry one signal, or no sound on
any channel (a muted capture): said once.

The installed ``listener_array`` is an ALSA ``plug``: over a card with fewer channels than the
configured array it fills the missing ones with zeros (or copies them), and a dead mic or a wrong
channel map reads the same, or sticks at a constant level. A mono mic on a stereo input hands the
same signal to both channels. Directions, or in channel-map mode the parties, are then wrong without
any error. ``listener doctor`` measures the levels at install time; this says it on a running device,
after the first WATCH_S of audio and again after each outage (the array that comes back may be
another one), by doctor's own rules (``listener.audio.levels``). A recording made that way (arecord
with too few channels, a mono file copied to several) is said the same way, once, for ``analyze``
and ``run --input``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from listener.audio.base import selected_channels
from listener.audio.levels import DEAD_DBFS, LevelMeter, dead_channels, describe_twins
from listener.config import PROCESSING_RATE_HZ, ArrayGeometry
from listener.errors import shown_path
from listener.events import AudioBlock, EndOfStream, Event, SourceState
from listener.pipeline import Stage

log = logging.getLogger(__name__)

WATCH_S = 10.0  # audio looked at after each start of capture: long enough for anyone to have spoken
MUTED_MIN_S = 1.0  # silence on every channel for less than this (a test blip, a cut) is not called a muted capture


class ChannelWatch(Stage):
    """AudioBlock in, nothing out: one warning when some channels stay under DEAD_DBFS while others do not,
    one when channels carry one signal. ``recording``: the file the audio comes from (a shorter one is
    judged at its end), else the live array."""

    name = "channel-watch"

    def __init__(self, geometry: ArrayGeometry, recording: Path | None = None) -> None:
        self.geometry = geometry
        self.recording = recording
        self.channels = selected_channels(geometry)
        self.said: list[str] = []  # every warning given, for a caller that must act on it (calibrate)
        self._restart()

    def _restart(self) -> None:
        self._meter = LevelMeter(len(self.channels))
        self._judged = False

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, SourceState) and event.available:
            self._restart()  # back after an outage: perhaps another device, looked at afresh
        elif isinstance(event, AudioBlock) and not self._judged:
            self._meter.add(event.samples)
            if self._meter.n >= WATCH_S * event.sample_rate_hz:
                self._judge()
        elif isinstance(event, EndOfStream) and self.recording is not None:
            self.finish()
        return ()

    def finish(self) -> None:
        """Judge the audio heard so far, unless already judged: a recording, or a listen shorter than WATCH_S."""
        if self._meter.n and not self._judged:
            self._judge()

    def _judge(self) -> None:
        self._judged = True
        dead = dead_channels(self._meter.dbfs(), self.channels)
        if dead and len(dead) < len(self.channels):
            self._warn(self._dead_message(dead))
        elif dead and self._meter.n >= MUTED_MIN_S * PROCESSING_RATE_HZ:
            # a real mic's own noise lies far above DEAD_DBFS: every channel under it for a while is a muted capture
            self._warn(self._muted_message())
        twins = self._meter.twins(self.channels)
        if twins:
            self._warn(self._twins_message(twins))

    def _warn(self, message: str) -> None:
        self.said.append(message)
        log.warning("%s", message)

    def _dead_message(self, dead: list[int]) -> str:
        said = f"carry no sound (under {DEAD_DBFS:.0f} dBFS) while the others hear it"
        if self.recording is not None:
            return (
                f"channel(s) {dead} of {shown_path(self.recording)} {said}: it was recorded from a device with fewer "
                f"channels than the '{self.geometry.preset}' geometry, or a mic was dead; {self._file_fix()}"
            )
        return (
            f"captured channel(s) {dead} {said}: the device behind [array] device has fewer channels than the "
            f"'{self.geometry.preset}' geometry, or a mic is dead; directions are wrong until it is fixed: check "
            "`arecord -l` against [array] preset and mic_channels (`listener doctor` measures each channel's level)"
        )

    def _muted_message(self) -> str:
        said = f"carries no sound on any channel (under {DEAD_DBFS:.0f} dBFS: digital silence)"
        if self.recording is not None:
            return (
                f"{shown_path(self.recording)} {said}: it was recorded from a muted input or with the capture gain at "
                "0; record it again with the mixer's capture on (`alsamixer -c <card>`)"
            )
        return (
            f"the array {said}: its capture is muted or its gain at 0, so nobody can be heard: switch the capture "
            "on in `alsamixer -c <card>` (`listener doctor` measures each channel's level)"
        )

    def _twins_message(self, twins: list[tuple[int, int]]) -> str:
        """What channels carrying one signal mean, and what to check: the parties' two mics, or the array's."""
        geo, where = self.geometry, "" if self.recording is None else f" of {shown_path(self.recording)}"
        if geo.mode == "channels":
            what = (
                f"the rep's channel {geo.rep_channel} and the customer's channel {geo.customer_channel}{where} carry "
                "the same signal (a mono mic on a stereo input, or a plug copying one channel): the parties cannot be "
                "told apart"
            )
            if self.recording is not None:
                return f"{what} in this analysis: record each party's mic on its own channel"
            return (
                f"{what} until each has its own mic: check `arecord -l` and the wiring against [parties] rep_channel "
                "and customer_channel"
            )
        what = f"{describe_twins(twins)}{where} carry the same signal (copies"
        if self.recording is not None:
            return f"{what}: a recording with fewer channels than the '{geo.preset}' geometry); {self._file_fix()}"
        return (
            f"captured {what}: the device behind [array] device has fewer channels than the '{geo.preset}' geometry, "
            "or a mono input feeds several): directions are wrong until it is fixed: check `arecord -l` against "
            "[array] preset and mic_channels"
        )

    def _file_fix(self) -> str:
        return (
            "directions in this analysis are wrong: record it again from the array with all its channels "
            f"(`arecord -D listener_array -c {self.geometry.capture_channels} ...`), or set [array] preset and "
            "mic_channels to what the file holds"
        )
