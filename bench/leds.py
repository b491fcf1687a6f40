"""Wall-clock delay from an event reaching the LED stage to the LED pin changing, at live pacing.

    python -m bench.leds [--seconds 80]

Replays a rep-dominating conversation (real CMU ARCTIC speech rendered onto
the 4-mic square; cached in bench/.cache/leds/) in real time through the
privacy gate, the analysis stages and the LED stage, on gpiozero's
MockFactory with PWM mock pins. Along the way it presses the mock privacy
button six times (pause, resume) and injects a fault and its recovery.

For every event that changes what the lights show, the delay is measured
from the moment the event reaches ``LedStage.process()`` to the first
change in any LED pin's state history (gpiozero's own timestamps). A
second figure is the button: from the mock pin being pressed and released
to the LEDs changing, which includes waiting for the next audio block.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import soundfile as sf
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.audio.wav import WavSource
from listener.config import Config, geometry, parse_config
from listener.events import (
    DeviceMode,
    DeviceState,
    DominanceChanged,
    Event,
    Interruption,
    SourceState,
)
from listener.outputs.button import PrivacyButton, PrivacyGate
from listener.outputs.leds import LedStage
from listener.pipeline import Pipeline
from listener.service.build import analysis_stages

CACHE = Path(__file__).resolve().parent / ".cache" / "leds"
REP_FILES = ("cmu_arctic_us_axb_a0004.wav", "cmu_arctic_us_axb_a0006.wav", "cmu_arctic_us_axb_a0005.wav")
CUSTOMER_FILES = ("cmu_arctic_us_aew_a0001.wav", "cmu_arctic_us_aew_a0002.wav", "cmu_arctic_us_aew_a0003.wav")
REP_AZ_DEG, CUSTOMER_AZ_DEG = 0.0, 180.0
LED_PINS = ("GPIO22", "GPIO23", "GPIO24")
# pause, resume, ... (wall seconds before the end); spread over a block so the wait for the next block is sampled
PRESSES_BEFORE_END_S = (34.0, 29.983, 25.967, 21.95, 17.933, 13.917)


def _length_s(name: str) -> float:
    from tests import synth

    return float(sf.info(str(synth.speech_path(name))).duration)


def dominating_conversation(total_s: float = 80.0, balanced_s: float = 12.0) -> list[object]:
    """Balanced turns for ``balanced_s``, then the rep talks most of the time (one rep interruption)."""
    from tests.synth import Utterance

    out: list[object] = []
    t, k = 0.5, 0
    while t < balanced_s:
        # the customer opens (and so opens the analytics' session)
        for party, files, az in (("customer", CUSTOMER_FILES, CUSTOMER_AZ_DEG), ("rep", REP_FILES, REP_AZ_DEG)):
            name = files[k % 3]
            out.append(Utterance(party, t, name, az))
            t += _length_s(name) + 0.8
        k += 1
    while t < total_s - 4.0:
        if k % 5 == 0:  # a short customer turn, which the rep interrupts 1.5 s in
            out.append(Utterance("customer", t, CUSTOMER_FILES[k % 3], CUSTOMER_AZ_DEG))
            t += 1.5
        name = REP_FILES[k % 3]
        out.append(Utterance("rep", t, name, REP_AZ_DEG))
        t += _length_s(name) + 0.6
        k += 1
    return out


def render_conversation(path: Path, total_s: float) -> tuple[Path, list[dict[str, object]]]:
    from tests import synth

    samples, truth = synth.render(dominating_conversation(total_s), total_s)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    return synth.write_wav(path, samples), truth


class TimedLeds(LedStage):
    """The LED stage, noting when each event that changes the look arrives."""

    def __init__(self, config: Config, factory: MockFactory) -> None:
        super().__init__(config, factory=factory)
        self.arrivals: list[tuple[float, str]] = []
        self.already_showing = 0

    def process(self, event: Event) -> Iterable[Event]:
        if not isinstance(event, (DominanceChanged, Interruption, DeviceState, SourceState)):
            return super().process(event)
        arrived = time.monotonic()
        before = self.palette.scene(self.status, self.now_s)
        shown = self.animator.values(self.now_s)
        out = super().process(event)
        if self.palette.scene(self.status, self.now_s) != before:  # only events that change the look count
            if self.animator.values(self.now_s) == shown:
                self.already_showing += 1  # e.g. a fault ends while the blink shows what comes next
            else:
                self.arrivals.append((arrived, type(event).__name__))
        return out


def change_times(factory: MockFactory, base: float) -> list[float]:
    """Absolute monotonic times of every LED pin change, from gpiozero's per-pin state histories."""
    times: list[float] = []
    for name in LED_PINS:
        t = base
        for state in factory.pin(name).states[1:]:
            t += state.timestamp  # each timestamp is the time since the pin's previous change
            times.append(t)
    return sorted(times)


