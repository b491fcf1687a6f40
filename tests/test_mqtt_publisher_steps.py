"""The drain thread's own rules, against a link that acknowledges only when the test says so: after a reconnect
newer messages wait for paho's re-sends, a failing drain step is retried, and the ids of retained messages
awaiting their PUBACK are bounded (a broker that never acknowledges them must not grow the device's memory)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest

from listener.outputs.mqtt import spool as spool_module
from listener.outputs.mqtt.client import Ack
from listener.outputs.mqtt.publisher import Publisher
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.spool_schema import delete_rows
from listener.outputs.mqtt.stage import SPOOL_FILE
from tests.mqtt_links import LinkStandIn
from tests.waiting import wait_until

SESSION_ID = "0123456789abcdef0123456789abcdef"
RETAINED_KEPT = 64  # publisher.RETAINED_INFLIGHT_KEPT: far more than the few retained topics a connect sends


class _HeldLink(LinkStandIn):
    """The publisher's link: each message's mid its place in ``sent`` (1 for the first), an acknowledgement
    only when :meth:`ack` is called; ``fail_first`` publishes raise before any is taken."""

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__()
        self.sent: list[tuple[str, bytes]] = []
        self.failures_left = fail_first

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> int:
        if self.failures_left:
            self.failures_left -= 1
            raise OSError("the socket went away mid-publish")
        self.sent.append((topic, payload))
        return len(self.sent)

    def ack(self, mid: int, ok: bool = True, reason: str = "") -> None:
        self.acks.append(Ack(mid=mid, ok=ok, reason=reason))
        self.on_ack()

    def numbers(self) -> list[int]:
        """The ``n`` of each spooled message handed over, in order."""
        return [int(json.loads(payload)["n"]) for topic, payload in self.sent if topic == "x/event"]


def _put(spool: Spool, publisher: Publisher | None, *numbers: int) -> None:
    for n in numbers:
        spool.put("event", {"type": "backchannel", "session_id": SESSION_ID, "n": n})
        if publisher is not None:
            publisher.spooled()


def _publisher(spool: Spool, link: _HeldLink) -> Publisher:
    return link.publisher(spool, rate_per_s=1000.0, inflight_max=10)


def test_after_a_reconnect_newer_messages_wait_until_the_ones_in_flight_are_acknowledged(tmp_path: Path) -> None:
    """paho re-sends what was in flight when the connection came back; a message stored meanwhile handed over
    before those were acknowledged overtook them, and a subscriber saw the spool's order broken (4 before 1)."""
    link = _HeldLink()
    with Spool(tmp_path / SPOOL_FILE, max_messages=100) as spool:
        _put(spool, None, 1, 2, 3)
        with _publisher(spool, link) as publisher:
            assert wait_until(lambda: link.numbers() == [1, 2, 3], 5.0), f"handed over {link.numbers()}"
            link.connects = 2  # reconnected: paho re-sends mids 1-3 itself
            _put(spool, publisher, 4, 5)
            link.ack(1)
            wait_until(lambda: spool.depth == 4, 5.0)
            link.ack(2)  # taken up only after the drain step of the first ack has ended
            assert wait_until(lambda: spool.depth == 3, 5.0), f"spool depth {spool.depth}"
            assert link.numbers() == [1, 2, 3], "a newer message overtook one paho was re-sending"
            link.ack(3)
            assert wait_until(lambda: link.numbers() == [1, 2, 3, 4, 5], 5.0), f"handed over {link.numbers()}"


def test_a_drain_step_that_fails_is_retried_and_the_message_still_goes_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A publish that raises (paho, sqlite) must not end the drain thread: the error is logged and the same
    message is handed over again, then the ones after it."""
    link = _HeldLink(fail_first=1)
    with caplog.at_level(logging.ERROR), Spool(tmp_path / SPOOL_FILE, max_messages=100) as spool:
        _put(spool, None, 1)
        with _publisher(spool, link) as publisher:
            wait_until(lambda: link.numbers() == [1], 5.0)
            _put(spool, publisher, 2)
            assert wait_until(lambda: link.numbers() == [1, 2], 5.0), f"handed over {link.numbers()}"
    failed = [r for r in caplog.records if r.getMessage() == "MQTT drain step failed; retrying"]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert str(failed[0].exc_info[1]) == "the socket went away mid-publish"


def test_only_the_latest_retained_messages_awaiting_their_puback_are_remembered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Acknowledgements lost with a connection never come: the publisher keeps the topics of the latest
    64 retained messages only, so a refusal of an older one is no longer named."""
    link = _HeldLink()
    topics = [f"x/retained{n}" for n in range(RETAINED_KEPT + 1)]
    spool = Spool(tmp_path / SPOOL_FILE, max_messages=100)
    with caplog.at_level(logging.WARNING), spool, _publisher(spool, link) as publisher:
        for topic in topics:
            publisher.set_retained(topic, b"{}")
        wait_until(lambda: len(link.sent) == len(topics), 5.0)
        assert [topic for topic, _ in link.sent] == topics  # mid n + 1 for topics[n]
        link.ack(1, ok=False, reason="Not authorized")  # the oldest: forgotten
        link.ack(2, ok=False, reason="Not authorized")  # the oldest of the 64 kept
        wait_until(lambda: "x/retained1 " in caplog.text, 5.0)
    refused = [r.getMessage() for r in caplog.records if "refused the retained message" in r.getMessage()]
    assert len(refused) == 1, refused
    assert refused[0].startswith(
        "MQTT broker 127.0.0.1:1883 refused the retained message for x/retained1 (Not authorized)"
    ), refused


