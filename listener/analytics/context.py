"""What every analytics rule shares: thresholds in frames, the tracks, the model's outlook."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from listener.analytics.tracks import Track
from listener.config.schema import ActivityConfig, AnalyticsConfig
from listener.events import FloatArray, Party

DOMINANCE_EVERY_S = 0.1  # dominance is re-evaluated this often (decided within 0.1 s of a crossing)
SHARE_EVERY_S = 1.0  # RollingShare is published this often inside a session
# closed stretches kept per party for look-backs: most rules look back < 10 s, but a floor's last turn may
# lie a whole session gap back (a customer answered after a long wait): at least that, plus its taking
HISTORY_S = 30.0
PREDICTIONS_KEEP_S = 10.0  # the model's outputs kept for look-ups (rules read them at most a few seconds back)
PAUSE_PROBE_S = 0.2  # the Pause event's p_shift is read this far into the silence
# an interruption whose 1.0 s falls in the interrupter's gap: the model's even odds that it goes on
GAP_GOES_ON_BELOW_P_BACKCHANNEL = 0.5
PROB_TOLERANCE = 1e-7  # over float32's rounding near 1 (3e-8), under any difference a setting can mean
UNHEARD_KEEP_S = 60.0  # outside a session, unheard stretches older than this matter to no rule
UNHEARD_JOIN_S = 1e-6  # a stretch starting where the last one ended continues it
FRAME_SLACK = 1e-6  # of a frame: 9.0 s / 0.01 s may come out as 899.9999999999999 frames


def last_frame(t_s: float, hop_s: float) -> int:
    """The frame boundary at or before ``t_s``: the frame ``t_s`` falls in, or the end of a stream's last whole
    frame.

    Rounded to the nearest, a file of 9.33725 s ended at 9.34 s, and the decisions made at its end
    were dated after its last sample.
    """
    return math.floor(t_s / hop_s + FRAME_SLACK)


@dataclass(frozen=True, slots=True)
class Limits:
    """The configured thresholds, counted in frames of ``hop_s``."""

    hop_s: float
    bridge_frames: int
    min_speech_frames: int
    floor_take_frames: int
    backchannel_max_frames: int
    backchannel_proximity_frames: int
    interruption_min_frames: int
    interruption_yield_frames: int
    premature_resume_frames: int
    pause_min_frames: int
    long_silence_frames: int
    session_gap_frames: int
    session_max_frames: int
    window_frames: int
    monologue_frames: int
    dominance_min_speech_frames: int
    pause_probe_frames: int
    dominance_every_frames: int
    share_every_frames: int

    @classmethod
    def of(cls, an: AnalyticsConfig, act: ActivityConfig, hop_s: float) -> Limits:
        def n(length_s: float) -> int:
            return round(length_s / hop_s)

        return cls(
            hop_s=hop_s,
            bridge_frames=n(act.bridge_gap_s),
            min_speech_frames=n(act.min_speech_s),
            floor_take_frames=n(an.floor_take_s),
            backchannel_max_frames=n(an.backchannel_max_s),
            backchannel_proximity_frames=n(an.backchannel_proximity_s),
            interruption_min_frames=n(an.interruption_min_s),
            interruption_yield_frames=n(an.interruption_yield_s),
            premature_resume_frames=n(an.premature_resume_s),
            pause_min_frames=n(an.pause_min_s),
            long_silence_frames=n(an.long_silence_s),
            session_gap_frames=n(an.session_gap_s),
            session_max_frames=n(an.session_max_s),
            window_frames=n(an.rolling_window_s),
            monologue_frames=n(an.monologue_dominating_s),
            dominance_min_speech_frames=n(an.dominance_min_speech_s),
            pause_probe_frames=n(PAUSE_PROBE_S),
            dominance_every_frames=max(1, n(DOMINANCE_EVERY_S)),
            share_every_frames=max(1, n(SHARE_EVERY_S)),
        )

    def s(self, frames: int) -> float:
        """Frame index (or count) to seconds of audio (rounded: 305 frames are 3.05 s, not 3.0500000000000003)."""
        return round(frames * self.hop_s, 9)


class Predictions:
    """The turn model's per-frame outputs, when a model runs (looked up by frame)."""

    def __init__(self) -> None:
        self._blocks: deque[tuple[int, FloatArray, FloatArray]] = deque()

    def add(self, first: int, p_hold: FloatArray, p_backchannel: FloatArray) -> None:
        self._blocks.append((first, np.asarray(p_hold), np.asarray(p_backchannel)))

    def prune(self, before: int) -> None:
        while len(self._blocks) > 1 and self._blocks[0][0] + len(self._blocks[0][1]) < before:
            self._blocks.popleft()

    def _at(self, f: int, column: int) -> float | None:
        for first, hold, backchannel in reversed(self._blocks):
            n = len(hold)
            if first <= f < first + n:
                return float((hold, backchannel)[column][f - first])
            if first + n <= f:
                break
        return None

    def p_hold(self, f: int) -> float | None:
        return self._at(f, 0)

    def p_backchannel(self, f: int) -> float | None:
        return self._at(f, 1)


class Unheard:
    """Stretches of the audio clock the device did not hear (microphone lost, overflow, privacy pause).

    Their frames reach the analytics as silence; what was said then is unknown, so a summary counts
    them apart from silence and no long silence is claimed across them.
    """

    def __init__(self) -> None:
        self.spans: deque[tuple[float, float]] = deque()

    def add(self, start_s: float, end_s: float) -> None:
        if self.spans and start_s <= self.spans[-1][1] + UNHEARD_JOIN_S:  # the reopen loop's 1 s pieces: one
            self.spans[-1] = (self.spans[-1][0], max(end_s, self.spans[-1][1]))
        else:
            self.spans.append((start_s, end_s))

    def forget_before(self, t_s: float) -> None:
        """Drop the stretches that ended by ``t_s``: no session summary or silence will ask about them."""
        while self.spans and self.spans[0][1] <= t_s:
            self.spans.popleft()

    def within(self, start_s: float, end_s: float) -> list[tuple[float, float]]:
        return [(max(a, start_s), min(b, end_s)) for a, b in self.spans if a < end_s and b > start_s]


class Context:
    """Shared state of one conversation stream."""

    def __init__(
        self, analytics: AnalyticsConfig, activity: ActivityConfig, hop_s: float, unheard: Unheard | None = None
    ) -> None:
        self.config = analytics
        self.limits = lim = Limits.of(analytics, activity, hop_s)
        keep = max(round(HISTORY_S / hop_s), lim.session_gap_frames + lim.floor_take_frames)
        self.tracks = {p: Track(p, lim.bridge_frames, lim.min_speech_frames, keep) for p in Party}
        self.predictions = Predictions()
        self.lag_frames = 0  # how far the activity's decision lags its frames (ActivityFrames.lag_s)
        self.unheard = unheard if unheard is not None else Unheard()

    def s(self, frames: int) -> float:
        return self.limits.s(frames)

    def decided_s(self, frame: int) -> float:
        """When a rule stepped at ``frame`` decides, on the audio clock: the activity came ``lag_frames`` late."""
        return self.limits.s(frame + self.lag_frames)


def prob_at_least(p: float, threshold: float) -> bool:
    """``p >= threshold`` for the model's float32 outputs: its 0.7 is 0.69999999, and 1 - its 0.1 is 0.8999999985."""
    return p >= threshold - PROB_TOLERANCE
