"""The live microphone array through PortAudio (pyaudio), with overflow and device-loss handling.

PortAudio calls :meth:`~listener.audio.capture_run.CaptureRun.callback` on its own thread; the callback only
copies into a bounded :class:`~listener.audio.ring.FrameRing`. The
pipeline's thread (:meth:`LiveSource.events`) turns the ring into blocks at
the processing rate. The stream clock is samples delivered plus samples
announced as dropped, never wall time; only while the device is gone is
the missing wall time announced as dropped audio, so later timestamps
still line up with the clock on the wall.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Generator, Iterator

import numpy as np
import pyaudio
import soxr

from listener.audio.base import AudioSource, resampled, selected_channels
from listener.audio.capture_run import LOST_AFTER_S, MAX_PERIOD_MS, CaptureRun, Reaper, gap_message
from listener.audio.devices import (
    InputDevice,
    choose_device,
    default_input_index,
    end_portaudio,
    input_devices,
    party_channels,
    start_portaudio,
)
from listener.audio.plugins import PluginHold
from listener.audio.ring import FrameRing, Frames, Gap, LossCause
from listener.audio.stream_open import format_refused, open_stream
from listener.config import PROCESSING_RATE_HZ, Config, geometry
from listener.errors import AudioFormatError, AudioInputError, DeviceOpenError, ListenerError, NotOpenError
from listener.events import AudioBlock, AudioDropped, DropReason, Event, FloatArray, SourceState

log = logging.getLogger(__name__)

POLL_S = 0.1  # how long the reader waits for audio before it checks the device and stop()
OUTAGE_TICK_S = 0.25  # while the device is lost, dropped audio is told this often
SAY_AGAIN_AFTER_S = 86400.0  # the overflow warnings' thinning starts over this often: a fault of weeks is said daily
CLOSE_TIMEOUT_S = 2.0  # a driver that takes longer to close is left to finish in the background
CLOSED_WITHIN_S = 0.1  # a lost stream's close takes under 1 ms (0.4 measured): the reopen at once waits for it
INT16_SCALE = 1.0 / 32768.0


class LiveSource(AudioSource):
    """The configured array, live. Use as a context manager; :meth:`events` runs until :meth:`stop`.

    ``wait``: an array that is absent at start is waited for (announced as
    lost, reopened every ``reopen_interval_s``) instead of an error, as a
    service that boots before its USB array should.
    """

    def __init__(self, config: Config, wait: bool = False) -> None:
        self.config = config
        self.wait = wait
        self.geometry = geometry(config)
        self.capture_rate_hz = config.array.sample_rate
        self.channels = selected_channels(self.geometry)
        self.block_samples = max(1, PROCESSING_RATE_HZ * config.array.block_ms // 1000)
        self._read_frames = max(1, self.capture_rate_hz * config.array.block_ms // 1000)
        self._period_frames = max(1, self.capture_rate_hz * min(config.array.block_ms, MAX_PERIOD_MS) // 1000)
        self._stop = threading.Event()
        self._run: CaptureRun | None = None
        self._reaper = Reaper()
        self._resampler: soxr.ResampleStream | None = None
        self._pending: list[FloatArray] = []
        self._pos_samples = 0  # stream clock in processing samples: delivered + announced as dropped
        self._past_overflows = 0
        self._gaps_met: dict[LossCause, int] = {"ring_full": 0, "driver": 0}  # gaps logged or not, per cause
        self._thinning: dict[LossCause, tuple[int, float]] = {}  # gaps met before its doubling began, and when
        self._missing: str | None = None  # why the array was not there at open (``wait``)
        self._lost_announced = False
        self._capturing_said = False  # "capturing ..." at INFO: the first stream only, not each reopen
        self._format_refused = False  # an open was refused for its rate or channels: ask first from then on
        self._heard = False  # audio has come (a device that comes only after the wait at start "arrives")
        self._back_pending: str | None = None  # reopened device, announced once its audio flows
        self._unusable: str | None = None  # the last reason a present device could not be used, as logged
        self._tried_s = -math.inf  # when the latest reopen attempt began: the next one waits reopen_interval_s
        self._plugins = PluginHold()  # ALSA's plugin libraries, kept loaded between attempts while the array is away

    @property
    def device(self) -> InputDevice | None:
        return self._run.device if self._run is not None else None

    @property
    def overflow_count(self) -> int:
        """Overflow incidents so far (ring full, or PortAudio reported an input overrun)."""
        run = self._run
        return self._past_overflows + (run.ring.overflow_count if run is not None else 0)

    def open(self) -> None:
        if self._run is not None:
            return
        self._stop.clear()
        self._pending = []
        self._resampler = None
        if self.capture_rate_hz != PROCESSING_RATE_HZ:
            self._resampler = soxr.ResampleStream(
                self.capture_rate_hz, PROCESSING_RATE_HZ, len(self.channels), dtype="float32"
            )
        self._missing = None
        try:
            self._run = self._start_run()
        except (AudioInputError, AudioFormatError) as exc:
            # the service waits for a usable array either way, showing the fault, as it does when one
            # goes missing mid-run: an array in the wrong mode can be replugged or reconfigured
            if not self.wait:
                raise
            self._missing = str(exc)
            if isinstance(exc, AudioFormatError | DeviceOpenError):
                self._unusable = str(exc)  # said now: the retries do not repeat it
            log.warning("%s; waiting for it (retrying every %.1f s)", exc, self.config.array.reopen_interval_s)

    def close(self) -> None:
        self._stop.set()
        run, self._run = self._run, None
        if run is not None:
            run.ring.wake()
            self._past_overflows += run.ring.overflow_count
            self._reaper.retire(run)
        self._plugins.release()
        self._join_reaper(CLOSE_TIMEOUT_S)

    def stop(self) -> None:
        self._stop.set()
        run = self._run
        if run is not None:
            run.ring.wake()

    def captured_s(self) -> float | None:
        """What the callback has captured, read or not: a pipeline behind leaves the rest in the ring."""
        run = self._run
        return (self._pos_samples if run is None else run.captured_pos_samples()) / PROCESSING_RATE_HZ

    def events(self) -> Iterator[Event]:
        if self._run is None and self._missing is None:
            raise NotOpenError("LiveSource")
        if self._run is None and self._missing is not None:
            self._lost_announced = True
            yield SourceState(t_s=self._pos_samples / PROCESSING_RATE_HZ, available=False, detail=self._missing)
            yield from self._reopen(time.monotonic())
        polled_s = time.monotonic()
        while not self._stop.is_set():
            run = self._run
            if run is None:
                break
            item = run.ring.read(self._read_frames, POLL_S)
            polled_s = self._note_stall(run, polled_s)
            if isinstance(item, Gap):
                yield from self._on_gap(run, item)
            elif item is not None:
                yield from self._on_frames(run, item)
            elif not self._stop.is_set():
                reason = run.lost_reason()
                if reason is not None:
                    yield from self._recover(run, reason)
                    polled_s = time.monotonic()  # the reopening's wait was no stall
        yield from self._flush()

    @staticmethod
    def _note_stall(run: CaptureRun, polled_s: float) -> float:
        """After a poll: if the reader itself went unscheduled for LOST_AFTER_S (the process stopped, the CPU
        starved or throttled), the callback gets LOST_AFTER_S from now to come back before the array counts
        as lost; what the stall cost comes as the driver's overflow. Returns this poll's time."""
        now_s = time.monotonic()
        if now_s - polled_s > LOST_AFTER_S:
            run.reader_woke_s = now_s
        return now_s

    # --- audio -------------------------------------------------------------

    def _on_frames(self, run: CaptureRun, frames: Frames) -> Iterator[Event]:
        if self._back_pending is not None:
            # only now, with audio flowing: a device that opens but stays silent is not "back"
            name, self._back_pending, self._lost_announced = self._back_pending, None, False
            self._unusable = None  # the next outage's unusable device is news again, even for the same reason
            self._plugins.release()  # the outage is over: a stream that ends for good unloads them, as before
            # waited for since the start, it arrives: it was never there to come back
            came, state = ("back", "is back") if self._heard else ("arrived", "has arrived")
            log.warning("audio input %s: '%s'", came, name)
            yield SourceState(t_s=self._pos_samples / PROCESSING_RATE_HZ, available=True, detail=f"'{name}' {state}")
        self._heard = True
        run.in_frames += frames.shape[0]
        samples = frames[:, self.channels].astype(np.float32) * np.float32(INT16_SCALE)
        if self._resampler is not None:
            samples = resampled(self._resampler, samples)
        self._pending.append(samples)
        pending = sum(p.shape[0] for p in self._pending)
        if pending < self.block_samples:
            return
        joined = np.concatenate(self._pending)
        n_blocks = pending // self.block_samples
        for k in range(n_blocks):
            yield self._block(joined[k * self.block_samples : (k + 1) * self.block_samples])
        rest = joined[n_blocks * self.block_samples :]
        self._pending = [rest] if rest.shape[0] else []

    def _block(self, samples: FloatArray) -> AudioBlock:
        block = AudioBlock(
            start_s=self._pos_samples / PROCESSING_RATE_HZ,
            sample_rate_hz=PROCESSING_RATE_HZ,
            samples=np.ascontiguousarray(samples),
        )
        self._pos_samples += samples.shape[0]
        return block

    def _flush(self) -> Iterator[Event]:
        """Hand on everything held back (resampler tail, part block) before a gap or the end."""
        if self._resampler is not None:
            empty = np.zeros((0, len(self.channels)), dtype=np.float32)
            self._pending.append(resampled(self._resampler, empty, last=True))
            self._resampler.clear()
        pending = [p for p in self._pending if p.shape[0]]
        self._pending = []
        if pending:
            yield self._block(np.concatenate(pending))

    def _on_gap(self, run: CaptureRun, gap: Gap) -> Iterator[Event]:
        yield from self._flush()
        run.in_frames += gap.frames
        # Re-derive the clock from capture frames so resampler rounding never accumulates.
        target = (
            run.base_pos_samples
            + (run.in_frames * PROCESSING_RATE_HZ + self.capture_rate_hz // 2) // self.capture_rate_hz
        )
        met = self._gaps_met[gap.cause] = self._gaps_met[gap.cause] + 1
        if self._due(gap.cause, met):
            log.warning("%s", gap_message(gap, self.capture_rate_hz, self.config.array, sum(self._gaps_met.values())))
        yield from self._drop(target - self._pos_samples, gap.reason)

    def _due(self, cause: LossCause, met: int) -> bool:
        """The 1st, 2nd, 4th, 8th ... gap of a cause is said, never flooding the journal; the doubling starts
        over after SAY_AGAIN_AFTER_S, or weeks of a recurring fault would come down to a line a fortnight."""
        before, since_s = self._thinning.get(cause, (0, -math.inf))
        now_s = time.monotonic()
        if now_s - since_s >= SAY_AGAIN_AFTER_S:
            before, since_s = met - 1, now_s
            self._thinning[cause] = (before, since_s)
        n = met - before
        return n & (n - 1) == 0

    def _drop(self, samples: int, reason: DropReason) -> list[Event]:
        """Advance the clock now (not when the consumer resumes) and describe the gap."""
        if samples <= 0:
            return []
        start_s = self._pos_samples / PROCESSING_RATE_HZ
        self._pos_samples += samples
        return [AudioDropped(start_s=start_s, duration_s=samples / PROCESSING_RATE_HZ, reason=reason)]

    # --- device ------------------------------------------------------------

    def _start_run(self) -> CaptureRun:
        """Enumerate devices afresh, pick the array, start its stream."""
        if not self._reaper.join(CLOSED_WITHIN_S):
            raise AudioInputError("the previous stream is still closing (the driver is not responding); retrying")
        pa = start_portaudio()  # handed to the run, which terminates it; here only if the start fails
        if self._lost_announced:  # one attempt of many: the next start finds the plugins loaded (plugins.py)
            self._plugins.take()
        try:
            geo = self.geometry
            hints, channels = geo.device_hints, geo.capture_channels
            device = choose_device(input_devices(pa), hints, channels, default_input_index(pa), party_channels(geo))
            ring = FrameRing(
                max(1, round(self.config.array.buffer_s * self.capture_rate_hz)), self.geometry.capture_channels
            )
            run = CaptureRun(pa=pa, device=device, ring=ring, rate_hz=self.capture_rate_hz, channels=ring.channels)
            run.stream = self._open_stream(run)
        except BaseException:
            end_portaudio(pa)
            raise
        run.base_pos_samples = self._pos_samples
        # said once, whether at start or when the array first appears: a silent device may reopen every second
        level, self._capturing_said = logging.DEBUG if self._capturing_said else logging.INFO, True
        log.log(level, "capturing %d channels at %d Hz from '%s'", ring.channels, self.capture_rate_hz, device.name)
        return run

    def _open_stream(self, run: CaptureRun) -> pyaudio.Stream:
        try:
            return open_stream(run, self._period_frames, ask_first=self._format_refused)
        except DeviceOpenError as exc:
            self._format_refused = self._format_refused or format_refused(exc)
            raise

    def _recover(self, run: CaptureRun, reason: str) -> Iterator[Event]:
        """Announce the loss (once, until audio flows again), then reopen until the device is back or stop()."""
        # read now: while the consumer handles the events below, a late callback of the stream being retired
        # can still move it, and the silence that made the loss would go uncounted
        silent_since_s = run.last_data_s
        yield from self._flush()
        # Let go of the stream before yielding: the consumer may close() us while we are suspended.
        self._run = None
        self._past_overflows += run.ring.overflow_count
        self._reaper.retire(run)
        if self._lost_announced:  # reopened, but no audio came: still the same outage
            log.debug("audio input still lost: %s", reason)
            self._back_pending = None
        else:
            log.warning("audio input lost: %s; reopening every %.1f s", reason, self.config.array.reopen_interval_s)
            self._lost_announced = True
            yield SourceState(t_s=self._pos_samples / PROCESSING_RATE_HZ, available=False, detail=reason)
        yield from self._reopen(silent_since_s)  # audio stopped arriving then

    def _reopen(self, accounted_s: float) -> Iterator[Event]:
        """Every reopen_interval_s: count the lost time as dropped audio and try the device again: at once if no
        attempt began within it (a device that opens, then fails or stays silent, is not reopened every poll)."""
        while not self._stop.is_set():
            now_s = time.monotonic()
            if (wait_s := self._tried_s + self.config.array.reopen_interval_s - now_s) > 0:
                accounted_s = yield from self._wait_to_reopen(accounted_s, wait_s)
                continue
            yield from self._drop(round((now_s - accounted_s) * PROCESSING_RATE_HZ), "device_lost")
            accounted_s = self._tried_s = now_s
            self._reaper.check_wedged()
            try:
                new_run = self._start_run()
            except (ListenerError, OSError) as exc:  # OSError: PortAudio itself failed to start
                if isinstance(exc, AudioFormatError | DeviceOpenError) and str(exc) != self._unusable:
                    # a device is there but cannot be used (several fit the name, too few channels, a rate it
                    # lacks): waiting will not cure that, so say it once, and in the fault shown, not at debug
                    self._unusable = str(exc)
                    log.warning("the audio input is still not captured: %s", exc)
                    yield SourceState(t_s=self._pos_samples / PROCESSING_RATE_HZ, available=False, detail=str(exc))
                else:
                    log.debug("reopening the audio input failed: %s", exc)
            else:
                yield from self._back(new_run, accounted_s)
                return
        # stopped while the array was away: the time since the last account was not heard either (the stop's
        # line says how much was not heard)
        yield from self._drop(round((time.monotonic() - accounted_s) * PROCESSING_RATE_HZ), "device_lost")

    def _wait_to_reopen(self, accounted_s: float, wait_s: float) -> Generator[Event, None, float]:
        """``wait_s``, told as dropped audio every OUTAGE_TICK_S or so: the stages after the source (the privacy
        button's gate, the lights, MQTT) hear the clock move and answer a press within a step. The last step's
        drop is the next attempt's."""
        steps = max(1, math.ceil(wait_s / OUTAGE_TICK_S))
        step_s = wait_s / steps
        for _ in range(steps - 1):
            if self._stop.wait(step_s):
                return accounted_s
            now_s = time.monotonic()
            yield from self._drop(round((now_s - accounted_s) * PROCESSING_RATE_HZ), "device_lost")
            accounted_s = now_s
        self._stop.wait(step_s)
        return accounted_s

    def _back(self, run: CaptureRun, accounted_s: float) -> Iterator[Event]:
        now_s = time.monotonic()
        dropped = self._drop(round((now_s - accounted_s) * PROCESSING_RATE_HZ), "device_lost")
        if self._stop.is_set():  # stopped (or closed) while reopening: nobody reads the stream; the opening's unheard
            self._reaper.retire(run)
            yield from dropped
            return
        # Counted up to now: if this stream stays silent, its loss starts here, not when it began opening.
        run.last_data_s = now_s
        run.base_pos_samples = self._pos_samples
        self._run = run
        self._back_pending = run.device.name
        yield from dropped

    def _join_reaper(self, timeout_s: float) -> None:
        if not self._reaper.join(timeout_s) and timeout_s > 0:
            log.warning("the audio driver has not closed the stream after %.1f s; leaving it", timeout_s)
