"""A connection lost because this device stood still, told apart from other losses (listener/outputs/mqtt/stall.py).

paho's loop rounds and the loss are played here on a clock the test moves. The real thing, a run stopped with
SIGSTOP under a real mosquitto, is tests/test_mqtt_run.py (test_a_hung_device_is_taken_offline_by_its_will_and_...);
a broker stopped under a running device, tests/test_mqtt_reconnects.py.
"""

from __future__ import annotations

import logging
import sys
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from listener.config import parse_config
from listener.outputs.mqtt import stall
from listener.outputs.mqtt.client import MqttLink
from listener.outputs.mqtt.stall import StallWatch
from tests.mqtt_broker import DEVICE_ID
from tests.mqtt_links import device_link

KEEPALIVE_S = 5  # the broker waits 7.5 s
ACCEPTED = ReasonCode(PacketTypes.CONNACK, "Success")
LOST = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")  # as paho says a closed socket


class Clock:
    """The watch's clock, moved by the test: paho's loop goes round every second while it runs."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def run(self, watch: StallWatch, seconds: int) -> None:
        for _ in range(seconds):
            self.now_s += 1.0
            watch.round()


def _connected(clock: Clock) -> StallWatch:
    watch = StallWatch(KEEPALIVE_S, clock)
    watch.connected()
    clock.run(watch, 10)
    return watch


def test_a_stall_longer_than_the_broker_waits_is_named_with_its_length() -> None:
    clock = Clock()
    watch = _connected(clock)
    clock.now_s += 9.0  # stopped: the broker has dropped the connection by now
    assert watch.stalled_s() == pytest.approx(9.0)  # the first read after the wake finds the socket closed


def test_a_stall_is_named_when_a_round_came_between_the_wake_and_the_loss() -> None:
    # stopped between select and the round's end: the round after the wake sends a PINGREQ, the next reads the reset
    clock = Clock()
    watch = _connected(clock)
    clock.now_s += 9.0
    watch.round()
    clock.now_s += 0.01
    assert watch.stalled_s() == pytest.approx(9.0)


def test_rounds_that_go_on_and_a_stall_the_broker_waits_out_are_no_stall() -> None:
    clock = Clock()
    watch = _connected(clock)
    clock.run(watch, 30)
    assert watch.stalled_s() is None  # the broker went away while the device ran
    clock.now_s += 7.0  # under 1.5 x keepalive_s: the broker kept the connection, so another cause ended it
    assert watch.stalled_s() is None


def test_a_loss_well_after_a_stall_has_another_cause() -> None:
    clock = Clock()
    watch = _connected(clock)
    clock.now_s += 9.0  # stopped, but the broker's timer (whole seconds, mosquitto) had not run out: it survived
    watch.round()
    clock.run(watch, 6)  # then lost for another reason, 6 s later
    assert watch.stalled_s() is None


def test_a_gap_before_the_connection_was_accepted_is_no_stall() -> None:
    # no rounds while paho waits out its back-off: the next connection's rounds start after a gap of that wait
    clock = Clock()
    watch = _connected(clock)
    clock.now_s += 20.0
    watch.round()  # the new attempt's socket is open, its CONNACK on the way
    watch.connected()
    clock.run(watch, 1)
    assert watch.stalled_s() is None


def test_a_connection_whose_loop_reported_no_round_is_no_stall() -> None:
    # were paho's loop to stop calling loop_misc (another paho), every loss would be said as before, none as a stall
    clock = Clock()
    watch = StallWatch(KEEPALIVE_S, clock)
    watch.connected()
    clock.now_s += 60.0
    assert watch.stalled_s() is None


def _link_on_a_moved_clock(mqtt: dict[str, object]) -> tuple[MqttLink, paho.Client, Clock]:
    """A link whose losses and accepts the test plays (never connected), its stall watch on the test's clock,
    and a paho client for its back-off setter."""
    config = parse_config({"mqtt": {"enabled": True, "keepalive_s": KEEPALIVE_S, **mqtt}}).mqtt
    link = device_link(config)
    clock = Clock()
    link._stall = StallWatch(KEEPALIVE_S, clock)
    return link, paho.Client(CallbackAPIVersion.VERSION2, client_id=DEVICE_ID), clock


@pytest.mark.parametrize("reconnect_min_s", [1, 5])
def test_stalls_soon_after_each_connect_are_no_client_id_clash(
    reconnect_min_s: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A machine swapping hard stalls the device again and again: each connection is lost seconds after its
    accept, as a clash's are. Counted as such, the third was blamed on another client with this id: a warning
    with the shortest wait (lost after 8 s, over twice the next wait), an error and a doubling wait with a
    longer one (each loss within twice the next wait: a kick)."""
    link, client, clock = _link_on_a_moved_clock({"reconnect_min_s": reconnect_min_s})
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            link._handle_connect(client, None, None, ACCEPTED, None)
            link._stall.round()
            clock.now_s += 8.0
            link._after_loss(client, LOST, 8.0)
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "connected to" not in r.getMessage()]
    assert all("client id" not in text for _, text in said), said
    assert [level for level, _ in said] == [logging.WARNING] + [logging.INFO] * 4  # as for every other loss
    assert all("this device did not run for 8 s" in text for _, text in said), said
    assert link.backoff.delay_s == reconnect_min_s  # the broker is fine: reconnect from the shortest wait


def test_a_client_id_clash_with_long_waits_between_attempts_is_blamed_on_the_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another client with this id kicks the device a second after each accept while its back-off waits 8 s and
    more: its loop goes round in no wait, and each accept starts the watch afresh, so no wait reads as a stall
    and the third kick is blamed on the id (without the accept's reset each kick was said as a stall, and never)."""
    link, client, clock = _link_on_a_moved_clock({"reconnect_min_s": 8, "reconnect_max_s": 60})
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            clock.now_s += link.backoff.delay_s  # paho waits out its back-off: no round meanwhile
            link._handle_connect(client, None, None, ACCEPTED, None)
            clock.run(link._stall, 1)
            link._after_loss(client, LOST, 1.0)
    said = [r.getMessage() for r in caplog.records]
    assert not [m for m in said if "did not run" in m], said
    assert [r.levelno for r in caplog.records if "another client uses client id" in r.getMessage()] == [logging.ERROR]


def test_a_stall_is_named_a_few_rounds_after_the_wake() -> None:
    # the first round after the wake writes its keep-alive into the closed connection; the reset comes back
    # a few rounds later: the stall that ended seconds ago is still its cause
    clock = Clock()
    watch = _connected(clock)
    clock.now_s += 9.0
    watch.round()
    clock.run(watch, 3)
    assert watch.stalled_s() == pytest.approx(9.0)


def test_the_stall_is_timed_on_a_clock_that_counts_a_suspend(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []

    def clock_gettime(clock_id: int) -> float:
        read.append(clock_id)
        return 12.5

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(time, "clock_gettime", clock_gettime)
    assert stall.awake_s() == 12.5 and read == [time.CLOCK_BOOTTIME]
