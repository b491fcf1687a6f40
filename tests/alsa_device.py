"""Real ALSA capture devices for tests, played from raw files: no sound card, no mocks.

What works (found by experiment with alsa-lib 1.2.8, Debian's PortAudio 19.6.0
and pyaudio 0.2.14; see ``AlsaConfig.render`` for the exact text):

* ``ALSA_CONFIG_PATH`` names the top-level configuration *instead of*
  /usr/share/alsa/alsa.conf. The private file here does not include the
  system one: it needs nothing from it (``file``, ``null``, ``copy``,
  ``multi`` and ``plug`` are built into alsa-lib), and leaving it out keeps
  card PCMs out of the list, and their errors out of the log.
* PortAudio's ALSA host API lists every ``pcm.NAME`` node of the
  configuration (not ``snd_device_name_hint``: the ``hint`` section below
  only serves ``arecord -L``), except the names hw, plughw, plug, dsnoop,
  tee, file, null, shm, cards and rate_convert. It opens each one to ask its
  channel range, and drops PCMs that cannot do mmap access.
* PortAudio 19.6 aborts the process (``assert(devIdx < numDeviceNames)`` in
  BuildDeviceList) when every listed PCM opens and none is named
  ``default`` or ``dmix``; so the configuration always defines
  ``pcm.default``.
* ``type file`` with ``infile`` over a ``null`` slave replays the raw file
  on capture (through its mmap path, which PortAudio uses), but the null
  slave accepts any channel count, so PortAudio reports 128 channels. To
  report exactly N, a ``multi`` PCM binds N mono slaves, each ``copy`` ->
  ``file`` (infile = one channel's raw S16_LE samples) -> ``null``.
  Observed: with ``file`` directly under ``multi`` the infile is never read
  (strace shows no read; multi drives its slaves through avail_update and
  mmap_commit, and the file plugin reads its infile in mmap_begin), while a
  ``copy`` in between does read it. One N-channel multi slave comes out
  skewed (a step of one sample per frame), hence one mono slave per channel.
* Pacing: ``null`` reports its whole buffer ready at all times, so capture
  runs as fast as the CPU allows (1000-2000x real time here) and
  PortAudio's callback thread keeps a core busy while a stream is open.
  Tests therefore read from the start of a stream and expect the consumer
  to fall behind (ring overflow) once the recording has been read. Past the
  end of an infile the file plugin stops overwriting the buffer, so stale
  samples repeat: only the first ``len(signal)`` frames are the recording.
* ALSA reads the configuration in ``snd_config_update`` and PortAudio's
  ``Pa_Terminate`` frees it (``snd_config_update_free_global``), so setting
  ``os.environ["ALSA_CONFIG_PATH"]`` in the test process and then creating a
  new ``pyaudio.PyAudio()`` (once every earlier one is terminated) reads the
  file afresh, and rewriting the file between two ``PyAudio()`` takes effect.
  No subprocess is needed.
* A FIFO as infile makes the capture thread block in ``read()`` while
  nothing is written: PortAudio stops calling back, as with a wedged
  driver. Closing such a stream (``Pa_CloseStream``) only returns once the
  FIFO delivers data again or its writer closes; :class:`FifoFeeder`
  handles both ends. Opening the PCM opens the FIFO, which blocks until a
  writer is there: the feeder keeps re-opening it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

Int16Array = npt.NDArray[np.int16]

FEED_CHUNK_S = 0.1  # written to the FIFO at once: 3200 bytes, atomic in a pipe; 50 ms let the device run at 2x

TONES_HZ = (300.0, 500.0, 700.0, 900.0, 1100.0, 1300.0, 1500.0, 1700.0)


def tones(rate_hz: int, duration_s: float, channels: int, amplitude: float = 0.5) -> Int16Array:
    """A distinct sine per channel (300, 500, 700 ... Hz), int16 (n, channels)."""
    t = np.arange(round(rate_hz * duration_s)) / rate_hz
    waves = [amplitude * np.sin(2 * np.pi * f * t) for f in TONES_HZ[:channels]]
    return np.round(np.stack(waves, axis=1) * 32767).astype(np.int16)


@dataclass(frozen=True)
class TestDevice:
    """A capture PCM in the private configuration and what it plays."""

    __test__ = False  # not a pytest test class

    name: str
    signal: Int16Array  # (n, channels); all zeros for a silent device
    rate_hz: int
    infiles: tuple[Path, ...]

    @property
    def channels(self) -> int:
        return int(self.signal.shape[1])


class AlsaConfig:
    """A private ALSA configuration file with file-backed capture PCMs."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / "asound.conf"
        self.devices: dict[str, TestDevice] = {}
        self.plugs: dict[str, str] = {}  # name -> the PCM it converts from
        self.default: str | None = None
        self.write()

    def add(self, name: str, signal: Int16Array, rate_hz: int, *, fifo_channel: int | None = None) -> TestDevice:
        """Write one mono raw file per channel (a FIFO for ``fifo_channel``) and list the PCM."""
        infiles = []
        for channel in range(signal.shape[1]):
            path = self.directory / f"{name}.ch{channel}.raw"
            if channel == fifo_channel:
                os.mkfifo(path)
            else:
                np.ascontiguousarray(signal[:, channel]).astype("<i2").tofile(path)
            infiles.append(path)
        device = TestDevice(name=name, signal=signal, rate_hz=rate_hz, infiles=tuple(infiles))
        self.devices[name] = device
        self.write()
        return device

    def add_plug(self, name: str, slave: str) -> None:
        """A ``plug`` PCM over ``slave``, as firmware/asound.conf.in makes listener_array.

        PortAudio reports 128 input channels for it, whatever the slave has: plug converts to any count.
        """
        self.plugs[name] = slave
        self.write()

    def remove(self, name: str) -> TestDevice:
        """Take the PCM out of the configuration (its files stay): the device is unplugged."""
        device = self.devices.pop(name)
        self.write()
        return device

    def restore(self, device: TestDevice) -> None:
        self.devices[device.name] = device
        self.write()

    def write(self) -> None:
        # Write-then-rename: a reader never sees half a file.
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.render())
        tmp.replace(self.path)

    def render(self) -> str:
        parts = [_pcm(device) for device in self.devices.values()]
        parts += [f'pcm.{name} {{ type plug; slave.pcm "{slave}" }}\n' for name, slave in self.plugs.items()]
        if self.default is not None and self.default in self.devices:
            parts.append(f'pcm.default {{ type plug; slave.pcm "{self.default}" }}\n')
        else:  # see the module docstring: PortAudio needs a "default" node; this one opens to nothing
            parts.append('pcm.default { type plug; slave.pcm "listener_no_such_pcm" }\n')
        return "".join(parts)


