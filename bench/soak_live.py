"""Live soak: the capture path (PortAudio's callback thread, the bounded ring, LiveSource) in real time.

    .venv/bin/python -m bench.soak_live [--minutes 10] [--report-every-s 60] [--cases 6] [--no-asr] [--json out.json]

bench/soak.py feeds the pipeline from memory, flat out, so the live capture path never runs there for
long. Here soak.py's visits (its bank of AMI excerpts in simulated rooms and the Korean exchange, quiet
gaps between visits) are written as raw S16_LE files, one per channel, to a temporary folder that is
removed at the end (benchmark audio; the product itself never writes audio). A private ALSA
configuration (tests/alsa_device.py: ``multi`` over ``copy`` -> ``file`` -> ``null`` per channel) turns
them into a capture device, and LiveSource opens it through pyaudio as the service opens the array.
The ``null`` slave has no clock, so each channel's infile is a FIFO that a feeder thread writes 100 ms
at a time on the wall clock (tests/test_faults.py paces channel 0 alone, which keeps the pace but lets the
other channels' regular files run ahead of it): the device delivers the recording, channels aligned, in
real time, and a soak of ``--minutes`` takes that long. The device itself skips one 50 ms period at
the stream's start (its 4th), so the audio clock runs ~0.05 s behind the wall clock from then on.

Pipeline: what ``listener run`` builds for a live array (channel watch, analysis stages, transcription
unless ``--no-asr``, MQTT to a private mosquitto with soak.py's counting subscriber, LEDs on gpiozero's
MockFactory), plus soak.py's probe. Every ``--report-every-s`` audio seconds one JSON line: audio
captured, RSS, CPU per audio second of the whole process and of PortAudio's capture thread over the
interval, ring fill, overflows, dropped audio, and the audio clock against the wall clock; at the end
the totals. Nothing is asserted; the figures go in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from unittest import mock

import numpy as np

from bench.soak import (
    Int16Array,
    Probe,
    SoakSource,
    SummaryCounter,
    case_bank,
    korean_exchange,
    received,
    soak_config,
    soak_options,
)
from bench.usage import cpu_s
from listener.audio.capture_run import CaptureRun
from listener.audio.channel_watch import ChannelWatch
from listener.audio.live import LiveSource
from listener.config import PROCESSING_RATE_HZ, Config, geometry
from listener.events import AudioBlock, AudioDropped, Event
from listener.heap import keep_freed_buffers
from listener.pipeline import Pipeline, Stage
from listener.service.build import analysis_stages
from listener.service.runner import RunOptions, output_stages
from tests.alsa_device import AlsaConfig, PacedFifo, fifo_device

DEVICE = "listener_soak_array"
MARGIN_S = 10.0  # audio past the soak's end: the device never runs dry (then unpaced) before the source stops
WALL_TOLERANCE_S = 0.25  # audio clock within this of the wall clock at the end: nothing went missing


def write_infiles(bank: Sequence[Int16Array], seconds: float, directory: Path) -> tuple[tuple[Path, ...], int]:
    """soak.py's visits as one raw S16_LE file per channel; returns the files and the visits in them."""
    directory.mkdir(parents=True, exist_ok=True)
    source = SoakSource(bank, seconds)
    paths = tuple(directory / f"ch{c}.raw" for c in range(bank[0].shape[1]))
    with ExitStack() as stack:
        files = [stack.enter_context(p.open("wb")) for p in paths]
        for event in source.events():  # block by block: the whole recording is never held
            if isinstance(event, AudioBlock):
                pcm = np.clip(np.round(event.samples * 32768.0), -32768, 32767).astype("<i2")
                for c, f in enumerate(files):
                    f.write(np.ascontiguousarray(pcm[:, c]).tobytes())
    return paths, source.visits


class CaptureClock:
    """Wraps LiveSource's capture callback to read the CPU time of the thread PortAudio calls it on.

    PortAudio makes that thread in C, unnamed and unknown to ``threading``: only code running on it can
    read its CPU time. The thread's time covers ALSA's reads and copies as well as the callback's own.
    """

    def __init__(self) -> None:
        self._thread_cpu_s: dict[int, float] = {}  # thread id -> its CPU seconds at its latest callback
        self._lock = threading.Lock()
        self.callback_cpu_s = 0.0
        self._original: Callable[..., object] | None = None

    def __enter__(self) -> CaptureClock:
        original = CaptureRun.callback

        def timed(
            run: CaptureRun, in_data: bytes | None, frames: int, info: Mapping[str, float], status: int
        ) -> object:
            before = time.thread_time()
            try:
                return original(run, in_data, frames, info, status)
            finally:
                after = time.thread_time()
                with self._lock:
                    self.callback_cpu_s += after - before
                    self._thread_cpu_s[threading.get_ident()] = after

        self._original = original
        setattr(CaptureRun, "callback", timed)  # noqa: B010 - mypy refuses assigning to a method
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(CaptureRun, "callback", self._original)  # noqa: B010

    def thread_cpu_s(self) -> float:
        with self._lock:
            return sum(self._thread_cpu_s.values())


