"""The roots of the vocabulary: parties, the event base classes, array types."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import ClassVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
DECIMALS = 3  # the floats of a report (analyze --json): seconds to the ms, shares and rates to 0.001
BoolArray = npt.NDArray[np.bool_]


class Party(StrEnum):
    REP = "rep"
    CUSTOMER = "customer"

    @property
    def other(self) -> Party:
        return Party.CUSTOMER if self is Party.REP else Party.REP


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events."""


class _Decided:
    """``onset_s`` (when the behaviour began) and ``decided_s`` (when the device knew), for the type checker.

    Declared outside any dataclass, so they are not fields here: each event
    declares them among its own fields, in the order its report lists them.
    """

    __slots__ = ()
    onset_s: float
    decided_s: float


@dataclass(frozen=True, slots=True)
class Reported(Event, _Decided):
    """An event that appears in reports (``analyze --json`` ``events``).

    Subclasses set ``kind`` (the report's ``type``) and declare ``onset_s``
    (reported as ``t``) and ``decided_s`` among their fields; every other
    field is reported under its own name, so a subclass's fields are its
    report schema.
    """

    kind: ClassVar[str] = "event"

    def record(self) -> dict[str, object]:
        out: dict[str, object] = {"type": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            key = "t" if f.name == "onset_s" else f.name
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, float):
                # a figure that may be undefined and is not a number is undefined: null, as a report says it
                value = round(value, DECIMALS) if math.isfinite(value) or not nullable(f) else None
            out[key] = value
        return out


def nullable(f: dataclasses.Field[object]) -> bool:
    """Whether a field is typed ``... | None``: a figure that may be undefined, ``null`` in JSON."""
    return "None" in str(f.type)
