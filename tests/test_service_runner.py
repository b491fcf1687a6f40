"""The service's own plumbing: start-up order, stop signals, the systemd watchdog, a failing stage,
the order of the stages. What a run hears from the demo, a file or after a pause: test_service_inputs.py.

The watchdog is spoken to through a real datagram socket named by NOTIFY_SOCKET, as systemd does.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from listener.audio.wav import WavSource
from listener.config import Config, geometry, parse_config
from listener.config.service_unit import STOP_BUDGET_S
from listener.events import (
    AudioBlock,
    AudioDropped,
    EndOfStream,
    Event,
    SessionSummary,
    SourceState,
)
from listener.pipeline import EventLog, Pipeline, Stage
from listener.service import runner
from listener.service.build import analysis_stages
from listener.service.runner import STOPPING_STATUS, RunOptions, SystemdNotifier, sample_conversation
from tests.alsa_device import AlsaConfig, TestDevice, alsa_config, test_array  # noqa: F401  (fixtures)
from tests.folders import held_open
from tests.mqtt_broker import Mosquitto, service_config
from tests.service_stop import StopsAt, run_with_rescue
from tests.waiting import wait_until


class FailsAt(Stage):
    """An output with a bug that shows at ``at_s`` of audio."""

    name = "faulty"

    def __init__(self, at_s: float) -> None:
        self.at_s = at_s

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, AudioBlock) and event.start_s >= self.at_s:
            raise RuntimeError("a bug in an output stage")
        return ()


class BrokenFromThenOn(FailsAt):
    """An output that, once its bug has shown, fails at every event: the flush too."""

    broken = False

    def process(self, event: Event) -> Iterable[Event]:
        if self.broken:
            raise RuntimeError("a bug in an output stage, again")
        try:
            return super().process(event)
        except RuntimeError:
            self.broken = True
            raise


@pytest.mark.parametrize("faulty", [FailsAt, BrokenFromThenOn], ids=["fails-once", "fails-again-while-flushing"])
def test_a_failing_stage_still_lets_the_others_flush_the_session(faulty: type[FailsAt]) -> None:
    """The open session's summary reaches the outputs after a broken one, even when the broken one also
    fails on the end of the stream (the first error is the one raised): one faulty output must not cost
    the others the session."""
    config = parse_config({"array": {"preset": "respeaker-4mic"}})
    geo = geometry(config)
    keep = EventLog()
    source = WavSource(sample_conversation(), geo, block_ms=100, repeat=2)  # 56 s: a summary's worth of speech
    stages = [*analysis_stages(config, geo), faulty(45.0), keep]
    with source, Pipeline(stages) as pipeline, pytest.raises(RuntimeError, match=r"a bug in an output stage$"):
        pipeline.run(source)
    summaries = keep.of(SessionSummary)
    assert len(summaries) == 1 and 40.0 < summaries[0].end_s <= 45.1
    assert isinstance(keep.events[-1], EndOfStream)


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(1.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _received(sock: socket.socket, quiet_s: float = 0.2) -> list[str]:
    """What came until nothing has for ``quiet_s``."""
    out = []
    sock.settimeout(quiet_s)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except TimeoutError:
        return out


class Clock:
    """A monotonic clock the test moves: the notifier feeds the watchdog by the wall clock."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_the_watchdog_is_fed_while_an_outage_is_waited_out(notify_socket: socket.socket) -> None:
    clock = Clock()
    notifier = SystemdNotifier(clock)
    notifier.open()
    outage = [
        SourceState(t_s=0.0, available=False, detail="no audio from 'array' for 1.0 s"),
        AudioDropped(start_s=0.0, duration_s=5.0, reason="device_lost"),
        AudioDropped(start_s=5.0, duration_s=5.0, reason="device_lost"),
    ]
    for event in outage:
        list(notifier.process(event))
        clock.now_s += 5.0  # a long outage: each event seconds after the last
    assert _received(notify_socket) == [
        "READY=1",
        "WATCHDOG=1",
        "STATUS=no audio: no audio from 'array' for 1.0 s",
        "WATCHDOG=1",
        "WATCHDOG=1",
    ]
    list(notifier.process(SourceState(t_s=10.0, available=True, detail="'array' is back")))
    assert _received(notify_socket) == ["WATCHDOG=1", "STATUS=capturing"]
    notifier.close()
    assert _received(notify_socket) == ["STOPPING=1"]


