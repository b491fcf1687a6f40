"""What `systemctl status listener` shows the installer: sd_notify's STATUS=, through a real datagram socket named by
NOTIFY_SOCKET (the fixture of test_service_runner.py). It said the input's state only: "capturing" all through a
privacy pause, and all through the stop's flush (the recogniser's last words, up to 30 s)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from listener.config import parse_config
from listener.events import AudioDropped, DeviceMode, DeviceState, Event, SourceState
from listener.pipeline import Stage
from listener.service.runner import PAUSED_STATUS, STOPPING_STATUS, RunOptions, SystemdNotifier, sample_conversation
from tests.service_stop import StopsAt, run_with_rescue
from tests.test_service_runner import _received, notify_socket  # noqa: F401  (fixture)

END = "END"  # sent by the test itself once the run is over: the reader's last datagram


class Heard:
    """Every datagram the run sends, read all along as systemd does (an unread datagram socket blocks its sender)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.told: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        self.sock.settimeout(None)
        while (said := self.sock.recv(4096).decode()) != END:
            self.told.append(said)

    def all(self) -> list[str]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(END.encode(), self.sock.getsockname())
        self._reader.join(10.0)
        return self.told


class PressesAt(Stage):
    """The rep presses the privacy button once ``at_s`` of audio time has gone by (paused or not)."""

    def __init__(self, pin: str, at_s: float) -> None:
        self.pin = pin
        self.at_s = at_s
        self.pressed = False

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, AudioDropped) and event.start_s >= self.at_s and not self.pressed:
            self.pressed = True
            _press(self.pin)
        return ()


def _press(pin: str) -> None:
    from listener.outputs import gpio

    button = gpio.pin_factory().pin(pin)
    button.drive_low()  # wired to ground, internal pull-up: pressed is low
    time.sleep(0.1)  # past the button's bounce time
    button.drive_high()


def test_the_status_says_the_pause_and_the_stops_flush(
    notify_socket: socket.socket,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from listener.outputs import gpio
    from listener.outputs.leds import LedStage

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setattr(gpio, "_shared", None)
    config = parse_config({"service": {"state_dir": str(tmp_path)}, "asr": {"enabled": False}})
    self_test = LedStage._self_test

    def pressed_during(stage: LedStage) -> None:  # paused from the first block: a press during the self-test
        self_test(stage)
        _press(config.leds.button_pin)

    monkeypatch.setattr(LedStage, "_self_test", pressed_during)
    heard = Heard(notify_socket)
    run_with_rescue(
        config,
        RunOptions(input=sample_conversation()),  # in real time, as the array: the stop comes mid-file
        [PressesAt(config.leds.button_pin, 1.0), StopsAt(2.0)],
        rescue_s=30.0,
    )
    told = heard.all()
    statuses = [said for said in told if said.startswith("STATUS=")]
    assert statuses == [f"STATUS={PAUSED_STATUS}", "STATUS=capturing", f"STATUS={STOPPING_STATUS}"], told
    # said before STOPPING=1, after which nothing is (systemd shows it through the flush's waits)
    assert told[-2:] == [f"STATUS={STOPPING_STATUS}", "STOPPING=1"], told


def test_a_pause_with_the_array_missing_says_both_and_other_parts_faults_change_nothing(
    notify_socket: socket.socket,  # noqa: F811
) -> None:
    notifier = SystemdNotifier()
    notifier.open()
    events: list[Event] = [
        DeviceState(t_s=0.0, mode=DeviceMode.PAUSED, detail="privacy button", cause="button"),  # kept from before
        SourceState(t_s=0.0, available=False, detail="no audio input device 'array'"),
        DeviceState(t_s=0.5, mode=DeviceMode.FAULT, detail="broker unreachable", cause="broker"),
        SourceState(t_s=1.0, available=True, detail="'array' is back"),
        DeviceState(t_s=2.0, mode=DeviceMode.LISTENING, detail="privacy button", cause="button"),
    ]
    for event in events:
        list(notifier.process(event))
    notifier.close()  # with no stop before it (the stages failed to open, say): there is no flush to show
    told = _received(notify_socket)
    assert [said for said in told if said.startswith("STATUS=")] == [
        f"STATUS={PAUSED_STATUS}",
        f"STATUS={PAUSED_STATUS}; no audio: no audio input device 'array'",
        f"STATUS={PAUSED_STATUS}",
        "STATUS=capturing",
    ]
    assert told[-1] == "STOPPING=1", told
