"""Simulated conversations -> the exact features the pipeline feeds the model.

Each dialogue (models.dialogue) is spatialized with the benchmark's room
code (bench.room: shoebox rooms 3x3 to 7x6 m, RT60 0.2-0.8 s, the
ReSpeaker 4-mic array at counter height), rep near azimuth 0 deg and the
customer (and a companion) near 180 deg; noise from ``../shared/data/noise``
at three far points, sometimes with a distant talker off to the side; SNR
5-35 dB. With ``music`` > 0 (``models.train --music SHARE``), that share of
the rooms also has shop music from ceiling loudspeakers (models.music),
10-30 dB below the talkers, in half of them playing alone for 5-20 s before
anybody speaks (simulation version 4; without music the dialogues are
version 3's, byte for byte: the music's draws have their own random stream).
A quarter of the dialogues are channel-map recordings instead: one
close mic per party, each hearing the other party through the room.

The project's own SpatialFrontEnd and turn feature extractor then run over
the audio, so training sees exactly what the device computes. Results are
cached under ``models/.cache/features`` (one .npz per dialogue, keyed by
the simulation and feature versions and the seed).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np

from bench.room import far_point, impulse_responses, place, random_room, render
from bench.signals import FloatArray, mix_to_level, noise_sources, speech_power, wrap_deg
from listener.config import Config, geometry, parse_config
from listener.events import AudioBlock, SpatialFrames
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns.base import join_frames
from listener.turns.features import FEATURE_VERSION
from listener.turns.features import features_of as features_of
from models import music as shop_music
from models.corpus import ESPEAK_SPEAKERS, FRAME, RATE_HZ, Utterance, is_validation, load_corpus
from models.dialogue import Dialogue, make_dialogue

SIM_VERSION = 3
MUSIC_SIM_VERSION = 4  # version 3 plus shop music in a share of the rooms (models.music)
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "models" / ".cache"
P_CHANNELS = 0.25
P_TALKER = 0.25
P_REAL_VOICE = 0.5  # real recordings are scarce next to espeak: draw them as often as synthetic voices
SMALL_POOL_S = 5.0
SPLITS = ("train", "val", "test")  # val and test dialogues use only validation voices (models.corpus)


def sim_version(music: float) -> int:
    """The simulation version of dialogues made with ``music`` (share of rooms with shop music)."""
    return MUSIC_SIM_VERSION if music > 0 else SIM_VERSION


NO_MUSIC = shop_music.MusicPlan()


@dataclass(frozen=True, slots=True)
class Music:
    """Shop music for one room: what plays, how far below the talkers, and the stream its room draws from."""

    programme: FloatArray  # mono, as long as the dialogue
    db_below: float
    rng: np.random.Generator
    noise_under_db: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One simulated dialogue as the model sees it."""

    name: str
    mode: str  # "array" | "channels"
    features: np.ndarray  # (steps, N_FEATURES) float32 at 20 ms
    truth: np.ndarray  # (2, frames) bool at 10 ms, rep then customer


def array_config() -> Config:
    return parse_config({})


def channels_config() -> Config:
    return parse_config({"array": {"preset": "respeaker-2mic"}, "parties": {"rep_channel": 0, "customer_channel": 1}})


def spatial_frames(audio: np.ndarray, config: Config, block_s: float = 1.0) -> SpatialFrames:
    """Run the front end over (channels, samples) audio; all frames in one SpatialFrames."""
    front = SpatialFrontEnd(config, geometry(config))
    block = int(block_s * RATE_HZ)
    parts: list[SpatialFrames] = []
    for a in range(0, audio.shape[1], block):
        chunk = np.ascontiguousarray(audio[:, a : a + block].T, dtype=np.float32)
        parts += [e for e in front.process(AudioBlock(a / RATE_HZ, RATE_HZ, chunk)) if isinstance(e, SpatialFrames)]
    return join_frames(*parts)


def _intervals(active: np.ndarray) -> list[tuple[float, float]]:
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return [(a / 100, b / 100) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)]


def _talker(pool: list[Utterance], samples: int, rng: np.random.Generator) -> np.ndarray:
    """A distant stranger chatting on and off: speech nobody at the counter says."""
    out = np.zeros(samples)
    t = int(rng.integers(0, RATE_HZ * 3))
    while t < samples:
        u = pool[int(rng.integers(len(pool)))].audio
        n = min(len(u), samples - t)
        out[t : t + n] += u[:n]
        t += n + int(rng.uniform(0.3, 3.0) * RATE_HZ)
    return out


