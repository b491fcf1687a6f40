"""Audio time to the wall times the messages carry, on a device whose clock may be set late.

A Pi has no real-time clock: it boots with the time it last saved (or 1970) and NTP steps it, by
minutes or days, some time after the service started; and an array's crystal runs some ppm away
from NTP time, seconds a day. The messages say when things happened as wall time (UTC epoch ms):
the wall time of audio time 0 (the anchor) plus the audio offset.

The anchor is the wall clock's offset from the monotonic clock plus the monotonic time of audio
time 0. A step of the wall clock moves the first (the monotonic clock is never stepped), so a live
device follows it. The pipeline's lag does not: it only makes "monotonic time minus audio time"
larger, so the least of that, over the last minutes, is the monotonic time of audio time 0, and
a stall of any length leaves the times on the audio clock. Taken over minutes, not the whole run,
that least follows the crystal's drift either way.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict, deque

from listener.outputs.mqtt import payloads

log = logging.getLogger(__name__)

ONSETS_KEPT = 64
SESSION_STARTS_KEPT = 4
RUN_STARTS_KEPT = 1000  # more sessions than a counter sees in a day
# the least lead is taken over the last 10 to 20 minutes of audio: a crystal 100 ppm off drifts 0.12 s
# in that time, and a live pipeline never lags that long (its ring drops the audio it cannot keep up with)
LEAD_SPAN_MS = 600_000
# a smaller change of wall minus monotonic time is not followed: NTP steps by more, and slews smaller errors,
# which moves both clocks alike
STEP_MIN_MS = 1000
# the wall clock is read between two monotonic reads; a pair whose monotonic reads are further apart than this
# (the thread paused between them) is read again, or, after PAIR_READS tries, no step is judged by it
PAIR_APART_MAX_MS = 50
PAIR_READS = 3


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def local_day(now_ms: int | None = None) -> int:
    """The local date of ``now_ms`` (default: now) as YYYYMMDD: sessions_today counts from local midnight."""
    when = dt.datetime.fromtimestamp((payloads.now_ms() if now_ms is None else now_ms) / 1000)
    return int(when.strftime("%Y%m%d"))


def local_midnight_ms(now_ms: int) -> int:
    """UTC epoch ms of the local midnight that began the day of ``now_ms``."""
    day = dt.datetime.fromtimestamp(now_ms / 1000).date()
    return round(dt.datetime.combine(day, dt.time()).timestamp() * 1000)


class MessageTimes:
    """The ``ts`` of each message this run makes: the wall clock, made to increase strictly.

    A session cut at session_max_s and the next one's start are decided in one step, and their final and
    opening metrics were stamped in one millisecond: a time-series database keyed by device and ``ts``
    kept one, mixed. A step back of the wall clock (STEP_MIN_MS or more: NTP setting a clock that ran
    ahead) is followed, not counted up from the old reading for as long as the step."""

    def __init__(self) -> None:
        self._last_ms: int | None = None  # the latest ts handed out
        self._read_ms: int | None = None  # the wall clock then
        self._lock = threading.Lock()  # paho's thread stamps each connection attempt's status

    def ts_ms(self) -> int:
        with self._lock:
            read_ms = payloads.now_ms()
            stepped_back = self._read_ms is not None and read_ms <= self._read_ms - STEP_MIN_MS
            ts_ms = read_ms if self._last_ms is None or stepped_back else max(read_ms, self._last_ms + 1)
            self._read_ms, self._last_ms = read_ms, ts_ms
            return ts_ms


class LeastLead:
    """The least of monotonic minus audio time (ms) over the last LEAD_SPAN_MS to twice that of audio."""

    def __init__(self, span_ms: int = LEAD_SPAN_MS) -> None:
        self.span_ms = span_ms
        self._since_ms: int | None = None  # audio time the current window began at
        self._current: int | None = None
        self._previous: int | None = None

    def add(self, audio_ms: int, lead_ms: int) -> int:
        """One reading; returns the least over the window."""
        if self._since_ms is None or audio_ms - self._since_ms >= self.span_ms:
            self._previous, self._current, self._since_ms = self._current, None, audio_ms
        self._current = lead_ms if self._current is None else min(self._current, lead_ms)
        return self._current if self._previous is None else min(self._current, self._previous)


def _read_pair() -> tuple[int, int, bool]:
    """The wall clock and the monotonic time it was read at (ms), and whether the two are close enough to tell a
    step by. Read wall then monotonic alone, a thread paused a second between the reads looked like a step back,
    then one forward at the next block, with that block's times on the wrong clock."""
    for _ in range(PAIR_READS):
        before_ms, wall_ms, after_ms = monotonic_ms(), payloads.now_ms(), monotonic_ms()  # read in this order
        if after_ms - before_ms <= PAIR_APART_MAX_MS:
            break
    return wall_ms, (before_ms + after_ms) // 2, after_ms - before_ms <= PAIR_APART_MAX_MS


