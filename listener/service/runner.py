"""``listener run``: the service pipeline, live from the array or fed from a file."""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from listener.audio.base import AudioSource
from listener.audio.channel_watch import ChannelWatch
from listener.audio.wav import WavSource
from listener.config import Config, channel_map_mode, geometry
from listener.config.schema import ArrayConfig, PartiesConfig
from listener.config.service_unit import long_stop, read_only_state_dir, writable_folders
from listener.errors import AudioInputError
from listener.events import AudioBlock, AudioDropped, DeviceMode, DeviceState, DropReason, Event, SourceState
from listener.lifecycle import under_systemd
from listener.pipeline import Pipeline, Stage
from listener.service.build import analysis_stages
from listener.service.instance import InstanceLock
from listener.service.signals import StopSignals

if TYPE_CHECKING:  # imported where used: analyze and a run without a button never load gpiozero
    from listener.outputs.button import PrivacyButton

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    input: Path | None = None  # a WAV file instead of the live array
    fast: bool = False  # replay the file as fast as possible instead of in real time
    led_trace: bool = False  # print one JSON line per LED change
    demo_fallback: bool = False  # no array attached: replay the bundled sample conversation
    wait_for_array: bool = False  # no array attached: wait for it (the service), showing the fault
    view: bool = False  # terminal view of LEDs and live figures


# WatchdogSec is 30 s (systemd/listener.service): a feed a second is ample; one per 50 ms block woke systemd (PID 1)
# twenty times a second, all day, to re-arm a timer 30 s away
WATCHDOG_EVERY_S = 1.0
PAUSE_FILE = "paused"  # in service.state_dir while the privacy button holds the device paused
# what `systemctl status listener` shows beside the input's state ("capturing", "no audio: <why>"); fixed texts,
# with nothing of what was heard in them
PAUSED_STATUS = "paused (privacy button): nothing is heard until the next press"
STOPPING_STATUS = "stopping: flushing the open session to the outputs"
DEMO_PLAYS = 3  # the sample is 28 s; dominance needs 30 s of speech in the rolling window


def output_stages(config: Config, options: RunOptions, *, live: bool) -> list[Stage]:
    """The outputs driven by analytics events, in order; ``live``: the source is the array, not a file.

    Each output module is imported here, lazily, so that ``analyze`` never
    loads hardware or network libraries it does not use.
    """
    stages: list[Stage] = []
    mqtt = None
    if config.mqtt.enabled:  # first: the LEDs after it show its "broker unreachable" fault
        from listener.outputs.mqtt import MqttStage

        mqtt = MqttStage(config, follow_wall_clock=not options.fast)
        stages.append(mqtt)
    leds = None
    if config.leds.in_use:
        from listener.outputs.leds import LedStage

        # only the array's audio can stop coming (the lights then go on at wall time): the demo's sample is a file;
        # the lights' own fault goes back to the MQTT state, before them
        trace = sys.stdout if options.led_trace else None
        report_back = None if mqtt is None else mqtt.reports_back.append
        leds = LedStage(config, trace=trace, live=live, report_back=report_back)
        stages.append(leds)
    elif options.led_trace:  # a trace with no line would read as lights that never changed
        why = "leds.enabled = false" if not config.leds.enabled else 'leds.preset = "none"'
        log.warning("--led-trace prints nothing: this config drives no LEDs (%s)", why)
    if options.view:
        from listener.outputs.view import LedView

        stages.append(LedView(leds, stream=sys.stderr if options.led_trace else None))
    return stages


def sample_conversation() -> Path:
    """The bundled two-party sample (4-mic square, rep at 0 deg, customer at 180 deg)."""
    return Path(str(resources.files("listener") / "data" / "sample" / "conversation.wav"))


class _NotifySocket:
    """The service's end of sd_notify(3): one datagram a message, on a socket connected to systemd's.

    In place of sdnotify's SystemdNotifier, which makes its socket before it connects it and, when the connect
    fails, drops it unclosed (a ResourceWarning) and says nothing of why.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock

    @classmethod
    def connect(cls, address: str) -> _NotifySocket:
        """Connected to NOTIFY_SOCKET's path (or abstract name, '@...'); the socket is closed if it cannot be."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.connect("\0" + address[1:] if address.startswith("@") else address)
        except OSError:
            sock.close()
            raise
        return cls(sock)

    def notify(self, state: str) -> None:
        # as sd_notify(3): systemd not listening is no reason for the service to stop
        with suppress(OSError):
            self.socket.sendall(state.encode())

    def close(self) -> None:
        self.socket.close()


