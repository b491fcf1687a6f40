"""Whether PortAudio can start without killing the process, tried in a child first: doctor's report must outlive it.

PortAudio 19.6 does not raise on an ALSA configuration that names no PCM at all (``$ALSA_CONFIG_PATH`` naming a
file that is not there, or alsa-lib without its /usr/share/alsa/alsa.conf): it aborts the process in
BuildDeviceList (``assert(devIdx < numDeviceNames)``), as a broken ALSA plugin can crash it while it lists the
devices. Met in doctor's own process, that ended the run at its first check with a Python stack dump, and none
of the other checks were made. The first is now refused before PortAudio starts (listener/audio/alsa_config.py,
in every process, the service's included); the child still meets a plugin that crashes.

Forked, not spawned: doctor runs this first, before any check starts a thread (onnxruntime's, paho's), and
OpenBLAS stops its workers for a fork, so the child cannot inherit a lock a thread held (nor does Python 3.12+
warn of one): tests/test_doctor_sound_start.py counts them. A fresh interpreter importing the audio stack took
0.14 s on an x86-64 host where the fork took 0.05 s."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
from typing import NoReturn

SAID_MAX_CHARS = 300  # of what the crashing library wrote last: an assertion's text fits


def portaudio_crash() -> str | None:
    """How a child that starts and stops PortAudio, as the audio check is about to, died: its signal and the
    last line it wrote to stderr (an assertion's text). None when it lived: a start that fails as an exception
    is said by the check itself."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        _start_and_exit(read, write)
    os.close(write)
    with os.fdopen(read, "rb") as said_by_child:
        said = said_by_child.read().decode("utf-8", "replace").strip().splitlines()
    _, status = os.waitpid(pid, 0)
    if not os.WIFSIGNALED(status):
        return None
    how = _signal_name(os.WTERMSIG(status))
    last = said[-1][:SAID_MAX_CHARS] if said else ""
    return f"{how}: {last}" if last else how


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _start_and_exit(read: int, write: int) -> NoReturn:  # pragma: no cover (runs in the child)
    try:
        os.close(read)
        os.dup2(write, 2)  # what the library says as it dies, for the parent to quote
        faulthandler.disable()  # the Python stack of the child says nothing the line does not
        from listener.audio.devices import open_portaudio

        with contextlib.suppress(Exception), open_portaudio():
            pass
    finally:
        os._exit(0)
