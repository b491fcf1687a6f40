"""`listener calibrate` and `doctor` live when the array stops delivering mid-listen: the array is blamed.

Real PortAudio and ALSA as in test_live_outages.py: the array's first channel is a FIFO, written in real
time as the array would deliver the rep's words, and then no more, as a wedged driver or a pulled cable does.
"""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from listener.audio.capture_run import LOST_AFTER_S
from listener.audio.live import CLOSE_TIMEOUT_S
from listener.cli import main
from listener.service.calibrate import LIVE_SLACK_S
from tests import alsa_device, synth
from tests.alsa_device import AlsaConfig, FifoFeeder, Int16Array
from tests.calibrate_cases import CONFIG_TEXT, REP_ONLY

alsa_config = alsa_device.alsa_config  # fixtures

CHUNK_S = 0.1


class DeliversThenStops(FifoFeeder):
    """Writes ``samples`` in real time, CHUNK_S at a time, up to ``deliver_s``; then nothing (the FIFO stays open)."""

    def __init__(self, path: Path, samples: Int16Array, rate_hz: int, deliver_s: float) -> None:
        super().__init__(path, samples[: round(rate_hz * deliver_s)])
        self.chunk_bytes = 2 * round(rate_hz * CHUNK_S)
        self.written = 0
        self.stopped_at: float | None = None  # monotonic time of the last write

    def _write_until_reader_goes(self, fd: int) -> None:
        due = time.monotonic()
        while not self._quit.is_set():
            if self.written >= len(self._data):  # delivered all it will: the capture thread blocks in read()
                self.stopped_at = self.stopped_at or time.monotonic()
                self._quit.wait(0.02)
                continue
            try:
                self.written += os.write(fd, self._data[self.written : self.written + self.chunk_bytes])
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    return
                raise
            due += CHUNK_S
            self._quit.wait(max(0.0, due - time.monotonic()))


def test_an_array_lost_mid_listen_is_named_and_ends_the_listening(
    alsa_config: AlsaConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples, _ = synth.render(REP_ONLY, 8.0, seed=5)  # the rep talks from 0.3 s on
    signal = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    device = alsa_config.add("listener_test_array", signal, 16000, fifo_channel=0)
    path = tmp_path / "listener.toml"
    text = CONFIG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"\nreopen_interval_s = 0.5')
    path.write_text(text)
    listen_s, deliver_s = 6.0, 2.0
    feeder = DeliversThenStops(device.infiles[0], signal[:, :1], 16000, deliver_s)
    with feeder:
        code = main(["calibrate", "--config", str(path), "--seconds", f"{listen_s:g}", "--write"])
        ended = time.monotonic()
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    # the array is blamed, with how far the listening got and what to do; not the rep's speech
    found = re.search(r"the array stopped delivering audio ([0-9.]+) s into the 6 s of listening", captured.err)
    assert found, captured.err
    assert deliver_s - 0.5 <= float(found[1]) <= deliver_s + 0.1
    assert "check the array's connection" in captured.err and "calibrate command again" in captured.err
    assert "speech" not in captured.err and "Traceback" not in captured.err
    assert not re.search(r"^(rep|customer|confidence) ", captured.out, re.MULTILINE)  # nothing from the part heard
    assert path.read_text() == text  # nor written
    # given up once the loss is noticed (and the wedged stream left to close), not at the listening's deadline
    assert feeder.stopped_at is not None
    assert ended - feeder.stopped_at < LOST_AFTER_S + CLOSE_TIMEOUT_S + 3.0 <= listen_s - deliver_s + LIVE_SLACK_S


def test_an_array_lost_during_doctors_level_read_fails_the_levels_check(
    alsa_config: AlsaConfig, tmp_path: Path
) -> None:
    """doctor measured the levels of whatever arrived and said ok: an array that delivers 0.3 s and then
    nothing passed. Its loss is now the finding, with the connection to check."""
    from listener.service import doctor
    from tests.alsa_device import tones
    from tests.doctor_config import config

    signal = tones(16000, 4.0, 4)
    device = alsa_config.add("listener_test_array", signal, 16000, fifo_channel=0)
    feeder = DeliversThenStops(device.infiles[0], signal[:, :1], 16000, 0.3)
    with feeder:
        check = doctor.check_levels(config(tmp_path))
    assert check.status == "FAIL", check
    # the source's own reason, not the generic loss its AudioDropped gives
    assert re.search(
        r"the array stopped delivering audio [0-9.]+ s into the read \(no audio from '[^']+' for [0-9.]+ s\)$",
        check.detail,
    ), check.detail
    assert "check the array's connection" in check.fix and "doctor again" in check.fix


def test_an_array_that_opens_but_never_delivers_is_blamed_on_its_driver_not_a_cable(
    alsa_config: AlsaConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Opened, then not one sample (an I2S HAT without its overlay's clock): doctor said "the array stopped
    delivering audio 0.0 s into the read" and sent the installer to the cable; calibrate said the same."""
    from listener.service import doctor
    from tests.alsa_device import tones
    from tests.doctor_config import config

    signal = tones(16000, 4.0, 4)
    device = alsa_config.add("listener_test_array", signal, 16000, fifo_channel=0)
    with DeliversThenStops(device.infiles[0], signal[:, :1], 16000, 0.0):
        check = doctor.check_levels(config(tmp_path))
    assert check.status == "FAIL", check
    assert check.detail.startswith("the array opened but delivered no audio at all ("), check.detail
    assert "stopped delivering" not in check.detail and "0.0 s" not in check.detail
    assert "overlay" in check.fix and "clock" in check.fix and "fuser -v /dev/snd/*" in check.fix, check.fix
    assert "connection" not in check.fix and "doctor again" in check.fix

    path = tmp_path / "listener.toml"
    path.write_text(CONFIG_TEXT.replace("block_ms = 100", 'device = "listener_test_array"\nreopen_interval_s = 0.5'))
    with DeliversThenStops(device.infiles[0], signal[:, :1], 16000, 0.0):
        code = main(["calibrate", "--config", str(path), "--seconds", "6", "--write"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "the array opened but delivered no audio at all (" in err and "stopped delivering" not in err, err
    assert "overlay" in err and "calibrate command again" in err and "Traceback" not in err
