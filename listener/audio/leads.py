"""Which of two mics (channel-map mode: the rep's, the customer's) leads while someone speaks: a party's mic
that never leads while the other's often does hears speech only as leakage (unplugged, muted, facing away).

Streamed and cheap: each 20 ms frame's level pair goes into a joint histogram of 1 dB bins, so a look of a
minute keeps ~20 000 counts, not the audio. Each channel's floor (its own noise: hiss, hum, the room) is a
low percentile of its frame levels, and a frame is judged by how far each channel stands above its own
floor, so a mic with less gain (its noise as low as its speech) is not taken for one that hears less.

Thresholds, from two-mic recordings of real speech (a rep's and a customer's voice, one mic each, the other
voice leaking in 6 to 20 dB down, kitchen or exercise-bike noise, a customer 20 dB quieter, a customer
channel with 20 dB less or more gain, a customer mic in a quieter or noisier corner): an unplugged mic
(hiss and hum alone, ~-67 dBFS) led in 0.0 % of the speech frames and the other in 100 %; a customer mic
that hears its talker led in 12 to 99 %; with the rep alone talking a working customer mic led in 6 to 7 %
(room noise) and the rep in 90 %. Not told apart: a customer 20 dB quieter in bike noise, whom the analysis
itself hears for under 0.5 s (led in 0.3 %); a rep's mic whose voice reaches the customer's only 6 dB
down while the customer's channel has 10 dB more gain (the rep's led in 0.3 %); a look in which one party
alone spoke. Each is said as a mic that hears only the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from listener.audio.levels import histogram_quantiles

FRAME_S = 0.02  # one level per channel per frame
FLOOR_SHARE = 0.05  # a channel's floor: this share of its frames are quieter
SPEECH_DB = 12.0  # a frame with a channel this far above its floor: someone speaks
LEAD_DB = 6.0  # a channel this much further above its floor than the other leads the frame
NEVER_SHARE = 0.01  # leading in fewer of the speech frames than this is never leading
OFTEN_SHARE = 0.3  # the other leading in this many of them is often
# Neither mic leading in this many of the speech frames: the two hear both parties alike, not one each. Two
# lapel mics with each voice leaking 6 dB down led in 29-39 %, 5 dB down in 4-7 %, 0.5 dB down (two mics
# side by side) in 0 %; the front end needs about 5 dB (listener/spatial/gain.py).
SEPARATE_SHARE = 0.1
# One talker alone (calibrate's rep): a channel leading by both measures at once (above its own floor and in level)
# in this share of the speech frames is that talker's own mic. Lapel mics, the rep's voice leaking 6/12/20 dB down:
# 69/100/100 %, with the rep's channel 20 dB hotter or the other 20 dB quieter alike (not with the other 20 dB
# hotter: the measures disagree); the first two mics of 5.8 and 6.5 cm arrays in pyroomacoustics rooms (84
# recordings, RT60 0.2-0.7 s; the rep alone, a customer answering, a noise; one channel 10 dB hotter or 20 dB
# quieter; a fan by one mic) 0 %: a gain moves a channel's floor with its speech, a fan raises one floor, and
# neither puts one channel ahead by both measures.
CLEAR_SHARE = 0.3

_LOW_DB, _BINS = -130.0, 140  # levels -130..+10 dBFS in 1 dB bins (lower ones are counted in the first)
_CENTRES = _LOW_DB + np.arange(_BINS) + 0.5


@dataclass(frozen=True, slots=True)
class LeadShares:
    """A look's speech frames, and the share of them each channel leads.

    A frame may count for both: one channel ahead above its own floor, the other ahead in level. That takes
    floors ``floors_apart_db`` apart (at least twice LEAD_DB): one channel records with far more gain than the
    other, or its mic sits by a noise source, and which mic is nearer the talker is then not told by either.
    """

    speech_s: float
    first_share: float
    second_share: float
    both_share: float = 0.0
    floors_apart_db: float = 0.0  # the second channel's floor less the first's
    # the share each channel leads by one measure alone (above its floor, or in level), the fewer's, by the
    # measure that gives the more: a mic per party leads on its own party's speech, by one measure at least
    sides_share: float = 0.0
    # the share each channel leads by both measures at once: a talker's own mic (one talker alone: calibrate)
    clear_shares: tuple[float, float] = (0.0, 0.0)

    @property
    def by_channel(self) -> tuple[float, float]:
        """The two shares, indexed as the channels are (0: the first, 1: the second)."""
        return self.first_share, self.second_share


NO_SPEECH = LeadShares(0.0, 0.0, 0.0)


class LeadMeter:
    """Frame levels of two channels, streamed, and which one leads while someone speaks."""

    def __init__(self, sample_rate_hz: int) -> None:
        self._frame_samples = max(1, round(FRAME_S * sample_rate_hz))
        self._frame_s = self._frame_samples / sample_rate_hz
        self._rest = np.zeros((0, 2), dtype=np.float64)
        self._counts = np.zeros(_BINS * _BINS, dtype=np.int64)  # (first's bin, second's bin), flattened
        self.frames = 0

    def add(self, samples: npt.NDArray[np.floating]) -> None:
        """``samples`` (frames, 2): the rep's channel, then the customer's."""
        audio = np.concatenate([self._rest, samples.astype(np.float64)]) if self._rest.size else samples
        whole = audio.shape[0] // self._frame_samples * self._frame_samples
        self._rest = np.asarray(audio[whole:], dtype=np.float64)
        if not whole:
            return
        frames = np.asarray(audio[:whole], dtype=np.float64).reshape(-1, self._frame_samples, 2)
        power = np.mean(np.square(frames - frames.mean(axis=1, keepdims=True)), axis=1)
        levels_dbfs = 10.0 * np.log10(np.maximum(power, 1e-20))
        self.frames += levels_dbfs.shape[0]
        bins = np.clip(np.floor(levels_dbfs - _LOW_DB).astype(np.int64), 0, _BINS - 1)
        self._counts += np.bincount(bins[:, 0] * _BINS + bins[:, 1], minlength=_BINS * _BINS)

    def _above_floors(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating], npt.NDArray[np.floating], float]:
        """The joint histogram, how far each level bin of the first and of the second channel stands above that
        channel's own floor (empty when nothing was heard), and how far the second's floor is above the first's."""
        joint = self._counts.reshape(_BINS, _BINS)
        if not joint.sum():
            return joint, np.zeros(0), np.zeros(0), 0.0
        first_floor, second_floor = _floor(joint.sum(axis=1), _CENTRES), _floor(joint.sum(axis=0), _CENTRES)
        return joint, _CENTRES - first_floor, _CENTRES - second_floor, second_floor - first_floor

    def shares(self) -> LeadShares:
        joint, first_db, second_db, floors_apart_db = self._above_floors()
        if not first_db.size:
            return NO_SPEECH
        first_db, second_db = first_db[:, None], second_db[None, :]
        speech = np.maximum(first_db, second_db) >= SPEECH_DB
        n = int(joint[speech].sum())
        if not n:
            return NO_SPEECH
        # ahead above its own floor (a mic with less gain), or ahead in level (a mic in a quieter corner, its
        # floor far down, hears the other's voice far above it): either is its own talker
        apart_db = _CENTRES[:, None] - _CENTRES[None, :]
        # each channel ahead by each measure: above its floor (first, second), in level (first, second)
        floor_ahead = (first_db - second_db >= LEAD_DB, second_db - first_db >= LEAD_DB)
        level_ahead = (apart_db >= LEAD_DB, -apart_db >= LEAD_DB)
        ahead, behind = (floor_ahead[i] | level_ahead[i] for i in (0, 1))

        def frames(mask: npt.NDArray[np.bool_]) -> int:
            return int(joint[speech & mask].sum())

        sides = max(
            min(frames(floor_ahead[0]), frames(floor_ahead[1])), min(frames(level_ahead[0]), frames(level_ahead[1]))
        )
        clear = (frames(floor_ahead[0] & level_ahead[0]) / n, frames(floor_ahead[1] & level_ahead[1]) / n)
        return LeadShares(
            n * self._frame_s,
            frames(ahead) / n,
            frames(behind) / n,
            frames(ahead & behind) / n,
            floors_apart_db,
            sides / n,
            clear,
        )

    def hears_speech(self) -> tuple[float, float]:
        """Share of the speech frames in which each channel itself stands SPEECH_DB above its own floor: a mic
        clipped to someone else still rises with the talker's voice leaking in, an unplugged one (hiss and hum
        alone, which the dead-channel rule does not catch) does not, and must not be taken for the quieter mic."""
        joint, first_db, second_db, _ = self._above_floors()
        if not first_db.size:
            return 0.0, 0.0
        first, second = first_db >= SPEECH_DB, second_db >= SPEECH_DB
        speech = first[:, None] | second[None, :]
        n = int(joint[speech].sum())
        if not n:
            return 0.0, 0.0
        return int(joint[first, :].sum()) / n, int(joint[:, second].sum()) / n

    @property
    def heard_s(self) -> float:
        """Audio framed so far, speech or not."""
        return self.frames * self._frame_s

    def leakage_only(self, shares: LeadShares) -> list[int]:
        """Indices (0, 1) of the channel that never leads while the other often does: it hears only leakage.
        ``shares``: what :meth:`shares` returned (worked out once per judgement)."""
        first, second = shares.by_channel
        found = []
        for k, (own, other) in enumerate(((first, second), (second, first))):
            if own < NEVER_SHARE and other >= OFTEN_SHARE:
                found.append(k)
        return found


