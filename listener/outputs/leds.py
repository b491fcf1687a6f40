"""Status LEDs through gpiozero, driven by analytics and device events only.

The stage holds no audio logic: audio blocks only move its clock. Every
value is computed from *audio* time by :mod:`listener.outputs.led_patterns`
and written to the gpiozero devices by the stage itself (gpiozero's own
blink/pulse threads run on wall time, which would make replays differ).
With ``trace`` set, one JSON line per LED change is written, with the value
read back from the gpiozero device.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from gpiozero import RGBLED, LEDBoard, OutputDevice
from gpiozero.exc import PinPWMUnsupported
from gpiozero.pins import Factory

from listener.config import Config
from listener.config.schema import LedsConfig
from listener.errors import NotOpenError, OutputError
from listener.events import AudioBlock, AudioDropped, DeviceMode, DeviceState, Event
from listener.lifecycle import Managed
from listener.outputs.gpio import open_device, pin_factory
from listener.outputs.led_patterns import RGB, TRAFFIC_LIGHT, Animator, Channel, Palette, rgb, traffic_light
from listener.outputs.led_status import Status
from listener.pipeline import Stage

log = logging.getLogger(__name__)
SELF_TEST_BLINK_S = 0.05  # self_test_s = 0: still a flash the eye catches, not a sub-millisecond one
NO_PWM_ON = 0.2  # without PWM a light is on from this level: the 0.3 calm light yes, a pulse's trough no

# Live only: when no event has arrived for IDLE_S (the input is gone, so no audio time passes),
# the animation carries on at wall time so a fault still blinks. Under live.OUTAGE_TICK_S (0.25 s, a
# lost array's dropped audio), so a breath or blink moves between those ticks too; over the 50 ms
# audio blocks of a running capture, so it seldom draws between them.
IDLE_S = 0.1
TICK_S = 0.05
# What a pin that cannot be written needs. Caught as any Exception where a pin is written: a PWM write's failure
# comes as gpiozero's PinInvalidState, an on/off write's as its library's own (lgpio.error, pigpio.error, or the
# socket's error once pigpiod is gone), and gpiozero's own checks of the write as its PinError subclasses.
PIN_FIX = (
    "check the LED's wiring, that no other program holds its pin, and that the pin library still runs "
    "(the service's user in group gpio; pigpio: that pigpiod runs)"
)


class LedBank(Managed):
    """The configured LEDs: a gpiozero LEDBoard (traffic light), or one RGBLED. Values are 0.0–1.0."""

    def __init__(self, config: LedsConfig, factory: Factory) -> None:
        self.config = config
        self.factory = factory
        self.channels = channels_of(config)
        self.pwm = True
        self._device: LEDBoard | RGBLED | None = None

    def open(self) -> None:
        if self._device is not None:
            return
        keys = ", ".join(f"{channel}_pin" for channel in self.channels)  # Channel values are the pins' key stems
        self._device = open_device(self._build_dimmable, f"the {self.config.preset} LEDs", keys)

    def _build_dimmable(self) -> LEDBoard | RGBLED:
        try:
            return self._build(pwm=True)
        except PinPWMUnsupported:
            log.warning("these pins cannot dim (no PWM): the LEDs are switched on and off instead of fading")
            self.pwm = False
            return self._build(pwm=False)

    def _build(self, pwm: bool) -> LEDBoard | RGBLED:
        c = self.config
        if c.preset == "rgb":
            return RGBLED(
                red=c.red_pin, green=c.green_pin, blue=c.blue_pin,
                active_high=c.active_high, pwm=pwm, pin_factory=self.factory,
            )  # fmt: skip
        # LEDBoard rather than TrafficLights: only LEDBoard takes active_high
        return LEDBoard(
            green=c.green_pin, amber=c.amber_pin, red=c.red_pin, _order=self.channels,
            pwm=pwm, active_high=c.active_high, pin_factory=self.factory,
        )  # fmt: skip

    def set(self, name: Channel, value: float, on_from: float | None = None) -> None:
        """``on_from``: where on/off pins switch on for a pulse or blink (half-way up it)."""
        device = self._opened()
        if not self.pwm:
            # on/off only: the calm light stays lit however dim it is set (a dark device reads as one switched
            # off); a pulse or breath switches half-way up, so its dark half reads as a blink, not a flicker
            value = 1.0 if value >= (min(NO_PWM_ON, self.config.calm_level) if on_from is None else on_from) else 0.0
        if isinstance(device, RGBLED):
            setattr(device, name, value)
        else:
            getattr(device, name).value = value

    def get(self, name: Channel) -> float:
        """The value as the gpiozero device reports it."""
        device = self._opened()
        if isinstance(device, RGBLED):
            return float(getattr(device, name))
        return float(getattr(device, name).value)

    def _opened(self) -> LEDBoard | RGBLED:
        if self._device is None:
            raise NotOpenError("LedBank")
        return self._device

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.close()


def switch_off(config: LedsConfig, factory: Factory) -> None:
    """Every configured LED dark; raises, once each was tried, if any could not be.

    For after the service died without closing its LEDs (SIGKILL, a watchdog
    abort): a GPIO line keeps the level it was driven to when its process
    dies, so an amber "you are dominating" would otherwise stay lit at the
    counter while the service restarts, or for good when it is not restarted (exit 2).
    Each pin on its own, switched only (no PWM is needed to put it out): one that
    cannot be written must not keep the others lit, as building the board as one stopped at it.
    """
    failed: list[str] = []
    for name in channels_of(config):
        pin = pin_of(config, name)
        try:
            # driven to its off level as it is claimed: claimed first, an active-low LED would flash on
            OutputDevice(pin, active_high=config.active_high, initial_value=False, pin_factory=factory).close()
        except Exception as exc:  # its pin library's error (see PIN_FIX): the other pins are tried all the same
            failed.append(f"the {name} LED on {pin} ({type(exc).__name__}: {exc})")
    if failed:
        raise OutputError(f"cannot switch off {', '.join(failed)}; every other LED is off: {PIN_FIX}")


def channels_of(config: LedsConfig) -> tuple[Channel, ...]:
    return RGB if config.preset == "rgb" else TRAFFIC_LIGHT


def pin_of(config: LedsConfig, name: Channel) -> str:
    return str(getattr(config, f"{name}_pin"))  # Channel values are the pins' key stems


class PinFaults:
    """The LEDs whose pins could not be written: each said once a run, and the device's fault while any fails.

    The cause is ``leds``: the lights' own fault, apart from the array's or the broker's, so neither
    coming back ends it; a fleet's dashboard reads it in the MQTT ``state`` as lights to be seen to.
    """

    def __init__(self, config: LedsConfig) -> None:
        self.config = config
        self.failing: dict[Channel, str] = {}  # channel -> what its pin raised
        self._said: set[Channel] = set()
        self._reported = False  # whether the fault was last reported as held

    def failed(self, name: Channel, exc: Exception) -> None:
        pin = pin_of(self.config, name)
        self.failing[name] = f"the {name} LED on {pin} cannot be driven ({type(exc).__name__}: {exc})"
        if name not in self._said:  # tried again at every change: said once
            self._said.add(name)
            log.error("%s: the other lights go on without it, showing the fault; %s", self.failing[name], PIN_FIX)

    def worked(self, name: Channel) -> None:
        self.failing.pop(name, None)

    def report(self, t_s: float) -> DeviceState | None:
        """The fault, or its end, when that changed since the last report."""
        if bool(self.failing) == self._reported:
            return None
        self._reported = bool(self.failing)
        if self.failing:
            return DeviceState(t_s=t_s, mode=DeviceMode.FAULT, detail="; ".join(self.failing.values()), cause="leds")
        return DeviceState(t_s=t_s, mode=DeviceMode.LISTENING, detail="the LEDs are driven again", cause="leds")


def event_time_s(event: Event) -> float | None:
    """The audio time at which the stage learns of ``event``."""
    if isinstance(event, AudioBlock | AudioDropped):
        return event.end_s
    for name in ("decided_s", "t_s"):
        value = getattr(event, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


class LedStage(Stage):
    """Analytics and device events -> LED values (see the README's LED table).

    ``report_back``: also given the pins' fault and its end, from whichever thread found it (the MQTT
    stage's ``reports_back``: it comes before this one in the pipeline).
    """

    name = "leds"

    def __init__(
        self,
        config: Config,
        *,
        factory: Factory | None = None,
        trace: TextIO | None = None,
        live: bool = False,
        report_back: Callable[[DeviceState], None] | None = None,
    ) -> None:
        leds = config.leds
        self.config = leds
        self.palette: Palette = rgb(leds.calm_level) if leds.preset == "rgb" else traffic_light(leds.calm_level)
        self.status = Status.from_config(config)
        self.animator = Animator(self.palette.channels, leds.fade_s)
        self.now_s = 0.0
        self.trace = trace
        self.live = live
        self._factory = factory
        self._bank: LedBank | None = None
        self._lock = threading.Lock()
        self._commanded: dict[Channel, tuple[float, float | None]] = {}  # (value, on_from) last set
        self._read_back: dict[Channel, float] = {}
        self._anchor_s = (0.0, time.monotonic())  # (audio s, wall s) of the last event
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._trace_closed: OSError | ValueError | None = None  # the trace's failure, for the next event
        self._pins = PinFaults(leds)
        self._reports: list[DeviceState] = []  # the pins' fault and its end, for the next event to carry on
        self._report_back = report_back
        # dark until the first event says what the device is doing (a pause kept across the restart
        # must not show as calm green while the array opens), and again from a stop
        self._heard = False
        self._stopped = False

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self.palette.channels

    def open(self) -> None:
        if self._bank is not None:
            return
        bank = LedBank(self.config, self._factory or pin_factory())
        bank.open()
        self._bank = bank
        self.animator.on_off = not bank.pwm  # known once the pins are open: pulses then start half-way up
        self._self_test()
        with self._lock:
            self._anchor_s = (0.0, time.monotonic())
        if self.live:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="listener-leds", daemon=True)
            self._ticker.start()

    def _self_test(self) -> None:
        """Each LED on in turn: at start-up anyone can see that every light works."""
        for name in self.channels:
            self._set(name, 1.0, 0.0)
            time.sleep(max(self.config.self_test_s, SELF_TEST_BLINK_S))
            self._set(name, 0.0, 0.0)

    def process(self, event: Event) -> Iterable[Event]:
        t_s = event_time_s(event)
        with self._lock:
            news = self.status.update(event) or not self._heard
            self._heard = True
            if self._bank is not None:
                at_s = max(self.now_s, t_s) if t_s is not None else self.now_s
                # the same status at the same time shows what is shown: the front end's and the turn model's frames,
                # two of the four events of each block, would only evaluate the scene again
                if news or at_s != self.now_s:
                    self._render(at_s)
                self._anchor_s = (self.now_s, time.monotonic())
            closed, self._trace_closed = self._trace_closed, None
            reports, self._reports = self._reports, []
        if closed is not None:
            raise closed
        return reports

    def values(self) -> dict[Channel, float]:
        """The LED values last read back from the devices."""
        with self._lock:
            return dict(self._read_back)

    def stopping(self) -> None:
        """Dark at once, as "service stopped" reads, while the recogniser and the broker finish.

        A pin that cannot be written is said (once a run) and the others still go dark: raising would only
        log it again, traceback and all, in the pipeline's stop.
        """
        with self._lock:
            self._stopped = True
            for name in self.channels:
                self._set(name, 0.0, self.now_s)

    def _render(self, t_s: float) -> None:
        self.now_s = t_s
        if not self._heard or self._stopped:
            return
        self.animator.show(self.palette.scene(self.status, t_s), t_s)
        for name, value in self.animator.values(t_s).items():
            self._set(name, value, t_s, self.animator.midway(name))
        report = self._pins.report(t_s)
        if report is not None:  # shown from the next frame on, by the lights that work
            self.status.update(report)
            self._reports.append(report)
            if self._report_back is not None:
                self._report_back(report)

    def _set(self, name: Channel, value: float, t_s: float, on_from: float | None = None) -> None:
        # the switch point too: on pins without PWM, one value can read on held steady and off in a pulse
        if self._commanded.get(name) == (value, on_from) or self._bank is None:
            return
        try:
            self._bank.set(name, value, on_from)
            actual = self._bank.get(name)
        except AssertionError:  # gpiozero's mock pins checking a value: a bug of ours, not the pin's
            raise
        except Exception as exc:  # its pin library's error (see PIN_FIX): the other lights, and the ticker, go on
            self._pins.failed(name, exc)
            return  # not commanded: tried again at the next frame that draws it
        self._pins.worked(name)
        self._commanded[name] = (value, on_from)
        if self._read_back.get(name) != actual:
            self._read_back[name] = actual
            if self.trace is not None:
                self._write_trace({"t": round(t_s, 3), "led": name, "value": round(actual, 3)})

    def _write_trace(self, record: dict[str, object]) -> None:
        trace = self.trace
        assert trace is not None
        try:
            print(json.dumps(record), file=trace, flush=True)
        except (OSError, ValueError) as exc:
            # its reader went away (| head), its disk is full (ENOSPC), the stream was closed (ValueError): the
            # lights go on without it, and the run stops at the next event, raised there because the ticker
            # thread may be the one that found out (and died of it, the lights frozen, a traceback printed)
            self.trace, self._trace_closed = None, exc

    def _tick(self) -> None:
        # Asleep until the last event is IDLE_S old, not woken every TICK_S to find that it is not: while audio
        # arrives (every 50 ms block) that was twenty wake-ups a second for nothing. Half a tick later than
        # that, and the look read without the lock: the last event's age comes round when the next blocks
        # are being worked on, and a wake-up then waits for the pipeline's thread (the lock, the GIL).
        wait_s = IDLE_S
        while not self._stop.wait(wait_s):
            idle_s = time.monotonic() - self._anchor_s[1]
            if idle_s < IDLE_S:
                wait_s = IDLE_S - idle_s + TICK_S / 2
                continue
            wait_s = TICK_S
            with self._lock:
                audio_s, wall_s = self._anchor_s  # again: an event may have come meanwhile
                idle_s = time.monotonic() - wall_s
                if idle_s >= IDLE_S and self._bank is not None:
                    self._render(max(self.now_s, audio_s + idle_s))

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            bank = self._bank
            if bank is None:
                return
            for name in self.channels:  # not listening any more: dark
                self._set(name, 0.0, self.now_s)
            self._bank = None
        bank.close()
