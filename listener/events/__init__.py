"""The one event vocabulary every stage speaks.

Stages consume and emit these frozen dataclasses; nothing else crosses a
stage boundary. Times are seconds of *audio* time from the start of the
stream (``*_s``), so the same pipeline gives the same answers live and from
a file. Events that are decided some time after the behaviour began carry
both ``onset_s`` (when it began) and ``decided_s`` (when the device knew).

Import them from here. By module: ``audio`` (the sources), ``activity`` (the spatial
front end's ``SpatialFrames``, and the activity decision's ``ActivityFrames`` and
``TurnPredictions``), ``timeline`` (speech segments and talk totals), ``cues`` (the
transcript), ``conversation`` (the analytics), ``device`` (the service's state).
"""

from listener.events.activity import ActivityFrames, SpatialFrames, TurnPredictions
from listener.events.audio import AudioBlock, AudioDropped, DropReason, EndOfStream, SourceState
from listener.events.base import BoolArray, Event, FloatArray, Party, Reported
from listener.events.conversation import (
    Backchannel,
    DominanceChanged,
    DominanceReason,
    FloorChange,
    FloorHeld,
    Interruption,
    LongSilence,
    Pause,
    PrematureStart,
    ResponseGap,
    RollingShare,
    SessionEnded,
    SessionStarted,
    SessionSummary,
)
from listener.events.cues import (
    Acknowledgement,
    ActionPlan,
    Echo,
    Filler,
    Question,
    TranscriptionSkipped,
    WordsRecognized,
)
from listener.events.device import DeviceCause, DeviceMode, DeviceState, RecalibrateRequested
from listener.events.timeline import SpeechSegment, SpeechStarted, TalkTotals, rep_share_of

__all__ = [
    "Acknowledgement",
    "ActionPlan",
    "ActivityFrames",
    "AudioBlock",
    "AudioDropped",
    "Backchannel",
    "BoolArray",
    "DeviceCause",
    "DeviceMode",
    "DeviceState",
    "DominanceChanged",
    "DominanceReason",
    "DropReason",
    "Echo",
    "EndOfStream",
    "Event",
    "Filler",
    "FloatArray",
    "FloorChange",
    "FloorHeld",
    "Interruption",
    "LongSilence",
    "Party",
    "Pause",
    "PrematureStart",
    "Question",
    "RecalibrateRequested",
    "Reported",
    "ResponseGap",
    "RollingShare",
    "SessionEnded",
    "SessionStarted",
    "SessionSummary",
    "SourceState",
    "SpatialFrames",
    "SpeechSegment",
    "SpeechStarted",
    "TalkTotals",
    "TranscriptionSkipped",
    "TurnPredictions",
    "WordsRecognized",
    "rep_share_of",
]