@pytest.mark.parametrize(("watchdog_usec", "feeds"), [(None, 10), ("30000000", 10), ("2000000", 20), ("x", 10)])
def test_the_watchdog_is_fed_once_a_second_not_at_every_block(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch, watchdog_usec: str | None, feeds: int
) -> None:
    """WATCHDOG=1 went to systemd at every 50 ms block: twenty datagrams a second, each waking PID 1 to re-arm a
    30 s timer. Once a second is enough; a WatchdogSec shorter than 4 s (WATCHDOG_USEC) is fed four times in it."""
    if watchdog_usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", watchdog_usec)
    clock = Clock()
    notifier = SystemdNotifier(clock)
    notifier.open()
    told: list[str] = []
    # read as systemd does, all along: an unread datagram socket blocks its sender at a few (max_dgram_qlen)
    reader = threading.Thread(target=lambda: told.extend(_received(notify_socket, quiet_s=1.0)))
    reader.start()
    for k in range(200):  # 10 s of 50 ms blocks, read as they are captured
        clock.now_s = 100.0 + k * 50 / 1000  # not summed: 0.05 ten times is a hair short of 0.5
        list(notifier.process(AudioDropped(start_s=k * 0.05, duration_s=0.05, reason="overflow")))
    reader.join()
    notifier.close()
    assert told[0] == "READY=1" and told.count("WATCHDOG=1") == feeds, told


def test_the_watchdog_is_fed_no_more_once_the_stop_has_begun(notify_socket: socket.socket) -> None:
    """systemd re-arms its watchdog at every WATCHDOG=1, even after it has sent SIGTERM: the blocks read after the
    stop was asked for armed it again, and a flush waiting longer than WatchdogSec for the recogniser was aborted
    before the open session's summary was stored. Once the stop has begun, the service says STOPPING=1 and
    nothing more keeps the watchdog going; the audio still read does not."""
    notifier = SystemdNotifier()
    notifier.open()
    list(notifier.process(AudioDropped(start_s=0.0, duration_s=0.05, reason="overflow")))
    assert _received(notify_socket) == ["READY=1", "WATCHDOG=1"]
    notifier.stopping()
    list(notifier.process(AudioDropped(start_s=0.05, duration_s=0.05, reason="overflow")))
    notifier.close()
    assert _received(notify_socket) == [f"STATUS={STOPPING_STATUS}", "STOPPING=1"]


class NotesTheFlush(Stage):
    """What systemd had been told when the end of the stream came: the flush (the recogniser's wait) begins then.

    The socket is read all along, as systemd does: a datagram socket left unread blocks its sender at a few."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.heard: list[str] = []
        self.told: list[str] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        self.sock.settimeout(None)
        while True:
            try:
                self.heard.append(self.sock.recv(4096).decode())
            except OSError:  # closed by the fixture
                return

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, EndOfStream):
            time.sleep(0.2)  # for the reader to take what was sent before
            self.told = list(self.heard)
        return ()


def test_systemd_is_told_of_the_stop_before_the_stages_flush(notify_socket: socket.socket, tmp_path: Path) -> None:
    """SIGTERM mid-run: STOPPING=1 has gone out before the flush, which is then bounded by TimeoutStopSec alone,
    not by the watchdog (it was said only once the stages had flushed and closed)."""
    config = parse_config({"leds": {"enabled": False, "button_pin": ""}, "service": {"state_dir": str(tmp_path)}})
    notes = NotesTheFlush(notify_socket)
    run_with_rescue(config, RunOptions(input=sample_conversation(), fast=True), [StopsAt(5.0), notes])
    assert notes.told is not None and notes.told[0] == "READY=1"
    assert "STOPPING=1" in notes.told
    assert "WATCHDOG=1" not in notes.told[notes.told.index("STOPPING=1") :]


def _capturing_from(device: TestDevice) -> set[str]:
    """Which of the device's raw files this process holds open: ALSA's file PCM opens them with the stream."""
    held = set(held_open())
    return {path.name for path in device.infiles if path in held}


class _FailsToLoad(Stage):
    """A model that turns out corrupt while the stages open; it notes which of the array's files were open then."""

    def __init__(self, array: TestDevice) -> None:
        self.array = array
        self.seen_at_open: set[str] | None = None

    def open(self) -> None:
        self.seen_at_open = _capturing_from(self.array)
        raise RuntimeError("the model file is corrupt")


