"""The streaming turn-model stage, independent of the inference engine.

:class:`TurnStage` owns everything but the model: it buffers the front
end's 10 ms :class:`SpatialFrames` into 20 ms model frames (an odd frame
waits for the next block), computes the features, steps the model one
frame at a time, turns its outputs into per-party activity (hysteresis),
the analytics' :class:`TurnPredictions`, and resets the model's state
between sessions (once the customer's silence ends one, as the analytics
end it). (The analytics decide pauses, interruptions and premature starts
from those predictions.) A subclass only implements
:meth:`step` and :meth:`reset_state` (see ``onnx_model.py``).

Everything is decided frame by frame from the past alone, so the result is
the same whether the audio arrives in 10 ms pieces or all at once (a
session gap resets the model's state between the same two steps either
way). The past may reach a little beyond a frame: a model whose sidecar states
``lookahead_steps`` = D labels the step D steps back (it has heard 20 D ms
past it). The stage holds those D steps until their label comes (a delay
line), stamps the delay on :class:`ActivityFrames` (``lag_s``), and at the
end of a stream, a jump in its clock or a change of source labels them
with the last output.

It steps the model on the pipeline's own thread, not a worker of its own
(as the recogniser has): a step costs ~35-55 us per 20 ms frame, and every
later stage needs its activity before it can go on, so a hand-off to
another thread would add latency and ordering for nothing. The capture
callback already runs apart from the pipeline (``audio/live.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

from listener.analytics.tracks import Track
from listener.config import Config, channel_map_mode
from listener.config.schema import CHANNEL_MAP_RATIO_DB
from listener.errors import ModelStepError
from listener.events import (
    ActivityFrames,
    EndOfStream,
    Event,
    Party,
    SourceState,
    SpatialFrames,
    TurnPredictions,
)
from listener.pipeline import Stage
from listener.turns import derive
from listener.turns.echo import EchoGuard
from listener.turns.fallback import StandIn
from listener.turns.features import FRAMES_PER_STEP, FeatureExtractor
from listener.turns.frame_ops import join_frames as join_frames  # re-exported: imported from here too
from listener.turns.frame_ops import slice_frames as slice_frames
from listener.turns.speakers import PARTIES, SpeakerTracker
from listener.turns.spec import ModelSpec, check_config

Float = npt.NDArray[np.float32]


class TurnStage(Stage, ABC):
    """SpatialFrames -> ActivityFrames and TurnPredictions, around a streaming model."""

    name = "turns"

    def __init__(self, config: Config, spec: ModelSpec, *, fall_back: bool = False) -> None:
        """``fall_back``: a model step that fails hands the stream to the heuristic decider (the device's
        stage; see :mod:`listener.turns.fallback`), rather than raising (training's evaluation)."""
        check_config(config, spec)
        self.spec = spec
        self.fallback = StandIn(config) if fall_back else None
        self._outlook = derive.Outlooker(spec.bin_edges_s, spec.thresholds)
        self.session_gap_s = config.analytics.session_gap_s
        self._speech_rules = (config.activity.bridge_gap_s, config.activity.min_speech_s)  # the timeline's
        self._features: FeatureExtractor | None = None
        self._held: SpatialFrames | None = None
        self.steps = 0
        self.sessions = 1
        self._guard = (
            EchoGuard(CHANNEL_MAP_RATIO_DB, FRAMES_PER_STEP, self._speech_rules[0])
            if channel_map_mode(config.parties)
            else None
        )
        self._reset_trackers()

    # --- what an inference engine implements ------------------------------

    @abstractmethod
    def step(self, features: Float) -> Float:
        """One model frame: features (n_features,) -> outputs (spec.n_outputs,), advancing the state."""

    @abstractmethod
    def reset_state(self) -> None:
        """Forget the conversation so far (a new session starts)."""

    # --- stream handling ---------------------------------------------------

    def reset(self) -> None:
        """A new stream: model state, noise floor, buffers and trackers all start over."""
        self.reset_state()
        if self._features is not None:
            self._features.reset()
        self._held = None
        if self._guard is not None:
            self._guard.reset()
        self._reset_trackers()

    def _reset_trackers(self) -> None:
        self._lagging: SpatialFrames | None = None  # frames whose look-ahead has not been heard yet
        self._last_out: Float | None = None
        self._active = (False, False)
        self._speakers = SpeakerTracker(self._speech_rules[1])
        self._customer: Track | None = None  # the customer's speech as the timeline keeps it, in model steps
        self._gap_seen: int | None = None  # the customer's speech end whose session gap has passed
        self._reset_due = False  # the customer's session gap passed; the model resets at the next quiet step

    @property
    def _stand_in(self) -> StandIn | None:
        """The heuristic decider, once the model has failed mid-run; None while the model decides."""
        return self.fallback if self.fallback is not None and self.fallback.active else None

    def process(self, event: Event) -> Iterable[Event]:
        if (stand_in := self._stand_in) is not None:
            yield from stand_in.process(event)
        elif isinstance(event, SpatialFrames):
            yield from self._take(event)
        elif isinstance(event, EndOfStream):
            yield from self._flush()
            self.reset()
            if (stand_in := self._stand_in) is not None:  # it failed on the last frames: the decider's end
                yield from stand_in.process(event)
        elif isinstance(event, SourceState):
            yield from self._flush()  # the state is reset: later outputs must not label earlier audio
            self._new_session()

    def _take(self, frames: SpatialFrames) -> Iterator[Event]:
        if frames.n_frames == 0:
            return
        pending = self._held if self._held is not None else self._lagging
        if pending is not None and abs(pending.end_s - frames.start_s) > frames.hop_s / 2:
            yield from self._flush()  # a jump in the stream clock: never pair or label frames across it
            if (stand_in := self._stand_in) is not None:  # the model failed on the frame it flushed
                yield from stand_in.process(frames)
                return
        joined = frames if self._held is None else join_frames(self._held, frames)
        n = joined.n_frames // FRAMES_PER_STEP * FRAMES_PER_STEP
        self._held = slice_frames(joined, n, joined.n_frames) if n < joined.n_frames else None
        if n:
            yield from self._run(slice_frames(joined, 0, n), n)

    def _flush(self) -> Iterator[Event]:
        """Emit a lone held frame (end of stream), paired with a copy of itself, and whatever lags."""
        held, self._held = self._held, None
        if held is not None:
            yield from self._run(join_frames(held, held), held.n_frames)
        yield from self._flush_lag()

    def _extractor(self, frames: SpatialFrames) -> FeatureExtractor:
        if self._features is None:
            self._features = FeatureExtractor(frames.sample_rate_hz, frames.fft_size)
        return self._features

    # --- the model and its decisions ---------------------------------------

    def _run(self, frames: SpatialFrames, n_emit: int) -> Iterator[Event]:
        """Step the model over ``frames`` (whole steps; the first ``n_emit`` frames are real)."""
        fx = self._extractor(frames).extract(frames)
        real = slice_frames(frames, 0, n_emit)
        queue = real if self._lagging is None else join_frames(self._lagging, real)
        levels_db = self._queue_levels_db(real)
        # output j labels step j - lookahead: the first outputs of a stream label nothing
        n_label = _steps(queue) - self.spec.lookahead_steps
        first_label = len(fx) - n_label  # index in this block of the first output that labels a step
        outs, active = [], []
        step_hop_s = _step_hop_s(frames)
        for k, row in enumerate(fx):
            try:
                outs.append(self.step(row))
            except ModelStepError as exc:
                if self.fallback is None:
                    raise
                held, self._held, self._lagging = self._held, None, None  # the decider takes on all it left
                pending = queue if held is None else join_frames(queue, held)
                yield from self.fallback.take_over(exc, frames.start_s + k * step_hop_s, pending)
                return
            self.steps += 1  # named in a failed step's error
            if k >= first_label:
                # decided step by step, so a session reset lands between the same two steps
                # however the audio was cut into blocks
                active.append(
                    self._decide_step(outs[-1], step_hop_s, levels_db[k - first_label] if levels_db else None)
                )
        self._last_out = outs[-1]
        if n_label <= 0:
            self._lagging = queue
            return
        labelled = min(queue.n_frames, n_label * FRAMES_PER_STEP)
        if self._guard is not None:
            self._guard.done(labelled)
        self._lagging = slice_frames(queue, labelled, queue.n_frames) if labelled < queue.n_frames else None
        labelled_frames = slice_frames(queue, 0, labelled)
        yield from self._label(labelled_frames, np.stack(outs[-n_label:]), np.array(active), self.spec.lag_s)

    def _flush_lag(self) -> Iterator[Event]:
        """The steps still waiting for their look-ahead (end of stream, clock jump) take the last output."""
        lagging, self._lagging = self._lagging, None
        if lagging is not None and self._last_out is not None:
            out = np.repeat(self._last_out[None], _steps(lagging), axis=0)
            levels_db = self._queue_levels_db(None)
            step_hop_s = _step_hop_s(lagging)
            active = np.array(
                [self._decide_step(row, step_hop_s, levels_db[i] if levels_db else None) for i, row in enumerate(out)]
            )
            if self._guard is not None:
                self._guard.done(lagging.n_frames)
            # decided now, with no look-ahead left to wait for: a lag would date them past the stream's end
            yield from self._label(lagging, out, active, lag_s=0.0)

    def _queue_levels_db(self, new: SpatialFrames | None) -> list[tuple[float, float]]:
        """Channel-map mode: the echo guard's levels per step of the frames awaiting a decision, ``new`` last."""
        if self._guard is None:
            return []
        if new is not None:
            self._guard.take(new)
        return self._guard.step_levels_db()

    def _decide_step(self, out: Float, step_hop_s: float, level_db: tuple[float, float] | None) -> tuple[bool, bool]:
        """One step's activity; a session gap it completes resets the model before its next step."""
        decided = self._decide(out[:2], level_db, step_hop_s)
        self._watch_session(decided, step_hop_s)
        return decided

    def _label(self, frames: SpatialFrames, out: Float, active: npt.NDArray[np.bool_], lag_s: float) -> Iterator[Event]:
        """Activity and turn predictions for ``frames`` from the outputs that label them and their decisions
        (``lag_s``: how long after each frame it was decided)."""
        p_hold, p_bc = self._interpret(out, active, frames.start_s, _step_hop_s(frames))
        # predictions first: a consumer stepping the frames as they come then has them at hand
        yield TurnPredictions(
            start_s=frames.start_s,
            hop_s=frames.hop_s,
            p_hold=_expand(p_hold, frames.n_frames),
            p_backchannel=_expand(p_bc, frames.n_frames),
        )
        yield self._activity(frames, active, out[:, :2], lag_s)

    def _decide(
        self, vad: Float, level_db: tuple[float, float] | None = None, step_s: float = 0.0
    ) -> tuple[bool, bool]:
        """Hysteresis: a party turns on at ``vad_on`` and off below ``vad_off`` (plain floats: per frame).

        While the other party speaks too, a party stays on only at ``vad_on``: at a handover the
        voice that is fading would otherwise hold on through the hysteresis, and most of the frames
        the model gave to both parties where one spoke were such handovers. In channel-map mode the
        echo guard (``level_db``, see ``echo.py``) keeps the other's leaked voice from starting a party.
        """
        now = decide_activity(self._active, float(vad[0]), float(vad[1]), self.spec.vad_on, self.spec.vad_off)
        if self._guard is not None and level_db is not None:
            now = self._guard.hold_back(self._active, now, level_db, step_s)
        self._active = now
        return self._active

    def _interpret(
        self, out: Float, active: npt.NDArray[np.bool_], start_s: float, hop_s: float
    ) -> tuple[Float, Float]:
        """Per frame: p_hold (see :class:`TurnPredictions`), p_backchannel of the party who came in last.

        In a silence p_hold is about the party who spoke last: its share of the
        projected speech (1 - p_shift of a pause). While one party speaks alone
        it is about the silent one, whoever spoke last: its chance to resume
        within a second. A rep who starts in the customer's pause has often
        spoken alone since (a backchannel does not take the floor), and the
        premature start asks whether the customer, not the rep, goes on.
        """
        view = self._outlook(out)
        shift = [v.tolist() for v in view.p_shift]
        back = [v.tolist() for v in view.p_resumes]
        cont = [v.tolist() for v in view.p_continues]
        p_hold = np.full(out.shape[0], 0.5, dtype=np.float32)
        p_bc = np.ones(out.shape[0], dtype=np.float32)
        for i, on in enumerate(active.tolist()):
            last, newcomer = self._speakers.update((on[0], on[1]), start_s + i * hop_s, hop_s)
            if on[0] != on[1]:
                p_hold[i] = back[1 if on[0] else 0][i]
            elif last is not None:
                p_hold[i] = 1.0 - shift[PARTIES.index(last)][i]
            if newcomer is not None:
                p_bc[i] = 1.0 - cont[PARTIES.index(newcomer)][i]
        return p_hold, p_bc

    def _watch_session(self, active: tuple[bool, bool], hop_s: float) -> None:
        """Reset the model between customers: once the customer has been silent for a session gap (where the
        analytics end the session, though the rep may talk on), at the first step the rep is silent too (not
        within the rep's words), or as the customer comes back, whichever is first."""
        rep, customer = active
        track = self._customer_track(hop_s)
        track.step(track.now_frame, customer)
        # silent as the analytics judge it: a burst too short to be speech is no speech (nor one that may still
        # become speech yet), and before any customer speech the stream's start stands for it
        last = track.latest_end() or 0
        if (
            track.run is None
            and track.now_frame - last >= max(1, round(self.session_gap_s / hop_s))
            and last != self._gap_seen
        ):
            self._gap_seen = last
            self._reset_due = True
        if self._reset_due and (customer or not rep):
            self._new_session()

    @property
    def customer_silent_steps(self) -> int:
        """Model steps since the customer's latest speech (or the stream's start), as the timeline keeps it."""
        track = self._customer
        return 0 if track is None else track.now_frame - (track.latest_end() or 0)

    def _customer_track(self, hop_s: float) -> Track:
        if self._customer is None:
            bridge_s, min_speech_s = self._speech_rules
            steps = round(bridge_s / hop_s), round(min_speech_s / hop_s)
            self._customer = Track(Party.CUSTOMER, *steps, keep_frames=0)
        return self._customer

    def _new_session(self) -> None:
        self._reset_due = False
        self.reset_state()
        self.sessions += 1

    def _activity(
        self, frames: SpatialFrames, active: npt.NDArray[np.bool_], vad: Float, lag_s: float
    ) -> ActivityFrames:
        n = frames.n_frames
        fine_active = np.repeat(active, FRAMES_PER_STEP, axis=0)[:n]
        fine_vad = np.repeat(vad, FRAMES_PER_STEP, axis=0)[:n]
        return ActivityFrames(
            start_s=frames.start_s,
            hop_s=frames.hop_s,
            rep_active=fine_active[:, 0].copy(),
            customer_active=fine_active[:, 1].copy(),
            rep_prob=fine_vad[:, 0].copy(),
            customer_prob=fine_vad[:, 1].copy(),
            doa_deg=frames.doa_deg.copy(),
            lag_s=lag_s,
        )


def decide_activity(
    was: tuple[bool, bool], rep_prob: float, customer_prob: float, on_prob: float, off_prob: float
) -> tuple[bool, bool]:
    """One step's (rep, customer) activity from the model's two speech probabilities and the last step's.

    The one rule the stage decides by and training scores by (``models.scoring.hysteresis``):
    a party speaking alone stays on down to ``off_prob``; otherwise it needs ``on_prob``.
    """
    was_rep, was_cust = was
    rep_on = rep_prob >= (off_prob if was_rep and not was_cust else on_prob)
    return rep_on, customer_prob >= (off_prob if was_cust and not was_rep else on_prob)


def _steps(frames: SpatialFrames) -> int:
    """Model steps covering ``frames`` (a lone last frame is a step of its own)."""
    return -(-frames.n_frames // FRAMES_PER_STEP)


def _step_hop_s(frames: SpatialFrames) -> float:
    """Seconds per model step of ``frames``."""
    return frames.hop_s * FRAMES_PER_STEP


def _expand(x: Float, n: int) -> Float:
    return np.repeat(x, FRAMES_PER_STEP)[:n].astype(np.float32)
