"""The live view (`listener run --view`) beside the LED stage on gpiozero's own MockFactory: the figures it shows,
the LEDs drawn as dots, and where log lines go on a real pseudo-terminal."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import threading

from gpiozero.pins.mock import MockFactory
from rich.console import Console

from listener.events import DeviceMode, DeviceState, DominanceChanged, Interruption, Party, TalkTotals
from listener.outputs.view import Figures, LedView, render
from tests import led_script
from tests.cli_run import SAMPLE, listener_cli
from tests.led_script import dominance, make_stage, play, speech
from tests.waiting import wait_until

factory = led_script.factory  # fixture


def test_view_shows_leds_and_figures(factory: MockFactory) -> None:
    stage, _ = make_stage(factory)
    figures = Figures()
    for event in [
        TalkTotals(t_s=40.0, rep_talk_s=30.0, customer_talk_s=10.0),
        Interruption(by=Party.REP, onset_s=12.0, decided_s=13.0, successful=None),
        Interruption(by=Party.REP, onset_s=12.0, decided_s=14.0, successful=True),
        dominance(True, 41.0),
    ]:
        figures.update(event)
    with stage:
        play(stage, 1.0)
        console = Console(file=io.StringIO(), width=100, record=True)
        console.print(render(figures, stage.values()))
    text = console.export_text()
    assert "75.0 %" in text and "rep   30.0 s" in text and "by rep 1" in text and "(dominating)" in text
    assert "green 0.30" in text and "41.0 s of audio" in text
    piped = io.StringIO()
    with LedView(stage, stream=piped) as view:  # not a terminal: plain lines, the figures once at the end
        view.process(TalkTotals(t_s=1.0, rep_talk_s=1.0, customer_talk_s=3.0))
        view.process(Interruption(by=Party.REP, onset_s=0.5, decided_s=1.5, successful=True))
        assert piped.getvalue() == "    0.5 s  interruption by the rep (successful)\n"
    text = piped.getvalue()
    assert "\x1b[" not in text  # no terminal control codes in a log
    assert "25.0 %" in text and "by rep 1" in text and text.count("rep share") == 1


def test_a_customer_talking_alone_is_a_rep_share_of_0_percent() -> None:
    """No rep talk is a share of 0 %, whatever the customer said; and 0 % before anyone has spoken."""
    for customer_talk_s in (12.0, 0.0):
        figures = Figures()
        figures.update(TalkTotals(t_s=12.0, rep_talk_s=0.0, customer_talk_s=customer_talk_s))
        console = Console(file=io.StringIO(), width=100, record=True)
        console.print(render(figures, None))
        assert re.search(r"rep share +0\.0 %", console.export_text()), console.export_text()


def test_view_shows_the_rgb_led_as_one_dot_of_its_mixed_colour(factory: MockFactory) -> None:
    """The rgb preset is one LED: the view shows one dot in the colour it mixes (amber while the rep dominates)
    and each colour's level, where the traffic light gets a dot per LED."""
    stage, _ = make_stage(factory, preset="rgb", fade_s=0.0)
    with stage:
        play(stage, 3.0, [*speech(Party.REP, 0.5, 2.9), dominance(True, 2.0)])
        console = Console(file=io.StringIO(), width=100, record=True, color_system="truecolor")
        console.print(render(Figures(), stage.values()))
    [row] = [line for line in console.export_text(clear=False).splitlines() if "LEDs" in line]
    assert row.split("LEDs", 1)[1].strip(" │") == "●  red 1.00  green 0.35  blue 0.00", row
    assert "\x1b[38;2;255;128;60m●" in console.export_text(styles=True)  # red full, green at 0.35 over dark grey


