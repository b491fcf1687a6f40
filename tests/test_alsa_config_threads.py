"""PortAudio started in one thread while another thread's PortAudio ends, as a lost array's helper thread ends
its capture while doctor or the next capture starts one.

Pa_Terminate frees alsa-lib's global configuration tree, which both the ALSA check before the start and
PortAudio's own device listing searched: the process aborted inside libasound (``snd_config_search: Assertion
`config && key' failed``, once in a CI run), or the check refused a sound system that was fine ("defines no
'default' PCM"). PortAudio now starts and ends under one lock, and the check searches a tree it holds a
reference to. Real alsa-lib, PortAudio and pyaudio, in child processes: an abort would end the test run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from listener.audio import devices
from listener.errors import AudioInputError
from tests.cli_run import ENV

RACE_S = 3.0  # each child below failed within 0.15-0.9 s in every run before the fix

TWO_THREADS = f"""
import threading, time
from listener.audio.devices import open_portaudio

stop = threading.Event()
counts = [0, 0]

def look(index):
    while not stop.is_set():
        with open_portaudio():
            pass
        counts[index] += 1

other = threading.Thread(target=look, args=(1,))
other.start()
end = time.monotonic() + {RACE_S}
try:
    while time.monotonic() < end:
        with open_portaudio():
            pass
        counts[0] += 1
finally:
    stop.set()
    other.join()
print(*counts)
"""

# what PortAudio's ALSA back end does as it ends (snd_config_update_free_global), by another library user
TREE_FREED = f"""
import ctypes, threading, time
from listener.audio.alsa_config import check_alsa_config

alsa = ctypes.CDLL("libasound.so.2")
stop = threading.Event()
counts = [0, 0]

def read_and_free():
    while not stop.is_set():
        alsa.snd_config_update()
        alsa.snd_config_update_free_global()
        counts[1] += 1

other = threading.Thread(target=read_and_free)
other.start()
end = time.monotonic() + {RACE_S}
try:
    while time.monotonic() < end:
        check_alsa_config(alsa)
        counts[0] += 1
finally:
    stop.set()
    other.join()
print(*counts)
"""


def _counts(code: str) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Assertion" not in done.stderr and "Error" not in done.stderr, done.stderr[-2000:]
    first, second = (int(word) for word in done.stdout.split())
    return first, second


def test_portaudio_started_in_one_thread_while_another_ends_its_own() -> None:
    first, second = _counts(TWO_THREADS)
    # both threads started and ended PortAudio many times over: the race had its chances
    assert first > 20 and second > 20, (first, second)


def test_the_alsa_check_survives_the_global_tree_freed_beside_it() -> None:
    checks, frees = _counts(TREE_FREED)
    assert checks > 20 and frees > 100, (checks, frees)


def test_a_start_behind_an_end_that_never_finishes_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # a wedged driver can hold Pa_Terminate for good: the next start gives up in a line, as a missing array does
    monkeypatch.setattr(devices, "START_WAIT_S", 0.2)
    with devices._portaudio_lock, pytest.raises(AudioInputError) as raised:
        devices.start_portaudio()
    said = str(raised.value)
    assert "an earlier stream has not finished closing after 0.2 s" in said and "Fix: unplug and replug" in said
    devices.end_portaudio(devices.start_portaudio())  # the lock, once free, lets PortAudio start again
