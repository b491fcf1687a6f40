"""A terminal view of the LEDs and the live figures (rich), for laptops and the README demo.

Only shown on a terminal; otherwise the stage does nothing, so a service
under systemd or a piped ``--led-trace`` is never disturbed.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from listener.events import (
    DeviceMode,
    DeviceState,
    DominanceChanged,
    Event,
    Interruption,
    Party,
    SourceState,
    TalkTotals,
)
from listener.outputs.condition import DeviceCondition
from listener.outputs.led_patterns import RGB, Channel
from listener.outputs.leds import LedStage, event_time_s
from listener.pipeline import Stage

log = logging.getLogger(__name__)

REFRESH_S = 0.1
DARK = (60, 60, 60)
COLOURS = {
    Channel.GREEN: (40, 210, 70),
    Channel.AMBER: (255, 170, 0),
    Channel.RED: (235, 35, 35),
    Channel.BLUE: (50, 100, 255),
}


@dataclass
class Figures:
    """What the view shows besides the LEDs, folded from events."""

    t_s: float = 0.0
    rep_talk_s: float = 0.0
    customer_talk_s: float = 0.0
    rep_share: float = 0.0
    dominating: bool = False
    interruptions: dict[Party, set[float]] = field(default_factory=lambda: {p: set() for p in Party})
    condition: DeviceCondition = field(default_factory=DeviceCondition)
    stopped: bool = False  # the run is ending: the lights went dark, as a stopped service's do

    @property
    def mode(self) -> str:
        """As the lights show it: a held pause first, with a fault behind it named after it."""
        if self.stopped:
            return "stopped"
        condition = self.condition
        fault = f"fault: {condition.detail}" if condition.mode is DeviceMode.FAULT else ""
        if condition.paused:
            return f"{DeviceMode.PAUSED.value} ({fault})" if fault else DeviceMode.PAUSED.value
        return fault or condition.mode.value

    @property
    def state(self) -> str:
        """The state line: the mode, and the analytics' dominance decision while it stands (not once stopped),
        which the lights may not be showing: a quiet spell shows calm green, a pause or a fault their own look."""
        return self.mode + ("  (dominating)" if self.dominating and not self.stopped else "")

    def update(self, event: Event) -> None:
        t_s = event_time_s(event)
        if t_s is not None:
            self.t_s = max(self.t_s, t_s)
        if isinstance(event, TalkTotals):
            self.rep_talk_s, self.customer_talk_s = event.rep_talk_s, event.customer_talk_s
            self.rep_share = event.rep_share
        elif isinstance(event, DominanceChanged):
            self.dominating = event.dominating
        elif isinstance(event, Interruption):
            self.interruptions[event.by].add(event.onset_s)
        elif isinstance(event, DeviceState | SourceState):
            self.condition.update(event)


def dot(rgb: tuple[float, float, float]) -> Text:
    r, g, b = (min(255, max(0, round(c))) for c in rgb)
    return Text("●", style=f"rgb({r},{g},{b})")


def led_row(values: Mapping[Channel, float]) -> Text:
    row = Text()
    if set(values) == set(RGB):  # one RGB LED: show the mixed colour
        mix = tuple(DARK[i] + (255 - DARK[i]) * values[c] for i, c in enumerate(RGB))
        row.append_text(dot((mix[0], mix[1], mix[2])))
        row.append("  " + "  ".join(f"{c} {values[c]:.2f}" for c in RGB))
        return row
    for name, value in values.items():
        full = COLOURS.get(name, (255, 255, 255))
        shade = tuple(d + (c - d) * value for d, c in zip(DARK, full, strict=True))
        row.append_text(dot((shade[0], shade[1], shade[2])))
        row.append(f" {name} {value:.2f}   ")
    return row


def render(figures: Figures, values: Mapping[Channel, float] | None) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("LEDs", led_row(values) if values else Text("off"))
    table.add_row("state", figures.state)
    table.add_row("rep share", f"{100 * figures.rep_share:5.1f} %")
    table.add_row("talk", f"rep {figures.rep_talk_s:6.1f} s   customer {figures.customer_talk_s:6.1f} s")
    by_rep, by_cust = (len(figures.interruptions[p]) for p in (Party.REP, Party.CUSTOMER))
    table.add_row("interruptions", f"by rep {by_rep}   by customer {by_cust}")
    return Panel(Group(table), title=f"listener  {figures.t_s:7.1f} s of audio", expand=False)


def plain_line(event: Event) -> str | None:
    """One line for the events a person watching a replay cares about."""
    if isinstance(event, Interruption) and event.successful is not None:
        outcome = "successful" if event.successful else "unsuccessful"
        return f"{event.onset_s:7.1f} s  interruption by the {event.by.value} ({outcome})"
    if isinstance(event, DominanceChanged):
        if event.reason == "session_end":
            return f"{event.onset_s:7.1f} s  the session ended: dominance cleared"
        change = "starts dominating" if event.dominating else "no longer dominating"
        return f"{event.onset_s:7.1f} s  the rep {change} (rolling share {100 * event.rep_share:.0f} %)"
    if isinstance(event, DeviceState):
        return f"{event.t_s:7.1f} s  device {event.mode.value}"
    return None


class LedView(Stage):
    """Shows the LED values (read back from the LED stage) and the live figures on a terminal."""

    name = "view"

    def __init__(self, leds: LedStage | None, *, stream: TextIO | None = None) -> None:
        self.leds = leds
        self.figures = Figures()
        self._stream = stream
        self._live: Live | None = None
        self._last_refresh_s = 0.0
        self._handlers: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []
        self._console: Console | None = None
        self._plain = False

    def open(self) -> None:
        console = _Console(file=self._stream or sys.stdout)
        self._console = console
        if not console.is_terminal:
            # piped or logged: a line per notable event, and the figures at the end
            self._plain = True
            return
        to_stdout = console.file is sys.stdout
        self._live = Live(
            self._renderable(), console=console, auto_refresh=False, redirect_stdout=to_stdout, redirect_stderr=True
        )
        self._live.start(refresh=True)
        self._route_logging()

    def _route_logging(self) -> None:
        """Log lines go through the live display (printed above it) instead of tearing it."""
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.__stderr__, sys.__stdout__):
                old = handler.setStream(sys.stderr)  # the live display's proxy while it runs
                if old is not None:
                    self._handlers.append((handler, old))

    def _renderable(self) -> Panel:
        return render(self.figures, self.leds.values() if self.leds is not None else None)

    def process(self, event: Event) -> Iterable[Event]:
        self.figures.update(event)
        if self._plain and self._console is not None:
            line = plain_line(event)
            if line:
                self._console.print(line, highlight=False)
        if self._live is not None and time.monotonic() - self._last_refresh_s >= REFRESH_S:
            self._last_refresh_s = time.monotonic()
            self._live.update(self._renderable(), refresh=True)
        return ()

    def stopping(self) -> None:
        # the LEDs went dark (LedStage.stopping): a last frame reading "listening" beside them would say they failed
        self.figures.stopped = True

    def close(self) -> None:
        live, self._live = self._live, None
        try:
            if self._plain and self._console is not None:
                self._plain = False
                self._console.print(self._renderable())
            if live is not None:
                live.update(self._renderable(), refresh=True)
        except OSError:
            # the output failed (a full disk, a reader gone): the CLI, which owns stdout, says so once;
            # raised here it would reach the pipeline's close as a second error, with a traceback
            log.debug("the view's last frame could not be written", exc_info=True)
        finally:
            self._stop_live(live)

    def _stop_live(self, live: Live | None) -> None:
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers = []
        if live is not None:
            with contextlib.suppress(OSError):  # as above: the output's failure is said once, by the CLI
                live.stop()


class _Console(Console):
    """rich's Console, except that a reader who went away (``| head``) is a BrokenPipeError for the caller.

    rich's own answer is SystemExit(1): a silent failure code, and the other
    outputs left unflushed. The run treats a closed pipe as a normal end.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more is written, as rich does
        raise  # the BrokenPipeError rich is handling
