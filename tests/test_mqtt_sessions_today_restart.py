"""sessions_today across a restart: the count kept in the spool's counters before this run, and this run's.

A real mosquitto and the MQTT stage of a live device (it follows the wall clock); the clocks are the
stage's own ``payloads.now_ms`` and ``wallclock.monotonic_ms``, set by the test as time passing and NTP
would set them. A Pi has no real-time clock: it boots on a saved time (or 1970) until NTP sets it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from listener.config import parse_config
from listener.events import SessionEnded, SessionStarted
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.outputs.mqtt.wallclock import local_day
from tests.mqtt_broker import Mosquitto, Received, Recorder
from tests.mqtt_feed import SID, Clocks, block, json_on

TODAY = dt.date(2026, 12, 9)


def _local_ms(day: dt.date, hour: int) -> int:
    return round(dt.datetime.combine(day, dt.time(hour)).timestamp() * 1000)


def _said(messages: list[Received]) -> list[object]:
    return [s["sessions_today"] for s in json_on(messages, "state")]


def _one_session_then_ntp(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boot_ms: int, real_ms: int, expect: int
) -> list[object]:
    """A run booted with the clock reading ``boot_ms``: a session at once, and a minute later NTP steps
    the clock as if it had read ``real_ms`` at boot; the sessions_today said, once ``expect`` is said."""
    clocks = Clocks(monkeypatch, boot_ms)
    config = parse_config({"mqtt": broker.mqtt_config(), "service": {"state_dir": str(tmp_path / "state")}})
    with Recorder(broker) as rec, MqttStage(config, follow_wall_clock=True) as stage:
        stage.process(block(0.0))
        stage.process(SessionStarted(session_id=SID, onset_s=0.5, decided_s=1.0))
        for second in range(1, 70):
            clocks.at((second + 1) * 1000, 0 if second < 60 else real_ms - boot_ms)
            stage.process(block(float(second)))
        got = rec.wait_for(lambda ms: _said(ms)[-1:] == [expect], timeout_s=5)
    return _said(got)


def _counted_before(tmp_path: Path, day_ms: int, sessions: int) -> None:
    """The spool as an earlier run left it: ``sessions`` counted on the local day of ``day_ms``."""
    with Spool(tmp_path / "state" / SPOOL_FILE, max_messages=100) as spool:
        spool.set_counter("sessions_day", local_day(day_ms))
        spool.set_counter("sessions_today", sessions)


@pytest.mark.parametrize("boot", ["saved_last_week", "1970"])
def test_todays_sessions_before_a_restart_survive_a_boot_on_another_days_clock(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boot: str
) -> None:
    """10 sessions this morning, then a power cut; the Pi boots on last week's saved time (or 1970), a
    customer comes before NTP sets the clock: today has had 11. The session counted on the wrong day
    overwrote the stored count, and the step then said this run's sessions only (0, 1, 1)."""
    real_ms = _local_ms(TODAY, 13)
    _counted_before(tmp_path, real_ms, 10)
    boot_ms = 30_000 if boot == "1970" else _local_ms(TODAY - dt.timedelta(days=7), 18)
    said = _one_session_then_ntp(broker, tmp_path, monkeypatch, boot_ms, real_ms, expect=11)
    assert said[-1] == 11, said


def test_a_restart_later_the_same_day_on_a_right_clock_counts_on(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock was right at boot, and NTP only trims it by seconds: the count goes on, 10 then 11 (the 10 may
    not be said: a retained state not yet sent when the next is made is replaced by it, under load)."""
    real_ms = _local_ms(TODAY, 13)
    _counted_before(tmp_path, real_ms, 10)
    said = _one_session_then_ntp(broker, tmp_path, monkeypatch, real_ms, real_ms + 5000, expect=11)
    assert said[-1] == 11 and set(said) <= {10, 11}, said


def test_a_restart_on_a_new_day_counts_from_zero(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Yesterday's 10 are not today's, whether the clock was right at boot or NTP set it from last week's."""
    _counted_before(tmp_path, _local_ms(TODAY - dt.timedelta(days=1), 13), 10)
    real_ms = _local_ms(TODAY, 9)
    assert _one_session_then_ntp(broker, tmp_path, monkeypatch, real_ms, real_ms + 2000, expect=1)[-1] == 1


def test_a_boot_on_the_stored_days_clock_gives_that_days_count_to_no_other_day(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The saved time is the stored count's day (yesterday, 5 sessions) and NTP sets today's: 1, not 6."""
    saved_ms = _local_ms(TODAY - dt.timedelta(days=1), 19)
    _counted_before(tmp_path, saved_ms, 5)
    said = _one_session_then_ntp(broker, tmp_path, monkeypatch, saved_ms, _local_ms(TODAY, 9), expect=1)
    assert said[-1] == 1 and 0 not in said, said


def test_a_session_begun_between_ntps_step_and_the_next_audio_block_keeps_the_days_count(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10 sessions this morning, a power cut, a boot on 1970 and a customer then; NTP sets the clock, and the next
    session is decided before the MQTT stage sees another block (the analytics' events reach it before the block
    they were decided in). It was counted on today's date first, so the step found the count already today's and
    moved nothing: 1, where today has had 12."""
    real_ms = _local_ms(TODAY, 13)
    _counted_before(tmp_path, real_ms, 10)
    clocks = Clocks(monkeypatch, 30_000)
    config = parse_config({"mqtt": broker.mqtt_config(), "service": {"state_dir": str(tmp_path / "state")}})
    with Recorder(broker) as rec, MqttStage(config, follow_wall_clock=True) as stage:
        stage.process(block(0.0))
        stage.process(SessionStarted(session_id="a" * 16, onset_s=0.5, decided_s=1.0))
        stage.process(SessionEnded(session_id="a" * 16, onset_s=0.5, decided_s=5.0, end_s=4.0))
        for second in range(1, 60):
            clocks.at((second + 1) * 1000)
            stage.process(block(float(second)))
        clocks.at(60_050, real_ms - 30_000)  # NTP, 50 ms (a block) after the last block was seen
        stage.process(SessionStarted(session_id="b" * 16, onset_s=59.8, decided_s=60.0))
        for second in range(60, 65):
            clocks.at((second + 1) * 1000)
            stage.process(block(float(second)))
        said = _said(rec.wait_for(lambda ms: _said(ms)[-1:] == [12], timeout_s=5))
    assert said[-1] == 12, said
