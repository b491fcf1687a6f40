"""Shop music as models.simulate renders it (``models.train --music``): whole rooms, the CMU ARCTIC voices.

The training tracks come from Debian packages a test machine need not have, so these rooms play test
signals through the same path: a 7 kHz tone, which a room's spectrum shows at a glance, and white noise,
whose level is the same in every stretch. Rendering a room once with a track and once with the track
negated splits its audio into the music and the rest, ``(a - b) / 2`` and ``(a + b) / 2``: everything else
in the room is drawn alike and mixed linearly, and only the mix's gain differs, by 0.2 % (it is set on the
talkers' power with the music in), which leaves each part with the other's trace 50 dB down.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from bench import store_audio as sa
from bench.room import RESPEAKER_4MIC_M, SPEED_OF_SOUND_M_S, Room
from bench.signals import DATA_DIR, FloatArray, load_mono
from models import music
from models import simulate as sim
from models.corpus import FRAME, RATE_HZ, Utterance, make_utterance
from tests.synth import lag_samples

SEED = 3
SECONDS = 3.0
TONE_HZ = 7000.0
LEAD_S = 3.0
DB_BELOW = 10.0
NOISE_UNDER_DB = 20.0
SHARE = 0.25
ROOMS = 12
# the array's widest spacing (opposite mics), in samples
APERTURE_SAMPLES = 2 * float(np.linalg.norm(RESPEAKER_4MIC_M[0])) / SPEED_OF_SOUND_M_S * RATE_HZ


@functools.cache
def cmu_corpus() -> dict[str, list[Utterance]]:
    """The shared CMU ARCTIC recordings (validation voices), each also cut to a short one for backchannels."""
    corpus: dict[str, list[Utterance]] = {}
    for path in sorted((DATA_DIR / "speech").glob("cmu_arctic_*.wav")):
        utt = make_utterance(f"cmu-{path.stem.split('_')[3]}", "cmu", load_mono(path, RATE_HZ))
        assert utt is not None
        short = make_utterance(utt.speaker, "cmu", utt.audio[: int(0.9 * RATE_HZ)].astype(np.float64))
        assert short is not None and short.seconds <= 1.0
        corpus.setdefault(utt.speaker, []).extend([utt, short])
    return corpus


TONE = np.sin(2 * np.pi * TONE_HZ * np.arange(4 * RATE_HZ) / RATE_HZ)
_WHITE = np.random.default_rng(1).normal(size=4 * RATE_HZ)
WHITE = _WHITE / np.max(np.abs(_WHITE))


@dataclass(frozen=True, slots=True)
class Rendered:
    audio: FloatArray  # (channels, samples)
    mode: str
    truth: np.ndarray  # (2, frames)


def render(index: int, plan: music.MusicPlan, track: FloatArray | None = None) -> Rendered:
    """Dialogue ``index`` of the validation split as models.simulate.load_split draws it."""
    tracks = None if track is None else [track]
    audio, _, mode, truth = sim.simulate_audio(
        cmu_corpus(),
        True,
        SECONDS,
        sim.dialogue_rng(SEED, "val", index),
        plan,
        tracks,
        sim.music_rng(SEED, "val", index),
    )
    return Rendered(audio, mode, truth)


def power_db(x: FloatArray) -> float:
    """Mean power, all channels, in dB."""
    return 10 * math.log10(float(np.mean(x**2)))


def tone_db(audio: FloatArray) -> float:
    """The TONE_HZ bin over the median of the 200 bins either side, mics averaged."""
    power = np.mean(np.abs(np.fft.rfft(audio, axis=1)) ** 2, axis=0)
    k = round(TONE_HZ * audio.shape[1] / RATE_HZ)
    return 10 * math.log10(float(np.max(power[k - 2 : k + 3]) / np.median(power[k - 200 : k + 200])))


@pytest.fixture(scope="module")
def share_rooms() -> list[Rendered]:
    plan = music.MusicPlan(share=SHARE, lead_in=0.0, db_below=(DB_BELOW, DB_BELOW))
    return [render(i, plan, TONE) for i in range(ROOMS)]


def test_the_plans_share_of_rooms_has_music(share_rooms: list[Rendered]) -> None:
    """A tone 10 dB under the talkers stands 40 dB over its neighbouring bins; rooms without it, under 10."""
    levels = [tone_db(r.audio) for r in share_rooms]
    with_music = [lv > 25.0 for lv in levels]
    assert all(lv > 35.0 or lv < 15.0 for lv in levels), levels  # no room in between
    # fixed seeds: 3 of the 12 rooms with this seed; every room or none (the share ignored) is far off
    assert abs(sum(with_music) - SHARE * ROOMS) <= 1, levels


def test_a_room_the_music_passes_by_is_the_default_simulation_byte_for_byte(share_rooms: list[Rendered]) -> None:
    """The music's draws have their own stream: without it, a room is the shipped training's (version 3)."""
    plays = [tone_db(r.audio) > 25.0 for r in share_rooms]
    quiet, loud = plays.index(False), plays.index(True)
    default = render(quiet, sim.NO_MUSIC)
    assert default.mode == share_rooms[quiet].mode
    assert np.array_equal(default.audio, share_rooms[quiet].audio)
    assert np.array_equal(default.truth, share_rooms[quiet].truth)
    # a music room without a lead-in is the same dialogue too, music added
    same_dialogue = render(loud, sim.NO_MUSIC)
    assert np.array_equal(same_dialogue.truth, share_rooms[loud].truth)
    assert not np.array_equal(same_dialogue.audio, share_rooms[loud].audio)


EMPTY_COUNTER = music.MusicPlan(
    share=1.0,
    lead_in=1.0,
    lead_in_s=(LEAD_S, LEAD_S),
    db_below=(DB_BELOW, DB_BELOW),
    noise_under_db=(NOISE_UNDER_DB, NOISE_UNDER_DB),
)
ROOM = 1  # with this seed: the array, a stranger chatting off to the side, its SNR drawn 19 dB


@dataclass(frozen=True, slots=True)
class EmptyCounter:
    """ROOM with EMPTY_COUNTER's music, the same without its noise floor, and without music."""

    music: FloatArray
    rest: FloatArray
    plain_rest: FloatArray  # noise_under_db None: the room's noise drawn as in a room without music
    truth: np.ndarray
    mode: str
    default: Rendered
    strangers: list[np.ndarray]  # what the stranger says, with the music then without


