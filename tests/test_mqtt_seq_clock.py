"""``seq`` on a clock NTP sets while the service runs, or steps back.

A Pi has no battery clock and the unit does not wait for time-sync: on a replaced card (a new spool) the service
can start on fake-hwclock's saved time, below the seqs the device handed out before. Its seq counted on by one from
there until the next start, so consumers that drop a seq lower than one they have seen (Home Assistant's numbers)
dropped every message until a restart on a right clock. Each message now takes the clock too (spool_damage.seq_after).

The spool's own clock is ``time.time_ns`` (through payloads.now_ms), set here as fake-hwclock and NTP set it; the
stage's end to end, with a real mosquitto: the stage's clocks (tests.mqtt_feed.Clocks).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from listener.config import parse_config
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from tests.mqtt_broker import Mosquitto, Recorder
from tests.mqtt_feed import SID, Clocks, block, conversation, feed_live, json_on, numbered

DAY_MS = 86_400_000


class WallClock:
    """``time.time_ns`` as the test sets it, in milliseconds; it does not move unless set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, ms: int) -> None:
        self.ms = ms
        monkeypatch.setattr(time, "time_ns", lambda: self.ms * 1_000_000)


def _handed_out(spool: Spool, n: int) -> list[int]:
    """The seqs of ``n`` stored messages and a stamped one (retained state, status), in the order handed out."""
    return [spool.put("event", numbered(k)) for k in range(n)] + [spool.next_seq()]


def _lost_spool(path: Path, clock: WallClock) -> int:
    """A spool on a right clock that handed out seqs, then lost (a replaced card); the highest it handed out."""
    with Spool(path, max_messages=100) as spool:
        before = _handed_out(spool, 3)
    shutil.rmtree(path.parent)
    clock.ms += 60_000
    return max(before)


def test_the_first_message_after_ntp_sets_the_clock_counts_above_every_earlier_seq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Booted on fake-hwclock's time a month back, the new spool counts below the lost one's seqs (still so); NTP
    steps the clock: the next message counts above them, without a restart, and the file keeps it."""
    real_ms = time.time_ns() // 1_000_000
    clock = WallClock(monkeypatch, real_ms)
    path = tmp_path / "state" / SPOOL_FILE
    old = _lost_spool(path, clock)
    clock.ms = real_ms - 30 * DAY_MS  # the saved time the Pi boots on
    with Spool(path, max_messages=100) as spool:
        stale = _handed_out(spool, 2)
        assert max(stale) < old  # what consumers that drop a lower seq drop: no cure without the right time
        clock.ms = real_ms + 120_000  # NTP steps the clock
        after = _handed_out(spool, 2)
    assert min(after) > old, (old, stale, after)
    assert after == sorted(after) and len(set(after)) == len(after)
    clock.ms = real_ms - 30 * DAY_MS  # the next boot on the saved time again: the file's counter goes on
    with Spool(path, max_messages=100) as spool:
        assert spool.put("event", numbered(9)) > max(after)


def test_seqs_handed_out_in_memory_count_above_every_earlier_one_once_the_clock_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card refusing writes (full, or remounted read-only) while NTP sets the clock: the seqs counted in memory
    take the clock too, and the file's counter goes above them with the next write it takes."""
    real_ms = time.time_ns() // 1_000_000
    clock = WallClock(monkeypatch, real_ms)
    path = tmp_path / "state" / SPOOL_FILE
    old = _lost_spool(path, clock)
    clock.ms = real_ms - 30 * DAY_MS
    with Spool(path, max_messages=100) as spool:
        stale = _handed_out(spool, 1)
        spool.db.execute("PRAGMA query_only = ON")  # every write fails now, as on a full card
        clock.ms = real_ms + 120_000
        in_memory = _handed_out(spool, 2)
        assert spool.held == 2
        spool.db.execute("PRAGMA query_only = OFF")  # room again
        clock.ms = real_ms - 30 * DAY_MS  # and a clock stepped back meanwhile takes nothing back
        stored = spool.put("event", numbered(5))
    assert max(stale) < old < min(in_memory), (old, stale, in_memory)
    assert in_memory == sorted(in_memory) and stored > max(in_memory)
    with Spool(path, max_messages=100) as spool:
        assert spool.counter("seq") == stored


def test_a_clock_stepped_back_mid_run_never_makes_seq_fall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NTP steps a clock that ran ahead back a day; a clock that stands still (many messages in a millisecond):
    seq goes on by one from the highest handed out, in the file and in memory."""
    real_ms = time.time_ns() // 1_000_000
    clock = WallClock(monkeypatch, real_ms)
    with Spool(tmp_path / SPOOL_FILE, max_messages=100) as spool:
        ahead = _handed_out(spool, 2)
        clock.ms -= DAY_MS
        back = _handed_out(spool, 2)
        spool.db.execute("PRAGMA query_only = ON")
        refused = _handed_out(spool, 2)
        spool.db.execute("PRAGMA query_only = OFF")
        again = _handed_out(spool, 1)
    seqs = ahead + back + refused + again
    assert ahead[0] == real_ms + 1  # the first takes the clock (a new spool's counter starts at it) ...
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # ... then by one: the clock stood or went back


def test_a_subscriber_gets_seqs_above_the_lost_spools_from_the_first_message_after_ntp_sets_the_clock(
    broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: a live stage on a replaced card, booted on the saved time, NTP setting the clock mid-session.
    Home Assistant's numbers show a message whose seq is at least the highest they showed: before the step none of
    the new messages, after it every one."""
    real_ms = round(time.time() * 1000)
    saved_ms = real_ms - 30 * DAY_MS
    clocks = Clocks(monkeypatch, real_ms)
    state = tmp_path / "state"
    with Spool(state / SPOOL_FILE, max_messages=100) as spool:  # the lost card's spool, on a right clock
        old = max(_handed_out(spool, 3))
    shutil.rmtree(state)
    clocks.start_ms = saved_ms
    config = parse_config({"mqtt": broker.mqtt_config(), "service": {"state_dir": str(state)}})
    step_at_s = 20  # within the session (1 s to 41 s): the step moves the wall clock alone
    with Recorder(broker) as rec, MqttStage(config, follow_wall_clock=True) as stage:
        stage.process(block(0.0))
        feed_live(
            stage, conversation(SID), lambda s: clocks.at((s + 1) * 1000, 0 if s < step_at_s else real_ms - saved_ms)
        )
        got = rec.wait_for(lambda ms: len(json_on(ms, "session")) == 1, timeout_s=10)
    made = [m for leaf in ("status", "info", "state", "event", "metrics", "session") for m in json_on(got, leaf)]
    below = [m for m in made if int(str(m["seq"])) < old]
    set_ = [m for m in made if int(str(m["ts"])) >= real_ms - DAY_MS]  # made after the step
    assert below and all(int(str(m["ts"])) < real_ms - DAY_MS for m in below), below  # made before it
    kinds = [str(m["schema"]).split(".")[-1] for m in set_]
    assert kinds.count("event/1") >= 2 and "session/1" in kinds, kinds  # dominance_on, session_end
    assert all(int(str(m["seq"])) > old for m in set_), (old, [(m["schema"], m["seq"]) for m in set_])