class Terminal:
    """A real pseudo-terminal: what is written to ``screen`` (a tty to rich) is read back from the other end."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        self._master, self.screen = master, os.fdopen(slave, "w", encoding="utf-8")
        self._got = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)  # a full pty would block the writer
        self._reader.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError):  # EIO once the screen end is closed
            while chunk := os.read(self._master, 65536):
                self._got.extend(chunk)

    def until(self, text: str, timeout_s: float = 10.0) -> bool:
        """Whether ``text`` reached the screen within ``timeout_s``, the screen left open."""
        wait_until(lambda: text.encode() in self._got, timeout_s)
        return text.encode() in self._got

    def shown(self) -> str:
        self.screen.close()
        self._reader.join(5)
        os.close(self._master)
        return self._got.decode("utf-8", "replace")


def test_on_a_terminal_log_lines_go_above_the_live_view_and_the_handler_gets_its_stream_back(
    factory: MockFactory,
) -> None:
    """`listener run --view` in a terminal: a warning (a broker fault, say) written straight to stderr would tear
    the redrawn panel; it is printed above it, and the journal's handler writes to the real stderr again after."""
    stage, _ = make_stage(factory)
    terminal = Terminal()
    handler = logging.StreamHandler(sys.__stderr__)
    logging.getLogger().addHandler(handler)
    try:
        with stage, LedView(stage, stream=terminal.screen) as view:
            view.process(TalkTotals(t_s=1.0, rep_talk_s=30.0, customer_talk_s=10.0))
            assert handler.stream is not sys.__stderr__  # the live display's proxy meanwhile
            logging.getLogger("listener.test").warning("MQTT broker unreachable")
        assert handler.stream is sys.__stderr__
    finally:
        logging.getLogger().removeHandler(handler)
    shown = terminal.shown()
    assert "\x1b[1A" in shown  # redrawn in place (cursor up), not printed frame after frame
    said, last_frame = shown.index("MQTT broker unreachable"), shown.rindex("╭")
    assert said < last_frame, shown  # above the panel, which is drawn once more below it
    assert "75.0 %" in shown[last_frame:] and "rep   30.0 s" in shown[last_frame:], shown[last_frame:]


def test_on_a_terminal_the_panel_follows_the_run_and_leaves_the_terminal_as_it_found_it(factory: MockFactory) -> None:
    """The panel is redrawn with the figures as events come (at most every REFRESH_S: a Pi Zero's CPU is for the
    audio), not only at the end; the events are counted in it, not also printed as lines; and once the view ends,
    stderr is the terminal's again and the cursor is back."""
    stage, _ = make_stage(factory)
    terminal = Terminal()
    stderr = sys.stderr
    with stage, LedView(stage, stream=terminal.screen) as view:
        view.process(TalkTotals(t_s=1.0, rep_talk_s=30.0, customer_talk_s=10.0))
        view.process(Interruption(by=Party.REP, onset_s=0.5, decided_s=1.5, successful=True))
        assert terminal.until("75.0 %")  # while it runs
        for k in range(200):  # a burst (a replay with --fast): redrawn at most every REFRESH_S, not per event
            view.process(TalkTotals(t_s=2.0 + k / 100, rep_talk_s=30.0, customer_talk_s=10.0))
    assert sys.stderr is stderr
    shown = terminal.shown()
    assert shown.count("╭") < 50, shown.count("╭")
    assert "interruption by the rep" not in shown, shown  # a line would scroll the panel away
    assert "\x1b[?25h" in shown[shown.rindex("╯") :], shown  # the cursor shown again after the last frame


def test_piped_view_says_a_session_end_and_a_device_change_each_in_its_own_words() -> None:
    """Piped, a line per notable event: a dominance that ends with its session is not the rep's share falling,
    and a fault (a broker gone) is said when it comes, not only in the figures at the end."""
    piped = io.StringIO()
    with LedView(None, stream=piped) as view:
        view.process(DominanceChanged(dominating=True, onset_s=3.0, decided_s=3.5, rep_share=0.8, reason="share"))
        view.process(
            DominanceChanged(dominating=False, onset_s=9.0, decided_s=9.0, rep_share=0.8, reason="session_end")
        )
        view.process(DeviceState(t_s=12.0, mode=DeviceMode.FAULT, detail="broker unreachable", cause="broker"))
        lines = piped.getvalue().splitlines()
    assert lines == [
        "    3.0 s  the rep starts dominating (rolling share 80 %)",
        "    9.0 s  the session ended: dominance cleared",
        "   12.0 s  device fault",
    ]