@pytest.fixture(scope="module")
def empty_counter() -> EmptyCounter:
    strangers: list[np.ndarray] = []
    noise = sim._noise

    def noise_heard(
        samples: int, rng: np.random.Generator, talker: np.ndarray | None, hs: list[FloatArray]
    ) -> FloatArray:
        if talker is not None:
            strangers.append(talker)
        return noise(samples, rng, talker, hs)

    with pytest.MonkeyPatch.context() as patch:  # the real _noise, its stranger recorded on the way
        patch.setattr(sim, "_noise", noise_heard)
        played = render(ROOM, EMPTY_COUNTER, WHITE)
        default = render(ROOM, sim.NO_MUSIC)
    negated = render(ROOM, EMPTY_COUNTER, -WHITE).audio
    plain = render(ROOM, replace(EMPTY_COUNTER, noise_under_db=None), WHITE).audio
    tune = (played.audio - negated) / 2
    # the plain room's music is the same: its gain follows the speech, which the noise's level leaves alone
    return EmptyCounter(tune, (played.audio + negated) / 2, plain - tune, played.truth, played.mode, default, strangers)


LEAD_FRAMES = round(LEAD_S * 100)


def test_a_lead_in_is_music_alone_for_its_stated_length(empty_counter: EmptyCounter) -> None:
    ec, lead = empty_counter, LEAD_FRAMES * FRAME
    assert ec.mode == "array"
    # the labels: nobody for LEAD_S, then the dialogue the room has without music, to the frame
    assert ec.truth.shape[1] == ec.default.truth.shape[1] + LEAD_FRAMES
    assert not ec.truth[:, :LEAD_FRAMES].any()
    assert np.array_equal(ec.truth[:, LEAD_FRAMES:], ec.default.truth)
    # the sound: the music at its level all through the lead-in, and nobody's voice in it (the room's
    # noise alone, 30 dB under the talkers)
    assert abs(power_db(ec.music[:, :lead]) - power_db(ec.music)) < 1.0
    speaking = np.repeat(ec.truth.any(axis=0), FRAME)
    assert power_db(ec.rest[:, speaking]) - power_db(ec.rest[:, :lead]) > 20.0


