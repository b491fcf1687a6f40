"""Audio sources (listener/audio): blocks of samples, gaps, the device coming and going."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from listener.events.base import Event, FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class AudioBlock(Event):
    """Consecutive multi-channel samples at the processing rate.

    ``samples`` has shape (n_samples, n_channels), float32 in [-1, 1].
    """

    start_s: float
    sample_rate_hz: int
    samples: FloatArray = field(repr=False)  # audio: never printed into a log line or a traceback
    # of these, the seconds a float WAV held as NaN or infinite samples on every channel here, played as silence: not
    # the recording's sound, so the channel watch does not judge it (a NaN lead-in was called a recording from a muted
    # input); a channel NaN alone is judged, as a dead one
    not_numbers_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate_hz

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


# overflow: audio lost on the way in (the ring full: the pipeline fell behind; or PortAudio's own overrun:
# its capture thread came late), one reason for both as the dashboards sum them; the journal tells them apart;
# device_lost: the input device is gone; paused: the privacy button withholds the audio
DropReason = Literal["overflow", "device_lost", "paused"]


@dataclass(frozen=True, slots=True)
class AudioDropped(Event):
    """Audio the source could not deliver (overflow, device lost, paused).

    The stream clock still advances by ``duration_s``: a gap is silence to
    the front end, never a shift of later audio; the analytics count it as
    unheard, not as silence.
    """

    start_s: float
    duration_s: float
    reason: DropReason

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class SourceState(Event):
    """The input device went away or came back."""

    t_s: float
    available: bool
    detail: str


@dataclass(frozen=True, slots=True)
class EndOfStream(Event):
    """The source is exhausted; stages flush and emit what they still hold."""

    t_s: float
