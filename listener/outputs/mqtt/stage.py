"""The MQTT output stage: analytics events in, anonymized messages out.

Runs in the pipeline thread and never waits on the network: ``event``,
``session`` and (by default) ``metrics`` messages are written to the
on-disk spool, retained topics are handed to the publisher's drain thread,
and paho talks to the broker from its own loop thread. When the broker has
been unreachable for ``mqtt.outage_fault_s`` (audio seconds in a replay that does not follow
the wall clock, so its lights are the same in every run) the stage emits
``DeviceState(FAULT)`` (for the LEDs) and ``DeviceState(LISTENING)`` once
it is back. Those go only to the stages after this one: the retained ``state``
never carries a ``broker`` cause (it could only arrive once the outage is over).
The LEDs' own fault (a pin that cannot be written) comes back through
``reports_back``, as events never flow backwards, and is published at the next event.

The ``status`` of each connection (``online``, and the Last Will ``offline``)
is made just before paho connects, the Will last: a Will's ``ts`` and
``seq`` are never older than the ``online`` it replaces. The device cannot
know when it will die, so consumers take an ``offline`` Will's arrival time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from listener.config import Config
from listener.errors import NotOpenError
from listener.events import (
    ActivityFrames,
    AudioBlock,
    AudioDropped,
    Backchannel,
    DeviceState,
    DominanceChanged,
    EndOfStream,
    Event,
    Interruption,
    Reported,
    RollingShare,
    SessionEnded,
    SessionStarted,
    SessionSummary,
    SourceState,
)
from listener.outputs.condition import DeviceCondition
from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.client import MqttLink
from listener.outputs.mqtt.clockwatch import ClockWatch
from listener.outputs.mqtt.credentials import check_link_files
from listener.outputs.mqtt.discovery import discovery_payload, discovery_topic, ha_status_topics
from listener.outputs.mqtt.identity import device_id, device_info
from listener.outputs.mqtt.outage import OutageWatch
from listener.outputs.mqtt.publisher import Publisher
from listener.outputs.mqtt.session_messages import SessionMessages
from listener.outputs.mqtt.spool import Outgoing, Spool, encode
from listener.outputs.mqtt.tally import Tally
from listener.outputs.mqtt.wallclock import MessageTimes, WallClock, local_day, local_midnight_ms
from listener.pipeline import Stage
from listener.transcription.summary import CueTally

log = logging.getLogger(__name__)

SPOOL_FILE = "mqtt-spool.sqlite3"


class MqttStage(SessionMessages, Stage):
    name = "mqtt"

    def __init__(self, config: Config, *, follow_wall_clock: bool = False) -> None:
        """``follow_wall_clock``: audio arrives in real time (live, or a paced replay), so a step of
        the wall clock (NTP setting it) is followed (see :class:`WallClock`)."""
        self.config = config
        self.cfg = config.mqtt
        self.clock = WallClock(follow_wall_clock)
        self.clock_watch = ClockWatch()
        self.times = MessageTimes()  # every message's ts
        self.device_id = ""
        self._device: payloads.DeviceInfo | None = None  # made at open(): it hashes the model files
        self.tally = Tally()
        # the session's content cues, for its summary (words never reach it, only counts and times)
        self.cues = CueTally() if config.asr.enabled else None
        self._condition = DeviceCondition()
        # from the stages after this one (the LEDs' pins), from the pipeline's thread or the LEDs' ticker: a deque's
        # append and popleft are atomic, as for MqttLink.acks, so a block pays no lock for a report once a day
        self.reports_back: deque[DeviceState] = deque()
        self.t_s = 0.0  # audio time of the latest event
        self.overflow_s = 0.0  # audio the pipeline could not keep up with since the start, for the dashboards
        self._next_metrics_s: float | None = None
        self._outage = OutageWatch(self.cfg)
        self._online_payload: bytes | None = None  # this connection's "online", made with its Will
        self._state_day = 0  # local date (YYYYMMDD) of the retained state's sessions_today
        # a session_end not yet stored, with what joins it (its summary, final metrics): see _end_session
        self._ending: tuple[str, list[Outgoing]] | None = None
        self._spool: Spool | None = None
        self._link: MqttLink | None = None
        self._publisher: Publisher | None = None
        self._hurried = threading.Event()  # a stop asked for twice: the drain at close waits no more

    # -- topics ----------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"{self.cfg.topic_prefix}/{self.device_id}"

    def topic(self, leaf: str) -> str:
        return f"{self.base}/{leaf}"

    # -- lifecycle ---------------------------------------------------------------

    def open(self) -> None:
        self.device_id = device_id(self.config)
        self._device = device_info(self.config)
        check_link_files(self.cfg)  # before the spool, which logs its backlog: a fatal error is then the only line
        self.clock_watch.check(payloads.now_ms())
        spool = self._spool = Spool(Path(self.config.service.state_dir) / SPOOL_FILE, self.cfg.spool_max_messages)
        spool.open()
        try:  # whatever fails below, close() releases what was opened (the spool, the drain thread)
            self._start(spool)
        except BaseException:
            self.close()
            raise
        log.info("MQTT: publishing as %s under %s/", self.device_id, self.base)

    def _start(self, spool: Spool) -> None:
        subscriptions = ha_status_topics(self.cfg.discovery_prefix) if self.cfg.discovery else ()
        link = self._link = MqttLink(
            self.cfg,
            client_id=self.device_id,
            # the spool itself, not self.spool: close() drops that before paho's thread stops
            will=(self.topic("status"), lambda: self._connection_status(spool)),
            on_connected=self._on_connected,
            on_message=self._on_message,
            subscriptions=subscriptions,
            # a replay that does not follow the wall clock counts outages in audio seconds: its fault then
            # shows at the same audio time in every run, however fast the machine reads the file
            outage_clock=time.monotonic if self.clock.follow else lambda: self.t_s,
        )
        publisher = self._publisher = Publisher(
            spool, link, self.topic, self.cfg.drain_rate_per_s, self.cfg.inflight_max
        )
        # the builders take the spool itself: close() drops self.spool while the drain thread may still build
        publisher.set_retained(self.topic("status"), build=lambda: self._online(spool))  # first in line
        if self.cfg.discovery:
            preset, transcribing = self.config.array.preset, self.config.asr.enabled
            discovery = discovery_payload(self.base, self.device_id, preset, transcribing, self.cfg.suggested_area)
            publisher.set_retained(discovery_topic(self.cfg.discovery_prefix, self.device_id), encode(discovery))
        # spool_depth: said 0 again once a backlog has drained (or alerts stay on); spool_dropped, storage: at new
        # drops, when the card fills or takes writes again, once a metrics interval at most
        publisher.set_retained(
            self.topic("info"),
            build=lambda: self._info(spool),
            again_when_drained=True,
            again_when_spool_changes=True,
            changes_every_s=self.cfg.metrics_interval_s,
        )
        # no state yet: "listening" said now was followed 0.6 s later by "fault" at every start without the
        # array; the source's first word says which (process: its SourceState, or its first audio)
        publisher.open()
        link.open()

    def hurry(self) -> None:
        self._hurried.set()

    def close(self) -> None:
        if self._ending is not None and self._spool is not None and self._publisher is not None:
            self._end_session()  # a stop between a session's end and the analytics' next step
        publisher, link, spool = self._publisher, self._link, self._spool
        self._publisher = self._link = self._spool = None
        if publisher is not None and link is not None:
            drained = publisher.flush(self.cfg.shutdown_drain_s, give_up=self._hurried)
            if not drained and spool is not None and spool.depth:
                why = f" ({link.unsaid})" if link.unsaid and not link.connected else ""
                log.warning("MQTT: %d messages stay in the spool and are sent at the next start%s", spool.depth, why)
            publisher.close()
        if link is not None and spool is not None:
            offline = spool.stamp(payloads.status("offline", self.times.ts_ms())) if link.connected else None
            link.close(last_words=None if offline is None else (self.topic("status"), offline))
        if spool is not None:
            spool.close()

    # -- callbacks from paho's thread ---------------------------------------------

    def _on_connected(self) -> None:
        publisher, spool = self._publisher, self._spool
        if publisher is None or spool is None:
            return
        # the backlog as the connection came: the drain has usually sent it before the pipeline says so
        self._outage.backlog_at_connect = spool.depth
        publisher.republish()  # status first; the broker may have restarted without its retained messages

    def _on_message(self, topic: str, payload: bytes) -> None:
        publisher = self._publisher
        if publisher is not None and topic in ha_status_topics(self.cfg.discovery_prefix) and payload == b"online":
            publisher.republish(discovery_topic(self.cfg.discovery_prefix, self.device_id))

    # -- retained topics ------------------------------------------------------------

    def _connection_status(self, spool: Spool) -> bytes:
        """Before each connection attempt (paho's thread): its "online", then its Last Will."""
        self._online_payload = spool.stamp(payloads.status("online", self.times.ts_ms()))
        return spool.stamp(payloads.status("offline", self.times.ts_ms()))

    def _online(self, spool: Spool) -> bytes:
        online = self._online_payload
        return online if online is not None else spool.stamp(payloads.status("online", self.times.ts_ms()))

    def _info(self, spool: Spool) -> bytes:
        """Made when published (a connect, a backlog drained, a drop, the card full or not): its figures are current."""
        if self._device is None:
            raise NotOpenError("MqttStage")
        figures = payloads.SpoolFigures(spool.dropped, spool.depth, spool.held, spool.storage)
        return spool.stamp(payloads.info(self._device, figures, bool(self.clock_watch.ok), self.times.ts_ms()))

    def _publish_state(self, session_started: bool = False) -> None:
        self._state_day = local_day()
        message = payloads.state(
            self._condition.mode,
            self.tally.dominating,
            self.tally.session_id(),
            self.spool.sessions_on(self._state_day, started=session_started),
            self.times.ts_ms(),
            self._condition.causes,
        )
        self.publisher.set_retained(self.topic("state"), self.spool.stamp(message))

    # -- events ---------------------------------------------------------------------

    def process(self, event: Event) -> Iterable[Event]:
        if self._ending is not None and not self._joins_ending(event):
            self._end_session()  # its summary comes right after it or never: this session has none
        while self.reports_back:  # the LEDs' fault or its end, found since the last event
            self._fold(self.reports_back.popleft())
        if isinstance(event, (AudioBlock, ActivityFrames, AudioDropped)):
            # dropped audio (privacy pause, overflow) still advances the clock
            end_s = event.end_s
            self._follow_clock(end_s)
            if self.clock_watch.check(payloads.now_ms()) or self.spool.store_waiting():
                self.publisher.republish(self.topic("info"))  # a clock set right or wrong; a card taking writes again
            if self.clock_watch.zone_changed:  # the date may be another: as a step of the clock
                self._redate_sessions()
            self.t_s = max(self.t_s, end_s)
            if isinstance(event, AudioDropped) and event.reason == "overflow":
                self.overflow_s += event.duration_s
            if local_day() != self._state_day:  # the first state (_state_day 0), or a new day's
                self._publish_state()  # sessions_today counts from local midnight: back to 0
            self._end_session()
            self._maybe_metrics()
            return self._watch_broker()
        if self.cues is not None:  # the session's content cues, for its summary
            self.cues.process(event)
            if isinstance(event, SessionStarted):  # sessions never overlap: nothing before it is needed
                self.cues.forget_before(event.onset_s)
        if isinstance(event, RollingShare):
            self.tally.rolling(event)
        elif isinstance(event, SessionSummary):
            self._summary(event)
            self._send_metrics(self.tally.summarized(event))  # after the summary: they agree
            self._end_session()
        elif isinstance(event, EndOfStream):
            self._end_session()
        elif isinstance(event, Reported):
            self._reported(event)
        elif isinstance(event, DeviceState | SourceState):
            self._fold(event)
        return ()

    def _fold(self, event: DeviceState | SourceState) -> None:
        # the mode or the causes behind it (a lost array, then a dead channel: still a fault, now two)
        before = (self._condition.mode, self._condition.causes)
        self._condition.update(event)
        if (self._condition.mode, self._condition.causes) != before:
            self._publish_state()

    def _reported(self, event: Reported) -> None:
        outcome, session_id = False, self.tally.session_id()
        if isinstance(event, SessionStarted):
            # the analytics decide it before this stage sees the block it was decided in: a step of the clock
            # since the last block, not yet followed, had it counted on the new day and the step then moved nothing
            self._end_session()
            self._follow_clock(self.t_s)
            self.tally.start(event)
            self._next_metrics_s = event.onset_s + self.cfg.metrics_interval_s
        elif isinstance(event, Interruption):  # in the session its onset falls in, which a cut may have ended
            outcome, session_id = self.tally.interruption(event)
        elif isinstance(event, Backchannel):
            session_id = self.tally.backchannel(event)
        elif isinstance(event, DominanceChanged):
            self.tally.dominance(event)
        ts_ms = self.times.ts_ms()
        onset_ms = self._onset_ms(event)
        if isinstance(event, SessionStarted):
            self.clock.session_started(event.session_id, onset_ms)
        message = payloads.event(event, ts_ms, onset_ms, session_id, outcome=outcome)
        if message is None:
            return
        if isinstance(event, SessionEnded):  # stored with its summary, which comes next if it comes
            self._ending = (event.session_id, [("event", message, 1)])
            self.tally.end(event)
            self._next_metrics_s = None
            return  # the retained state follows once it is stored
        self._spool_message("event", message)
        if isinstance(event, (SessionStarted, DominanceChanged)):
            self._publish_state(session_started=isinstance(event, SessionStarted))
        if isinstance(event, SessionStarted) and self.tally.session is not None:
            # its counts at 0 at once: Home Assistant's statistics take a count's drop for a new session
            # only when it falls by over 10 %, which the first figures after metrics_interval_s may not
            self._send_metrics(self.tally.session)

    def _follow_clock(self, end_s: float) -> None:
        """Audio has reached ``end_s``: a step of the wall clock since the last look is followed."""
        if self.clock.advance(end_s):
            self._redate_sessions()

    def _redate_sessions(self) -> None:
        """After the clock was stepped: sessions this run counted on the day the clock showed then
        go to the day they happened (a Pi that booted on yesterday's saved time, then NTP set it)."""
        now_ms = payloads.now_ms()
        if self.spool.redate_sessions(local_day(now_ms), self.clock.run_sessions_since(local_midnight_ms(now_ms))):
            self._publish_state()

    def _end_session(self) -> None:
        """A session_end, its summary and final metrics in one transaction: a crash between them left a pair
        that looks complete (a short visit's) without its summary. It waits for no more than the summary,
        which comes right after it or never, so whatever comes next stores it with the session's final metrics."""
        self._final_without_summary()
        ending, self._ending = self._ending, None
        if ending is None:
            return
        self.spool.put_many(ending[1])
        self.publisher.spooled()
        self._publish_state()  # after the session_end, as when it was stored alone

    def _watch_broker(self) -> Iterator[Event]:
        if self._link is not None:
            yield from self._outage.step(self._link, self.t_s)
