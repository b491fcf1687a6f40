"""The device's clock judged by the running service: a Pi with no network time, on 1970 for good.

A real mosquitto and the MQTT stage of a live device (it follows the wall clock); the clocks are the
stage's own ``payloads.now_ms`` and ``wallclock.monotonic_ms``, set by the test as time passing and
NTP would set them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from listener.clock import EARLIEST
from listener.config import parse_config
from listener.events import SessionStarted
from listener.outputs.mqtt import MqttStage, wallclock
from listener.outputs.mqtt.clockwatch import ClockWatch
from listener.outputs.mqtt.wallclock import local_day
from tests.mqtt_broker import Mosquitto, Received, Recorder
from tests.mqtt_feed import SID, Clocks, block, feed_live, json_on

BOOT_MS = 30_000  # a Pi with no saved time and no network: 1970, 30 s after boot


def _live_stage(broker: Mosquitto, tmp_path: Path) -> MqttStage:
    config = parse_config({"mqtt": broker.mqtt_config(), "service": {"state_dir": str(tmp_path / "state")}})
    return MqttStage(config, follow_wall_clock=True)


def _retained(
    broker: Mosquitto, client_id: str, done: str, wanted: Callable[[dict[str, object]], object]
) -> list[Received]:
    """What a subscriber joining now receives, once the retained ``done`` leaf's latest message is ``wanted``
    (a predicate on it); the time-out leaves the test to fail on what came."""
    with Recorder(broker, client_id=client_id) as rec:
        return rec.wait_for(lambda ms: bool(json_on(ms, done)) and bool(wanted(json_on(ms, done)[-1])), 5)


def test_a_clock_before_this_software_is_said_in_the_journal_and_in_info_until_it_is_set(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A Pi on 1970 (no battery clock, NTP blocked by the store's firewall) stamped every message 1970 for
    good, and neither the journal nor info said so: only `listener doctor` knew the rule."""
    clocks = Clocks(monkeypatch, BOOT_MS)
    real_ms = round(time.time() * 1000)
    with caplog.at_level(logging.INFO), _live_stage(broker, tmp_path) as stage:
        stage.process(block(0.0))
        early = _retained(broker, "early", "info", lambda info: True)
        for second in range(1, 5):  # NTP sets the clock 3 s into the run
            clocks.at((second + 1) * 1000, 0 if second < 3 else real_ms - BOOT_MS)
            stage.process(block(float(second)))
        late = _retained(broker, "late", "info", lambda info: info["clock_ok"])
    assert json_on(early, "info")[-1]["clock_ok"] is False
    assert json_on(late, "info")[-1]["clock_ok"] is True
    said = [r.getMessage() for r in caplog.records if r.name.endswith("clockwatch")]
    wrong = [m for m in said if "before this software was made" in m]
    assert len(wrong) == 1 and wrong[0].startswith("the clock reads 1970-01-01 00:00:3"), said
    assert "UDP port 123" in wrong[0] and "NTP= in /etc/systemd/timesyncd.conf" in wrong[0]
    assert len([m for m in said if m.startswith("the clock is set: it reads 20")]) == 1, said
    assert len(said) == 2, said


def test_a_time_zone_set_while_the_service_runs_moves_its_day_within_a_minute(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sudo timedatectl set-timezone` after provisioning started the service (as the guides say): CPython never
    read the zone again, so sessions_today went on counting from the old zone's midnight until a restart."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        clocks = Clocks(monkeypatch, round(datetime(2026, 12, 2, 23, 30, tzinfo=UTC).timestamp() * 1000))
        with Recorder(broker) as rec, _live_stage(broker, tmp_path) as stage:
            stage.process(block(0.0))
            assert len(json_on(rec.wait_for(lambda ms: len(json_on(ms, "state")) == 1), "state")) == 1
            # the installer sets the store's zone, where it is already 3 December: only the environment changes
            # here, as only the file does on a device; the stage must read it again itself
            monkeypatch.setenv("TZ", "Pacific/Kiritimati")
            feed_live(stage, [], lambda second: clocks.at((second + 1) * 1000), seconds=62)
            got = rec.wait_for(lambda ms: len(json_on(ms, "state")) == 2, 5)
        assert local_day() == 20261203
        assert len(json_on(got, "state")) == 2  # the new day's, sessions_today from the new zone's midnight
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize(
    ("zone", "utc_hour"),
    [
        ("America/New_York", 0),  # 00:30 UTC on 3 December is 19:30 on the 2nd in New York: the date goes back
        ("Australia/Lord_Howe", 14),  # 14:30 UTC on 3 December is 01:30 on the 4th at Lord Howe: it goes on
    ],
)
def test_sessions_counted_before_the_time_zone_was_set_stay_in_the_new_zones_day(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str, utc_hour: int
) -> None:
    """The installer tries the device (a session) on the image's Europe/London, then sets the store's zone, where
    the date is another: the session began after the new zone's midnight too, but the count stayed on London's
    date, and the new zone's day read 0."""
    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    try:
        start_ms = round(datetime(2026, 12, 3, utc_hour, 30, tzinfo=UTC).timestamp() * 1000)
        clocks = Clocks(monkeypatch, start_ms)
        with Recorder(broker) as rec, _live_stage(broker, tmp_path) as stage:
            stage.process(block(0.0))
            stage.process(SessionStarted(session_id=SID, onset_s=0.5, decided_s=1.0))
            monkeypatch.setenv("TZ", zone)  # `sudo timedatectl set-timezone`: only the file changes on a device
            feed_live(stage, [], lambda second: clocks.at((second + 1) * 1000), seconds=62)
            got = rec.wait_for(lambda ms: _today(ms) == (local_day(start_ms), 1), 5)
        assert local_day() != 20261203 and _today(got) == (local_day(start_ms), 1), json_on(got, "state")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def _today(messages: list[Received]) -> tuple[int, object] | None:
    """The local day of the latest state's ts, and its sessions_today."""
    states = json_on(messages, "state")
    return None if not states else (local_day(int(str(states[-1]["ts"]))), states[-1]["sessions_today"])


def test_the_clock_is_judged_against_the_day_this_software_was_made_and_said_only_when_that_changes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second before this software was made is a wrong clock; from then it is right. ``check`` says whether
    the judgment changed (the first is none): info is published again then, not at every audio block."""
    made_ms = round(EARLIEST.timestamp() * 1000)
    watch = ClockWatch()
    with caplog.at_level(logging.INFO, logger="listener.outputs.mqtt.clockwatch"):
        judged = [watch.check(ms) for ms in (made_ms - 1000, made_ms - 500, made_ms, made_ms + 1000)]
    assert judged == [False, False, True, False] and watch.ok is True
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "before this software was made" in said[0] and said[1].startswith("the clock is set")


def test_the_time_zone_is_read_again_at_most_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage checks the clock at every audio block; the zone is read again once a minute of those."""
    reads: list[int] = []
    now = {"mono_ms": 0}
    real_tzset = time.tzset

    def tzset() -> None:  # the real one, counted
        reads.append(now["mono_ms"])
        real_tzset()

    monkeypatch.setattr(wallclock, "monotonic_ms", lambda: now["mono_ms"])
    monkeypatch.setattr(time, "tzset", tzset)
    watch = ClockWatch()
    for second in range(125):  # two minutes of blocks, a second each
        now["mono_ms"] = 1_000_000 + second * 1000
        watch.check(round(time.time() * 1000))
    assert reads == [1_000_000, 1_060_000, 1_120_000]