def press_later(factory: MockFactory, at_wall: float, presses: list[float]) -> threading.Timer:
    def press() -> None:
        pin = factory.pin("GPIO17")
        presses.append(time.monotonic())
        pin.drive_low()
        pin.drive_high()

    timer = threading.Timer(max(0.0, at_wall - time.monotonic()), press)
    timer.start()
    return timer


def run(path: Path, total_s: float) -> tuple[dict[str, list[float]], int]:
    config = parse_config({"leds": {"self_test_s": 0.05}})
    factory = MockFactory(pin_class=MockPWMPin)
    leds = TimedLeds(config, factory)
    gate = PrivacyGate(
        WavSource(path, geometry(config), block_ms=config.array.block_ms, realtime=True),
        PrivacyButton(config.leds, factory),
    )
    presses: list[float] = []
    faults = {total_s - 10.0: DeviceMode.FAULT, total_s - 7.0: DeviceMode.LISTENING}
    with gate, Pipeline([*analysis_stages(config, geometry(config)), leds]) as pipe:
        for pin in LED_PINS:
            factory.pin(pin).clear_states()
        base = time.monotonic()
        start = time.monotonic()
        timers = [press_later(factory, start + total_s - before_end, presses) for before_end in PRESSES_BEFORE_END_S]
        for event in gate.events():
            pipe.feed(event)
            end_s = getattr(event, "end_s", None)
            for at_s, mode in list(faults.items()):
                if isinstance(end_s, float) and end_s >= at_s:
                    pipe.feed(DeviceState(t_s=end_s, mode=mode, detail="injected by bench"))
                    del faults[at_s]
        for timer in timers:
            timer.cancel()
    changes = change_times(factory, base)
    delays = {"event": _delays([a for a, _ in leds.arrivals], changes), "button": _delays(presses, changes)}
    return delays, leds.already_showing


def _delays(causes: list[float], changes: list[float]) -> list[float]:
    out = []
    for cause in causes:
        after = [c for c in changes if c >= cause]
        if after:
            out.append(after[0] - cause)
    return out


def summary(label: str, delays: list[float]) -> str:
    if not delays:
        return f"{label:34s} no events"
    ms = sorted(d * 1000.0 for d in delays)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    median = statistics.median(ms)
    return f"{label:34s} n={len(ms):3d}  median {median:7.3f} ms  p95 {p95:7.3f} ms  max {ms[-1]:7.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=80.0, help="length of the replayed conversation")
    args = parser.parse_args()
    path = CACHE / f"dominating_{args.seconds:g}s.wav"
    if not path.exists():
        render_conversation(path, args.seconds)
    result, already = run(path, args.seconds)
    block_ms = parse_config({}).array.block_ms
    print(f"live pacing, {args.seconds:g} s of audio, {block_ms} ms blocks, MockFactory(pin_class=MockPWMPin)")
    print(summary("event at LedStage -> LED pin", result["event"]))
    print(summary("button release -> LED pin", result["button"]))
    print(f"look changes the LEDs already showed at that instant (no change needed): {already}")


if __name__ == "__main__":
    main()