class _Watches(Stage):
    """Notes which of the array's files were open while it opened, and with the first audio; then stops the run."""

    def __init__(self, array: TestDevice) -> None:
        self.array = array
        self.seen_at_open: set[str] | None = None
        self.seen_with_audio: set[str] | None = None

    def open(self) -> None:
        self.seen_at_open = _capturing_from(self.array)

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, AudioBlock) and self.seen_with_audio is None:
            self.seen_with_audio = _capturing_from(self.array)
            os.kill(os.getpid(), signal.SIGTERM)  # as systemd stops the service
        return ()


def _array_only(array: TestDevice, state_dir: Path) -> Config:
    return parse_config(
        {
            "array": {"device": array.name},
            "leds": {"enabled": False, "button_pin": ""},
            "asr": {"enabled": False},
            "service": {"state_dir": str(state_dir)},  # a live run takes the folder's instance lock
        }
    )


def test_a_stage_that_fails_to_open_never_has_the_array_opened(
    test_array: TestDevice,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The real LiveSource on a file-backed ALSA array: a stage sees, while it opens, whether the array is capturing.

    The array is "open" exactly while the process holds the device's raw files (ALSA's ``file`` PCM
    opens them when PortAudio opens the stream, closes them with it).
    """
    loads = _FailsToLoad(test_array)
    with pytest.raises(RuntimeError, match="corrupt"):
        runner.run(_array_only(test_array, tmp_path), RunOptions(), extra_stages=[loads])
    assert loads.seen_at_open == set()  # the array was not capturing while the stages opened ...
    assert _capturing_from(test_array) == set()  # ... and it is not left open after the failure


def test_the_array_is_opened_only_once_the_stages_are_up(test_array: TestDevice, tmp_path: Path) -> None:  # noqa: F811
    """The same start without the failure: the array is captured from once the stages are up, and closed at the end."""
    watches = _Watches(test_array)
    audio_s = run_with_rescue(_array_only(test_array, tmp_path), RunOptions(), [watches])
    assert watches.seen_at_open == set()
    assert watches.seen_with_audio == {path.name for path in test_array.infiles}  # the observation sees an open array
    assert audio_s > 0.0
    assert _capturing_from(test_array) == set()  # closed when the run ended


def test_the_array_is_closed_once(test_array: TestDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A second close of a wedged driver waits CLOSE_TIMEOUT_S again and warns again, eating the stop's budget
    before systemd's TimeoutStopSec: the run's stack closed the array, and so did _hold."""
    from listener.audio.live import LiveSource

    closes: list[bool] = []
    close = LiveSource.close

    def counted(self: LiveSource) -> None:
        closes.append(True)
        close(self)

    monkeypatch.setattr(LiveSource, "close", counted)
    assert run_with_rescue(_array_only(test_array, tmp_path), RunOptions(), [StopsAt(0.5)]) > 0.0
    assert len(closes) == 1


