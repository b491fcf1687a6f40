"""sessions_today on a Pi whose clock NTP sets after the service started (the summary's times: test_mqtt_broker).

A real mosquitto and the MQTT stage of a live device (it follows the wall clock); the clocks are the
stage's own ``payloads.now_ms`` and ``wallclock.monotonic_ms``, set by the test as time passing, a
stalled pipeline and NTP would set them.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from listener.analytics.summary import Window, summarize
from listener.config import parse_config
from listener.events import Backchannel, Event, Party, SessionEnded, SessionStarted, SpeechSegment
from listener.outputs.mqtt import MqttStage, payloads, wallclock
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.outputs.mqtt.wallclock import (
    LEAD_SPAN_MS,
    ONSETS_KEPT,
    STEP_MIN_MS,
    LeastLead,
    MessageTimes,
    WallClock,
    local_day,
    local_midnight_ms,
)
from tests.mqtt_broker import Mosquitto, Received, Recorder
from tests.mqtt_feed import SID, Clocks, block, conversation, feed_live, json_on


def _local_ms(day: dt.date, hour: int) -> int:
    return round(dt.datetime.combine(day, dt.time(hour)).timestamp() * 1000)


def _sessions_today(messages: list[Received]) -> object:
    states = json_on(messages, "state")
    return states[-1]["sessions_today"] if states else None


def test_a_session_counted_on_the_saved_days_clock_moves_to_today_when_ntp_sets_it(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Pi was switched off yesterday at 19:00 after 5 sessions, boots at 09:00 reading 19:00 (the saved
    time), a customer comes at once, and NTP sets the clock a minute later: today has had 1 session, not
    6 (yesterday's count going on) and not 0 (the step reading as midnight passing)."""
    today = dt.date(2026, 9, 21)
    saved_ms, real_ms = _local_ms(today - dt.timedelta(days=1), 19), _local_ms(today, 9)
    with Spool(tmp_path / "state" / SPOOL_FILE, max_messages=100) as spool:
        spool.set_counter("sessions_day", local_day(saved_ms))
        spool.set_counter("sessions_today", 5)
    clocks = Clocks(monkeypatch, saved_ms)
    config = parse_config({"mqtt": broker.mqtt_config(), "service": {"state_dir": str(tmp_path / "state")}})
    with Recorder(broker) as rec, MqttStage(config, follow_wall_clock=True) as stage:
        stage.process(block(0.0))
        stage.process(SessionStarted(session_id=SID, onset_s=0.5, decided_s=1.0))
        assert _sessions_today(rec.wait_for(lambda ms: _sessions_today(ms) == 6)) == 6  # the saved day's, as yet
        for second in range(1, 70):
            clocks.at((second + 1) * 1000, 0 if second < 60 else real_ms - saved_ms)
            stage.process(block(float(second)))
        got = rec.wait_for(lambda ms: _sessions_today(ms) == 1, timeout_s=5)
    assert _sessions_today(got) == 1
    assert [s["sessions_today"] for s in json_on(got, "state")][-2:] != [0, 1]  # never said 0 on the way
    assert 0 not in [s["sessions_today"] for s in json_on(got, "state")]


