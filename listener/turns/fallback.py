"""The heuristic decider standing in for a turn model that fails in the middle of a run.

A model passes its checks and its run on silence as it opens, and may still fail on some audio later:
onnxruntime raising in a node (a Gather out of its bounds), NaN or infinity, values outside [0, 1]. The
first stopped the run with a traceback (exit 1: the unit restarted it every RestartSec, to fail again at the
same kind of audio), the second with exit 2, which the unit does not restart: the counter stayed dark until
someone came. The third passed 2.0 as a probability, both parties "active", and a session made of it.

Instead the frames the model had not labelled yet, and every frame after, are decided by the heuristic
decider ([turn_model] enabled = false's) until the listener restarts: nothing measured is lost. The journal
says so in one line, with the file and the fix, and the lights and the MQTT ``state`` show a fault (cause
``turn_model``) so that someone comes to mend the model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from listener.config import Config
from listener.errors import ModelStepError
from listener.events import DeviceMode, DeviceState, Event, SpatialFrames
from listener.spatial.decide import ActivityDecider

log = logging.getLogger(__name__)

FAULT_DETAIL = "the turn model failed; activity decided by the heuristic decider until a restart (see the journal)"


class StandIn:
    """The heuristic decider, once the model has failed (``active``)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._decider: ActivityDecider | None = None

    @property
    def active(self) -> bool:
        return self._decider is not None

    def take_over(self, exc: ModelStepError, t_s: float, pending: SpatialFrames) -> Iterator[Event]:
        """From ``t_s`` on: said once, then ``pending`` (the frames the model left undecided) decided."""
        self._decider = ActivityDecider(self._config)
        log.error(
            "turn model %s %s at %.2f s of audio: activity is decided by the heuristic decider from there until "
            "the listener restarts; %s",
            exc.path,
            exc.reason,
            t_s,
            exc.fix,
        )
        yield DeviceState(t_s=t_s, mode=DeviceMode.FAULT, detail=FAULT_DETAIL, cause="turn_model")
        yield from self._decider.process(pending)

    def process(self, event: Event) -> Iterable[Event]:
        """Every event after the take-over, to the decider: it decides frames, starts over at the end of a stream
        (the model stays failed: a new stream starts with the decider, its fault still shown), and ignores the rest."""
        assert self._decider is not None
        yield from self._decider.process(event)
