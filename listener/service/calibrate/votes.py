"""What ``listener calibrate`` learns from: the direction of every 10 ms frame of speech, and its weight.

The spatial front end gives each frame a direction (SRP-PHAT over a
10-degree grid, NaN when silent) and its sound above the noise floor. A
frame votes when it rises SNR_MARGIN_DB above activity.speech_snr_db and
lies in speech: near a voiced stretch (VOICED_RUN_S of frames whose
spectrum repeats at a voice's pitch). A fan is absorbed by the noise floor,
but a hiss, a rumble or a door slam rises above it as well as a voice does;
only the voice has a pitch. The turn model is no such test: it reads the
front end's levels and took six 0.7 s bursts of hiss for 4 s of speech.

Nothing votes in the first SETTLE_S. The noise floor starts from the first
50 ms and rises at most 24 dB/s while it learns the room, so a noise that
begins with the listening stands above it, as loud as speech, until then:
in bench.calibrate a bike starting 40 ms in voted from 0.17 to 0.50 s, and
calibrate stored it as the customer. Live, the rep starts after the
invitation to talk anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from listener.config import Config, geometry
from listener.errors import CalibrationError
from listener.events import AudioBlock, Event, SpatialFrames
from listener.spatial.frontend import SpatialFrontEnd

SNR_MARGIN_DB = 3.0  # frames must rise this far above activity.speech_snr_db to vote
MAX_WEIGHT_DB = 30.0  # one very loud frame counts no more than a few ordinary ones
MIN_PITCH_HZ, MAX_PITCH_HZ = 80.0, 400.0  # the range of speaking voices
# Peak of the pitch-range autocorrelation of the frame's magnitude spectrum above the floor. Voiced
# speech gives 0.7 to 1; hiss, pink and brown noise and knocks stay below 0.36 in 99 % of their frames.
VOICING_MIN = 0.4
VOICED_RUN_S = 0.05  # a vowel lasts this long; a chance peak in noise lasts a frame or two
VOICE_REACH_S = 0.2  # the consonants around a vowel are speech too
SETTLE_S = 1.0  # the noise floor's start-up: a noise 24 dB over the room's background is absorbed by then

Float = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Votes:
    """Per-frame directions of the frames with speech, and their weights."""

    doa_deg: Float
    weight: Float
    hop_s: float
    heard_s: float = 0.0  # audio the front end analysed
    loud_s: float = 0.0  # of it, frames rising above the noise floor by the vote's margin, voice or not
    # Each vote's frame number: when it was said, which tells a talker's own turns from an echo's or a
    # noise's votes, which fall among another talker's. None: one vote per frame, back to back.
    frame: Int | None = None

    @property
    def frames(self) -> Int:
        return np.arange(self.doa_deg.size) if self.frame is None else self.frame

    @property
    def time_s(self) -> Float:
        """When each vote was said, from the start of the listening."""
        return self.frames.astype(np.float64) * self.hop_s


class _WholeCircle(SpatialFrontEnd):
    """The front end with no direction discounted as "elsewhere" (a till, a door).

    Before calibration the configured directions may be wrong, and the
    sectors around them leave a blind arc unless they are opposite: a talker
    anywhere must count.
    """

    def _elsewhere(self, srp: npt.NDArray[np.float32], weight: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.zeros(srp.shape[0], dtype=np.float32)


def collect_votes(config: Config, events: Iterable[Event]) -> Votes:
    """Run the spatial front end over ``events`` and keep the frames that carry speech."""
    geo = geometry(config)
    if geo.mode != "doa":
        raise CalibrationError(
            "calibration learns directions, but the configuration is in channel-map mode (one mic per party): "
            "nothing to calibrate; to use directions remove [parties] rep_channel and customer_channel (and any "
            "mode = 'channels')"
        )
    front = _WholeCircle(config, geo)
    band_hz = (config.activity.low_hz, config.activity.high_hz)
    doas_deg: list[Float] = []
    levels_db: list[Float] = []
    voiced: list[Bool] = []
    for event in events:
        if not isinstance(event, AudioBlock):
            continue
        for frames in front.process(event):
            if isinstance(frames, SpatialFrames):
                doas_deg.append(frames.doa_deg.astype(np.float64))
                levels_db.append(_level_db(frames))
                voiced.append(voicing(frames, band_hz) >= VOICING_MIN)
    if not doas_deg:
        return Votes(np.zeros(0), np.zeros(0), front.hop_s)
    doa_deg, level_db = np.concatenate(doas_deg), np.concatenate(levels_db)
    threshold_db = config.activity.speech_snr_db + SNR_MARGIN_DB
    loud = np.isfinite(doa_deg) & (level_db > threshold_db)
    loud[: round(SETTLE_S / front.hop_s)] = False  # the floor is still learning the room
    # near silence the few bins above the floor repeat at any lag: only loud frames can be voiced
    keep = loud & speech_frames(loud & np.concatenate(voiced), front.hop_s)
    weight = np.clip(level_db[keep] - threshold_db, 0.0, MAX_WEIGHT_DB)
    # how much was heard, and how much of it was loud: what a refusal says about silence against noise
    heard_s, loud_s = doa_deg.size * front.hop_s, int(loud.sum()) * front.hop_s
    return Votes(doa_deg[keep], weight, front.hop_s, heard_s, loud_s, np.flatnonzero(keep))


def _level_db(frames: SpatialFrames) -> Float:
    # The two parties' evidence together is the frame's sound above the floor, whoever it came from.
    total = 10.0 ** (frames.rep_snr_db / 10.0) + 10.0 ** (frames.customer_snr_db / 10.0)
    return (10.0 * np.log10(total)).astype(np.float64)


def voicing(frames: SpatialFrames, band_hz: tuple[float, float]) -> Float:
    """Per frame: how strongly the spectrum above the floor repeats at a pitch between MIN_ and MAX_PITCH_HZ.

    The autocorrelation of the magnitude (not power) spectrum: the power of
    one strong harmonic, or of a rumble's low end, would make any sound look
    periodic at short lags. Divided by the analysis window's own
    autocorrelation, which otherwise shrinks the long lags of low voices.
    """
    freqs_hz = np.fft.rfftfreq(frames.fft_size, 1.0 / frames.sample_rate_hz)
    in_band = (freqs_hz >= band_hz[0]) & (freqs_hz <= band_hz[1])
    excess = np.maximum(frames.power - frames.noise_power, 0.0) * in_band
    ac = np.fft.irfft(np.sqrt(excess), n=frames.fft_size, axis=1)
    lo, hi, window_ac = _pitch_lags(frames.fft_size, frames.sample_rate_hz)
    return np.asarray((ac[:, lo:hi] / (ac[:, :1] + 1e-20) / window_ac).max(axis=1), dtype=np.float64)


@functools.cache
def _pitch_lags(fft_size: int, rate_hz: int) -> tuple[int, int, Float]:
    lo, hi = round(rate_hz / MAX_PITCH_HZ), round(rate_hz / MIN_PITCH_HZ) + 1
    window = np.hanning(fft_size)  # the front end's analysis window
    ac = np.fft.irfft(np.abs(np.fft.rfft(window)) ** 2, n=fft_size)
    return lo, hi, ac[lo:hi] / ac[0]


def speech_frames(voiced: Bool, hop_s: float) -> Bool:
    """Frames within VOICE_REACH_S of a run of at least VOICED_RUN_S of voiced frames."""
    run_frames = max(1, round(VOICED_RUN_S / hop_s))
    reach_frames = round(VOICE_REACH_S / hop_s)
    if voiced.size < run_frames:
        return np.zeros(voiced.size, dtype=bool)
    full = np.convolve(voiced.astype(np.int32), np.ones(run_frames, dtype=np.int32), mode="valid") == run_frames
    nuclei = np.convolve(full.astype(np.int32), np.ones(run_frames, dtype=np.int32), mode="full") > 0
    # "full", centred: "same" returns the window's length, not the input's, for fewer frames than the window
    spread = np.convolve(nuclei.astype(np.int32), np.ones(2 * reach_frames + 1, dtype=np.int32), mode="full")
    near = spread[reach_frames : reach_frames + voiced.size] > 0
    return np.asarray(near, dtype=bool)
