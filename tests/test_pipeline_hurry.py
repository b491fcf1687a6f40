"""Pipeline.hurry: a stop asked for twice reaches every stage, the one closing included, whatever one of them does."""

from __future__ import annotations

import logging
import threading

import pytest

from listener.pipeline import Pipeline, Stage


class Waits(Stage):
    """Its close waits (as the recogniser or the broker drain do) until hurried, at most 5 s."""

    name = "waits"

    def __init__(self) -> None:
        self.hurried = threading.Event()

    def hurry(self) -> None:
        self.hurried.set()

    def close(self) -> None:
        self.hurried.wait(5.0)


class Fails(Stage):
    name = "fails"

    def hurry(self) -> None:
        raise RuntimeError("cannot cut it short")


def test_a_stage_that_fails_to_hurry_does_not_keep_the_others_waiting(caplog: pytest.LogCaptureFixture) -> None:
    first, last = Waits(), Waits()
    with caplog.at_level(logging.ERROR), Pipeline([first, Fails(), last]) as pipeline:
        pipeline.hurry()
    assert first.hurried.is_set() and last.hurried.is_set()
    assert "stage fails could not cut its stop short" in caplog.text


def test_the_stage_that_is_closing_is_hurried_too() -> None:
    """close() takes a stage off the open ones before its wait: a hurry then must still reach it."""
    closing = Waits()
    pipeline = Pipeline([closing])
    pipeline.open()
    threading.Timer(0.2, pipeline.hurry).start()
    pipeline.close()
    assert closing.hurried.is_set()
