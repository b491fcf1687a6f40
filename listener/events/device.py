"""The device: its mode (LEDs, MQTT state) and the privacy button."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from listener.events.base import Event


class DeviceMode(StrEnum):
    LISTENING = "listening"
    PAUSED = "paused"
    FAULT = "fault"


# The parts that report a mode ("device": a report that names no part; "microphones": the array's
# channels carrying no sound, listener.audio.channel_watch; "leds": a status light's pin that cannot be
# written, listener.outputs.leds; "turn_model": the model failing mid-run, listener.turns.fallback); the input
# device's own reports are SourceState events.
DeviceCause = Literal["device", "button", "broker", "transcription", "microphones", "leds", "turn_model"]


@dataclass(frozen=True, slots=True)
class DeviceState(Event):
    """What one part of the device reports (``cause``), for the LEDs and the ``state`` topic.

    Each cause is kept apart (:class:`listener.outputs.condition.DeviceCondition`):
    the broker coming back ends the broker's fault, not a privacy pause.
    """

    t_s: float
    mode: DeviceMode
    detail: str
    cause: DeviceCause = "device"


@dataclass(frozen=True, slots=True)
class RecalibrateRequested(Event):
    """The privacy button was held long: re-learn the rep's direction.

    Logged with the calibrate command to run; the terminal view counts it.
    """

    t_s: float