def test_view_says_stopped_when_the_lights_go_dark_at_the_end(factory: MockFactory) -> None:
    """At the end of a run the LEDs go dark at once (LedStage.stopping); the view's last frame said "listening
    (dominating)" beside three dark lights, as if they had failed (the README demo's last frame)."""
    stage, _ = make_stage(factory)
    piped = io.StringIO()
    with stage, LedView(stage, stream=piped) as view:
        play(stage, 1.0)
        view.process(TalkTotals(t_s=1.0, rep_talk_s=30.0, customer_talk_s=10.0))
        view.process(dominance(True, 1.0))
        assert view.figures.mode == "listening" and view.figures.dominating
        for part in (stage, view):
            part.stopping()
        assert set(stage.values().values()) == {0.0}
    lines, panel = piped.getvalue().split("╭", 1)  # the event lines, then the figures at the end
    assert "starts dominating" in lines
    assert "stopped" in panel and "listening" not in panel and "dominating" not in panel, panel
    assert "75.0 %" in panel and "green 0.00" in panel  # the figures stay; the lights are dark
    # and as the command runs: the runner tells the view the run is stopping when the input ends
    result = listener_cli("run", "--input", str(SAMPLE), "--fast", "--view")  # not a terminal: the figures at the end
    assert result.returncode == 0, result.stderr
    panel = result.stdout.split("╭", 1)[1]
    assert "stopped" in panel and "listening" not in panel and "dominating" not in panel, panel


def test_view_counts_interruptions_for_the_party_that_made_them() -> None:
    """The rep watching the view must see the customer's interruptions as the customer's, not as their own."""
    figures = Figures()
    for event in [
        Interruption(by=Party.CUSTOMER, onset_s=5.0, decided_s=6.0, successful=None),
        Interruption(by=Party.CUSTOMER, onset_s=5.0, decided_s=7.0, successful=False),
        Interruption(by=Party.REP, onset_s=9.0, decided_s=10.0, successful=None),
        Interruption(by=Party.CUSTOMER, onset_s=20.0, decided_s=21.0, successful=None),
    ]:
        figures.update(event)
    console = Console(file=io.StringIO(), width=100, record=True)
    console.print(render(figures, None))
    assert "by rep 1   by customer 2" in console.export_text()


def test_view_state_says_paused_like_the_lights_when_a_fault_comes_during_a_pause() -> None:
    """README: on the lights a pause outranks everything, a fault included. The view's state line must not
    contradict the LEDs it shows: paused first, the fault named after it; the fault alone once the pause ends."""
    figures = Figures()
    figures.update(DeviceState(t_s=2.0, mode=DeviceMode.PAUSED, detail="privacy button", cause="button"))
    assert figures.mode == "paused"
    figures.update(DeviceState(t_s=4.0, mode=DeviceMode.FAULT, detail="broker unreachable for 300 s", cause="broker"))
    assert figures.mode == "paused (fault: broker unreachable for 300 s)"
    console = Console(file=io.StringIO(), width=100, record=True)
    console.print(render(figures, None))
    assert "paused (fault: broker unreachable for 300 s)" in console.export_text()
    figures.update(DeviceState(t_s=6.0, mode=DeviceMode.LISTENING, detail="", cause="button"))
    assert figures.mode == "fault: broker unreachable for 300 s"
    figures.update(DeviceState(t_s=8.0, mode=DeviceMode.LISTENING, detail="", cause="broker"))
    assert figures.mode == "listening"


def test_listener_run_view_on_a_terminal_draws_the_live_panel_not_log_lines() -> None:
    """`listener run --view` in a terminal: the command watches its stdout for failed writes, and what it watches
    still answers as the terminal it is, so the panel is redrawn in place rather than printed as a log's lines."""
    terminal = Terminal()
    result = listener_cli("run", "--input", str(SAMPLE), "--fast", "--view", stdout=terminal.screen.fileno())
    shown = terminal.shown()
    assert result.returncode == 0, result.stderr
    assert "\x1b[1A" in shown and "s of audio" in shown[shown.rindex("╭") :], shown  # redrawn in place
    assert "interruption by the" not in shown and "dominating (rolling share" not in shown, shown  # no log lines
