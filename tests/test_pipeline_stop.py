"""Pipeline.stopping and Pipeline.close: a stage that fails at either does not keep the others lit or open."""

from __future__ import annotations

import logging

import pytest
from gpiozero.pins.mock import MockFactory

from listener.outputs.led_patterns import Channel
from listener.pipeline import Pipeline, Stage
from tests import led_script
from tests.led_script import block, make_stage

factory = led_script.factory  # fixture


class FailsToStop(Stage):
    """A stage whose stop cannot be shown (its device gone in the meantime)."""

    name = "fails_to_stop"

    def stopping(self) -> None:
        raise RuntimeError("device gone")


class FailsToClose(Stage):
    """A stage whose close fails, as a spool on a full disk or a link already broken may."""

    name = "fails_to_close"

    def close(self) -> None:
        raise OSError("cannot flush")


def test_a_stage_that_fails_to_show_the_stop_does_not_keep_the_lights_after_it_on(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The stop reaches the LEDs past a stage that failed at it: the green "listening" light goes dark at once,
    and the failure is logged, naming the stage."""
    leds, _ = make_stage(factory)
    with caplog.at_level(logging.ERROR), Pipeline([FailsToStop(), leds]) as pipeline:
        for k in range(20):
            pipeline.feed(block(k * 0.1))
        assert leds.values()[Channel.GREEN] > 0.0
        pipeline.stopping()
        assert leds.values()[Channel.GREEN] == 0.0
    assert "stage fails_to_stop could not show the stop" in caplog.text


def test_a_stage_that_fails_to_close_leaves_the_lights_before_it_released(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Stages close in reverse order: one that fails to close is logged, and the LED stage opened before it is
    still closed, its pins free for the service's restart (a new pipeline, the same pins)."""
    leds, _ = make_stage(factory)
    with caplog.at_level(logging.ERROR), Pipeline([leds, FailsToClose()]):
        pass
    (failed,) = [r for r in caplog.records if r.getMessage().startswith("stage fails_to_close failed to close")]
    # one line with the reason: an OSError is the machine's (a full disk), not a bug to show a traceback for
    assert failed.getMessage() == "stage fails_to_close failed to close: cannot flush" and failed.exc_info is None
    again, _ = make_stage(factory)
    with again:
        assert again.values()


class BreaksAtClose(Stage):
    """A stage whose close has a bug."""

    name = "breaks_at_close"

    def close(self) -> None:
        raise KeyError("no such pin")


def test_a_stage_whose_close_has_a_bug_is_logged_with_its_traceback_and_the_others_still_close(
    factory: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    leds, _ = make_stage(factory)
    with caplog.at_level(logging.ERROR), Pipeline([leds, BreaksAtClose(), FailsToClose()]):
        pass
    said = {r.getMessage(): r.exc_info for r in caplog.records}
    assert said.keys() == {
        "stage fails_to_close failed to close: cannot flush",
        "stage breaks_at_close failed to close",
    }
    assert said["stage breaks_at_close failed to close"] is not None  # the bug's traceback
    again, _ = make_stage(factory)  # the LEDs closed past both: their pins are free
    with again:
        assert again.values()
