"""What the dashboard benches (bench.node_red, bench.home_assistant) share: the device feeding their dashboard.

The bundled sample through ``listener run --input`` against the bench's broker, with gpiozero's mock
pins, in its own process group (so a bench that stops or fails takes the whole run down with it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.signals import ROOT as REPO
from tests.mqtt_broker import Mosquitto, kill_process_group, service_config

SAMPLE = REPO / "listener" / "data" / "sample" / "conversation.wav"
RUN_TIMEOUT_S = 300.0


def device_config(folder: Path, broker: Mosquitto, prefix: str = "listener") -> Path:
    """A device publishing to ``broker`` (Last Will after 7.5 s); one state_dir in ``folder`` for all runs."""
    name = f"listener-{prefix.replace('/', '-')}.toml"
    return service_config(folder, broker, short_sessions=False, name=name, topic_prefix=prefix)


def start_device(
    folder: Path, broker: Mosquitto, prefix: str = "listener", fast: bool = True
) -> subprocess.Popen[bytes]:
    """The sample replayed (``--fast``, or in real time), its output appended to ``folder``/device.log."""
    config = device_config(folder, broker, prefix)
    args = [sys.executable, "-m", "listener", "run", "--input", str(SAMPLE), "--config", str(config)]
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    with (folder / "device.log").open("ab") as out:  # the child keeps its own copy
        return subprocess.Popen([*args, "--fast"] if fast else args, stdout=out, stderr=out, env=env,
                                cwd=REPO, start_new_session=True)  # fmt: skip


def run_device(folder: Path, broker: Mosquitto, prefix: str = "listener") -> int:
    """A whole ``--fast`` run; its exit status."""
    proc = start_device(folder, broker, prefix)
    try:
        return proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        kill_process_group(proc)


def wait_until(ok: Callable[[], bool], timeout_s: float, what: str = "") -> bool:
    """Poll ``ok`` until it holds or ``timeout_s`` passes; a miss is printed when ``what`` names it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ok():
            return True
        time.sleep(0.1)
    if what:
        print(f"  (no {what} within {timeout_s:.0f} s)")
    return False


@dataclass
class DeviceBench:
    """A dashboard bench's broker and folder, and the device it runs against them."""

    broker: Mosquitto
    folder: Path

    def device(self, prefix: str = "listener", fast: bool = True) -> subprocess.Popen[bytes]:
        return start_device(self.folder, self.broker, prefix, fast)

    def run_device(self, prefix: str = "listener") -> int:
        return run_device(self.folder, self.broker, prefix)
