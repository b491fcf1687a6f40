"""alsa-lib's stderr lines go to the DEBUG log, not to the journal, wherever the listener opens PortAudio.

Real alsa-lib, PortAudio and pyaudio, with the private ALSA configuration of
tests/alsa_device.py plus a broken PCM: ``listener_array`` is a plug over
``listener_array_snoop``, which is not defined, as firmware/asound.conf.in's
plug is when the array's card is gone. PortAudio opens every PCM while it
enumerates, and alsa-lib prints ``ALSA lib pcm.c:...:(snd_pcm_open_noupdate)
Unknown PCM listener_array_snoop`` for it on file descriptor 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import alsa_card, alsa_device
from tests.alsa_device import AlsaConfig, TestDevice

alsa_config = alsa_device.alsa_config  # fixtures
cards, card_plugin = alsa_card.cards, alsa_card.card_plugin
test_array = alsa_device.test_array

ROOT = Path(__file__).resolve().parent.parent
RAW_LINE = "ALSA lib "  # how alsa-lib's default handler starts each line on stderr
MISSING = "Unknown PCM"


@pytest.fixture
def broken_array(alsa_config: AlsaConfig, test_array: TestDevice) -> AlsaConfig:
    alsa_config.add_plug("listener_array", "listener_array_snoop")
    return alsa_config


def _python(code: str, config: AlsaConfig) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALSA_CONFIG_PATH": str(config.path), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False
    )


def test_without_the_handler_alsa_lib_prints_to_stderr(broken_array: AlsaConfig) -> None:
    # the negative control: the configuration really makes alsa-lib print, so the tests below can see it stop
    done = _python("import pyaudio; pyaudio.PyAudio().terminate()", broken_array)
    assert f"{RAW_LINE}pcm.c:" in done.stderr and f"{MISSING} listener_array_snoop" in done.stderr, done.stderr


def test_listener_devices_prints_no_alsa_lines(broken_array: AlsaConfig) -> None:
    done = _python("import sys; from listener.cli import main; sys.exit(main(['devices']))", broken_array)
    assert done.returncode == 0, done.stderr
    assert "listener_test_array" in done.stdout
    assert RAW_LINE not in done.stderr, done.stderr


WAITING = """
import sys, threading
from listener.audio.live import LiveSource
from listener.config import parse_config
from listener.service.logs import set_level, setup_logging

setup_logging()
set_level(sys.argv[1])
config = parse_config({"array": {"preset": "respeaker-4mic", "device": "listener_array", "reopen_interval_s": 0.1}})
with LiveSource(config, wait=True) as source:
    threading.Timer(1.0, source.stop).start()
    for _ in source.events():
        pass
"""


@pytest.mark.parametrize("level", ["info", "debug"])
def test_a_service_waiting_for_its_array_logs_alsa_lines_at_debug_only(broken_array: AlsaConfig, level: str) -> None:
    # the service's case: the array's PCM does not open, and every reopen enumerates the devices again
    done = _python(WAITING.replace("sys.argv[1]", repr(level)), broken_array)
    assert done.returncode == 0, done.stderr
    assert RAW_LINE not in done.stderr, done.stderr
    assert "no audio input device matching 'listener_array'" in done.stderr  # the listener's own words
    logged = [line for line in done.stderr.splitlines() if line.startswith("DEBUG listener.audio.devices: alsa-lib")]
    if level == "info":
        assert logged == [] and "alsa-lib" not in done.stderr
    else:  # one line per enumeration at least: the first open and the reopens
        assert len([line for line in logged if "snd_pcm_open_noupdate(): Unknown PCM" in line]) >= 3, done.stderr
        assert all(" pcm.c:" in line for line in logged if MISSING in line)


@pytest.fixture
def unreadable_alsa(alsa_config: AlsaConfig) -> AlsaConfig:
    # a bad hand edit of /etc/asound.conf: ALSA cannot parse its configuration, so PortAudio does not start
    alsa_config.path.write_text(alsa_config.path.read_text() + "pcm.half_written {\n type null\n")
    return alsa_config


def test_listener_devices_on_an_unreadable_alsa_configuration_says_so_in_one_line(unreadable_alsa: AlsaConfig) -> None:
    done = _python("import sys; from listener.cli import main; sys.exit(main(['devices']))", unreadable_alsa)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    # one line and nothing else: PortAudio, started on it, printed two "Expression '...' failed" lines first
    (said,) = done.stderr.splitlines()
    assert said.startswith("listener: the sound system did not start: ALSA cannot parse its configuration (")
    assert str(unreadable_alsa.path) in said and "`arecord -L`" in said


def test_a_service_waits_out_an_unreadable_alsa_configuration(unreadable_alsa: AlsaConfig) -> None:
    # the unit's --wait-for-array: it shows the fault and retries, as for a missing array, instead of a
    # traceback and exit 1 that systemd restarts every RestartSec, for ever
    done = _python(WAITING.replace("sys.argv[1]", "'info'"), unreadable_alsa)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    waiting = [line for line in done.stderr.splitlines() if "the sound system did not start" in line]
    assert len(waiting) == 1 and "waiting for it" in waiting[0], done.stderr


WAITING_AT_16K = """
import sys, threading
from listener.audio.live import LiveSource
from listener.config import parse_config
from listener.service.logs import setup_logging

setup_logging()
array = {"preset": "generic", "device": "usbmic48", "channels": 2, "reopen_interval_s": 0.1}
config = parse_config({"array": array, "parties": {"rep_channel": 0, "customer_channel": 1}})
with LiveSource(config, wait=True) as source:
    threading.Timer(1.5, source.stop).start()
    for _ in source.events():
        pass
"""


def test_a_service_waiting_on_a_card_that_lacks_the_rate_says_so_once_and_portaudio_nothing(
    cards: alsa_card.CardSet,
) -> None:
    """A 48/44.1 kHz-only USB mic left at the default 16 kHz, under --wait-for-array: each retry's refused open
    printed three lines of PortAudio's own ("Expression 'paInvalidSampleRate' failed in ...") to the
    journal, about 3.5 a second, burying the listener's one line that says what to set. Now the first refused
    open's, then none."""
    cards.set({"usbmic48": "rate 48000; rate2 44100; channels 2; format S16_LE"})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", WAITING_AT_16K], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    # the first refusal's lines (PortAudio prints them before pyaudio raises), then none at each retry
    assert done.stderr.count("pa_linux_alsa.c") <= 3, done.stderr
    said = [line for line in done.stderr.splitlines() if "sample_rate" in line]
    assert len(said) == 1 and "Invalid sample rate. Fix: set [array] sample_rate to a rate" in said[0], done.stderr
