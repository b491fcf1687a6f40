"""The front end's per-bin direction weights: two talkers at once are told apart band by band."""

from __future__ import annotations

import numpy as np

from listener.config import PROCESSING_RATE_HZ, geometry, parse_config
from listener.events import AudioBlock, SpatialFrames
from listener.spatial.frontend import FFT_SIZE, SpatialFrontEnd
from tests.synth import RATE_HZ, from_direction

QUIET_S = 2.5  # room noise only, until the noise floors have settled
SECONDS = 4.0


def band_noise(low_hz: float, high_hz: float, seed: int) -> np.ndarray:
    n = int(SECONDS * RATE_HZ)
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / RATE_HZ)
    spec[(freqs < low_hz) | (freqs > high_hz)] = 0.0
    x = np.fft.irfft(spec, n)
    x[: int(QUIET_S * RATE_HZ)] = 0.0
    return 0.05 * x / np.std(x)


def frames_of(audio: np.ndarray) -> SpatialFrames:
    config = parse_config({})
    front = SpatialFrontEnd(config, geometry(config))
    noise = 1e-4 * np.random.default_rng(9).standard_normal(audio.shape)
    block = AudioBlock(start_s=0.0, sample_rate_hz=RATE_HZ, samples=(audio + noise).astype(np.float32))
    (frames,) = [e for e in front.process(block) if isinstance(e, SpatialFrames)]
    return frames


def talking(frames: SpatialFrames) -> slice:
    """The frames of the talk, from when the 350 ms vote has filled."""
    return slice(round((QUIET_S + 0.5) / frames.hop_s), None)


def mean_rep_weight(frames: SpatialFrames, low_hz: float, high_hz: float) -> float:
    freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / RATE_HZ)
    bins = (freqs >= low_hz) & (freqs <= high_hz)
    settled = frames.rep_weight[talking(frames)]
    return float(settled[:, bins].mean())


def test_two_talkers_at_once_keep_their_own_bands() -> None:
    # the rep's voice fills 0.9-1.4 kHz, the customer's 2.0-2.6 kHz, both at once, from 0 and 180 deg
    rep = from_direction(band_noise(900, 1400, seed=1), 0.0)
    customer = from_direction(band_noise(2000, 2600, seed=2), 180.0)
    frames = frames_of(rep + customer)
    assert mean_rep_weight(frames, 950, 1350) > 0.8
    assert mean_rep_weight(frames, 2050, 2550) < 0.2
    # each party's level comes from the frame's vote: both are well above the floor
    talk = talking(frames)
    assert np.median(frames.rep_snr_db[talk]) > 10.0
    assert np.median(frames.customer_snr_db[talk]) > 10.0


def test_one_talker_owns_every_band() -> None:
    frames = frames_of(from_direction(band_noise(300, 3800, seed=3), 180.0))
    assert mean_rep_weight(frames, 950, 1350) < 0.2
    assert mean_rep_weight(frames, 2050, 2550) < 0.2
    talk = talking(frames)
    assert np.median(frames.customer_snr_db[talk]) - np.median(frames.rep_snr_db[talk]) > 10.0


def test_a_quieter_talker_keeps_its_bands_while_the_louder_wins_the_frames_vote() -> None:
    """_bin_votes: a bin the rep's voice dominates matches the rep's direction even while the customer's voice,
    here 10 dB louder, wins the frame's vote."""
    rep = from_direction(band_noise(900, 1400, seed=1) / 3.0, 0.0)
    customer = from_direction(band_noise(2000, 2600, seed=2), 180.0)
    frames = frames_of(rep + customer)
    talk = talking(frames)
    assert np.median(frames.customer_snr_db[talk]) - np.median(frames.rep_snr_db[talk]) > 20.0  # the frame's vote
    assert mean_rep_weight(frames, 950, 1350) > 0.8
    assert mean_rep_weight(frames, 2050, 2550) < 0.2


def test_a_sound_from_neither_partys_sector_is_given_to_neither() -> None:
    """A till or a door at 90 deg, outside both 60 deg sectors (rep at 0, customer at 180): no weight, no level.
    The rep at 40 deg, off-axis but inside the rep's sector, is the rep."""
    aside = frames_of(from_direction(band_noise(300, 3800, seed=3), 90.0))
    talk = talking(aside)
    assert (aside.rep_weight[talk] + aside.customer_weight[talk]).max() < 0.01
    assert max(np.median(aside.rep_snr_db[talk]), np.median(aside.customer_snr_db[talk])) < 0.0
    off_axis = frames_of(from_direction(band_noise(300, 3800, seed=3), 40.0))
    assert mean_rep_weight(off_axis, 300, 3800) > 0.9


def test_the_band_holds_the_bins_at_its_edges() -> None:
    """[activity] low_hz and high_hz are inclusive: at 16 kHz and 512 points the defaults' 200 Hz falls between
    bins (187.5, 218.75) and 4000 Hz on one, the band's last; 218.75 Hz, given exactly, is the band's first."""
    hz_per_bin = PROCESSING_RATE_HZ / FFT_SIZE
    for low_hz, high_hz, first_hz, last_hz in [(200.0, 4000.0, 218.75, 4000.0), (218.75, 3999.0, 218.75, 3968.75)]:
        config = parse_config({"activity": {"low_hz": low_hz, "high_hz": high_hz}})
        band = SpatialFrontEnd(config, geometry(config)).band
        assert (band.start * hz_per_bin, (band.stop - 1) * hz_per_bin) == (first_hz, last_hz)