class WallClock:
    """The anchor, and the wall times already published (the same onset or session keeps its time)."""

    def __init__(self, follow: bool) -> None:
        self.follow = follow
        self.anchor_ms: int | None = None
        self._offset_ms: int | None = None  # wall minus monotonic time, as last followed
        self._lead = LeastLead()
        self._onsets: OrderedDict[float, int] = OrderedDict()  # onset_ms already published, by onset_s
        self._session_starts: OrderedDict[str, int] = OrderedDict()  # start wall ms published, by session id
        # this run's session starts on the clock as it reads now (moved with each step), for sessions_today
        self._run_starts: deque[int] = deque(maxlen=RUN_STARTS_KEPT)

    def advance(self, end_s: float) -> int:
        """Audio has reached ``end_s``: anchor at the first call; then the step followed (ms), or 0."""
        if self.anchor_ms is not None and not self.follow:
            return 0  # one anchor per run: no clock to read
        wall_ms, mono_ms, close = _read_pair()
        audio_ms = round(end_s * 1000)
        lead_ms = self._lead.add(audio_ms, mono_ms - audio_ms)
        if self._offset_ms is None:  # the first anchor is taken whatever the pair: there is none to keep
            self._offset_ms, step_ms = wall_ms - mono_ms, 0
        else:
            step_ms = self._stepped(wall_ms - mono_ms) if close else 0
        self.anchor_ms = self._offset_ms + lead_ms
        return step_ms

    def _stepped(self, offset_ms: int) -> int:
        """The wall clock's step since the offset last followed (ms), followed from here; or 0."""
        assert self._offset_ms is not None
        step_ms = offset_ms - self._offset_ms
        if abs(step_ms) < STEP_MIN_MS:
            return 0
        log.warning(
            "MQTT: the wall clock moved %+.1f s against the monotonic clock (set by NTP, or by hand); "
            "timestamps follow the wall clock from here",
            step_ms / 1000,
        )
        self._offset_ms = offset_ms
        self._run_starts = deque((start + step_ms for start in self._run_starts), maxlen=RUN_STARTS_KEPT)
        return step_ms

    def wall_ms(self, t_s: float, now_s: float) -> int:
        """UTC epoch ms of audio time ``t_s`` (``now_s``: the latest audio time, to anchor on if not yet)."""
        if self.anchor_ms is None:
            self.advance(now_s)
        assert self.anchor_ms is not None
        return self.anchor_ms + round(t_s * 1000)

    def onset_ms(self, onset_s: float, now_s: float) -> int:
        """The onset's wall time, the same for every event about that onset (an outcome after its event)."""
        onset_ms = self._onsets.get(onset_s)
        if onset_ms is None:
            onset_ms = self._onsets[onset_s] = self.wall_ms(onset_s, now_s)
            if len(self._onsets) > ONSETS_KEPT:
                self._onsets.popitem(last=False)
        return onset_ms

    def session_started(self, session_id: str, start_ms: int) -> None:
        self._session_starts[session_id] = start_ms
        self._run_starts.append(start_ms)
        # summaries come only for sessions with enough speech: forget the starts of the others
        while len(self._session_starts) > SESSION_STARTS_KEPT:
            self._session_starts.popitem(last=False)

    def session_start_ms(self, session_id: str) -> int | None:
        """The start published for ``session_id`` (None when forgotten): its session_end and its summary
        say it too. The last SESSION_STARTS_KEPT are kept, so a session ended long ago is forgotten."""
        return self._session_starts.get(session_id)

    def run_sessions_since(self, since_ms: int) -> int:
        """Sessions this run started at or after ``since_ms``, by the clock as it reads now."""
        return sum(1 for start in self._run_starts if start >= since_ms)