def _noise(samples: int, rng: np.random.Generator, talker: np.ndarray | None, hs: list[np.ndarray]) -> np.ndarray:
    _, noises = noise_sources(rng, len(hs) - (talker is not None), samples, RATE_HZ)
    noise = sum((render(n, h) for n, h in zip(noises, hs, strict=False)), np.zeros((hs[0].shape[0], samples)))
    if talker is not None:
        voice = render(talker, hs[-1])
        gain = np.sqrt(np.mean(noise**2) / (np.mean(voice**2) + 1e-12)) * rng.uniform(0.5, 2.0)
        noise = noise + gain * voice
    return noise


def render_array(
    dlg: Dialogue, rng: np.random.Generator, talker: np.ndarray | None, music: Music | None = None
) -> np.ndarray:
    room = random_room(rng)
    people = [
        place(room, rng.uniform(-20, 20), rng.uniform(0.4, 1.0), rng.uniform(1.4, 1.8)),
        place(room, wrap_deg(180 + rng.uniform(-30, 30)), rng.uniform(0.6, 1.6), rng.uniform(1.4, 1.85)),
        place(room, wrap_deg(180 + rng.uniform(-45, 45)), rng.uniform(0.8, 1.8), rng.uniform(1.1, 1.85)),
    ]
    points = [p.position_m(room) for p in people] + [far_point(room, rng) for _ in range(3)]
    if talker is not None:
        side = place(room, wrap_deg(rng.choice([90, -90]) + rng.uniform(-30, 30)), rng.uniform(2.0, 4.0), 1.6)
        points.append(side.position_m(room))
    hs = impulse_responses(room, points, rng)
    sources = dlg.sources()
    # an array, not sum()'s 0 for nothing: every dialogue has speech
    speech = cast(np.ndarray, sum(render(sources[i], hs[i]) for i in range(3) if np.any(sources[i])))
    noise = _noise(sources.shape[1], rng, talker, hs[3:])
    heard = None if music is None else shop_music.through_ceiling(music.programme, room, music.rng)
    return _level(speech, noise, dlg, rng, heard, music)


def render_channels(
    dlg: Dialogue, rng: np.random.Generator, talker: np.ndarray | None, music: Music | None = None
) -> np.ndarray:
    """Two close mics: own party direct and loud, the other party through the room, 6-20 dB down."""
    room = random_room(rng)
    far = [place(room, rng.uniform(0, 360), rng.uniform(0.8, 1.5), 1.6).position_m(room) for _ in range(2)]
    points = far + [far_point(room, rng) for _ in range(2 + (talker is not None))]
    hs = impulse_responses(room, points, rng)
    src = dlg.sources()
    own = [src[0], src[1] + src[2]]
    leak = [render(own[1], hs[1])[0], render(own[0], hs[0])[2]]
    chans = []
    for i in range(2):
        gain = np.sqrt(np.mean(own[i] ** 2) / (np.mean(leak[i] ** 2) + 1e-12)) * 10 ** (-rng.uniform(6, 20) / 20)
        chans.append(own[i] + gain * leak[i])
    noise = _noise(src.shape[1], rng, talker, [h[[0, 2]] for h in hs[2:]])
    heard = None if music is None else shop_music.through_ceiling(music.programme, room, music.rng)[[0, 2]]
    return _level(np.stack(chans), noise, dlg, rng, heard, music)


def _level(
    speech: np.ndarray,
    noise: np.ndarray,
    dlg: Dialogue,
    rng: np.random.Generator,
    heard: np.ndarray | None = None,
    music: Music | None = None,
) -> np.ndarray:
    spans = _intervals(cast(np.ndarray, dlg.truth().any(axis=0)))  # numpy's stubs allow a scalar for any axis
    snr_db = rng.uniform(5, 35)
    if heard is not None and music is not None:
        if music.noise_under_db is not None:
            snr_db = max(snr_db, music.db_below + music.rng.uniform(*music.noise_under_db))
        # the music's mean power at the mics, over the whole dialogue, db_below under the speech's (as the
        # benchmark sets it); it goes with the speech, so the SNR draw below sets the room's noise alone
        p_speech = speech_power(speech, spans, RATE_HZ)
        gain = math.sqrt(p_speech * 10 ** (-music.db_below / 10) / (float(np.mean(heard**2)) + 1e-20))
        speech = speech + gain * heard
    return mix_to_level(speech, noise, spans, RATE_HZ, snr_db, rng.uniform(-38, -22), rng)


def pools_for(corpus: dict[str, list[Utterance]], validation: bool) -> tuple[list[list[Utterance]], ...]:
    """(real voices, synthetic voices, backchannel pool) of one split."""
    chosen = {s: u for s, u in corpus.items() if is_validation(s) == validation}
    real: list[list[Utterance]] = []
    small: list[Utterance] = []
    for speaker, utts in sorted(chosen.items()):
        if speaker.startswith("espeak-"):
            continue
        if sum(u.seconds for u in utts) < SMALL_POOL_S:
            small += utts
        else:
            real.append(utts)
    if small:
        real.append(small)
    synthetic = [u for s, u in sorted(chosen.items()) if s.startswith("espeak-")]
    shorts = [u for utts in chosen.values() for u in utts if u.seconds <= 1.0]
    return real, synthetic, [shorts]


