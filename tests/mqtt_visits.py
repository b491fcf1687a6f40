"""Visits with a chosen number of rep interruptions, played into the MQTT stage a second of audio at a time, so
a test can cut the link, stop the broker or kill the device at a chosen moment of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from listener.analytics.summary import Window, summarize
from listener.config import parse_config
from listener.events import Event, Interruption, Party, SessionEnded, SessionStarted, SpeechSegment
from listener.outputs.leds import event_time_s
from listener.outputs.mqtt import MqttStage
from tests.full_card import CHECKOUT
from tests.mqtt_broker import Mosquitto, kill_process_group
from tests.mqtt_feed import block, rolling, stage_on
from tests.waiting import wait_until


def visit(session_id: str, t0_s: float, interruptions: int) -> list[Event]:
    """A session from ``t0_s`` + 1 s whose rep cuts in ``interruptions`` times, 4 s apart from ``t0_s`` + 4 s; it
    ends 6 s after the last, its summary after its end (the analytics' order)."""
    end_s = t0_s + 4.0 * interruptions + 6.0
    events: list[Event] = [SessionStarted(session_id=session_id, onset_s=t0_s + 1.0, decided_s=t0_s + 1.5)]
    for k in range(1, interruptions + 1):
        onset_s = t0_s + 4.0 * k
        events.append(Interruption(by=Party.REP, onset_s=onset_s, decided_s=onset_s + 0.5, successful=True))
        events.append(rolling(onset_s + 0.6, rep_s=2.0 * k, customer_s=3.0 * k))
    speech = [
        SpeechSegment(party=Party.CUSTOMER, start_s=t0_s + 1.0, end_s=end_s - 1.0, decided_s=end_s - 0.8),
        SpeechSegment(party=Party.REP, start_s=t0_s + 2.0, end_s=end_s - 0.5, decided_s=end_s - 0.4),
    ]
    events += speech
    events.append(SessionEnded(session_id=session_id, onset_s=t0_s + 1.0, decided_s=end_s + 1.0, end_s=end_s - 0.5))
    analytics = parse_config({}).analytics
    return [*events, summarize(session_id, Window(t0_s + 1.0, end_s - 0.5), end_s + 1.0, speech, events, analytics)]


class Player:
    """``events`` (in the order the analytics decide them) into ``stage``, a second of audio each, as far as asked."""

    def __init__(self, stage: MqttStage, events: list[Event]) -> None:
        self.stage = stage
        self.pending = list(events)
        self.t_s = 0.0

    def to(self, t_s: float) -> None:
        while self.t_s < t_s:
            while self.pending and (event_time_s(self.pending[0]) or 0.0) <= self.t_s + 1.0:
                self.stage.process(self.pending.pop(0))
            self.stage.process(block(self.t_s))
            self.t_s += 1.0


def connected_again(stage: MqttStage, connects_before: int, timeout_s: float = 15.0) -> None:
    """Wait for the connection after ``connects_before`` and for everything waiting to be acknowledged on it."""
    link = stage._link
    assert link is not None
    assert wait_until(lambda: link.connects > connects_before and link.connected, timeout_s), "not connected again"
    assert stage.publisher.flush(timeout_s), "what waited was not acknowledged"


A_THEN_B = ("a" * 16, 4, "b" * 16, 3)  # A's 4 interruptions, B's 3 (B from 30 s)
# the device, killed (SIGKILL) while it drains: the two visits spooled at once, sent 4 a second
CRASHING = """
import json, sys, time
from listener.config import parse_config
from listener.outputs.mqtt import MqttStage
from tests.mqtt_visits import Player, visit
mqtt, state_dir, (a, a_n, b, b_n) = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
stage = MqttStage(parse_config({"mqtt": mqtt, "service": {"state_dir": state_dir}}))
stage.open()
Player(stage, [*visit(a, 0.0, a_n), *visit(b, 30.0, b_n)]).to(60.0)
time.sleep(120.0)
"""


def crash_while_draining(broker: Mosquitto, folder: Path, arrived: Callable[[], object]) -> None:
    """A_THEN_B spooled at once and drained 4 a second, the device killed as ``arrived()`` comes true (the rest of
    the backlog in its spool, so the deletes of what was acknowledged still wait for their batch: a power cut's
    case too), then started again on the same spool until it has sent everything."""
    (folder / "crashing.py").write_text(CRASHING)
    mqtt = broker.mqtt_config(drain_rate_per_s=4.0, metrics_interval_s=2.0)
    args = [sys.executable, str(folder / "crashing.py"), json.dumps(mqtt), str(folder / "state"), json.dumps(A_THEN_B)]
    child = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(CHECKOUT)}, start_new_session=True)
    try:
        assert wait_until(arrived, 30.0), "the device never got that far"
    finally:
        kill_process_group(child)
    with stage_on(broker, folder, metrics_interval_s=2.0) as stage:
        assert stage._link is not None and stage._link.wait_connected(10.0)
        assert stage.publisher.flush(30.0)
