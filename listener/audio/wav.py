"""Replay a WAV file through the pipeline, paced in real time or flat out."""

from __future__ import annotations

import logging
import math
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from listener.audio.base import ONE_MIC, AudioSource, resampled, selected_channels
from listener.audio.riff import check_riff
from listener.audio.scrub import FLOAT_SUBTYPES, Scrubber, check_holds_numbers, mended_in
from listener.audio.wav_formats import undecodable_message
from listener.config import PROCESSING_RATE_HZ, ArrayGeometry
from listener.errors import (
    AudioFileMissingError,
    AudioFormatError,
    AudioInputError,
    file_kind,
    os_reason_and_fix,
    shown_path,
)
from listener.events import AudioBlock, Event

MIN_RATE_HZ = 16000
MAX_RATE_HZ = 48000

log = logging.getLogger(__name__)

# Shorter than this, no turn of speech fits, and a report of nobody speaking would read like a finding
SHORTEST_CONVERSATION_S = 1.0


class WavSource(AudioSource):
    """A multi-channel WAV whose channels match the configured array."""

    def __init__(
        self, path: Path, geometry: ArrayGeometry, *, block_ms: int = 100, realtime: bool = False, repeat: int = 1
    ) -> None:
        self.path = path
        self.repeat = repeat  # the demo plays its short sample several times, one continuous clock
        self.geometry = geometry
        self.block_ms = block_ms
        self.realtime = realtime
        self._file: sf.SoundFile | None = None
        self._stopped = False
        # (device, inode, bytes) at the open: a file that grows while read is still being recorded
        self._opened: tuple[int, int, int] | None = None

    @property
    def sample_rate_hz(self) -> int:
        return int(self._open_file().samplerate)

    @property
    def channels(self) -> int:
        return int(self._open_file().channels)

    @property
    def duration_s(self) -> float:
        f = self._open_file()
        return float(f.frames) / float(f.samplerate)

    def open(self) -> None:
        self._open_file()

    def _open_file(self) -> sf.SoundFile:
        if self._file is None:
            f = open_wav(self.path)
            try:
                # reads: a read error, or no memory for a block, fails here too
                check_holds_numbers(f, shown_path(self.path))
                check_channels(self.path, f.channels, self.geometry)
            except BaseException:
                f.close()  # and keep _file unset: a later call must not skip the check
                raise
            self._file = f
            self._opened = _identity(self.path)
        return self._file

    def warn_if_short(self) -> None:
        """Say so when the recording is too short to hold a conversation (its report is still made)."""
        if self.duration_s < SHORTEST_CONVERSATION_S:
            ms = math.floor(self.duration_s * 1000.0)  # never "1 s" for 0.9999 s, never "6.25e-05 s"
            log.warning(
                "%s is only %s long, too short to hold a turn of speech: the figures cover just that; "
                "pass the recording of the whole conversation",
                shown_path(self.path),
                f"{ms} ms" if ms >= 1 else "under 1 ms",
            )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def stop(self) -> None:
        self._stopped = True

    def events(self) -> Iterator[Event]:
        f = self._open_file()
        rate_hz = int(f.samplerate)
        resampler = _resampler(rate_hz, f.channels)
        block_frames = max(1, rate_hz * self.block_ms // 1000)
        channels = _selected_channels(f.channels, self.geometry)
        emitted = 0  # samples handed on, at the processing rate
        wall0_s = time.monotonic()
        plays = 1
        scrub = Scrubber(self.path, f, channels) if f.subtype in FLOAT_SUBTYPES else None
        mended = 0  # frames read that were not numbers, not yet handed on (the resampler holds some back)
        # doubles are mended before they are narrowed: 1e300 would become an infinity, not a loud sample
        dtype = "float64" if f.subtype == "DOUBLE" else "float32"
        while not self._stopped:
            data = f.read(block_frames, dtype=dtype, always_2d=True)
            if scrub is not None:
                data, not_numbers = scrub(data, emitted / PROCESSING_RATE_HZ)
                mended += not_numbers
            data = data.astype(np.float32, copy=False)
            last = data.shape[0] < block_frames
            if last and plays < self.repeat:
                plays += 1
                f.seek(0)
                last = False
            if resampler is not None:
                data = resampled(resampler, data, last=last)
            if data.shape[0]:
                samples = np.ascontiguousarray(data[:, channels])
                start_s = emitted / PROCESSING_RATE_HZ
                emitted += samples.shape[0]
                if self.realtime:
                    _sleep_until(wall0_s + emitted / PROCESSING_RATE_HZ)
                mended_s, mended = mended_in(samples.shape[0], mended, rate_hz, PROCESSING_RATE_HZ)
                yield AudioBlock(start_s, PROCESSING_RATE_HZ, samples, not_numbers_s=mended_s)
            if last:
                self._warn_if_changed(emitted / PROCESSING_RATE_HZ, f.tell() < f.frames)
                return

    def _warn_if_changed(self, read_s: float, cut_short: bool) -> None:
        """The file is read as it was when opened: a recording still being made (arecord without -d) grows
        meanwhile, a copy may replace it or cut it short; say which, and what was analysed."""
        before, now, shown = self._opened, _identity(self.path), shown_path(self.path)
        if before is not None and now is not None and now[:2] != before[:2]:
            log.warning(
                "%s was replaced while it was read: the file it was when opened was analysed (%.1f s); run again "
                "for the new one",
                shown,
                read_s,
            )
        elif before is not None and now is not None and now[2] > before[2]:
            log.warning(
                "%s grew while it was read (still being recorded?): only its first %.1f s were analysed; "
                "run again once the recording has ended",
                shown,
                read_s,
            )
        elif cut_short:
            log.warning("%s was cut short while it was read: only its first %.1f s were analysed", shown, read_s)


def _resampler(rate_hz: int, channels: int) -> soxr.ResampleStream | None:
    if rate_hz == PROCESSING_RATE_HZ:
        return None
    return soxr.ResampleStream(rate_hz, PROCESSING_RATE_HZ, channels, dtype="float32")


def _sleep_until(deadline_s: float) -> None:
    delay_s = deadline_s - time.monotonic()
    if delay_s > 0:
        time.sleep(delay_s)


def _selected_channels(file_channels: int, geometry: ArrayGeometry) -> list[int]:
    """A file of every captured channel is read as the live array would be; a file of the mics alone, in order."""
    if geometry.mode == "channels" or file_channels == geometry.capture_channels:
        return selected_channels(geometry)
    return list(range(geometry.n_mics))


def check_channels(path: Path, channels: int, geometry: ArrayGeometry) -> None:
    """A file holds either every captured channel or just the mic channels."""
    shown = shown_path(path)
    if geometry.mode == "channels":
        needed = max(geometry.rep_channel, geometry.customer_channel) + 1
        if channels < needed:
            # a file of the two mics alone is the common case: say the numbers that read it
            fix = (
                "set [parties] rep_channel and customer_channel to the file's channels (0 and 1 for a file of the"
                " two mics alone; channels count from 0)"
                if channels >= 2
                else f"{ONE_MIC}; record each party's mic on a channel of its own"
            )
            raise AudioFormatError(
                f"{shown} has {channels} channel(s) but [parties] rep_channel = {geometry.rep_channel} and"
                f" customer_channel = {geometry.customer_channel} need {needed}: {fix}"
            )
        return
    if channels == 1:
        raise AudioFormatError(
            f"{shown} has 1 channel: {ONE_MIC}; record every channel of the array (arecord -c"
            f" {geometry.capture_channels}), or one mic per party in a 2-channel file with [parties] rep_channel = 0"
            " and customer_channel = 1 in the config"
        )
    if channels not in (geometry.capture_channels, geometry.n_mics):
        raise AudioFormatError(
            f"{shown} has {channels} channel(s) but the array '{geometry.preset}' has {geometry.n_mics} mics"
            f" ({geometry.capture_channels} captured channels): pick the matching [array] preset or mics in the config"
            + (
                ", or, for one mic per party, [parties] rep_channel and customer_channel (0 and 1 for a file of the"
                " two mics alone)"
                if channels == 2
                else ""
            )
        )


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, bytes) of ``path``; None when it is gone or unreadable: nothing to compare."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size