def not_one_per_party(shares: LeadShares) -> bool:
    """Neither channel leads in :data:`SEPARATE_SHARE` of the speech frames (``shares`` from
    :meth:`LeadMeter.shares`): both mics hear both parties alike."""
    return shares.speech_s > 0 and max(shares.by_channel) < SEPARATE_SHARE


def one_per_party(shares: LeadShares) -> bool:
    """Each channel leads the other in :data:`SEPARATE_SHARE` of the speech frames or more, by one measure
    (``shares`` from :meth:`LeadMeter.shares`): two mics, one at each party, not one array's. Lapel mics with each
    voice leaking 6 to 20 dB down: 29 to 39 % (39 % with one channel 20 dB hotter or quieter); two mics of a
    5.8 cm array, free field or a room (RT60 0.3, 0.8 s): 0 %, with one channel 10 dB hotter or a fan by one mic
    too, whose same channel leads by each measure."""
    return shares.speech_s > 0 and shares.sides_share >= SEPARATE_SHARE


def talkers_own_mic(shares: LeadShares) -> int | None:
    """With one talker alone: the index (0, 1) of the channel that leads by both measures in :data:`CLEAR_SHARE` of
    the speech frames or more (``shares`` from :meth:`LeadMeter.shares`), a mic at that talker; None: neither."""
    first, second = shares.clear_shares
    if shares.speech_s <= 0 or max(first, second) < CLEAR_SHARE:
        return None
    return 0 if first >= second else 1


def _floor(counts: npt.NDArray[np.int64], centres: npt.NDArray[np.floating]) -> float:
    return float(histogram_quantiles(counts, centres, (FLOOR_SHARE,))[0])
