"""Simulated conversations -> the exact features the pipeline feeds the model.

Each dialogue (models.dialogue) is spatialized with the benchmark's room
code (bench.room: shoebox rooms 3x3 to 7x6 m, RT60 0.2-0.8 s, the
ReSpeaker 4-mic array at counter height), rep near azimuth 0 deg and the
customer (and a companion) near 180 deg; noise from ``../shared/data/noise``
at three far points, sometimes with a distant talker off to the side; SNR
5-35 dB. A quarter of the dialogues are channel-map recordings instead: one
close mic per party, each hearing the other party through the room.

The project's own SpatialFrontEnd and turn feature extractor then run over
the audio, so training sees exactly what the device computes. Results are
cached under ``models/.cache/features`` (one .npz per dialogue, keyed by
the simulation and feature versions and the seed).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from bench.room import far_point, impulse_responses, place, random_room, render
from bench.signals import mix_to_level, noise_sources, wrap_deg
from listener.config import Config, geometry, parse_config
from listener.events import AudioBlock, SpatialFrames
from listener.spatial.frontend import SpatialFrontEnd
from listener.turns.base import join_frames
from listener.turns.features import FEATURE_VERSION
from listener.turns.features import features_of as features_of
from models.corpus import ESPEAK_SPEAKERS, FRAME, RATE_HZ, Utterance, is_validation, load_corpus
from models.dialogue import Dialogue, make_dialogue

SIM_VERSION = 3
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "models" / ".cache"
P_CHANNELS = 0.25
P_TALKER = 0.25
P_REAL_VOICE = 0.5  # real recordings are scarce next to espeak: draw them as often as synthetic voices
SMALL_POOL_S = 5.0
SPLITS = ("train", "val", "test")  # val and test dialogues use only validation voices (models.corpus)


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


def render_array(dlg: Dialogue, rng: np.random.Generator, talker: np.ndarray | None) -> np.ndarray:
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
    return _level(speech, noise, dlg, rng)


def render_channels(dlg: Dialogue, rng: np.random.Generator, talker: np.ndarray | None) -> np.ndarray:
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
    return _level(np.stack(chans), noise, dlg, rng)


def _level(speech: np.ndarray, noise: np.ndarray, dlg: Dialogue, rng: np.random.Generator) -> np.ndarray:
    spans = _intervals(cast(np.ndarray, dlg.truth().any(axis=0)))  # numpy's stubs allow a scalar for any axis
    return mix_to_level(speech, noise, spans, RATE_HZ, rng.uniform(5, 35), rng.uniform(-38, -22), rng)


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


def simulate_audio(
    corpus: dict[str, list[Utterance]], validation: bool, seconds: float, rng: np.random.Generator
) -> tuple[np.ndarray, Config, str, np.ndarray]:
    """(audio (channels, samples), its config, mode, truth (2, frames)) of one new dialogue."""
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
    if rng.random() < P_CHANNELS:
        return render_channels(dlg, rng, talker), channels_config(), "channels", dlg.truth()
    return render_array(dlg, rng, talker), array_config(), "array", dlg.truth()


def dialogue_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), index])


def load_split(
    split: str,
    count: int,
    seconds: float,
    seed: int,
    cache: Path = CACHE,
    log: bool = True,
    voices: int = ESPEAK_SPEAKERS,
) -> list[Sample]:
    """``count`` dialogues of ``split`` (one of SPLITS), simulated once and then read from the cache."""
    folder = cache / "features" / f"v{SIM_VERSION}.{FEATURE_VERSION}-s{seed}-{int(seconds)}s-{voices}v"
    folder.mkdir(parents=True, exist_ok=True)
    corpus: dict[str, list[Utterance]] | None = None
    out, t0 = [], time.perf_counter()
    for i in range(count):
        path = folder / f"{split}-{i:04d}.npz"
        if not path.exists():
            if log and corpus is None:
                print(f"simulating the {split} dialogues not yet in {folder} (kept there)", file=sys.stderr)
            corpus = corpus or load_corpus(seed, cache, voices)
            audio, config, mode, truth = simulate_audio(corpus, split != "train", seconds, dialogue_rng(seed, split, i))
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, features=features_of(spatial_frames(audio, config)), truth=truth, mode=mode)
            tmp.rename(path)
            if log:
                print(f"  simulated {path.stem} ({mode}) at {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        with np.load(path) as z:
            out.append(Sample(path.stem, str(z["mode"]), z["features"], z["truth"]))
    return out