def open_wav(path: Path) -> sf.SoundFile:
    """Open ``path`` for reading, turning every failure into one clear error."""
    shown = shown_path(path)
    _check_is_file(path, shown)
    _, fmt = check_riff(path, shown)
    try:
        # the name as bytes: soundfile encodes a str strictly, and a name that is not UTF-8 holds surrogates
        f = sf.SoundFile(os.fsencode(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        reason = str(getattr(exc, "error_string", exc))  # without soundfile's repr of the name
        raise AudioFormatError(undecodable_message(shown, reason, fmt)) from None
    try:
        if f.frames == 0:
            raise AudioFormatError(f"{shown} holds no audio (0 samples): record again")
        _check_rate(shown, int(f.samplerate))
    except BaseException:
        f.close()  # now, not when the error and its traceback are let go
        raise
    return f


def _check_is_file(path: Path, shown: str) -> None:
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        if str(path) == "-":  # `arecord ... | listener analyze -`; a file named "-", when there is one, is read
            raise AudioInputError(
                "- (standard input) is not read: save the recording to a .wav file and pass that"
            ) from None
        raise AudioFileMissingError(f"audio file {shown} does not exist: check the path") from None
    except OSError as exc:  # a folder on the way we may not enter, a name too long: said, not a traceback
        reason_and_fix = os_reason_and_fix(exc, "check the path")
        raise AudioInputError(f"audio file {shown} cannot be opened {reason_and_fix}") from None
    if stat.S_ISDIR(mode):
        raise AudioInputError(f"{shown} is a folder: pass a .wav file")
    # a pipe is read as it streams by, where a WAV's header cannot be checked; a socket cannot be opened at all
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise AudioInputError(
            f"{shown} is {file_kind(mode)}, not a file: save the recording to a .wav file and pass that"
        )


def _check_rate(shown: str, rate_hz: int) -> None:
    if rate_hz < MIN_RATE_HZ:
        raise AudioFormatError(
            f"{shown} is sampled at {rate_hz} Hz; the listener needs {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz: "
            f"record at 16 kHz or more (e.g. `sox in.wav -r 16000 out.wav` only if the source had it)"
        )
    if rate_hz > MAX_RATE_HZ:
        # downsampling loses nothing the analysis uses (it runs at 16 kHz), so the fix is a plain conversion
        raise AudioFormatError(
            f"{shown} is sampled at {rate_hz} Hz; the listener takes at most {MAX_RATE_HZ} Hz: "
            f"resample it, e.g. `sox in.wav -r {MAX_RATE_HZ} out.wav`"
        )
