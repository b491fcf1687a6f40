"""How a run answers signals: SIGTERM and Ctrl-C flush every output, a second one cuts the waits short,
a third ends the process; SIGHUP stops a hand-started run and is ignored by the service; Ctrl-C while
the libraries load ends quietly. Real processes, a real broker where the spool matters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from listener.config import load_config
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.pipeline import Stage
from listener.service import runner
from listener.service.runner import RunOptions, sample_conversation
from listener.service.signals import StopSignals
from tests.mqtt_broker import Mosquitto, Received, Recorder, kill_process_group, run_listener, service_config
from tests.mqtt_feed import json_on
from tests.mqtt_relay import AckHold


def test_a_hangup_stops_a_run_as_sigterm_does(tmp_path: Path) -> None:
    """An ssh session that drops under a hand-started run: flushed and stopped, not killed."""
    config = tmp_path / "listener.toml"
    config.write_text('[leds]\nenabled = false\nbutton_pin = ""\n')
    cmd = [sys.executable, "-m", "listener", "run", "--config", str(config), "--input", str(sample_conversation())]
    env = {k: v for k, v in os.environ.items() if k != "INVOCATION_ID"}  # by hand, not by systemd
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(3.0)  # real time: well inside the 27.6 s sample
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"signal {int(signal.SIGHUP)}: stopping after flushing every output" in err and "stopped after" in err


def test_a_hangup_to_the_service_is_ignored_not_a_stop(tmp_path: Path) -> None:
    """Under systemd a HUP is someone's reload; a clean exit on it is not restarted, so the device went dark."""
    config = tmp_path / "listener.toml"
    config.write_text(f'[leds]\nenabled = false\nbutton_pin = ""\n[service]\nstate_dir = "{tmp_path / "state"}"\n')
    cmd = [sys.executable, "-m", "listener", "run", "--config", str(config), "--input", str(sample_conversation())]
    env = {**os.environ, "INVOCATION_ID": "0123456789abcdef0123456789abcdef"}  # what systemd sets for a unit
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(3.0)
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert proc.poll() is None, "stopped on the hangup"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "(SIGHUP) ignored: the service reloads nothing" in err and "sudo systemctl restart listener" in err
    assert f"signal {int(signal.SIGTERM)}: stopping after flushing every output" in err


CTRL_C_WHILE_LOADING = """
import os, signal, sys

class CtrlC:  # presses Ctrl-C as the service's modules load, the moment a slow Pi spends seconds in
    def find_spec(self, name, path=None, target=None):
        if name == LOADING:
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
sys.argv = ["listener", "run"]
"""
# the installed `listener` command calls its entry point (as the unit and scripts/demo do); -m runs __main__
AS_COMMAND = """
from importlib.metadata import entry_points
(command,) = entry_points(group="console_scripts", name="listener")
sys.exit(command.load()())
"""
AS_MODULE = """
import runpy
runpy.run_module("listener", run_name="__main__")
"""