def _pcm(device: TestDevice) -> str:
    slaves = []
    for channel, infile in enumerate(device.infiles):
        slaves.append(
            f"  slaves.c{channel} {{\n"
            f"    pcm {{ type copy; slave.pcm {{ type file; slave.pcm {{ type null }};"
            f' file "/dev/null"; infile "{infile}"; format "raw" }} }}\n'
            f"    channels 1\n"
            f"  }}\n"
            f"  bindings.{channel} {{ slave c{channel}; channel 0 }}\n"
        )
    return (
        f"pcm.{device.name} {{\n  type multi\n{''.join(slaves)}"
        f'  hint {{ show on; description "listener test device, {device.channels} channels" }}\n}}\n'
    )


class FifoFeeder:
    """Writes a device's FIFO channel in a loop; :meth:`pause` wedges the device, :meth:`resume` frees it."""

    def __init__(self, path: Path, samples: Int16Array) -> None:
        self.path = path
        self._data = np.ascontiguousarray(samples).astype("<i2").tobytes()
        self._paused = threading.Event()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="fifo-feeder", daemon=True)

    def __enter__(self) -> FifoFeeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def close(self, timeout_s: float = 5.0) -> None:
        self._quit.set()
        self._paused.clear()
        # A feeder blocked in open() waits for a reader: be one, briefly.
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self._thread.join(timeout_s)
            os.close(fd)
        self._thread.join(timeout_s)

    def _feed(self) -> None:
        while not self._quit.is_set():
            fd = os.open(self.path, os.O_WRONLY)  # blocks until the capture side opens it
            try:
                self._write_until_reader_goes(fd)
            finally:
                os.close(fd)

    def _write_until_reader_goes(self, fd: int) -> None:
        offset = 0
        while not self._quit.is_set():
            if self._paused.is_set():
                self._quit.wait(0.02)
                continue
            try:
                offset += os.write(fd, self._data[offset : offset + 16384])
            except BrokenPipeError:
                return
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    return
                raise
            offset %= len(self._data)


