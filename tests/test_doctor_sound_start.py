"""`listener doctor`'s first look at the sound system, in a child (listener/service/doctor/sound_start.py): an ALSA
plugin that crashes PortAudio ends the child, not doctor's run, and the child is forked with no other thread."""

from __future__ import annotations

import subprocess
import sys

from listener.audio.alsa_config import ALSA_FIX
from tests import alsa_card
from tests.alsa_card import CardSet
from tests.cli_run import ENV, listener_cli

cards, card_plugin = alsa_card.cards, alsa_card.card_plugin  # fixtures

ASSERTION = "fakemic.c:1: fakemic_open: Assertion `plugin' failed."
AFTER_AUDIO = ["directions", "turn", "memory", "asr", "gpio", "mqtt", "disk", "clock"]
# `listener ARGS` with os.fork counting the process's threads in the parent just after it, where Python 3.12+
# counts them to warn that the child may deadlock
COUNTING_FORKS = """
import os, runpy, sys
fork = os.fork
def counted() -> int:
    pid = fork()
    if pid:
        with open("/proc/self/status") as status:
            count = next(line.split()[1] for line in status if line.startswith("Threads:"))
        print(f"threads at a fork: {count}", file=sys.stderr)
    return pid
os.fork = counted
sys.argv = ["listener", *sys.argv[1:]]
runpy.run_module("listener", run_name="__main__")
"""


def test_a_plugin_that_aborts_portaudio_is_a_fail_line_naming_the_signal_and_the_other_checks_still_run(
    cards: CardSet,
) -> None:
    """A capture PCM whose plugin aborts as PortAudio opens it to list the devices (tests/alsa_card.c's crash):
    the child dies of SIGABRT; the audio line names the signal and the plugin's last words, with the fix that
    points at the ALSA files a plugin is named in, and every check after it runs."""
    cards.set({"listener_test_array": f'channels 4; crash "{ASSERTION}"'})
    done = listener_cli("doctor", env={**ENV, "ALSA_CONFIG_PATH": str(cards.path)})
    assert done.returncode == 1 and done.stderr == "", done.stderr
    audio = [line for line in done.stdout.splitlines() if line.startswith("FAIL  audio")]
    said = f"the sound system crashes as it lists the devices (PortAudio: SIGABRT: {ASSERTION}); fix: {ALSA_FIX}"
    assert audio == [f"FAIL  audio      {said}"], done.stdout
    assert "look at /etc/asound.conf and ~/.asoundrc for a plugin that crashes" in ALSA_FIX
    ran = [line.split()[1] for line in done.stdout.splitlines()]
    assert ran[ran.index("audio") + 1 :] == AFTER_AUDIO, ran


def test_doctor_forks_its_portaudio_child_with_no_other_thread(cards: CardSet) -> None:
    """Forking a process that has threads can deadlock the child (a lock held by a thread the child does not
    have), and Python 3.12+ warns of it. Doctor forks before any check starts a thread (onnxruntime's, paho's),
    and OpenBLAS's workers, a user's OPENBLAS_NUM_THREADS=4 started, stop for a fork (its atfork handler)."""
    env = {**ENV, "ALSA_CONFIG_PATH": str(cards.path), "OPENBLAS_NUM_THREADS": "4"}
    done = subprocess.run(
        [sys.executable, "-c", COUNTING_FORKS, "doctor"], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.stderr.splitlines() == ["threads at a fork: 1"], done.stderr
    assert "FAIL  audio      no audio input device" in done.stdout, done.stdout