def test_a_long_sessions_end_keeps_the_start_its_session_start_was_published_with(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More onsets than the clock keeps, then NTP steps the clock a minute: session_start, session_end
    and the summary still give one start (a dashboard joins them on it), the one published first."""
    base_ms = 1_800_000_000_000  # the wall time of audio time 0
    clocks = Clocks(monkeypatch, base_ms)
    clocks.at(1000)  # at the end of the first block
    config = parse_config(
        {
            "mqtt": broker.mqtt_config(),
            "service": {"state_dir": str(tmp_path / "state")},
            "analytics": {"session_min_speech_s": 1.0},
        }
    )
    n_backchannels = ONSETS_KEPT + 16
    end_s = n_backchannels + 10.0
    events: list[Event] = [SessionStarted(session_id=SID, onset_s=1.0, decided_s=1.5)]
    events += [
        Backchannel(Party.REP, onset_s=t + 0.1, decided_s=t + 0.6, duration_s=0.3) for t in range(2, n_backchannels + 2)
    ]
    speech = SpeechSegment(party=Party.CUSTOMER, start_s=1.0, end_s=end_s, decided_s=end_s + 0.2)
    ended = SessionEnded(session_id=SID, onset_s=1.0, decided_s=end_s + 30.0, end_s=end_s)
    summary = summarize(SID, Window(1.0, end_s), end_s + 30.0, [speech], events, config.analytics)
    with Recorder(broker) as rec, MqttStage(config, follow_wall_clock=True) as stage:
        stage.process(block(0.0))
        for event in events:
            stage.process(event)
        clocks.at(round((end_s + 30.0) * 1000), 60_000)  # NTP: a minute ahead
        stage.process(block(end_s + 29.0))
        for last in (speech, ended, summary):
            stage.process(last)
        got = rec.wait_for(lambda ms: bool(json_on(ms, "session")), timeout_s=10)
    starts = {e["type"]: e["onset_ms"] for e in json_on(got, "event") if e["type"] in ("session_start", "session_end")}
    (published,) = json_on(got, "session")
    assert starts == {"session_start": base_ms + 1000, "session_end": base_ms + 1000}
    assert published["start_ms"] == base_ms + 1000


STALL_AT_S, STALL_MS = 5, 20_000  # far longer than the capture ring: its audio is lost, but not its clock


def _replay_with_a_stall(
    broker: Mosquitto, tmp_path: Path, clocks: Clocks, step_at_s: int = 0, step_ms: int = 0
) -> list[dict[str, object]]:
    """The 40 s conversation, each block taken when captured, or at once by a pipeline catching up after it
    stalled at STALL_AT_S for STALL_MS (a slow SD card, the CPU taken); NTP steps the wall clock at ``step_at_s``."""
    config = parse_config({"mqtt": broker.mqtt_config(), "service": {"state_dir": str(tmp_path / "state")}})
    with Recorder(broker) as rec, MqttStage(config, follow_wall_clock=True) as stage:
        feed_live(
            stage,
            conversation(),
            lambda second: clocks.at(
                max(clocks.elapsed_ms, (second + 1) * 1000), step_ms if step_at_s and second >= step_at_s else 0
            ),
            lambda second: clocks.at(clocks.elapsed_ms + STALL_MS) if second == STALL_AT_S else None,
        )
        got = rec.wait_for(lambda ms: bool(json_on(ms, "session")))
    return json_on(got, "event")


def _onsets(events: list[dict[str, object]]) -> dict[str, object]:
    return {str(e["type"]): e["onset_ms"] for e in events}


def test_a_stalled_pipeline_publishes_on_the_audio_clock_all_through_its_catching_up(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The lag read as a clock step: the times followed it by +19 s, then back by -19 s once caught up, and
    what was published meanwhile (the backchannel, the interruption) had onsets later than they happened."""
    base_ms = 1_790_000_000_000
    events = _replay_with_a_stall(broker, tmp_path, Clocks(monkeypatch, base_ms))
    assert _onsets(events) == {
        "session_start": base_ms + 1000,
        "backchannel": base_ms + 5000,
        "interruption": base_ms + 7500,
        "interruption_outcome": base_ms + 7500,
        "dominance_on": base_ms + 30200,
        "session_end": base_ms + 1000,
    }
    assert all(e["onset_ms"] <= e["ts"] for e in events)  # type: ignore[operator]
    assert not [r for r in caplog.records if "wall clock moved" in r.getMessage()]


@pytest.mark.parametrize("step_ms", [3_600_000, -600_000], ids=["forward", "back"])
def test_ntp_stepping_the_clock_while_the_pipeline_catches_up_is_followed(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, step_ms: int
) -> None:
    """A step of the wall clock moves it against the monotonic clock, whichever way and however late the pipeline."""
    base_ms = 1_790_000_000_000
    events = _replay_with_a_stall(broker, tmp_path, Clocks(monkeypatch, base_ms), step_at_s=12, step_ms=step_ms)
    onsets = _onsets(events)
    assert onsets["backchannel"] == base_ms + 5000  # before the step
    assert onsets["dominance_on"] == base_ms + step_ms + 30200  # after it: the clock as NTP set it
    moved = [r.getMessage() for r in caplog.records if "wall clock moved" in r.getMessage()]
    assert len(moved) == 1 and f"moved {step_ms / 1000:+.1f} s" in moved[0]


def test_on_the_real_clocks_a_stall_is_no_step_and_a_step_of_timetime_is(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The clocks the stage really reads: the pipeline stalls longer than the least step followed, then NTP
    steps ``time.time`` a minute ahead (``time.monotonic`` keeps running)."""
    clock = WallClock(follow=True)
    clock.advance(0.1)
    anchor_ms = clock.anchor_ms
    assert anchor_ms is not None
    time.sleep(STEP_MIN_MS / 1000 + 0.2)
    assert clock.advance(0.2) == 0 and clock.anchor_ms == anchor_ms
    real_ns = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + 60_000_000_000)
    step_ms = clock.advance(0.3)
    # each offset is two clock reads, which a loaded machine can preempt between (7 ms seen with 4 jobs on 2 cores)
    assert abs(step_ms - 60_000) <= 100 and clock.anchor_ms == anchor_ms + step_ms
    assert [r for r in caplog.records if "wall clock moved +60.0 s" in r.getMessage()]


class _PausedAfterWallRead:
    """Both clocks on one time line (no step ever); the thread is paused ``pause_ms`` right after each of the next
    ``pauses`` wall clock reads, before it reads the monotonic clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.elapsed_ms, self.pause_ms, self.pauses = 0, 0, 0
        self.step_ms = 0  # the wall clock set forward (NTP) by this much
        monkeypatch.setattr(payloads, "now_ms", self._wall_ms)
        monkeypatch.setattr(wallclock, "monotonic_ms", lambda: 5_000_000 + self.elapsed_ms)

    def _wall_ms(self) -> int:
        read_ms = 1_790_000_000_000 + self.elapsed_ms + self.step_ms
        if self.pauses:
            self.pauses -= 1
            self.elapsed_ms += self.pause_ms
        return read_ms


@pytest.mark.parametrize("pauses", [1, wallclock.PAIR_READS], ids=["once", "every-try"])
def test_a_pause_between_the_wall_and_monotonic_reads_is_no_step(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, pauses: int
) -> None:
    """Read wall then monotonic, a thread paused 1.5 s between them logged a step of -1.5 s, then +1.5 s at the
    next block, and the anchor (each time published meanwhile) moved back and forth with them. A pair read again
    after the pause tells a step made then at once: only the retry catches the one set in the "once" case."""
    clocks = _PausedAfterWallRead(monkeypatch)
    clock = WallClock(follow=True)
    clock.advance(1.0)
    assert clock.anchor_ms is not None
    anchor_ms, step_ms = clock.anchor_ms, 60_000 if pauses == 1 else 0
    for second in range(2, 5):
        clocks.elapsed_ms += 1000  # a second of audio, and of both clocks
        clocks.pause_ms, clocks.pauses = 1500, pauses if second == 2 else 0
        clocks.step_ms = step_ms
        assert clock.advance(float(second)) == (step_ms if second == 2 else 0)
        assert clock.anchor_ms == anchor_ms + step_ms
    moved = [r.getMessage() for r in caplog.records if "wall clock moved" in r.getMessage()]
    assert len(moved) == (1 if step_ms else 0) and all("moved +60.0 s" in line for line in moved), moved


@pytest.mark.parametrize("ppm", [100, -100])
def test_the_monotonic_time_of_audio_time_0_follows_a_crystal_drifting_either_way(ppm: int) -> None:
    """An hour of audio read once a second, up to 20 ms late, and 3 s late every tenth second (stalls): the
    least lead is the drifted one of the last two spans, never a stall's, nor where the hour began."""
    lead, span_s = LeastLead(), LEAD_SPAN_MS // 1000
    for s in range(3600):
        drifted_ms = 5000 + s * ppm // 1000
        least = lead.add(s * 1000, drifted_ms + (3000 if s % 10 == 9 else s % 21))
    assert drifted_ms - abs(ppm) * 2 * span_s // 1000 <= least <= drifted_ms + 20


def test_message_times_increase_within_a_millisecond_and_follow_a_step_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two messages made in one millisecond get two ts (a database keyed on ts kept one of them); a burst
    longer than STEP_MIN_MS within one reading is no step back. NTP setting back a clock that ran an hour
    ahead is followed: counting up from the old reading would stamp an hour of messages within a second."""
    base_ms = 1_800_000_000_000
    clocks = Clocks(monkeypatch, base_ms)
    times = MessageTimes()
    burst = [times.ts_ms() for _ in range(STEP_MIN_MS + 5)]  # the clock frozen: a fast step, or a coarse clock
    assert burst == list(range(base_ms, base_ms + STEP_MIN_MS + 5))
    clocks.at(10_000)  # the clock caught up with the burst: its own reading again
    assert times.ts_ms() == base_ms + 10_000
    clocks.at(10_000, stepped_ms=-3_600_000)
    assert times.ts_ms() == base_ms + 10_000 - 3_600_000
    assert times.ts_ms() == base_ms + 10_001 - 3_600_000


def test_message_times_count_up_over_a_step_back_under_a_second_and_follow_one_of_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NTP slewing or stepping back by milliseconds is no step to follow: the next ts is the last one's plus 1, not
    a ts equal to or below one already sent. A step back of STEP_MIN_MS from the last reading is followed."""
    base_ms = 1_800_000_000_000
    clocks = Clocks(monkeypatch, base_ms)
    times = MessageTimes()
    clocks.at(10_000)
    first = times.ts_ms()
    clocks.at(10_000, stepped_ms=-(STEP_MIN_MS - 1))
    assert times.ts_ms() == first + 1
    clocks.at(10_000, stepped_ms=-(2 * STEP_MIN_MS - 1))  # STEP_MIN_MS below the reading before: a step
    assert times.ts_ms() == base_ms + 10_000 - (2 * STEP_MIN_MS - 1)


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/Berlin", dt.date(2026, 3, 29)),  # 02:00 -> 03:00: a 23-hour day
        ("Europe/Berlin", dt.date(2026, 10, 25)),  # 03:00 -> 02:00: a 25-hour day
        ("America/Santiago", dt.date(2026, 9, 6)),  # 00:00 -> 01:00: the day has no midnight
        ("Africa/Cairo", dt.date(2026, 4, 24)),  # 00:00 -> 01:00
        ("America/Santiago", dt.date(2026, 4, 5)),  # 24:00 -> 23:00 the day before: its last hour twice
    ],
)
def test_a_daylight_saving_days_sessions_count_from_its_first_instant(
    monkeypatch: pytest.MonkeyPatch, zone: str, day: dt.date
) -> None:
    """A session counted after the clock is set counts from the first instant of the store's local date, which
    on a change at midnight is 01:00; and the date never goes back, so no day is counted twice."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        noon_ms = _local_ms(day, 12)
        first_ms = local_midnight_ms(noon_ms)
        assert local_day(first_ms) == int(f"{day:%Y%m%d}") and local_day(first_ms - 1) < local_day(first_ms)
        days = [local_day(noon_ms - 30 * 3_600_000 + minute * 60_000) for minute in range(60 * 60)]
        around = {int(f"{day + dt.timedelta(days=d):%Y%m%d}") for d in (-1, 0, 1)}
        assert days == sorted(days) and set(days) == around
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
