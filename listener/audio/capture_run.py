"""One opened capture stream, from its open (or reopen) until it ends or the device is lost.

PortAudio calls :meth:`CaptureRun.callback` on its own thread; it only copies
into the bounded ring and notes when audio last came, so the reader
(:class:`~listener.audio.live.LiveSource`) can tell a lost device from a quiet one. A
:class:`Reaper` releases each run on a helper thread, so a driver that hangs in its close holds up no one.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyaudio

from listener.audio.devices import InputDevice, end_portaudio
from listener.audio.ring import FrameRing, Gap
from listener.config import PROCESSING_RATE_HZ
from listener.config.schema import ArrayConfig
from listener.errors import DriverWedgedError

log = logging.getLogger(__name__)

LOST_AFTER_S = 1.0  # no callback for this long while the stream should run: the device is gone
# a longer hole between capture timestamps is not believed (a driver clock glitch): the overrun is said, unmeasured
MAX_OVERRUN_S = 60
MAX_PERIOD_MS = 100  # the capture period: [array] block_ms, up to this
WEDGED_AFTER_S = 60.0  # a stream still not closed after this: only a new process frees the driver


@dataclass(eq=False)
class CaptureRun:
    """One opened stream: from open (or reopen) until it ends or the device is lost."""

    pa: pyaudio.PyAudio
    device: InputDevice
    ring: FrameRing
    rate_hz: int
    channels: int
    stream: pyaudio.Stream | None = None
    base_pos_samples: int = 0  # stream clock (processing samples) when this run began
    in_frames: int = 0  # capture frames consumed by the reader, gaps included
    last_data_s: float = field(default_factory=time.monotonic)  # monotonic clock of the latest callback
    # when the reader woke from a stall of its own (the process stopped, a starved CPU): PortAudio's thread
    # stalled with it and calls back only once it has recovered the overrun, so silence before this is no loss
    reader_woke_s: float = -math.inf
    _next_adc_s: float | None = None

    def captured_pos_samples(self) -> float:
        """The stream clock (processing samples) up to which this run has captured, read or not (any thread)."""
        return self.base_pos_samples + self.ring.written_frames * PROCESSING_RATE_HZ / self.rate_hz

    def callback(
        self, in_data: bytes | None, frame_count: int, time_info: Mapping[str, float], status: int
    ) -> tuple[None, int]:
        if status & pyaudio.paInputOverflow:
            self._note_overrun(time_info)
        if in_data:
            self.ring.write(np.frombuffer(in_data, dtype=np.int16).reshape(-1, self.channels))
        adc_s = time_info.get("input_buffer_adc_time", 0.0)
        self._next_adc_s = adc_s + frame_count / self.rate_hz if adc_s > 0 else None
        self.last_data_s = time.monotonic()
        return None, pyaudio.paContinue

    def _note_overrun(self, time_info: Mapping[str, float]) -> None:
        # PortAudio does not say how much it lost; the capture timestamps do, when the driver gives them.
        adc_s = time_info.get("input_buffer_adc_time", 0.0)
        lost = 0
        if adc_s > 0 and self._next_adc_s is not None:
            lost = round((adc_s - self._next_adc_s) * self.rate_hz)
        self.ring.lose(lost if 0 < lost <= MAX_OVERRUN_S * self.rate_hz else 0, "overflow")

    def lost_reason(self) -> str | None:
        try:
            active = self.stream is not None and self.stream.is_active()
        except OSError as exc:
            return f"the stream of '{self.device.name}' failed: {exc}"
        if not active:
            return f"the stream of '{self.device.name}' stopped"
        now_s = time.monotonic()
        if now_s - max(self.last_data_s, self.reader_woke_s) > LOST_AFTER_S:
            return f"no audio from '{self.device.name}' for {now_s - self.last_data_s:.1f} s"
        return None

    def release(self) -> None:
        """Close the stream (aborting it) and PortAudio; may block on a wedged driver."""
        try:
            if self.stream is not None:
                self.stream.close()
        except OSError as exc:
            log.debug("closing the stream of '%s': %s", self.device.name, exc)
        finally:
            end_portaudio(self.pa)


def release_after(previous: threading.Thread | None, run: CaptureRun) -> None:
    """Release ``run`` once ``previous`` (an earlier release) has ended (a helper thread's target)."""
    if previous is not None:
        previous.join()  # PortAudio is one library-wide state: terminate in order
    try:
        run.release()
    except Exception:  # a thread has nobody to raise to
        log.exception("releasing the audio input '%s' failed", run.device.name)


class Reaper:
    """Releases retired runs on helper threads, in order: a wedged driver must not hang the pipeline."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None  # the latest release, until it is seen to have ended
        self._since_s = 0.0  # when the stream it closes was handed to it

    def retire(self, run: CaptureRun) -> None:
        self.join(0.0)
        thread = threading.Thread(
            target=release_after, args=(self.thread, run), name="listener-audio-close", daemon=True
        )
        self.thread, self._since_s = thread, time.monotonic()
        thread.start()

    def check_wedged(self) -> None:
        """Give up on a driver that has held the old stream for WEDGED_AFTER_S: exit, and systemd restarts us."""
        if self.thread is not None and self.thread.is_alive() and time.monotonic() - self._since_s >= WEDGED_AFTER_S:
            raise DriverWedgedError(
                f"the audio driver has not let go of the array for {WEDGED_AFTER_S:.0f} s: stopping so that"
                " a restart frees it (the service restarts by itself); if it keeps happening, replug the array"
                " or reboot"
            )

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the releases; False while one is still closing its stream."""
        if self.thread is None:
            return True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            return False
        self.thread = None
        return True


def gap_message(gap: Gap, capture_rate_hz: int, array: ArrayConfig, met: int) -> str:
    """What was lost, and where to look: a late driver and a slow pipeline have different fixes. ``met``: the
    gaps read so far, this one included (the ring's own count already holds the ones still ahead in it)."""
    # a driver without (believable) capture timestamps flags an overrun without saying how much it lost
    lost = (
        f"{gap.frames / capture_rate_hz:.2f} s of audio lost"
        if gap.frames
        else "an overrun of unknown length lost audio"
    )
    count = f"{met} overflow{'s' if met != 1 else ''} so far"
    if gap.cause == "ring_full":
        return (
            f"audio {gap.reason}: {lost} ({count}): the ring ([array]"
            f" buffer_s = {array.buffer_s:g} s) filled up because the pipeline is falling behind"
            " the input. Fix: find what takes the CPU (`top`; `listener doctor` times the turn model's step);"
            " a larger buffer_s only rides out short stalls"
        )
    longer = (
        f", or raise [array] block_ms (now {array.block_ms} ms; it is also the capture period, up to"
        f" {MAX_PERIOD_MS} ms, and the privacy button's delay)"
        if array.block_ms < MAX_PERIOD_MS
        else ""
    )
    return (
        f"audio {gap.reason} in the driver: {lost} before it reached the ring ({count}):"
        " PortAudio's capture thread was late, not the pipeline. Fix: find what loads the"
        " system (`top`) or throttles it (`vcgencmd get_throttled` other than 0x0: undervoltage or heat),"
        f" plug the array into the Pi rather than a USB hub{longer}"
    )
