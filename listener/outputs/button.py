"""The privacy button: a press pauses or resumes listening; a long hold asks for recalibration.

While paused, audio is discarded *at the source*: :class:`PrivacyGate` wraps
the audio source and hands on ``AudioDropped(reason="paused")`` instead of
the blocks, so no stage ever sees paused audio. (A pipeline stage could not
do this: every stage receives every event the source yields.)

gpiozero calls the button's handlers on its own threads; they only flip
flags. The gate reads the flags between blocks (and before a source state), so every state change is
published as an event at a well-defined audio time.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from gpiozero import DigitalInputDevice
from gpiozero.pins import Factory

from listener.audio.base import AudioSource
from listener.config import INSTALLED_CONFIG
from listener.config.schema import LedsConfig
from listener.durable import sync_folder
from listener.errors import OutputFileError, looked_at
from listener.events import AudioBlock, AudioDropped, DeviceMode, DeviceState, Event, RecalibrateRequested, SourceState
from listener.lifecycle import Managed
from listener.outputs.gpio import open_device, pin_factory

log = logging.getLogger(__name__)

BOUNCE_S = 0.05


class PrivacyButton(Managed):
    """A button on a GPIO pin: released before ``long_press_s`` toggles pause; held that long asks to recalibrate.

    A gpiozero DigitalInputDevice and a timer of our own for the hold, not gpiozero's Button: a Button's hold
    thread wakes every 0.1 s for as long as the button exists, pressed or not (ten wake-ups a second, all day,
    on a device that is otherwise asleep between audio blocks); the timer runs only while the button is held.
    """

    def __init__(self, config: LedsConfig, factory: Factory | None = None, remember: Path | None = None) -> None:
        """``remember``: a file that keeps the pause across restarts (a crash or a reboot must not
        start listening again while the rep has paused the device)."""
        self.config = config
        self._factory = factory
        self._remember = remember
        self._button: DigitalInputDevice | None = None
        self._lock = threading.Lock()
        self._paused = False
        self._presses = 0  # presses so far: a hold timer that fires after its press ended, or a later one, is late
        self._pressed = False
        self._hold: threading.Timer | None = None
        self._held = False  # the current press has become a long press
        self._recalibrate = False
        # the audio source's capture clock, read on gpiozero's thread at each toggle, before the toggle is seen
        self.capture_clock: Callable[[], float | None] = lambda: None
        self._toggles: list[tuple[bool, float | None]] = []  # (paused after it, capture time) not yet taken

    def open(self) -> None:
        if self._button is not None:
            return
        remember = self._remember
        if remember is not None and looked_at(Path.exists, remember, OutputFileError, "the pause file"):
            log.info("privacy button: still paused from before the restart (%s)", remember)
            self._paused = True
        c = self.config
        factory = self._factory or pin_factory()
        button = open_device(
            lambda: DigitalInputDevice(
                c.button_pin, pull_up=c.button_pull_up, bounce_time=BOUNCE_S, pin_factory=factory
            ),
            f"the privacy button on {c.button_pin}",
            "button_pin, button_pull_up",
        )
        button.when_activated = self._on_pressed
        button.when_deactivated = self._on_released
        self._button = button

    def close(self) -> None:
        button, self._button = self._button, None
        if button is not None:
            button.close()
        with self._lock:
            hold, self._hold = self._hold, None
        if hold is not None:
            hold.cancel()

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused

    def take_recalibration(self) -> bool:
        """True once per long press."""
        with self._lock:
            wanted, self._recalibrate = self._recalibrate, False
            return wanted

    def _on_pressed(self) -> None:
        with self._lock:
            self._presses += 1
            self._pressed = True
            hold = threading.Timer(self.config.long_press_s, self._on_held, (self._presses,))
            hold.daemon = True  # a press held as the service stops must not hold up its exit
            self._hold = hold
        hold.start()

    def _on_held(self, press: int) -> None:
        with self._lock:
            if not self._pressed or press != self._presses:  # released (and perhaps pressed again) meanwhile
                return
            self._held = True
            self._recalibrate = True

    def take_toggles(self) -> list[tuple[bool, float | None]]:
        """The presses since the last call: whether each paused, and the capture time it came at (None: no clock)."""
        with self._lock:
            toggles, self._toggles = self._toggles, []
            return toggles

    def _on_released(self) -> None:
        with self._lock:
            self._pressed = False
            hold, self._hold = self._hold, None
            toggled = not self._held
            if toggled:
                # the clock read before the flip is published: a reader that sees the flip sees its time too
                self._toggles.append((not self._paused, self.capture_clock()))
                self._paused = not self._paused
            self._held = False
            paused = self._paused
        if hold is not None:
            hold.cancel()
        if toggled:  # outside the lock: the gate polls it, and the disk may take a while (gpiozero's one thread)
            self._keep(paused)

    def _keep(self, paused: bool) -> None:
        if self._remember is None:
            return
        try:
            if paused:
                self._remember.touch()
            else:
                self._remember.unlink(missing_ok=True)
            sync_folder(self._remember.parent)  # the pause survives a power cut, as README promises
        except OSError as exc:  # the pause itself holds; only its surviving a restart is lost
            log.warning("privacy button: cannot keep the pause in %s (%s); it holds until a restart", self._remember,
                        exc)  # fmt: skip


class PrivacyGate(AudioSource):
    """Wraps a source: while paused, its audio is replaced by ``AudioDropped(reason="paused")``.

    The pause is published as ``DeviceState(PAUSED)`` and the resume as
    ``DeviceState(LISTENING)``. A pipeline behind the array reads audio captured
    seconds earlier, so each press is also placed on the source's capture clock
    (read as the button is released): a block captured in a pause is dropped
    however late it is read, a pause and its resume both pressed while the
    pipeline stalled included. Audio read after a pause's press but captured
    before it is dropped too. A source with no capture clock of its own (a file)
    has one more block discarded after a resume.
    """

    def __init__(self, source: AudioSource, button: PrivacyButton, directions: bool = True) -> None:
        """``directions``: the parties are told apart by direction (not one mic each), so a long press has
        something to recalibrate."""
        self.source = source
        self.button = button
        self.directions = directions
        self.paused = False
        self._guard = False  # discard the next block (resume just happened)
        self._spans: list[list[float]] = []  # pauses on the capture clock, [from, to) (to: inf while paused)
        self._clockless = False  # the latest resume came with no capture time
        button.capture_clock = source.captured_s

    def open(self) -> None:
        try:
            self.button.open()
        except BaseException:
            self.source.close()  # the caller may have opened it already
            raise
        self.source.open()

    def close(self) -> None:
        try:
            self.source.close()
        finally:
            self.button.close()

    def stop(self) -> None:
        self.source.stop()

    def events(self) -> Iterator[Event]:
        for event in self.source.events():
            # the button is read before a source's state too: a pause kept across a restart with the array
            # missing shows from the start, not after the fault's "no array" has lit first
            if isinstance(event, SourceState):
                yield from self._poll(event.t_s, event.t_s)
            elif isinstance(event, (AudioBlock, AudioDropped)):
                yield from self._poll(event.start_s, event.start_s + event.duration_s)
                if isinstance(event, AudioBlock) and (self.paused or self._guard):
                    self._guard = False
                    yield AudioDropped(start_s=event.start_s, duration_s=event.duration_s, reason="paused")
                    continue
            yield event

    def _take_toggles(self) -> None:
        for paused, at_s in self.button.take_toggles():
            if at_s is None:  # no capture clock: the button's state when a block is read decides
                self._clockless = not paused
            elif paused:
                self._spans.append([at_s, math.inf])
            elif self._spans and self._spans[-1][1] == math.inf:
                self._spans[-1][1] = at_s
                self._clockless = False
            else:  # a pause from before the clock ran (kept across a restart): all audio up to the release
                self._spans.append([-math.inf, at_s])
                self._clockless = False

    def _recalibration(self, t_s: float) -> Iterator[Event]:
        if not self.directions:
            # doctor cannot tell swapped lapel mics from a conversation; calibrate, with the rep talking, can
            log.warning(
                "privacy button held: nothing to recalibrate, each party has a mic of their own ([parties] rep_channel"
                " / customer_channel); if the lights seem to mix them up, with the rep talking alone, "
                f"`sudo listener calibrate --config {INSTALLED_CONFIG}` checks which mic is whose (with `--write` it"
                " swaps them if they are swapped; then restart the service)"
            )
            return
        # Re-learning in the running service is not built: say how to do it by hand.
        log.warning(
            "privacy button held: recalibration requested; with the rep talking, run "
            f"`sudo listener calibrate --config {INSTALLED_CONFIG} --write`, then restart the service"
        )
        yield RecalibrateRequested(t_s=t_s)

    def _poll(self, t_s: float, end_s: float) -> Iterator[Event]:
        if self.button.take_recalibration():
            yield from self._recalibration(t_s)
        self._take_toggles()
        while self._spans and self._spans[0][1] <= t_s:  # past (they come in time order): no later block is in them
            self._spans.pop(0)
        paused = self.button.paused or any(a < end_s and t_s < b for a, b in self._spans)
        if paused == self.paused:
            return
        self.paused = paused
        if paused:
            log.info("privacy button: paused; audio is discarded until the next press")
            yield DeviceState(t_s=t_s, mode=DeviceMode.PAUSED, detail="privacy button", cause="button")
        else:
            log.info("privacy button: listening again")
            self._guard = self._clockless
            yield DeviceState(t_s=t_s, mode=DeviceMode.LISTENING, detail="privacy button", cause="button")