def test_a_retained_topic_whose_publish_failed_is_sent_at_the_next_step_not_the_next_connect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The device's state (a retained topic) taken for a drain step that failed was left marked as sent, so the
    dashboards kept the old state until the connection next broke: it is handed over again after the retry."""
    link = _HeldLink(fail_first=1)
    spool = Spool(tmp_path / SPOOL_FILE, max_messages=100)
    with caplog.at_level(logging.ERROR), spool, _publisher(spool, link) as publisher:
        publisher.set_retained("x/state", b'{"mode":"listening"}')
        wait_until(lambda: link.sent, 5.0)
        assert link.sent == [("x/state", b'{"mode":"listening"}')]
        assert link.connects == 1  # no reconnect brought it
    assert [r.getMessage() for r in caplog.records] == ["MQTT retained topic x/state failed; retrying"]


def test_a_retained_topic_that_keeps_failing_holds_up_neither_the_others_nor_the_spool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A retained payload whose building keeps raising was re-marked and retried first at every step, before the
    spool: no event or metrics message went out while it failed. It is tried twice (once more at the next
    step), then left to the next connect; the topics after it and the spooled messages go out."""
    link = _HeldLink()
    builds: list[int] = []

    def broken() -> bytes:
        builds.append(1)
        raise RuntimeError("the spool's counter cannot be read")

    spool = Spool(tmp_path / SPOOL_FILE, max_messages=100)
    with caplog.at_level(logging.ERROR), spool, _publisher(spool, link) as publisher:
        publisher.set_retained("x/info", build=broken)
        publisher.set_retained("x/state", b"{}")
        _put(spool, publisher, 1, 2, 3)
        assert wait_until(lambda: link.numbers() == [1, 2, 3], 5.0), f"handed over {link.numbers()}"
        assert ("x/state", b"{}") in link.sent
        wait_until(lambda: len(builds) > 2, 1.0)  # a third try would come within this
        assert len(builds) == 2
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "MQTT retained topic x/info failed; retrying",
        "MQTT retained topic x/info failed; sent at the next connect",
    ]


def test_rows_acknowledged_while_the_card_refused_their_delete_are_deleted_at_the_next_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The acknowledgements were taken off paho's list and the in-flight table before the delete ran: a delete the
    card refused once left those rows stored for ever (spool_depth never back to 0, every stop waiting out its
    drain, the messages sent again at the next start)."""
    link = _HeldLink()
    spool = Spool(tmp_path / SPOOL_FILE, max_messages=100)
    failures = [sqlite3.OperationalError("disk I/O error")]

    def flaky(db: sqlite3.Connection, ids: Iterable[int]) -> int:
        if failures:
            raise failures.pop()
        return delete_rows(db, ids)

    monkeypatch.setattr(spool_module, "delete_rows", flaky)  # the card refuses the delete's transaction once
    with caplog.at_level(logging.ERROR), spool, _publisher(spool, link) as publisher:
        _put(spool, publisher, 1, 2)
        wait_until(lambda: link.numbers() == [1, 2], 5.0)
        link.ack(1)
        link.ack(2)
        wait_until(lambda: not failures and "MQTT drain step failed" in caplog.text, 5.0)
        _put(spool, publisher, 3)  # the next step, as the next event or metrics message brings it
        wait_until(lambda: link.numbers() == [1, 2, 3], 5.0)
        link.ack(3)
        assert wait_until(lambda: spool.depth == 0, 5.0), f"spool depth {spool.depth}"
        assert link.numbers() == [1, 2, 3]  # none sent twice
