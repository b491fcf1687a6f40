"""The device's mode when several parts report at once: each cause is kept apart."""

from __future__ import annotations

from listener.events import DeviceCause, DeviceMode, DeviceState, SourceState
from listener.outputs.condition import DeviceCondition


def state(mode: DeviceMode, cause: DeviceCause, detail: str = "") -> DeviceState:
    return DeviceState(t_s=0.0, mode=mode, detail=detail or cause, cause=cause)


def test_the_broker_coming_back_does_not_end_a_privacy_pause() -> None:
    c = DeviceCondition()
    assert c.update(state(DeviceMode.PAUSED, "button", "privacy button"))
    assert c.update(state(DeviceMode.FAULT, "broker", "broker unreachable for 30 s"))
    assert (c.mode, c.detail) == (DeviceMode.FAULT, "broker unreachable for 30 s")  # a fault outranks a pause
    assert c.update(state(DeviceMode.LISTENING, "broker", "broker reachable again"))
    assert (c.mode, c.detail) == (DeviceMode.PAUSED, "privacy button")
    assert c.update(state(DeviceMode.LISTENING, "button"))
    assert (c.mode, c.detail) == (DeviceMode.LISTENING, "")


def test_the_microphone_coming_back_does_not_hide_a_broker_still_down() -> None:
    c = DeviceCondition()
    c.update(SourceState(t_s=0.0, available=False, detail="no audio from the array"))
    c.update(state(DeviceMode.FAULT, "broker", "broker unreachable"))
    assert c.detail == "no audio from the array; broker unreachable"
    assert c.update(SourceState(t_s=1.0, available=True, detail="back"))
    assert (c.mode, c.detail) == (DeviceMode.FAULT, "broker unreachable")
    assert c.update(state(DeviceMode.LISTENING, "broker"))
    assert c.mode is DeviceMode.LISTENING


def test_a_repeated_report_changes_nothing() -> None:
    c = DeviceCondition()
    assert not c.update(state(DeviceMode.LISTENING, "broker"))
    assert c.update(state(DeviceMode.PAUSED, "button"))
    assert not c.update(state(DeviceMode.PAUSED, "button"))


def test_the_causes_are_the_names_behind_the_mode_shown() -> None:
    c = DeviceCondition()
    assert c.causes == []
    c.update(state(DeviceMode.PAUSED, "button", "privacy button"))
    assert c.causes == ["button"]
    c.update(state(DeviceMode.FAULT, "microphones", "channel 3 silent"))
    c.update(SourceState(t_s=0.0, available=False, detail="no audio from hw:2,0"))
    assert (c.mode, c.causes) == (DeviceMode.FAULT, ["audio", "microphones"])  # sorted; the pause is not shown
    c.update(SourceState(t_s=1.0, available=True, detail="back"))
    c.update(state(DeviceMode.LISTENING, "microphones"))
    assert (c.mode, c.causes) == (DeviceMode.PAUSED, ["button"])


def test_broken_lights_rank_under_a_pause_and_beside_a_fault() -> None:
    """The lights' own fault leaves the measuring on: shown over the rep's privacy pause, a dashboard read the
    pause's gap in the figures as the lights' doing. Under a pause, then; beside any other fault, listed too."""
    c = DeviceCondition()
    assert c.update(state(DeviceMode.FAULT, "leds", "green LED on GPIO22 cannot be written"))
    assert (c.mode, c.causes) == (DeviceMode.FAULT, ["leds"])
    assert c.update(state(DeviceMode.PAUSED, "button", "privacy button"))
    assert (c.mode, c.causes, c.detail) == (DeviceMode.PAUSED, ["button"], "privacy button")
    c.update(SourceState(t_s=0.0, available=False, detail="no audio from the array"))
    assert (c.mode, c.causes) == (DeviceMode.FAULT, ["audio", "leds"])
    c.update(SourceState(t_s=1.0, available=True, detail="back"))
    assert c.update(state(DeviceMode.LISTENING, "button"))
    assert (c.mode, c.causes) == (DeviceMode.FAULT, ["leds"])
