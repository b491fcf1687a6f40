"""The interface every audio source implements."""

from __future__ import annotations

import abc
import time
from collections.abc import Iterable, Iterator

import numpy as np
import soxr

from listener.config import ArrayGeometry
from listener.events import AudioBlock, AudioDropped, Event, SourceState
from listener.lifecycle import Managed

# why one channel, from a file or an input device, is refused whatever the config: no preset or mics fit it
ONE_MIC = "one mic cannot tell the rep from the customer"
# An array that opens and then delivers nothing at all never ran its clock: a loose cable stops audio that flowed
NO_AUDIO_FIX = (
    "look at the array's driver and clock, not its cable: an I2S HAT whose overlay did not load, or loaded without"
    " its clock (its dtoverlay line in /boot/firmware/config.txt, then reboot; `dmesg | grep -i -e i2s -e snd`"
    " shows a failed probe), or a card another program holds (`fuser -v /dev/snd/*`)"
)


def resampled(resampler: soxr.ResampleStream, samples: np.ndarray, last: bool = False) -> np.ndarray:
    """``samples`` at the processing rate, within [-1, 1] as :class:`AudioBlock` promises: a loud recording's
    waveform overshoots full scale once resampled (1.42 from full-scale 16-bit noise at 16001 Hz)."""
    out = resampler.resample_chunk(samples, last=last)
    return np.clip(out, -1.0, 1.0, out=out)


def selected_channels(geo: ArrayGeometry) -> list[int]:
    """Captured channels handed on, in order: the mics, or (channel-map mode) rep then customer."""
    if geo.mode == "channels":
        return [geo.rep_channel, geo.customer_channel]
    return list(geo.mic_channels)


class AudioSource(Managed, abc.ABC):
    """Yields :class:`~listener.events.AudioBlock` (and gap / state events).

    Blocks hold only the array's mic channels, in the order of the
    configured geometry, at the processing rate. The stream clock
    (``start_s``) never jumps backwards and never skips silently: lost audio
    is announced with :class:`~listener.events.AudioDropped`.
    """

    @abc.abstractmethod
    def events(self) -> Iterator[Event]:
        """Blocks until the source ends (files) or is closed (live)."""

    def stop(self) -> None:
        """Ask :meth:`events` to finish soon (from another thread or a signal)."""

    def captured_s(self) -> float | None:
        """The stream time up to which audio has been captured, handed on or not (any thread); None: nothing
        is captured apart from what :meth:`events` reads (a file)."""
        return None


def events_until(source: AudioSource, listen_s: float, timeout_s: float) -> Iterable[Event]:
    """Events of ``source`` until ``listen_s`` of audio arrived (or ``timeout_s`` of wall time passed).

    Counted in samples: ten 0.1 s blocks add up to a hair under 1.0 s in floats, which read one block more.
    """
    have_samples = 0
    deadline_s = time.monotonic() + timeout_s
    for event in source.events():
        yield event
        if isinstance(event, AudioBlock):
            have_samples += event.samples.shape[0]
            if have_samples >= round(listen_s * event.sample_rate_hz):
                source.stop()
        if time.monotonic() > deadline_s:
            source.stop()


def lost_detail(event: Event) -> str | None:
    """Why the array stopped delivering, if ``event`` says it did (None otherwise)."""
    if isinstance(event, SourceState) and not event.available:
        return event.detail
    if isinstance(event, AudioDropped) and event.reason == "device_lost":  # (always after such a SourceState)
        return "the audio input was lost"
    return None
