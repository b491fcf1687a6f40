"""``listener run``: the service pipeline, live from the array or fed from a file."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import FrameType

from listener.audio.base import AudioSource
from listener.audio.wav import WavSource
from listener.config import ArrayGeometry, Config, geometry
from listener.errors import AudioInputError
from listener.events import AudioBlock, Event
from listener.pipeline import Pipeline, Stage
from listener.service.build import analysis_stages

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    input: Path | None = None  # a WAV file instead of the live array
    fast: bool = False  # replay the file as fast as possible instead of in real time
    led_trace: bool = False  # print one JSON line per LED change
    demo_fallback: bool = False  # no array attached: replay the bundled sample conversation
    view: bool = False  # terminal view of LEDs and live figures


DEMO_PLAYS = 3  # the sample is 28 s; dominance needs 30 s of speech in the rolling window


def output_stages(config: Config, options: RunOptions) -> list[Stage]:
    """The outputs driven by analytics events, in order.

    Each output module is imported here, lazily, so that ``analyze`` never
    loads hardware or network libraries it does not use.
    """
    stages: list[Stage] = []
    if config.mqtt.enabled:  # first: the LEDs after it show its "broker unreachable" fault
        from listener.outputs.mqtt import MqttStage

        stages.append(MqttStage(config, follow_wall_clock=not options.fast))
    leds = None
    if config.leds.enabled and config.leds.preset != "none":
        from listener.outputs.leds import LedStage

        leds = LedStage(config, trace=sys.stdout if options.led_trace else None, live=options.input is None)
        stages.append(leds)
    if options.view:
        from listener.outputs.view import LedView

        stages.append(LedView(leds, stream=sys.stderr if options.led_trace else None))
    return stages


def sample_conversation() -> Path:
    """The bundled two-party sample (4-mic square, rep at 0 deg, customer at 180 deg)."""
    return Path(str(resources.files("listener") / "data" / "sample" / "conversation.wav"))


class SystemdNotifier(Stage):
    """READY once audio flows; the watchdog is fed only while audio frames keep arriving."""

    name = "systemd"

    def __init__(self) -> None:
        self._ready = False
        self._notifier: object | None = None

    def open(self) -> None:
        import sdnotify

        self._notifier = sdnotify.SystemdNotifier()

    def _notify(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)  # type: ignore[attr-defined]

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, AudioBlock):
            if not self._ready:
                self._ready = True
                self._notify("READY=1")
            self._notify("WATCHDOG=1")
        return ()

    def close(self) -> None:
        self._notify("STOPPING=1")


def open_source(config: Config, geo: ArrayGeometry, options: RunOptions) -> AudioSource:
    if options.input is not None:
        source: AudioSource = WavSource(options.input, geo, block_ms=config.array.block_ms, realtime=not options.fast)
        source.open()
        return source
    from listener.audio.live import LiveSource

    live = LiveSource(config)
    try:
        live.open()
    except AudioInputError as exc:
        if not options.demo_fallback:
            raise
        log.warning("no microphone array (%s); replaying the bundled sample conversation instead", exc)
        demo = _demo_geometry(config)
        sample = WavSource(
            sample_conversation(), demo, block_ms=config.array.block_ms, realtime=not options.fast, repeat=DEMO_PLAYS
        )
        sample.open()
        return sample
    return live


def _demo_geometry(config: Config) -> ArrayGeometry:
    from listener.config import parse_config

    return geometry(parse_config({"array": {"preset": "respeaker-4mic"}}))


def run(config: Config, options: RunOptions, extra_stages: Sequence[Stage] = ()) -> float:
    """Run until the source ends (files) or SIGTERM/SIGINT (live); returns audio seconds."""
    geo = geometry(config)
    source = open_source(config, geo, options)
    if options.demo_fallback and isinstance(source, WavSource) and source.path == sample_conversation():
        config = _demo_config(config)
        geo = geometry(config)
    if config.leds.button_pin:  # while paused, audio is discarded at the source
        from listener.outputs.button import PrivacyButton, PrivacyGate

        source = PrivacyGate(source, PrivacyButton(config.leds))
    outputs = output_stages(config, options)
    stages = [*analysis_stages(config, geo), *outputs, *extra_stages, SystemdNotifier()]
    restore = _stop_on_signals(source)
    try:
        with source, Pipeline(stages) as pipeline:
            return pipeline.run(source)
    finally:
        restore()


def _demo_config(config: Config) -> Config:
    from dataclasses import replace

    from listener.config.schema import ArrayConfig

    return replace(config, array=replace(ArrayConfig(), block_ms=config.array.block_ms))


def _stop_on_signals(source: AudioSource) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after flushing every output", signum)
        source.stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore
