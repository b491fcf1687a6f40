"""A session's messages into the spool (mixed into :class:`~listener.outputs.mqtt.stage.MqttStage`).

Its summary, and its metrics while it runs and once more at its end. While a session_end waits for its
summary, both are held back to be stored with it in one transaction (the stage's ``_end_session``). The summary
and the session_end are dated from the wall time the session's start was published with, even if the clock was
stepped since: a dashboard joins the messages by it.
"""

from __future__ import annotations

from listener.config.mqtt_schema import MqttConfig
from listener.errors import NotOpenError
from listener.events import (
    ActivityFrames,
    AudioBlock,
    AudioDropped,
    EndOfStream,
    Event,
    Reported,
    SessionEnded,
    SessionStarted,
    SessionSummary,
)
from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.client import MqttLink
from listener.outputs.mqtt.publisher import Publisher
from listener.outputs.mqtt.spool import Outgoing, Spool
from listener.outputs.mqtt.tally import Tally
from listener.outputs.mqtt.wallclock import MessageTimes, WallClock
from listener.transcription.summary import CueTally


class SessionMessages:
    """The session part of the MQTT stage, which sets these in its ``__init__`` and ``open``."""

    cfg: MqttConfig
    clock: WallClock
    times: MessageTimes
    tally: Tally
    cues: CueTally | None
    t_s: float  # audio time of the latest event
    overflow_s: float
    _next_metrics_s: float | None
    _ending: tuple[str, list[Outgoing]] | None  # a session_end not yet stored, with what joins it
    _spool: Spool | None
    _publisher: Publisher | None
    _link: MqttLink | None

    @property
    def spool(self) -> Spool:
        if self._spool is None:
            raise NotOpenError("MqttStage")
        return self._spool

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            raise NotOpenError("MqttStage")
        return self._publisher

    def _onset_ms(self, event: Reported) -> int:
        """A session_end's onset is its session's start, as published then: the few onsets the clock
        keeps are long gone after a session of minutes, and the clock may have been stepped since."""
        if isinstance(event, SessionEnded):
            start_ms = self.clock.session_start_ms(event.session_id)
            if start_ms is not None:
                return start_ms
        return self.clock.onset_ms(event.onset_s, self.t_s)

    def _summary(self, summary: SessionSummary) -> None:
        """The analytics publish a summary only for sessions with enough speech.

        Its start is the wall time its session_start event was published with,
        even if the wall clock was stepped since: a dashboard joins the two. Its end
        is that start plus the session's length, as its session_end event says."""
        start_ms = self.clock.session_start_ms(summary.session_id)
        if start_ms is None:
            start_ms = self.clock.wall_ms(summary.onset_s, self.t_s)
        end_ms = start_ms + round((summary.end_s - summary.onset_s) * 1000)
        cues = self.cues.metrics(summary.onset_s, summary.end_s) if self.cues is not None else None
        self._spool_message("session", payloads.session(summary, start_ms, end_ms, self.times.ts_ms(), cues))
        if self.cues is not None:
            self.cues.forget_before(summary.end_s)

    def _spool_message(self, leaf: str, message: dict[str, object], qos: int = 1) -> None:
        if self._ending is not None:  # the session's summary or final metrics: stored with its session_end
            self._ending[1].append((leaf, message, qos))
            return
        self.spool.put(leaf, message, qos=qos)  # the full topic is made at send time: the device may be renamed
        self.publisher.spooled()

    def _joins_ending(self, event: Event) -> bool:
        """The waiting session_end's summary, or an event whose step stores it with the final metrics."""
        if isinstance(event, SessionSummary):
            return self._ending is not None and event.session_id == self._ending[0]
        return isinstance(event, AudioBlock | ActivityFrames | AudioDropped | EndOfStream | SessionStarted)

    def _maybe_metrics(self) -> None:
        figures, due = self.tally.session, self._next_metrics_s
        if figures is None or due is None or self.t_s < due:
            return
        while due <= self.t_s:
            due += self.cfg.metrics_interval_s
        self._next_metrics_s = due
        self._send_metrics(figures)

    def _final_without_summary(self) -> None:
        """A summary comes right after its SessionEnded: a session still waiting for one has none."""
        figures = self.tally.unsummarized()
        if figures is not None:
            self._send_metrics(figures)

    def _send_metrics(self, figures: payloads.SessionFigures) -> None:
        """Live while a session runs; once more at its end, so dashboards keep its final figures."""
        # the analytics' events run ahead of the audio reaching this stage (a block, the decider's look-ahead):
        # at a session's start its onset can lie just past the clock here
        message = payloads.metrics(
            figures,
            max(0.0, self.t_s - figures.onset_s) if figures.final_s is None else figures.final_s,
            self.tally.rolling_share,
            self.tally.dominating,
            self.spool.dropped,
            self.times.ts_ms(),
            self.overflow_s,
        )
        if self.cfg.spool_metrics:
            self._spool_message("metrics", message)
        elif self._link is not None and self._link.connected:
            self._spool_message("metrics", message, qos=0)