def test_a_stop_asked_for_while_the_stages_open_is_kept(alsa_config: AlsaConfig, tmp_path: Path) -> None:  # noqa: F811
    """SIGTERM during start-up (models loading, the LED self-test) must not be undone by opening the array."""

    class SignalsWhileOpening(Stage):
        def open(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, before the array is opened
            time.sleep(0.1)

    config = parse_config(
        {
            "array": {"device": "no_such_array", "reopen_interval_s": 0.2},
            "leds": {"enabled": False, "button_pin": ""},
            "service": {"state_dir": str(tmp_path)},
        }
    )
    t0 = time.monotonic()
    run_with_rescue(config, RunOptions(wait_for_array=True), [SignalsWhileOpening()])
    assert time.monotonic() - t0 < 5.0


def test_a_run_that_waited_for_its_array_all_along_says_it_heard_nothing(
    alsa_config: AlsaConfig,  # noqa: F811  (no device at all)
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The waiting time is audio time announced as dropped: "stopped after 1.5 s of audio" read as if it was heard."""
    import logging

    config = parse_config(
        {
            "array": {"device": "no_such_array", "reopen_interval_s": 0.2},
            "leds": {"enabled": False, "button_pin": ""},
            "service": {"state_dir": str(tmp_path)},
        }
    )

    with caplog.at_level(logging.INFO, logger=runner.__name__):
        audio_s = run_with_rescue(
            config, RunOptions(wait_for_array=True), [StopsAt(1.5, kinds=(AudioDropped,))], rescue_s=30.0
        )
    (said,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped after")]
    assert audio_s >= 1.5
    assert (
        said
        == f"stopped after {audio_s:.1f} s of audio time, {audio_s:.1f} s of it not heard (no array {audio_s:.1f} s)"
    )


def test_a_second_run_on_the_same_state_folder_is_refused(tmp_path: Path, broker: Mosquitto) -> None:
    """Two instances on one spool published every visit twice under one device, their sessions overlapping."""
    config = service_config(tmp_path, broker)
    cmd = [sys.executable, "-m", "listener", "run", "--config", str(config), "--input", str(sample_conversation())]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / "state" / "listener.lock"
        wait_until(lambda: lock.exists() and lock.read_text().strip(), 30.0)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        assert first.poll() is None, "the first run was harmed"
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
    finally:
        first.kill()
    assert second.returncode == 2, second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert f"another listener (pid {first.pid}) already runs with [service] state_dir {tmp_path / 'state'}" in line
    assert "sudo systemctl stop listener" in line
    assert first.returncode == 0 and "stopped after" in err
    # the lock goes with the run: the next one starts
    again = subprocess.run([*cmd, "--fast"], capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr


def test_the_broker_stage_comes_before_the_lights_so_its_fault_reaches_them() -> None:
    # a stage's events flow only to the stages after it: the MQTT stage's "broker unreachable"
    # DeviceState must pass the LED stage, or the rep never sees the fault the README promises
    from listener.outputs.leds import LedStage
    from listener.outputs.mqtt import MqttStage

    config = parse_config({"mqtt": {"enabled": True}, "leds": {"enabled": True}})
    stages = runner.output_stages(config, RunOptions(input=Path("x.wav"), fast=True), live=False)
    assert [type(s) for s in stages] == [MqttStage, LedStage]


def test_transcription_comes_before_the_analytics_so_the_summary_sees_the_questions() -> None:
    # the session summary's question figures (questions, the wait for an answer, stacked questions)
    # come from the Question cues the transcription stage emits: a stage only hears the ones before it
    from listener.analytics.stage import ConversationAnalytics
    from listener.transcription.stage import TranscriptionStage

    config = parse_config({"asr": {"enabled": True}})
    kinds = [type(s) for s in analysis_stages(config, geometry(config))]
    assert kinds.index(TranscriptionStage) < kinds.index(ConversationAnalytics)


def test_the_stop_line_does_not_blame_the_pipeline_for_the_drivers_overruns(
    test_array: TestDevice,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PortAudio lost 0.5 s (its capture thread late) while the pipeline kept up: the journal's warning said
    so, and then the stop line ended "(fell behind the array 0.5 s)". Both causes share the reason
    "overflow", so the stop line names neither: the warnings before it say which."""
    from tests.live_source import script_driver

    script_driver(monkeypatch, lambda _stream, period: 0.5 if period == 5 else 0.0)
    with caplog.at_level(logging.INFO):
        audio_s = run_with_rescue(_array_only(test_array, tmp_path), RunOptions(), [StopsAt(1.5)])
    assert any("in the driver" in r.getMessage() for r in caplog.records)
    (said,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopped after")]
    assert said.startswith(f"stopped after {audio_s:.1f} s of audio time, 0.5 s of it not heard (audio overflow 0.5 s")
    assert "fell behind" not in said, said


class _CtrlC(logging.Handler):
    """Ctrl-C pressed while a line is written: Python raises KeyboardInterrupt from whatever runs when it lands."""

    def emit(self, record: logging.LogRecord) -> None:
        raise KeyboardInterrupt


def _holds_open(path: Path) -> bool:
    return path.resolve() in held_open()


def test_a_recording_checked_at_start_is_closed_when_the_start_is_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """select_source opens the file at once (a bad one is said before any model loads); an interrupt before the
    stages open, here while a systemd start warns of its long stop, must not leave it open. Checked while the
    error is still held, as a caller handling it holds it: only then is the run's frame, the source in it, kept
    from the garbage collector, which would otherwise close the file behind a leak."""
    wav = tmp_path / "shop.wav"
    shutil.copy(sample_conversation(), wav)
    monkeypatch.setenv("INVOCATION_ID", "test")  # as systemd starts the unit: the long stop is warned of
    long_stop = {"enabled": True, "finish_wait_s": STOP_BUDGET_S + 1.0}
    config = parse_config({"asr": long_stop, "leds": {"enabled": False}})
    interrupt = _CtrlC(logging.WARNING)
    logging.getLogger(runner.__name__).addHandler(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            runner.run(config, RunOptions(input=wav, fast=True))
    finally:
        logging.getLogger(runner.__name__).removeHandler(interrupt)
    # it landed before the run's stack took the source over ...
    assert "_warn_of_a_long_stop" in {frame.name for frame in traceback.extract_tb(caught.tb)}
    assert not _holds_open(wav)  # ... and the file is closed, though the error is still held