def delayed(dlg: Dialogue, frames: int) -> Dialogue:
    """``dlg`` starting ``frames`` 10 ms frames later, nobody speaking before."""
    return Dialogue(dlg.frames + frames, [replace(p, start=p.start + frames) for p in dlg.placed])


def simulate_audio(
    corpus: dict[str, list[Utterance]],
    validation: bool,
    seconds: float,
    rng: np.random.Generator,
    music: shop_music.MusicPlan = NO_MUSIC,
    tracks: list[FloatArray] | None = None,
    music_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, Config, str, np.ndarray]:
    """(audio (channels, samples), its config, mode, truth (2, frames)) of one new dialogue.

    With ``music.share`` > 0, that share of the rooms has one of ``tracks`` from the ceiling, every draw
    of it from ``music_rng`` (so ``rng``'s stream, and the dialogue, are those of a room without music).
    """
    real, synthetic, (shorts,) = pools_for(corpus, validation)
    picks = []
    for _ in range(3):
        use_real = rng.random() < P_REAL_VOICE
        group = real if use_real or not synthetic else synthetic
        picks.append(group[int(rng.integers(len(group)))])
    dlg = make_dialogue(picks, shorts, seconds, rng)
    talker = None
    if rng.random() < P_TALKER:
        strangers = synthetic or real
        talker = _talker(strangers[int(rng.integers(len(strangers)))], dlg.frames * FRAME, rng)
    played = None
    if music.share > 0 and tracks and music_rng is not None and music_rng.random() < music.share:
        lead = 0
        if music_rng.random() < music.lead_in:
            lead = round(music_rng.uniform(*music.lead_in_s) * 100)
        dlg = delayed(dlg, lead)
        if talker is not None:
            talker = np.concatenate([np.zeros(lead * FRAME), talker])
        prog = shop_music.programme(tracks, dlg.frames * FRAME, music_rng)
        played = Music(prog, float(music_rng.uniform(*music.db_below)), music_rng, music.noise_under_db)
    if rng.random() < P_CHANNELS:
        return render_channels(dlg, rng, talker, played), channels_config(), "channels", dlg.truth()
    return render_array(dlg, rng, talker, played), array_config(), "array", dlg.truth()


def dialogue_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), index])


def music_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The music's own stream of one dialogue (whether it plays, which, where, how loud)."""
    return np.random.default_rng([seed, SPLITS.index(split), index, 1])


@dataclass
class _Sources:
    """The corpus and the music tracks, loaded once and only when a dialogue is not in the cache yet."""

    seed: int
    cache: Path
    voices: int
    music: shop_music.MusicPlan
    corpus: dict[str, list[Utterance]] | None = None
    tracks: list[FloatArray] | None = None

    def simulate(self, split: str, index: int, seconds: float) -> tuple[np.ndarray, Config, str, np.ndarray]:
        self.corpus = self.corpus or load_corpus(self.seed, self.cache, self.voices)
        if self.music.share > 0 and self.tracks is None:
            self.tracks = shop_music.load_tracks(self.cache)
        rng, music_draws = dialogue_rng(self.seed, split, index), music_rng(self.seed, split, index)
        return simulate_audio(self.corpus, split != "train", seconds, rng, self.music, self.tracks, music_draws)


def load_split(
    split: str,
    count: int,
    seconds: float,
    seed: int,
    cache: Path = CACHE,
    log: bool = True,
    voices: int = ESPEAK_SPEAKERS,
    music: shop_music.MusicPlan = NO_MUSIC,
) -> list[Sample]:
    """``count`` dialogues of ``split`` (one of SPLITS), simulated once and then read from the cache.

    ``music``: which rooms have shop music, and how (models.music; its own cache folder).
    """
    name = f"v{sim_version(music.share)}.{FEATURE_VERSION}-s{seed}-{int(seconds)}s-{voices}v"
    folder = cache / "features" / (name + music.folder_suffix())
    folder.mkdir(parents=True, exist_ok=True)
    sources = _Sources(seed, cache, voices, music)
    out, t0 = [], time.perf_counter()
    for i in range(count):
        path = folder / f"{split}-{i:04d}.npz"
        if not path.exists():
            if log and sources.corpus is None:
                print(f"simulating the {split} dialogues not yet in {folder} (kept there)", file=sys.stderr)
            audio, config, mode, truth = sources.simulate(split, i, seconds)
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, features=features_of(spatial_frames(audio, config)), truth=truth, mode=mode)
            tmp.rename(path)
            if log:
                print(f"  simulated {path.stem} ({mode}) at {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        with np.load(path) as z:
            out.append(Sample(path.stem, str(z["mode"]), z["features"], z["truth"]))
    return out