class PacedFifo(FifoFeeder):
    """Writes a raw mono file into one channel's FIFO on the wall clock, from the file's start for each reader.

    Listing devices opens and closes the PCM without reading: a reader that went away makes the next write
    fail and the next reader gets the file from its start; one that came back first finds the unread
    chunks still in the pipe. Either way every channel starts at the same frame.
    """

    def __init__(self, fifo: Path, raw: Path, rate_hz: int, *, then_silence: bool = False) -> None:
        super().__init__(fifo, np.zeros((0, 1), dtype=np.int16))
        self.raw = raw
        self.rate_hz = rate_hz
        self.then_silence = then_silence  # past the file: silence on the clock, not a device that stops

    def _write_until_reader_goes(self, fd: int) -> None:
        step = 2 * round(self.rate_hz * FEED_CHUNK_S)
        due = time.monotonic()
        with self.raw.open("rb") as f:
            while not self._quit.is_set():
                chunk = f.read(step) or (bytes(step) if self.then_silence else b"")
                if not chunk:  # hold the FIFO open: a closed writer would let the device run unpaced
                    self._quit.wait()
                    return
                try:
                    os.write(fd, chunk)
                except OSError:  # the reader went away
                    return
                due += len(chunk) / (2 * self.rate_hz)
                self._quit.wait(max(0.0, due - time.monotonic()))


def fifo_device(alsa: AlsaConfig, name: str, channels: int, rate_hz: int) -> tuple[Path, ...]:
    """A device in ``alsa`` whose every channel reads a FIFO (returned, one per channel): what it plays is
    whatever is written there."""
    fifos = tuple(alsa.directory / f"{name}.ch{c}.fifo" for c in range(channels))
    for fifo in fifos:
        os.mkfifo(fifo)
    silent = np.zeros((0, channels), dtype=np.int16)  # the PCM's text needs only the infiles
    alsa.restore(TestDevice(name=name, signal=silent, rate_hz=rate_hz, infiles=fifos))
    return fifos


def add_paced(alsa: AlsaConfig, name: str, signal: Int16Array, rate_hz: int) -> list[PacedFifo]:
    """A device that plays ``signal`` on the wall clock, as an array does, then silence: each channel a FIFO
    written by a :class:`PacedFifo` (enter them before anything opens the device)."""
    feeders = []
    for channel, fifo in enumerate(fifo_device(alsa, name, signal.shape[1], rate_hz)):
        raw = alsa.directory / f"{name}.ch{channel}.raw"
        np.ascontiguousarray(signal[:, channel]).astype("<i2").tofile(raw)
        feeders.append(PacedFifo(fifo, raw, rate_hz, then_silence=True))
    return feeders


@pytest.fixture
def alsa_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AlsaConfig:
    """An empty private ALSA configuration that PortAudio will read (ALSA_CONFIG_PATH points at it)."""
    config = AlsaConfig(tmp_path / "alsa")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(config.path))
    return config


@pytest.fixture
def test_array(alsa_config: AlsaConfig) -> TestDevice:
    """'listener_test_array': 4 channels at 16 kHz playing 2 s of tones, also the default input."""
    device = alsa_config.add("listener_test_array", tones(16000, 2.0, 4), 16000)
    alsa_config.default = device.name
    alsa_config.write()
    return device


def signal_as_float(signal: Int16Array, channels: Sequence[int]) -> npt.NDArray[np.float32]:
    """What a source should hand on for ``signal``: chosen channels, float32 in [-1, 1]."""
    return signal[:, list(channels)].astype(np.float32) / np.float32(32768.0)
