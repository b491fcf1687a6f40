"""A discovered sensor as Home Assistant's MQTT integration runs it, and the long-term sum its statistics make.

:class:`HaSensor` renders a discovery component's templates with Jinja2 as Home Assistant's ``sensor.mqtt``
does (homeassistant/components/mqtt/sensor.py and entity.py, 2025.4): ``value_json`` the payload, ``this`` the
entity's own state as last written (its state and attributes); an empty value is ignored, ``None`` is "unknown";
the attributes template, when there is one, makes the attributes. The two are separate subscriptions to the same
topic, each writing the state, in an order the tests choose. Availability follows the device's ``status`` (its
discovery's availability): until ``online``, and after ``offline`` (a Last Will), the state written is
"unavailable" while the messages still set the value, shown at the next ``online``. :func:`statistics_sum` is the sum
homeassistant/components/sensor/recorder.py compiles for a ``total_increasing`` sensor from its recorded states.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import jinja2

_ENV = jinja2.Environment()


@dataclass
class This:
    """What ``this`` is in Home Assistant's MQTT templates: the entity's state object."""

    state: str = "unknown"
    attributes: dict[str, object] = field(default_factory=dict)


class HaSensor:
    def __init__(self, component: dict[str, object], attributes_first: bool = False) -> None:
        self.value = _ENV.from_string(str(component["value_template"]))
        template = component.get("json_attributes_template")
        self.attributes = _ENV.from_string(str(template)) if template else None
        self.attributes_first = attributes_first
        self.native = "unknown"  # the value the messages set, shown while available
        self.available = False
        self.this = This("unavailable")
        self.states: list[str] = []  # every state written, as the recorder keeps them (changes only)

    def status(self, payload: bytes) -> None:
        """The device's ``status``: ``online`` or ``offline``."""
        self.available = json.loads(payload)["state"] == "online"
        self._write(self.native, self.this.attributes)

    def receive(self, payload: bytes) -> None:
        message = json.loads(payload)
        steps = (self._attributes, self._value) if self.attributes_first else (self._value, self._attributes)
        for step in steps:
            step(message)

    def _value(self, message: dict[str, object]) -> None:
        shown = self.value.render(value_json=message, this=self.this)
        if shown == "":
            return  # "Ignore empty state"
        self._write("unknown" if shown == "None" else shown, self.this.attributes)

    def _attributes(self, message: dict[str, object]) -> None:
        if self.attributes is not None:
            made = json.loads(self.attributes.render(value_json=message, this=self.this))
            self._write(self.native, made)

    def _write(self, native: str, attributes: dict[str, object]) -> None:
        self.native = native
        state = native if self.available else "unavailable"
        if state != self.this.state:
            self.states.append(state)
        self.this = This(state, attributes)


def statistics_sum(states: Iterable[str]) -> float:
    """Home Assistant's long-term sum of a ``total_increasing`` sensor over ``states``: the first number is its zero
    point; a fall below nine tenths of the number before is a meter reset, after which the new number counts whole."""
    zero: float | None = None
    last: float | None = None
    total = 0.0
    for state in states:
        try:
            value = float(state)
        except ValueError:
            continue  # unknown, unavailable
        if zero is None or last is None:
            zero = last = value
        elif value < 0.9 * last:
            total += last - zero
            zero, last = 0.0, value
        else:
            last = value
    return total if zero is None or last is None else total + last - zero
