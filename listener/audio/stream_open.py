"""Opening the capture stream on the chosen device, and saying what to do when PortAudio refuses it."""

from __future__ import annotations

import pyaudio

from listener.audio.capture_run import CaptureRun
from listener.audio.devices import open_fix
from listener.errors import DeviceOpenError

# PortAudio's refusals of a stream's rate, channels or sample format: the device is there, the settings are not
REFUSED_FORMAT = (pyaudio.paInvalidSampleRate, pyaudio.paInvalidChannelCount, pyaudio.paSampleFormatNotSupported)


def open_stream(run: CaptureRun, period_frames: int, ask_first: bool) -> pyaudio.Stream:
    """``run``'s device's stream at its rate and channels, calling back ``run``; ``ask_first``: whether the
    device takes them is asked before opening (see :func:`check_format`). Refused: a :class:`DeviceOpenError`
    with the fix for PortAudio's error code (:func:`format_refused` tells whether the format was refused)."""
    try:
        if ask_first:
            check_format(run)
        return run.pa.open(
            format=pyaudio.paInt16,
            channels=run.channels,
            rate=run.rate_hz,
            input=True,
            input_device_index=run.device.index,
            frames_per_buffer=period_frames,
            stream_callback=run.callback,
        )
    except (OSError, ValueError) as exc:
        raise DeviceOpenError(
            f"cannot capture {run.channels} channels at {run.rate_hz} Hz from '{run.device.name}': "
            f"{exc}. Fix: {open_fix(run.device, exc)}"
        ) from exc


def format_refused(error: DeviceOpenError) -> bool:
    """Whether PortAudio refused the open for its rate, channels or sample format."""
    cause = error.__cause__
    return isinstance(cause, OSError) and cause.errno in REFUSED_FORMAT


def check_format(run: CaptureRun) -> None:
    """Whether the device takes the rate and channels, asked without opening a stream: a refused open prints
    three lines of PortAudio's own to stderr, at every retry while --wait-for-array waits (300 000 a day in
    the journal, where the one useful line scrolled away); this asks silently. Only once an open was
    refused for that: asking opens the device for a moment, which a device read from a pipe (the tests'
    paced arrays) does not survive unharmed."""
    try:
        run.pa.is_format_supported(
            run.rate_hz,
            input_device=run.device.index,
            input_channels=run.channels,
            input_format=pyaudio.paInt16,
        )
    except ValueError as exc:  # pyaudio's (text, PortAudio's error code): the code, as open() raises it
        text, code = (*exc.args, None, None)[:2]
        raise OSError(code, str(text)) if isinstance(code, int) else exc from None