class SystemdNotifier(Stage):
    """READY once the source's loop turns; the watchdog is fed while it keeps turning (once a second at most).

    Audio, dropped audio (an outage being waited out: the reopen loop) and
    source states all prove the pipeline thread is alive; the LiveSource
    reopens a lost array itself, so a restart by systemd would only lose the
    open session. A wedged driver or a hung stage starves the watchdog. STATUS= says the input's state, the
    privacy pause, and the stop's flush (said just before STOPPING=1, after which nothing is).
    """

    name = "systemd"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ready = False
        self._stopping = False
        self._fed_s = -math.inf  # when the watchdog was last fed, on ``clock``
        self._feed_every_s = WATCHDOG_EVERY_S
        # stopping() comes on the signal's thread: a block that found the stop not begun sends its WATCHDOG=1
        # before STOPPING=1, never after it (which would arm the watchdog again for the whole flush)
        self._stop_lock = threading.Lock()
        self._notifier: _NotifySocket | None = None
        self._input = "capturing"  # the source's last report (a file makes none)
        self._paused = False  # by the privacy button
        self._status: str | None = None  # the STATUS= last sent

    def open(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET")
        if not address:  # not under systemd (or a unit not of Type=notify): no socket is made
            return
        self._feed_every_s = _feed_every_s(os.environ.get("WATCHDOG_USEC"))
        try:
            self._notifier = _NotifySocket.connect(address)
        except OSError as exc:
            # under a Type=notify unit, systemd hears no READY=1 and stops the service at its start timeout
            log.warning(
                "NOTIFY_SOCKET is set to %r but it cannot be connected (%s): systemd will hear no READY=1 or "
                "watchdog; check that the path is systemd's notify socket, or unset NOTIFY_SOCKET outside the unit",
                address,
                exc.strerror or exc,
            )

    def _notify(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def process(self, event: Event) -> Iterable[Event]:
        button = isinstance(event, DeviceState) and event.cause == "button"
        if not (button or isinstance(event, AudioBlock | AudioDropped | SourceState)):
            return ()
        with self._stop_lock:
            # nothing once the stop has begun: systemd re-arms its watchdog at any WATCHDOG=1, its stop begun or
            # not, and a READY=1 after STOPPING=1 (a stop while the stages opened) takes a unit still starting to
            # running, its watchdog armed for the flush
            if self._stopping:
                return ()
            if isinstance(event, DeviceState):  # the privacy button's pause or resume
                self._paused = event.mode is DeviceMode.PAUSED
                self._say_status()
                return ()
            if not self._ready:
                self._ready = True
                self._notify("READY=1")
            now_s = self._clock()
            if now_s - self._fed_s >= self._feed_every_s:
                self._fed_s = now_s
                self._notify("WATCHDOG=1")
            if isinstance(event, SourceState):
                self._input = "capturing" if event.available else f"no audio: {event.detail}"
                self._say_status(again=True)
        return ()

    def _say_status(self, *, again: bool = False) -> None:
        """STATUS= (what `systemctl status` shows) when it changed; ``again``: also when not (the input's report)."""
        status = self._input
        if self._paused:  # the input is said too where it is missing: the pause does not explain a dark amber
            status = PAUSED_STATUS if status == "capturing" else f"{PAUSED_STATUS}; {status}"
        if again or status != self._status:
            self._status = status
            self._notify(f"STATUS={status}")

    def stopping(self) -> None:
        """Said as the stop begins, and the watchdog fed no more: the flush waits for the recogniser (up to
        asr.finish_wait_s, 30 s, as long as WatchdogSec) with nothing to feed it. systemd re-arms its watchdog at
        every WATCHDOG=1, even once it has sent SIGTERM: the blocks read after the stop was asked for armed it
        again, and a recogniser finishing slowly was aborted (SIGABRT) before the open session's summary was
        stored. A stop systemd did not ask for (the array's driver wedged, a stage failed, a kill by hand) also
        left the unit running with its watchdog armed. STOPPING=1 puts the unit in its stop, bounded by
        TimeoutStopSec, which the stop's waits are checked against (check-config)."""
        self._stop(STOPPING_STATUS)

    def _stop(self, status: str | None) -> None:
        with self._stop_lock:
            if not self._stopping:
                self._stopping = True
                # before STOPPING=1, after which nothing but the stop is said: shown through the flush's waits
                if status is not None:
                    self._notify(f"STATUS={status}")
                self._notify("STOPPING=1")

    def close(self) -> None:
        self._stop(None)  # a run that ends without a stop: its stages failed to open, there is nothing to flush
        if self._notifier is not None:
            self._notifier.close()
        self._notifier = None


def _feed_every_s(watchdog_usec: str | None) -> float:
    """How often to feed the watchdog: WATCHDOG_EVERY_S, or a quarter of a shorter WatchdogSec (which systemd
    passes as WATCHDOG_USEC; sd_watchdog_enabled(3) asks for a feed at least every half of it)."""
    try:
        usec = int(watchdog_usec or "0")
    except ValueError:
        return WATCHDOG_EVERY_S
    return min(WATCHDOG_EVERY_S, usec / 4e6) if usec > 0 else WATCHDOG_EVERY_S


def select_source(config: Config, options: RunOptions) -> tuple[AudioSource, Config]:
    """The source to run from, and the configuration to analyse it with (the sample's own, for the demo).

    A file is checked now, the array only looked for (opened later).
    """
    geo = geometry(config)
    if options.input is not None:
        wav = WavSource(options.input, geo, block_ms=config.array.block_ms, realtime=not options.fast)
        wav.open()  # a bad file is said before any model loads; files hold no device
        return wav, config
    from listener.audio.devices import find_array
    from listener.audio.live import LiveSource

    if options.demo_fallback:
        try:
            find_array(geo)
        except AudioInputError as exc:
            demo = _demo_config(config)
            sample = WavSource(
                sample_conversation(),
                geometry(demo),
                block_ms=config.array.block_ms,
                realtime=not options.fast,
                repeat=DEMO_PLAYS,
            )
            log.warning("no microphone array (%s); %s", exc, _demo_replay(sample.duration_s, options.fast, config))
            return sample, demo
    return LiveSource(config, wait=options.wait_for_array), config


def run(config: Config, options: RunOptions, extra_stages: Sequence[Stage] = ()) -> float:
    """Run until the source ends (files) or SIGTERM/SIGINT (live); returns audio seconds.

    The stages open first (models, broker): the array starts capturing only
    when there is a pipeline to take its audio, and is closed however the run ends.
    """
    source, config = select_source(config, options)
    with ExitStack() as stack:
        # entered first, so left last: the signal handlers come back once everything else has closed
        handlers = stack.enter_context(ExitStack())
        stack.callback(source.close)  # a file is open already (select_source): closed whatever raises from here
        geo = geometry(config)
        live = not isinstance(source, WavSource)  # the array (importing LiveSource here would load PortAudio)
        options = _real_time_if_live(options, live)  # a file's audio is read as fast as it can be unless paced
        if under_systemd():  # the unit's limits (check-config says them of any file)
            _warn_of_a_long_stop(config)
            _warn_of_a_read_only_state_dir(config)
        # channels that carry no sound, or one signal twice, are said: the array's, or the recording's
        recording = source if isinstance(source, WavSource) else None
        watch: list[Stage] = [ChannelWatch(geo, recording=recording.path if recording is not None else None)]
        source, button = _privacy_gate(source, config, live)
        stop = StopSignals(source)
        handlers.callback(stop.install())
        _hold(stack, button, config, live)
        outputs = output_stages(config, options, live=live)
        analysis = analysis_stages(config, geo, real_time=not options.fast)
        pipeline = stack.enter_context(Pipeline([*watch, *analysis, *outputs, *extra_stages, SystemdNotifier()]))
        stop.attach(pipeline)
        source.open()
        if recording is not None:  # said once the outputs opened: a fatal error there is a run's only line
            recording.warn_if_short()
        if stop.received:  # asked to stop while the stages opened: open() re-armed the source
            source.stop()
        audio_s = pipeline.run(source)
    _say_stopped(audio_s, pipeline.unheard_s)
    return audio_s


def _hold(stack: ExitStack, button: PrivacyButton | None, config: Config, live: bool) -> None:
    """Before the stages open: the instance lock and the button (the source is closed by the caller's stack)."""
    if live or config.mqtt.enabled:  # what two instances would share: the array, the spool, the pause
        # the service refused waits the other run out (restarted on exit 75); a run by hand is told to stop it
        stack.enter_context(InstanceLock(Path(config.service.state_dir), service=under_systemd()))
    if button is not None:
        # a press during the LED self-test or the models' load is answered with the first event
        # (the gate's open() then finds the button open already)
        button.open()
        stack.callback(button.close)


def _privacy_gate(source: AudioSource, config: Config, live: bool) -> tuple[AudioSource, PrivacyButton | None]:
    """The source behind the privacy button, when one is wired: while paused, audio is discarded at the source."""
    if not config.leds.button_pin:
        return source, None
    from listener.outputs.button import PrivacyButton, PrivacyGate

    # the pause kept across restarts is the live service's: a file run or the demo does not obey it
    remember = Path(config.service.state_dir) / PAUSE_FILE if live else None
    button = PrivacyButton(config.leds, remember=remember)
    return PrivacyGate(source, button, directions=not channel_map_mode(config.parties)), button


def _real_time_if_live(options: RunOptions, live: bool) -> RunOptions:
    if live and options.fast:  # --demo-fallback --fast found the array: it runs in real time, and so do outputs
        log.warning("--fast applies to the replayed sample only: the microphone array runs in real time")
        return replace(options, fast=False)
    return options


# typed by DropReason, so that a misspelt or retired reason is a type error here, not a KeyError at the stop
UNHEARD_BECAUSE: dict[DropReason, str] = {
    "device_lost": "no array",
    "paused": "privacy pause",
    # the ring full (the pipeline behind) or the driver's own overrun (its capture thread late) share the reason:
    # the "audio overflow" warnings say which, so this one blames neither
    "overflow": "audio overflow",
}


def _say_stopped(audio_s: float, unheard_s: Mapping[DropReason, float]) -> None:
    """The run's length, and how much of it was not heard and why: a service that waited for its array
    all along heard nothing, which "stopped after 3.2 s of audio" alone would hide."""
    if not unheard_s:
        log.info("stopped after %.1f s of audio", audio_s)
        return
    why = ", ".join(f"{UNHEARD_BECAUSE[reason]} {seconds:.1f} s" for reason, seconds in unheard_s.items())
    log.info("stopped after %.1f s of audio time, %.1f s of it not heard (%s)", audio_s, sum(unheard_s.values()), why)


def _demo_config(config: Config) -> Config:
    """The sample's own array and parties (rep at 0 deg, customer at 180 deg), whatever the config's, and
    MQTT off.

    A config in channel-map mode, or with its parties elsewhere, would read the
    sample's four mics as something they are not. MQTT is what leaves the device: the sample's sessions,
    published (or spooled, to be published at the service's next start) under the device's own id, would
    be a made-up conversation in the fleet's figures.
    """
    return replace(
        config,
        array=replace(ArrayConfig(), block_ms=config.array.block_ms),
        parties=PartiesConfig(),
        mqtt=replace(config.mqtt, enabled=False),
    )


def _demo_replay(play_s: float, fast: bool, config: Config) -> str:
    """What the demo plays instead of the array, how long it takes, and that it ends by itself."""
    took = "at full speed, --fast" if fast else f"about {play_s * DEMO_PLAYS:.0f} s"
    said = (
        f"replaying the bundled {play_s:.0f} s sample conversation {DEMO_PLAYS} times instead "
        f"({took}; ends on its own, Ctrl-C stops it)"
    )
    return f"{said}; MQTT off for the sample" if config.mqtt.enabled else said


def _warn_of_a_long_stop(config: Config) -> None:
    """The waits at a stop, set longer than systemd gives the service, end in SIGKILL: said at start."""
    for warning in long_stop(config):
        log.warning("%s", warning)


def _warn_of_a_read_only_state_dir(config: Config) -> None:
    """A state folder the unit does not let the service write: said before the spool fails on it."""
    for warning in read_only_state_dir(config.service.state_dir, writable_folders()):
        log.warning("config warning at %s", warning)
