"""Spatial attribution and the turn model (listener/spatial, listener/turns): per-frame evidence and activity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from listener.events.base import BoolArray, Event, FloatArray, Party


@dataclass(frozen=True, slots=True, eq=False)
class ActivityFrames(Event):
    """Per-party voice activity for consecutive frames of ``hop_s`` each.

    Both parties may be active in the same frame (overlap). ``*_prob`` are
    the per-party speech likelihoods the decision was taken from;
    ``doa_deg`` is the dominant direction of arrival (NaN when silent or in
    channel-map mode). ``lag_s`` is how much audio past a frame the decision
    heard before it was made (a turn model's look-ahead): anything decided
    from frame *t* is decided at audio time *t* + ``lag_s``.
    """

    start_s: float
    hop_s: float
    rep_active: BoolArray
    customer_active: BoolArray
    rep_prob: FloatArray
    customer_prob: FloatArray
    doa_deg: FloatArray
    lag_s: float = 0.0

    @property
    def n_frames(self) -> int:
        return int(self.rep_active.shape[0])

    @property
    def end_s(self) -> float:
        return self.start_s + self.n_frames * self.hop_s

    def active(self, party: Party) -> BoolArray:
        return self.rep_active if party is Party.REP else self.customer_active

    def active_until_s(self, party: Party) -> float | None:
        """The end of ``party``'s last active frame here (None: not active in any)."""
        active = np.flatnonzero(self.active(party))
        return self.start_s + float(active[-1] + 1) * self.hop_s if active.size else None


@dataclass(frozen=True, slots=True, eq=False)
class SpatialFrames(Event):
    """What the spatial front end knows about consecutive frames.

    ``power`` is the mean power spectrum over mics, (n_frames, n_bins), bins
    spaced ``sample_rate_hz / fft_size`` apart. ``rep_weight`` and
    ``customer_weight`` (same shape, 0..1) say how much of each
    time-frequency bin arrived from that party (direction, or own channel).
    ``noise_power`` (n_bins,) is the tracked noise floor at the block's end.
    ``rep_snr_db`` / ``customer_snr_db`` are per-party speech evidence: the
    party's share of power above the noise floor, relative to that floor.
    The activity decision (heuristic or the turn model) works from these.
    """

    start_s: float
    hop_s: float
    sample_rate_hz: int
    fft_size: int
    power: FloatArray
    rep_weight: FloatArray
    customer_weight: FloatArray
    noise_power: FloatArray
    rep_snr_db: FloatArray
    customer_snr_db: FloatArray
    doa_deg: FloatArray

    @property
    def n_frames(self) -> int:
        return int(self.power.shape[0])

    @property
    def end_s(self) -> float:
        return self.start_s + self.n_frames * self.hop_s


@dataclass(frozen=True, slots=True, eq=False)
class TurnPredictions(Event):
    """The turn-taking model's outlook for consecutive frames (the ActivityFrames hop).

    ``p_hold``: in a mutual silence, the probability that the party who spoke
    last speaks next (``p_shift = 1 - p_hold``); while one party speaks
    alone, the probability that the other resumes within a second (at a
    rep's start in the customer's pause: the customer was only thinking).
    ``p_backchannel``: while a party starts speaking over the other, the
    probability that it only backchannels rather than bids for the floor.
    The analytics read them only at those moments; elsewhere they are the
    model's running outputs.
    """

    start_s: float
    hop_s: float
    p_hold: FloatArray
    p_backchannel: FloatArray

    @property
    def n_frames(self) -> int:
        return int(self.p_hold.shape[0])

    @property
    def end_s(self) -> float:
        return self.start_s + self.n_frames * self.hop_s
