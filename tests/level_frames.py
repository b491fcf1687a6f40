"""Front-end frames that carry only the parties' levels: what the heuristic decider and the echo guard read."""

from __future__ import annotations

import numpy as np

from listener.events import SpatialFrames
from listener.spatial.frontend import SILENT_SNR_DB

HOP_S = 0.01  # the front end's 10 ms frames


def levels(rep_db: list[float], customer_db: list[float] | None = None) -> SpatialFrames:
    """10 ms frames from the stream's start with these per-frame levels (dB); the customer silent unless given."""
    n = len(rep_db)
    return SpatialFrames(
        start_s=0.0,
        hop_s=HOP_S,
        sample_rate_hz=16000,
        fft_size=512,
        power=np.zeros((n, 1), np.float32),
        rep_weight=np.zeros((n, 1), np.float32),
        customer_weight=np.zeros((n, 1), np.float32),
        noise_power=np.zeros(1, np.float32),
        rep_snr_db=np.array(rep_db, np.float32),
        customer_snr_db=np.array(customer_db if customer_db is not None else [SILENT_SNR_DB] * n, np.float32),
        doa_deg=np.full(n, np.nan, np.float32),
    )
