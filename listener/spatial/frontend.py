"""From multi-channel audio to per-party evidence, frame by frame.

Each 10 ms hop gets a 32 ms windowed spectrum per mic. A tracked noise
floor says which time-frequency bins hold more than steady background.
Each frame gets a rep-vs-customer vote pooled over all its signal bins and
the last 350 ms; each bin's weight then starts from that vote and moves
toward how well the bin's own inter-mic phases match either party's
direction, as far as the geometry can tell the two directions apart at that
frequency (in channel-map mode: by which party's own mic hears the bin
louder). Everything is vectorised over a block of frames: the hot path is a
handful of numpy calls per block.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from listener.config import PROCESSING_RATE_HZ, ArrayGeometry, Config
from listener.config.array_checks import angle_apart_deg
from listener.events import AudioBlock, AudioDropped, EndOfStream, Event, SpatialFrames
from listener.pipeline import Stage
from listener.spatial import doa
from listener.spatial.gain import ChannelGain
from listener.spatial.noise import NoiseFloor

FFT_SIZE = 512
N_BINS = FFT_SIZE // 2 + 1
SECTOR_OFFSETS_DEG = (-30.0, -15.0, 0.0, 15.0, 30.0)
DOA_GRID_DEG = np.arange(0.0, 360.0, 10.0)
DOA_STRIDE_FRAMES = 2
DOA_BIN_STRIDE = 2  # direction display needs no full resolution: half the bins, a quarter the cost
EXCESS_FACTOR = 2.0  # a bin counts as signal when it is 3 dB above its floor
WEIGHT_SHARPNESS = 12.0  # slope of the soft rep-vs-customer vote per unit of normalised contrast
# A bin whose geometry allows at least this much rep-vs-customer contrast (mean PHAT score
# difference of a perfect source) is weighted by its own direction match alone; bins below it
# (low frequencies, spatial aliasing) lean on the frame's vote in proportion.
BIN_FULL_CONTRAST = 0.5
BIN_MIN_CONTRAST = 0.05  # floor of the per-bin normaliser: bins with no contrast stay finite
VOTE_FRAMES = 35  # the direction vote pools 350 ms: long enough to outvote reflections
CROSS_SMOOTH_FRAMES = 5
ELSEWHERE_SHARPNESS = 30.0  # per unit of mean PHAT score
ELSEWHERE_MARGIN = 0.05  # elsewhere must beat both sectors by this much
# Mean band power per bin of a frame with no sound (-120 dB): far below the quietest real input (16-bit
# quantisation noise alone gives about 7e-8) and far above what a few LSB of DC offset leak into the band.
DIGITAL_SILENCE_POWER = 1e-12
CHANNEL_LEAD_PER_UNIT_DB = 4.0  # channel-map weight: logit per this much louder at the party's own mic
SILENT_SNR_DB = -60.0  # either party's level in frames of audio that never arrived

Float = npt.NDArray[np.float32]


class SpatialFrontEnd(Stage):
    """AudioBlock -> SpatialFrames."""

    name = "spatial"

    def __init__(self, config: Config, geometry: ArrayGeometry) -> None:
        self.geometry = geometry
        self.hop_samples = PROCESSING_RATE_HZ * config.activity.frame_ms // 1000
        self.hop_s = self.hop_samples / PROCESSING_RATE_HZ
        freqs_hz = np.fft.rfftfreq(FFT_SIZE, 1.0 / PROCESSING_RATE_HZ)
        in_band = np.flatnonzero((freqs_hz >= config.activity.low_hz) & (freqs_hz <= config.activity.high_hz))
        # a slice, not a mask: a mask's copies of (frames, bins) come out frame-major, and numpy then sums
        # each frame over its bins in another order than for a one-frame block, so a frame's figures
        # would change with where the stream was cut (the config keeps 1 kHz inside the band)
        self.band = slice(int(in_band[0]), int(in_band[-1]) + 1)
        self.window = np.hanning(FFT_SIZE).astype(np.float32)
        self._channels = geometry.mode == "channels"
        if not self._channels:
            self._setup_directions(config, freqs_hz[self.band].astype(np.float64))
        self._start_stream()

    def _start_stream(self) -> None:
        """Everything carried from frame to frame, as at the start of a stream."""
        self.noise = NoiseFloor(n_bins=N_BINS, hop_s=self.hop_s)
        self._tail: Float = np.zeros((self._n_inputs(), FFT_SIZE - self.hop_samples), dtype=np.float32)  # (ch, samples)
        self._frames_out = 0
        self._drop_residual_s = 0.0
        if self._channels:
            self._gain = ChannelGain(self.hop_s)  # the two channels' gain mismatch, learnt from both parties' speech
        else:
            self.cross.reset()
            self._vote_history = np.zeros((VOTE_FRAMES - 1, 2), dtype=np.float32)
            self._srp_history = np.zeros((VOTE_FRAMES - 1, DOA_GRID_DEG.size + 1), dtype=np.float32)
            self._last_srp = np.zeros(DOA_GRID_DEG.size, dtype=np.float32)

    def _n_inputs(self) -> int:
        return 2 if self._channels else self.geometry.n_mics

    def _setup_directions(self, config: Config, band_hz: npt.NDArray[np.float64]) -> None:
        mics = self.geometry.mics_m
        self.pairs = doa.mic_pairs(mics.shape[0])
        offsets_deg = np.array(SECTOR_OFFSETS_DEG)
        rep_deg = config.parties.rep_azimuth_deg + offsets_deg
        cust_deg = config.parties.customer_azimuth_deg + offsets_deg
        self.cross = doa.SmoothedCrossSpectra(self.pairs, band_hz.size, CROSS_SMOOTH_FRAMES)
        rep_steer = doa.steering(mics, self.pairs, band_hz, rep_deg)
        self.scorer = doa.DirectionScorer(
            np.concatenate([rep_steer, doa.steering(mics, self.pairs, band_hz, cust_deg)])
        )
        self.srp = doa.SrpMap(doa.steering(mics, self.pairs, band_hz[::DOA_BIN_STRIDE], DOA_GRID_DEG), DOA_BIN_STRIDE)
        # the largest rep-minus-customer score a perfect rep source can give, per bin
        centre = np.ascontiguousarray(rep_steer[len(SECTOR_OFFSETS_DEG) // 2][None])  # (1, bins, pairs)
        self.contrast = self._score_difference(centre)[0]
        self.bin_trust = np.clip(self.contrast / BIN_FULL_CONTRAST, 0.0, 1.0).astype(np.float32)
        self.bin_scale = (1.0 / np.maximum(self.contrast, BIN_MIN_CONTRAST)).astype(np.float32)
        half_width = config.parties.sector_half_width_deg
        self.party_dirs = np.zeros(DOA_GRID_DEG.size, dtype=bool)
        for azimuth in (config.parties.rep_azimuth_deg, config.parties.customer_azimuth_deg):
            self.party_dirs |= angle_apart_deg(DOA_GRID_DEG, azimuth) <= half_width

    def process(self, event: Event) -> Iterable[Event]:
        if isinstance(event, AudioBlock):
            frames = self._analyse(event.samples)
            if frames is not None:
                yield frames
        elif isinstance(event, AudioDropped):
            yield self._silence(event.duration_s)
        elif isinstance(event, EndOfStream):
            self._start_stream()  # as the turn stage does: a next stream neither hears this one nor continues its clock

    def _analyse(self, samples: Float) -> SpatialFrames | None:
        # channel-major (ch, samples): each channel's windows are then cut from one contiguous row
        buf = np.concatenate([self._tail, samples.T.astype(np.float32, copy=False)], axis=1)
        n = (buf.shape[1] - FFT_SIZE) // self.hop_samples + 1
        if n <= 0:
            self._tail = buf
            return None
        self._tail = buf[:, n * self.hop_samples :]
        spec = self._spectra(buf, n)
        mag2 = (spec.real**2 + spec.imag**2).astype(np.float32)
        power = mag2.mean(axis=1)
        # digital silence, or a constant offset (whose window leaks only rounding into the band), is no
        # sound at all: no floor here follows it, and it goes on as exact zeros, which the turn features'
        # floor does not follow either
        silent = power[:, self.band].mean(axis=1) <= DIGITAL_SILENCE_POWER
        power[silent] = 0.0
        noise = self.noise.update(power, ~silent)  # (n, bins): floor as it stood at each frame
        excess = np.maximum(power[:, self.band] - EXCESS_FACTOR * noise[:, self.band], 0.0)  # (n, band bins)
        if self._channels:
            mag2[silent] = 0.0
            rep_w, cust_w, doa_deg = _channel_weights(mag2, self._gain_offset_db(mag2))
            levels = (rep_w[:, self.band], cust_w[:, self.band])
            return self._emit(power, noise, excess, (rep_w, cust_w), levels, doa_deg)
        bins, frame, doa_deg = self._direction_weights(spec[:, :, self.band], excess)
        return self._emit(power, noise, excess, bins, frame, doa_deg)

    def _spectra(self, buf: Float, n: int) -> npt.NDArray[np.complex64]:
        """Windowed spectra of the ``n`` frames in ``buf`` (ch, samples): (n, ch, bins).

        Windows cut across interleaved channels would all be strided, and
        multiplying them by the taper would cost twice the FFT.
        """
        win = sliding_window_view(buf, FFT_SIZE, axis=1)[:, : n * self.hop_samples : self.hop_samples]  # (ch, n, FFT)
        spec = scipy.fft.rfft(win * self.window, axis=-1).astype(np.complex64, copy=False)
        return np.ascontiguousarray(spec.transpose(1, 0, 2))

    def _gain_offset_db(self, mag2: Float) -> Float:
        """Per frame: how much louder the rep's channel records the same sound (``listener.spatial.gain``).

        Two mics set 20 dB apart would otherwise credit the quieter party's own
        speech to the louder channel's party. A channel in digital silence says
        nothing about its gain: such frames are left out.
        """
        levels = mag2[:, :, self.band].mean(axis=2)  # (n, 2)
        return self._gain.update(levels, (levels > DIGITAL_SILENCE_POWER).all(axis=1))

    def _direction_weights(
        self, spec: npt.NDArray[np.complex64], excess: Float
    ) -> tuple[tuple[Float, Float], tuple[Float, Float], Float]:
        """((rep, customer) weight per bin, (rep, customer) weight per frame as (n, 1), direction).

        The per-bin weights feed the turn model's per-band features; the
        per-frame vote, steadier, gives each party's level (``*_snr_db``),
        which the heuristic decider thresholds.
        """
        cross = self.cross(spec)
        diff = self._score_difference(cross)
        contrast = self._vote(excess, diff)
        srp = self._sparse_srp(cross, excess)
        elsewhere = self._elsewhere(srp, excess[:, :: self.srp.stride].sum(axis=1))
        doa_deg = DOA_GRID_DEG[np.argmax(srp, axis=1)].astype(np.float32)
        doa_deg[excess.sum(axis=1) <= 0] = np.nan
        keep = (1.0 - elsewhere)[:, None]
        vote = _sigmoid(WEIGHT_SHARPNESS * contrast)[:, None]
        votes = np.repeat(vote, N_BINS, axis=1)
        votes[:, self.band] = self._bin_votes(contrast, diff)
        return (votes * keep, (1.0 - votes) * keep), (vote * keep, (1.0 - vote) * keep), doa_deg

    def _sparse_srp(self, cross: npt.NDArray[np.complex64], excess: Float) -> Float:
        """A direction map every other frame is plenty for a vote pooled over 350 ms.

        Which frames get one follows the stream's frame count, not the block's,
        and a block that starts on an odd frame reuses the last map: otherwise
        the result would depend on where the stream was cut.
        """
        first = (-self._frames_out) % DOA_STRIDE_FRAMES  # this block's first frame with a map of its own
        maps = self._last_srp[None]
        if first < cross.shape[0]:
            own = self.srp(cross[first::DOA_STRIDE_FRAMES], excess[first::DOA_STRIDE_FRAMES])
            maps = np.concatenate([maps, own], axis=0)
        self._last_srp = maps[-1]
        return maps[(np.arange(cross.shape[0]) - first) // DOA_STRIDE_FRAMES + 1]

    def _bin_votes(self, contrast: Float, diff: Float) -> Float:
        """Rep weight per band bin: the frame's pooled contrast, moved to the bin's own.

        Two voices at once share the frame but less so each bin: where the
        rep's harmonics dominate, a bin matches the rep's direction even
        while the customer's voice wins the frame's vote. The turn model reads
        that balance per mel band. A single bin's match is noisy under
        reverberation, so bins that can barely tell the two directions apart
        keep the frame's vote.
        """
        local = np.clip(diff * self.bin_scale, -1.0, 1.0)
        mixed = contrast[:, None] + self.bin_trust * (local - contrast[:, None])
        return _sigmoid(WEIGHT_SHARPNESS * mixed)

    def _moving_sum(self, name: str, values: Float) -> Float:
        """Causal sum over the last VOTE_FRAMES frames, continued across blocks."""
        history: Float = getattr(self, name)
        both = np.concatenate([history, values], axis=0)
        setattr(self, name, both[both.shape[0] - (VOTE_FRAMES - 1) :])
        return doa.window_sum(both, VOTE_FRAMES)

    def _elsewhere(self, srp: Float, weight: Float) -> Float:
        """How likely the frame's sound comes from neither party's sector (a till, a fridge, a door)."""
        sums = self._moving_sum("_srp_history", np.concatenate([srp, weight[:, None]], axis=1))
        score = sums[:, :-1] / (sums[:, -1:] + 1e-12)
        party = score[:, self.party_dirs].max(axis=1)
        other = score[:, ~self.party_dirs].max(axis=1) if (~self.party_dirs).any() else party - 1.0
        return _sigmoid(ELSEWHERE_SHARPNESS * (other - party - ELSEWHERE_MARGIN))

    def _score_difference(self, cross: npt.NDArray[np.complex64]) -> Float:
        """Best rep-sector match minus best customer-sector match, per bin."""
        return self.scorer.best_difference(cross, len(SECTOR_OFFSETS_DEG))

    def _vote(self, excess: Float, diff: Float) -> Float:
        """Per frame: observed rep-vs-customer contrast over the most the geometry allows (+1 rep, -1 customer).

        Single bins are too noisy under reverberation, and low bins barely
        differ between the two directions; pooling every signal bin of a
        frame, weighted by its excess power, and then the last VOTE_FRAMES
        frames (a talker does not move within a third of a second), gives a
        stable vote.
        """
        num = (excess * diff).sum(axis=1)
        den = (excess * self.contrast[None, :]).sum(axis=1)
        window = self._moving_sum("_vote_history", np.stack([num, den], axis=1))
        return (window[:, 0] / (window[:, 1] + 1e-12)).astype(np.float32)

    def _emit(
        self,
        power: Float,
        noise: Float,
        excess: Float,
        bins: tuple[Float, Float],
        levels: tuple[Float, Float],
        doa_deg: Float,
    ) -> SpatialFrames:
        """``bins``: (rep, customer) weights per bin; ``levels``: the weights (band bins or (n, 1)) for the SNRs."""
        (rep_w, cust_w), (rep_l, cust_l) = bins, levels
        floor = noise[:, self.band].sum(axis=1) + 1e-10
        rep_snr_db = 10.0 * np.log10((excess * rep_l).sum(axis=1) / floor + 1e-6)
        cust_snr_db = 10.0 * np.log10((excess * cust_l).sum(axis=1) / floor + 1e-6)
        snr_db = (rep_snr_db.astype(np.float32), cust_snr_db.astype(np.float32))
        return self._next_frames(power, (rep_w, cust_w), noise[-1].copy(), snr_db, doa_deg)

    def _silence(self, duration_s: float) -> SpatialFrames:
        """Frames for audio that never arrived: silent, and the floor untouched."""
        # many small gaps must not drift the clock: carry the fraction of a frame
        total_s = duration_s + self._drop_residual_s
        n = max(0, int(total_s / self.hop_s + 1e-9))
        self._drop_residual_s = total_s - n * self.hop_s
        zeros = np.zeros((n, N_BINS), dtype=np.float32)
        self._tail[:] = 0.0
        silent_db = np.full(n, SILENT_SNR_DB, dtype=np.float32)
        snr_db = (silent_db, silent_db.copy())
        unknown_deg = np.full(n, np.nan, dtype=np.float32)
        return self._next_frames(zeros, (zeros + 0.5, zeros + 0.5), self.noise.floor.copy(), snr_db, unknown_deg)

    def _next_frames(
        self,
        power: Float,
        weights: tuple[Float, Float],
        noise_power: Float,
        snr_db: tuple[Float, Float],
        doa_deg: Float,
    ) -> SpatialFrames:
        """The next frames of the stream: ``weights`` and ``snr_db`` are (rep, customer); they advance the clock."""
        start_s = self._frames_out * self.hop_s
        self._frames_out += power.shape[0]
        return SpatialFrames(
            start_s=start_s,
            hop_s=self.hop_s,
            sample_rate_hz=PROCESSING_RATE_HZ,
            fft_size=FFT_SIZE,
            power=power,
            rep_weight=weights[0],
            customer_weight=weights[1],
            noise_power=noise_power,
            rep_snr_db=snr_db[0],
            customer_snr_db=snr_db[1],
            doa_deg=doa_deg,
        )


def _sigmoid(x: npt.NDArray[np.floating]) -> Float:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


def _channel_weights(mag2: Float, gain_offset_db: Float) -> tuple[Float, Float, Float]:
    """Channel-map mode: a bin belongs to the party whose own mic hears it louder.

    Cross-talk reaches the other mic attenuated, so the ratio of the two
    channels' power, less how much louder the rep's channel records
    everything (``gain_offset_db`` per frame), decides; a 6 dB lead gives a
    weight near 0.8.
    """
    rep, cust = mag2[:, 0, :], mag2[:, 1, :]
    ratio_db = 10.0 * np.log10((rep + 1e-12) / (cust + 1e-12)) - gain_offset_db[:, None]
    rep_w = _sigmoid(ratio_db / CHANNEL_LEAD_PER_UNIT_DB)
    nan = np.full(mag2.shape[0], np.nan, dtype=np.float32)
    return rep_w, (1.0 - rep_w).astype(np.float32), nan
