"""Closing the drain thread: it waits for a drain step under way (the spool is closed right after), and
no longer than ``STOP_TIMEOUT_S`` for one stuck in paho, so a shutdown is never held up by the broker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from listener.outputs.mqtt import publisher as publisher_module
from listener.outputs.mqtt.publisher import Publisher
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from tests.mqtt_links import LinkStandIn
from tests.waiting import wait_until

SESSION_ID = "0123456789abcdef0123456789abcdef"


class _SlowLink(LinkStandIn):
    """The publisher's link, its ``publish`` held until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> int:
        self.entered.set()
        self.release.wait(30.0)
        self.returned.set()
        return 1


def _drains() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mqtt-drain" and t.is_alive()]


def _publishing(tmp_path: Path, link: _SlowLink) -> tuple[Spool, Publisher]:
    spool = Spool(tmp_path / SPOOL_FILE, max_messages=10)
    spool.open()
    spool.put("event", {"type": "backchannel", "session_id": SESSION_ID})
    publisher = link.publisher(spool, rate_per_s=100, inflight_max=3)
    publisher.open()
    assert link.entered.wait(10.0), "the drain thread never handed the spooled message to paho"
    return spool, publisher


def test_close_waits_for_the_drain_step_under_way(tmp_path: Path) -> None:
    """Without the join, close returned while the thread was still in paho's publish, about to write the
    message's row as in flight into a spool the stage closes next."""
    link = _SlowLink()
    spool, publisher = _publishing(tmp_path, link)
    with spool:
        timer = threading.Timer(0.5, link.release.set)
        timer.start()
        started_s = time.monotonic()
        publisher.close()
        took_s = time.monotonic() - started_s
        assert link.returned.is_set(), "close returned while the drain step was still in paho"
        assert not _drains()
        assert 0.3 <= took_s < publisher_module.STOP_TIMEOUT_S, took_s


def test_close_gives_up_on_a_drain_step_stuck_in_paho(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A publish that never returns (a wedged socket) holds close for ``STOP_TIMEOUT_S``, not for ever."""
    monkeypatch.setattr(publisher_module, "STOP_TIMEOUT_S", 0.3)
    link = _SlowLink()
    spool, publisher = _publishing(tmp_path, link)
    released = threading.Timer(4.0, link.release.set)  # so that a close without a timeout ends, and fails
    released.start()
    try:
        with spool:
            started_s = time.monotonic()
            publisher.close()
            took_s = time.monotonic() - started_s
            assert 0.3 <= took_s < 2.0, took_s
            assert not link.returned.is_set()
    finally:
        link.release.set()
        released.cancel()
    wait_until(lambda: not _drains(), 10.0)
    assert not _drains(), "the stuck thread did not end once paho returned"