def test_the_stranger_starts_chatting_after_the_lead_in(empty_counter: EmptyCounter) -> None:
    """The room's distant stranger is delayed with the dialogue, so the lead-in is the music alone."""
    played, default = empty_counter.strangers
    lead = LEAD_FRAMES * FRAME
    assert np.any(default[:lead])  # without music the stranger speaks within what becomes the lead-in
    assert len(played) == empty_counter.truth.shape[1] * FRAME
    assert not np.any(played[:lead])
    assert np.array_equal(played[lead:], default)


def test_the_empty_counters_noise_lies_its_stated_db_under_the_music(empty_counter: EmptyCounter) -> None:
    """With noise_under_db the room's noise is that far under the music, over the dialogue, where this room
    drew its SNR so that the noise would otherwise be 9 dB under it.

    The two renders differ only in the noise's gain, so their difference is the room's noise (speech and the
    mics' self-noise cancel), and the lead-in, noise alone, gives the empty counter's share of it."""
    ec, lead = empty_counter, LEAD_FRAMES * FRAME
    diff = ec.plain_rest - ec.rest
    scale = float(np.sum(ec.rest[:, :lead] * diff[:, :lead]) / np.sum(diff[:, :lead] ** 2))
    # 0.4 dB nearer: the mix sets the noise against the talkers with the music in (1.1 times their power)
    assert power_db(ec.music) - power_db(scale * diff) == pytest.approx(NOISE_UNDER_DB, abs=0.6)
    # the floor mattered in this room: without it its noise is far louder
    assert power_db(ec.plain_rest[:, :lead]) - power_db(ec.rest[:, :lead]) > 8.0


def test_ceiling_music_reaches_each_mic_with_the_delay_of_its_path() -> None:
    """One loudspeaker under the ceiling: each mic pair's lag is the difference of its two distances."""
    room = Room(size_m=(5.0, 4.0, 2.8), rt60_s=0.4, array_center_m=(2.5, 2.0, 1.0))
    rng = np.random.default_rng(1)
    drawn = copy.deepcopy(rng)  # through_ceiling's draws: how many loudspeakers, then where
    count = int(drawn.integers(music.SPEAKERS[0], music.SPEAKERS[1] + 1))
    speakers = sa.ceiling_speakers(room, drawn, count)
    heard = music.through_ceiling(WHITE[:RATE_HZ], room, rng)
    assert count == 1
    distances_m = np.linalg.norm(
        RESPEAKER_4MIC_M + np.array(room.array_center_m) - speakers[0].position_m(room), axis=1
    )
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    expected = [(distances_m[j] - distances_m[i]) / SPEED_OF_SOUND_M_S * RATE_HZ for i, j in pairs]
    measured = [lag_samples(heard[i], heard[j]) for i, j in pairs]
    assert max(map(abs, expected)) > 2.5  # one signal on every mic (no lag) is far off
    assert np.allclose(measured, expected, atol=0.6), (measured, expected)


def test_a_channel_map_recording_hears_the_music_at_two_mics_of_the_array(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its two channels take the music from opposite mics: two signals, one lagging the other by at most the
    array's width, as mics 0 and 2 of the four the ceiling rendered it for (adjacent ones lag otherwise)."""
    plan = music.MusicPlan(share=1.0, lead_in=0.0, db_below=(DB_BELOW, DB_BELOW))
    room = 2  # a channel-map room with this seed
    heard: list[FloatArray] = []
    through_ceiling = music.through_ceiling

    def recorded(*args: Any) -> FloatArray:
        heard.append(through_ceiling(*args))
        return heard[-1]

    monkeypatch.setattr(music, "through_ceiling", recorded)
    played = render(room, plan, WHITE)
    assert played.mode == "channels"
    tune = (played.audio - render(room, plan, -WHITE).audio) / 2
    assert tune.shape[0] == 2 and np.all(np.mean(tune**2, axis=1) > 0)
    assert float(np.max(np.abs(tune[0] - tune[1]))) > 0.1 * float(np.max(np.abs(tune)))
    assert abs(lag_samples(tune[0], tune[1])) <= APERTURE_SAMPLES + 0.5
    assert lag_samples(tune[0], tune[1]) == pytest.approx(lag_samples(heard[0][0], heard[0][2]), abs=0.25)
