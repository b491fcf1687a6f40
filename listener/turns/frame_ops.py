"""Parts of a run of spatial frames, and runs joined: the turn model's look-ahead and hand-overs cut and join them."""

from __future__ import annotations

import numpy as np

from listener.events import SpatialFrames


def slice_frames(f: SpatialFrames, a: int, b: int) -> SpatialFrames:
    return SpatialFrames(
        start_s=f.start_s + a * f.hop_s,
        hop_s=f.hop_s,
        sample_rate_hz=f.sample_rate_hz,
        fft_size=f.fft_size,
        power=f.power[a:b],
        rep_weight=f.rep_weight[a:b],
        customer_weight=f.customer_weight[a:b],
        noise_power=f.noise_power,
        rep_snr_db=f.rep_snr_db[a:b],
        customer_snr_db=f.customer_snr_db[a:b],
        doa_deg=f.doa_deg[a:b],
    )


def join_frames(first: SpatialFrames, *rest: SpatialFrames) -> SpatialFrames:
    """Consecutive frames as one: the first's clock, the last's noise floor."""
    parts = (first, *rest)
    return SpatialFrames(
        start_s=first.start_s,
        hop_s=first.hop_s,
        sample_rate_hz=first.sample_rate_hz,
        fft_size=first.fft_size,
        power=np.concatenate([p.power for p in parts]),
        rep_weight=np.concatenate([p.rep_weight for p in parts]),
        customer_weight=np.concatenate([p.customer_weight for p in parts]),
        noise_power=parts[-1].noise_power,
        rep_snr_db=np.concatenate([p.rep_snr_db for p in parts]),
        customer_snr_db=np.concatenate([p.customer_snr_db for p in parts]),
        doa_deg=np.concatenate([p.doa_deg for p in parts]),
    )