@pytest.mark.parametrize("started", [AS_COMMAND, AS_MODULE], ids=["listener", "python-m-listener"])
def test_ctrl_c_while_the_libraries_load_ends_without_a_traceback(started: str) -> None:
    """A Ctrl-C in the first moments (the imports take seconds on a Pi Zero) printed ten lines of traceback;
    the installed command did so after `python -m listener` had stopped doing it."""
    loading = 'LOADING = "listener.service.build"\n'
    done = subprocess.run(
        [sys.executable, "-c", loading + CTRL_C_WHILE_LOADING + started], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (130, "")


def test_ctrl_c_while_the_command_line_itself_loads_ends_as_an_interrupted_command() -> None:
    """Earlier still, while listener.cli and its imports load (before any command runs): 130 too, as a shell
    reports an interrupted command, and nothing on stderr."""
    loading = 'LOADING = "listener.cli"\n'
    done = subprocess.run(
        [sys.executable, "-c", loading + CTRL_C_WHILE_LOADING + AS_COMMAND], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (130, "")


HUP_WHILE_LOADING = """
import os, signal, sys

class Hup:  # a HUP as the service's modules load, before the run installs its handlers
    def find_spec(self, name, path=None, target=None):
        if name == "listener.service.build":
            os.kill(os.getpid(), signal.SIGHUP)
        return None

sys.meta_path.insert(0, Hup())
sys.argv = ["listener", "run", "--fast", "--input", sys.argv[1], "--config", sys.argv[2]]
"""


@pytest.mark.parametrize("started", [AS_COMMAND, AS_MODULE], ids=["listener", "python-m-listener"])
def test_a_hangup_to_the_service_while_it_starts_is_ignored_too(started: str, tmp_path: Path) -> None:
    """Until the run installed its handlers (half a second here, seconds on a Pi Zero) a HUP had its default
    action: the service died of it, which systemd takes for a clean exit and does not restart."""
    config = tmp_path / "listener.toml"
    config.write_text(f'[leds]\nenabled = false\nbutton_pin = ""\n[service]\nstate_dir = "{tmp_path}"\n')
    env = {**os.environ, "INVOCATION_ID": "0123456789abcdef0123456789abcdef"}  # what systemd sets for a unit
    done = subprocess.run(
        [sys.executable, "-c", HUP_WHILE_LOADING + started, str(sample_conversation()), str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "stopped after" in done.stderr


def test_a_run_started_with_nohup_keeps_ignoring_the_hangup() -> None:
    class Source:
        def stop(self) -> None:
            raise AssertionError("not asked to stop")

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        restore = StopSignals(Source()).install()  # type: ignore[arg-type]
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the others are still handled
        restore()
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_run_started_off_the_main_thread_leaves_the_signals_to_its_host() -> None:
    """Only the main thread may set signal handlers: a run a host starts on a thread of its own (a test
    harness, an embedding program) starts, and its host's handlers stay as they were."""

    class Source:
        def stop(self) -> None:
            raise AssertionError("not asked to stop")

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    outcome: list[object] = []

    def start() -> None:
        try:
            StopSignals(Source()).install()()  # type: ignore[arg-type]
            outcome.append("started")
        except ValueError as exc:  # "signal only works in main thread"
            outcome.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    assert outcome == ["started"]
    assert {s: signal.getsignal(s) for s in before} == before


def _interrupted(got: list[Received]) -> bool:
    return any(e["type"] == "interruption" for e in json_on(got, "event"))


def test_a_second_signal_cuts_the_stop_short_and_keeps_what_was_measured(broker: Mosquitto, tmp_path: Path) -> None:
    """Ctrl-C twice: the first waits (here for a broker that stopped acknowledging, up to 30 s), the second
    gives up waiting at once; the open session's summary is still measured and waits in the spool."""
    with Recorder(broker) as seen, AckHold(broker.port) as relay:
        config = service_config(tmp_path, broker, port=relay.port, shutdown_drain_s=30.0)
        proc = run_listener(config, sample_conversation())
        try:
            # a visit well under way (the sample's first interruption comes 10 s in, after more speech than
            # session_min_speech_s): its summary is what the stop must not lose
            under_way = seen.wait_for(_interrupted, timeout_s=60.0)
            assert _interrupted(under_way), "the visit never got under way"
            relay.hold()
            proc.send_signal(signal.SIGINT)
            time.sleep(2.0)
            assert proc.poll() is None, "the first signal did not wait for the broker"
            asked_s = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err_bytes = proc.communicate(timeout=20)
            took_s = time.monotonic() - asked_s
        finally:
            kill_process_group(proc)
    err = err_bytes.decode()
    assert proc.returncode == 0, err
    assert took_s < 5.0, err  # MqttLink.close's own 1 s bound is all that is left
    assert "again: stopping without waiting" in err and "stay in the spool and are sent at the next start" in err
    with Spool(tmp_path / "state" / SPOOL_FILE, 20000) as spool:
        leaves = [m.leaf for m in spool.after(0, 1000)]
    assert "session" in leaves  # the summary of the visit the stop cut off


THREE_SIGNALS = """
import hashlib, os, signal, threading
from listener.service.signals import StopSignals

class Source:
    def stop(self):
        pass

StopSignals(Source()).install()
for _ in range(2):
    os.kill(os.getpid(), signal.SIGTERM)
    threading.Event().wait(0.2)  # a Python handler runs between bytecodes of the main thread
print("two signals: still running", flush=True)
# the third comes inside one long C call (as a model load or a driver's close), where no Python handler runs
hashlib.pbkdf2_hmac("sha256", b"listener", b"salt", 150_000_000)
print("the C call ended first", flush=True)
"""


def test_a_third_signal_ends_the_process_at_once_even_inside_a_c_call() -> None:
    """A stop that hangs somewhere no hurry reaches (a driver that never closes) is still ended from the terminal:
    after the second signal the kernel's default takes over, which needs no Python bytecode to run."""
    proc = subprocess.Popen([sys.executable, "-c", THREE_SIGNALS], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "two signals: still running\n"
        time.sleep(0.5)  # inside the C call (about 30 s of it here)
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        took_s = time.monotonic() - sent_at
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM and took_s < 5.0


class _Recorded(Stage):
    """Sends itself Ctrl-C (twice by default) while opening (models loading, the LED self-test); notes a
    hurry and the stop being shown."""

    def __init__(self, presses: int = 2) -> None:
        self.presses = presses
        self.hurried = False
        self.stopped = False

    def open(self) -> None:
        for _ in range(self.presses):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)

    def hurry(self) -> None:
        self.hurried = True

    def stopping(self) -> None:
        self.stopped = True


def test_a_second_signal_while_the_stages_open_still_hurries_them(tmp_path: Path) -> None:
    """The hurry used to be dropped when both signals came before the stages were up."""
    config = tmp_path / "listener.toml"
    config.write_text('[leds]\nenabled = false\nbutton_pin = ""\n')
    stage = _Recorded()
    runner.run(load_config(config), RunOptions(input=sample_conversation(), fast=True), extra_stages=[stage])
    assert stage.hurried
    once = _Recorded(presses=1)  # one stop (systemctl stop during start-up) still flushes with its waits
    runner.run(load_config(config), RunOptions(input=sample_conversation(), fast=True), extra_stages=[once])
    assert not once.hurried
    assert stage.stopped and once.stopped  # the stop was shown (the LEDs dark) before the flush
