"""Pipeline.open: a stage that cannot open leaves none of the stages before it open (their pins, files, links)."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from listener.pipeline import Pipeline, Stage
from tests import led_script
from tests.led_script import make_stage

factory = led_script.factory  # fixture


class CannotOpen(Stage):
    """A stage whose device is taken, as an array or a spool another process holds."""

    name = "cannot_open"

    def open(self) -> None:
        raise OSError("device busy")


def test_a_stage_that_cannot_open_leaves_the_lights_before_it_released(factory: MockFactory) -> None:
    leds, _ = make_stage(factory)
    with pytest.raises(OSError, match="device busy"), Pipeline([leds, CannotOpen()]):
        pass
    # the LED pins are free again: the service's restart (a new pipeline, the same pins) claims them
    again, _ = make_stage(factory)
    with again:
        assert again.values()