@dataclass(frozen=True)
class LiveSample:
    audio_s: float  # the stream clock: audio delivered plus audio announced as dropped
    wall_s: float  # wall clock since audio time 0 (the first block's arrival less its audio)
    lag_s: float  # wall_s - audio_s: above 0, the device or the pipeline runs behind the wall clock
    captured_s: float
    dropped_s: float
    overflows: int
    ring_fill_s: float  # audio waiting in the ring for the pipeline
    rss_mb: float
    cpu_per_audio_s: float  # the whole process, over the interval
    capture_thread_cpu_per_audio_s: float  # PortAudio's thread (ALSA and the callback), over the interval
    callback_cpu_per_audio_s: float  # LiveSource's callback alone, over the interval
    spool_depth: int
    asr_queued_s: float
    sessions_ended: int
    summaries_received: int


class LiveProbe(Probe):
    """soak.py's probe, plus the capture figures; stops the source at ``stop_at_s`` of audio."""

    name = "soak-live-probe"

    def __init__(self, every_s: float, stages: Sequence[Stage], subscriber: SummaryCounter, source: LiveSource,
                 clock: CaptureClock, stop_at_s: float) -> None:  # fmt: skip
        super().__init__(every_s, stages, subscriber)
        self.source, self.clock, self.stop_at_s = source, clock, stop_at_s
        self.captured_s = 0.0
        self.dropped_s: dict[str, float] = {}  # by reason
        self.wall0: float | None = None
        self.live: list[LiveSample] = []
        self._capture_last = (0.0, 0.0, 0.0)  # audio s, capture thread CPU s, callback CPU s

    def process(self, event: Event) -> tuple[()]:
        if isinstance(event, AudioBlock):
            self.captured_s += event.duration_s
            if self.wall0 is None:
                self.wall0 = time.monotonic() - event.end_s
        elif isinstance(event, AudioDropped):
            self.dropped_s[event.reason] = self.dropped_s.get(event.reason, 0.0) + event.duration_s
        if isinstance(event, AudioBlock | AudioDropped) and event.end_s >= self.stop_at_s:
            self.source.stop()
        return super().process(event)

    def sample(self, audio_s: float) -> None:
        if self.live and audio_s - self.live[-1].audio_s < 1e-6:  # the end fell on a report: said once
            return
        base = self.measure(audio_s)
        self.samples.append(base)
        wall_s = time.monotonic() - (self.wall0 if self.wall0 is not None else time.monotonic())
        run = getattr(self.source, "_run", None)
        ring = getattr(run, "ring", None)
        thread_cpu, callback_cpu = self.clock.thread_cpu_s(), self.clock.callback_cpu_s
        last_audio, last_thread, last_callback = self._capture_last
        self._capture_last = (audio_s, thread_cpu, callback_cpu)
        span_s = audio_s - last_audio if audio_s - last_audio >= 1 else float("inf")
        sample = LiveSample(
            audio_s=round(audio_s, 2),
            wall_s=round(wall_s, 2),
            lag_s=round(wall_s - audio_s, 3),
            captured_s=round(self.captured_s, 2),
            dropped_s=round(sum(self.dropped_s.values()), 2),
            overflows=self.source.overflow_count,
            ring_fill_s=round(ring.stored_frames / self.source.capture_rate_hz, 3) if ring is not None else 0.0,
            rss_mb=base.rss_mb,
            cpu_per_audio_s=base.cpu_per_audio_s,
            capture_thread_cpu_per_audio_s=round((thread_cpu - last_thread) / span_s, 5),
            callback_cpu_per_audio_s=round((callback_cpu - last_callback) / span_s, 5),
            spool_depth=base.spool_depth,
            asr_queued_s=base.asr_queued_s,
            sessions_ended=base.sessions_ended,
            summaries_received=base.summaries_received,
        )
        self.live.append(sample)
        print(json.dumps(asdict(sample)), file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LiveSummary:
    minutes_requested: float
    audio_s: float
    wall_s: float
    captured_s: float
    dropped_s: dict[str, float]  # by reason (overflow, device_lost); empty when nothing was lost
    overflows: int
    lag_s_end: float
    lag_s_max: float  # the largest |lag| at any report
    matches_wall_clock: bool  # nothing dropped and the audio clock within WALL_TOLERANCE_S of the wall
    reports: int
    rss_mb_first: float  # at the first report
    rss_mb_last: float
    rss_mb_max: float
    rss_growth_mb: float  # last report - first report
    cpu_per_audio_s: float  # the whole process, from the probe's start
    capture_thread_cpu_per_audio_s: float
    callback_cpu_per_audio_s: float
    max_ring_fill_s: float
    visits_written: int
    sessions_ended: int
    summaries_emitted: int
    summaries_received: int
    max_spool_depth: int
    spool_dropped: int
    max_asr_queued_s: float
    messages_received: dict[str, int]


@dataclass(frozen=True)
class LiveSoakResult:
    summary: LiveSummary
    samples: tuple[LiveSample, ...]


def summarise(probe: LiveProbe, minutes: float, visits: int, counts: dict[str, int], missing: list[str]) -> LiveSummary:
    live_samples, last = probe.live, probe.live[-1]
    audio_s = max(last.audio_s, 1e-9)
    dropped = {reason: round(s, 3) for reason, s in probe.dropped_s.items()}
    return LiveSummary(
        minutes_requested=minutes,
        audio_s=last.audio_s,
        wall_s=last.wall_s,
        captured_s=last.captured_s,
        dropped_s=dropped,
        overflows=last.overflows,
        lag_s_end=last.lag_s,
        lag_s_max=max(abs(s.lag_s) for s in live_samples),
        matches_wall_clock=not dropped and abs(last.lag_s) <= WALL_TOLERANCE_S,
        reports=len(live_samples),
        rss_mb_first=live_samples[0].rss_mb,
        rss_mb_last=last.rss_mb,
        rss_mb_max=max(s.rss_mb for s in live_samples),
        rss_growth_mb=round(last.rss_mb - live_samples[0].rss_mb, 1),
        cpu_per_audio_s=round((cpu_s() - probe.cpu0) / audio_s, 4),
        capture_thread_cpu_per_audio_s=round(probe.clock.thread_cpu_s() / audio_s, 5),
        callback_cpu_per_audio_s=round(probe.clock.callback_cpu_s / audio_s, 5),
        max_ring_fill_s=max(s.ring_fill_s for s in live_samples),
        visits_written=visits,
        sessions_ended=probe.sessions_ended,
        summaries_emitted=len(probe.summary_ids),
        summaries_received=len(probe.summary_ids) - len(missing),
        max_spool_depth=max(s.spool_depth for s in probe.samples),
        spool_dropped=probe.samples[-1].spool_dropped,
        max_asr_queued_s=max(s.asr_queued_s for s in probe.samples),
        messages_received=counts,
    )


def soak_device(directory: Path, channels: int) -> tuple[AlsaConfig, tuple[Path, ...]]:
    """The ALSA configuration with the soak's device, each channel reading a FIFO (returned)."""
    alsa = AlsaConfig(directory)
    return alsa, fifo_device(alsa, DEVICE, channels, PROCESSING_RATE_HZ)


def live_config(state_dir: Path, broker_port: int, asr: bool) -> Config:
    config = soak_config(state_dir, broker_port, asr)
    return replace(config, array=replace(config.array, device=DEVICE))


def soak_live(minutes: float, every_s: float, n_cases: int, work: Path, asr: bool = True) -> LiveSoakResult:
    t0 = time.perf_counter()
    audio = work / "audio"
    try:
        raw, visits = write_infiles([*case_bank(n_cases), korean_exchange(work)], minutes * 60 + MARGIN_S, audio)
        print(f"wrote {minutes * 60 + MARGIN_S:.0f} s of {len(raw)}-channel audio ({visits} visits) from {n_cases} "
              f"rooms in {time.perf_counter() - t0:.0f} s; capturing it in real time", file=sys.stderr)  # fmt: skip
        probe, counts, missing = capture(raw, minutes, every_s, work, asr)
    finally:
        shutil.rmtree(audio, ignore_errors=True)  # benchmark audio: not kept past the soak
    return LiveSoakResult(summarise(probe, minutes, visits, counts, missing), tuple(probe.live))


def capture(raw: Sequence[Path], minutes: float, every_s: float, work: Path,
            asr: bool) -> tuple[LiveProbe, dict[str, int], list[str]]:  # fmt: skip
    """The service pipeline on LiveSource over the soak's device for ``minutes``; the probe and what MQTT got."""
    from tests.mqtt_broker import Mosquitto

    alsa, fifos = soak_device(work / "alsa", len(raw))
    with (
        mock.patch.dict(os.environ, ALSA_CONFIG_PATH=str(alsa.path), GPIOZERO_PIN_FACTORY="mock"),
        ExitStack() as feeders,
        Mosquitto(work / "broker") as broker,
        SummaryCounter(broker.port) as subscriber,
        CaptureClock() as clock,
    ):
        for fifo, channel in zip(fifos, raw, strict=True):
            feeders.enter_context(PacedFifo(fifo, channel, PROCESSING_RATE_HZ))
        config = live_config(work / "state", broker.port, asr)
        geo = geometry(config)
        source = LiveSource(config)
        analysis = analysis_stages(config, geo, real_time=True)  # as the service on the array: nothing waits
        stages = [ChannelWatch(geo), *analysis, *output_stages(config, RunOptions(), live=True)]
        probe = LiveProbe(every_s, stages, subscriber, source, clock, stop_at_s=minutes * 60)
        with Pipeline([*stages, probe]) as pipeline, source:  # as the service: the stages open first
            pipeline.run(source)
        counts, missing = received(subscriber, probe)
    return probe, counts, missing


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="audio to capture, in real time (default 10)")
    args = soak_options(parser, every_s=60.0).parse_args(argv)
    keep_freed_buffers()  # as the `listener` command does for the service
    with tempfile.TemporaryDirectory(prefix="listener-soak-live-") as tmp:
        result = soak_live(args.minutes, args.report_every_s, args.cases, Path(tmp), asr=not args.no_asr)
    print(json.dumps(asdict(result.summary), indent=1))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
