"""Shop music for the training rooms (``models.train --music SHARE``): ceiling loudspeakers playing a track.

The tracks come from Debian packages and are decoded once (ffmpeg) into
``CACHE/music``. They are **not** the tracks bench.store_sounds evaluates
on (``armygeddon``, ``feelings``, ``frozen-bubble``: bench.store_audio.TRACKS):
the same bands' other songs and Frozen-Bubble's other two tunes, so the
benchmark hears music the model never heard.

``apt-get install fretsonfire-songs-muldjord fretsonfire-songs-sectoid fb-music-high ffmpeg``
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import store_audio as sa
from bench.room import RESPEAKER_4MIC_M, Room
from bench.signals import FloatArray

FB = Path("/usr/share/games/frozen-bubble/snd")
MULDJORD = sa.FOF / "muldjord"
SECTOID = sa.FOF / "sectoid"


def _fof(name: str, package: str, folder: Path) -> sa.Track:
    return sa.Track(name, package, (folder / "song.ogg", folder / "guitar.ogg"))


TRAIN_TRACKS = (
    _fof("chaos-god", "fretsonfire-songs-muldjord", MULDJORD / "chaos_god"),
    _fof("internal-degeneration", "fretsonfire-songs-muldjord", MULDJORD / "internal_degeneration"),
    _fof("mutilated-mime", "fretsonfire-songs-muldjord", MULDJORD / "mutilated_mime"),
    _fof("escape-from-chaosland", "fretsonfire-songs-sectoid", SECTOID / "Escape from chaosland"),
    _fof("metal-madness", "fretsonfire-songs-sectoid", SECTOID / "Metal madness"),
    _fof("war-of-freedom", "fretsonfire-songs-sectoid", SECTOID / "War of freedom"),
    sa.Track("frozen-bubble-1p", "fb-music-high", (FB / "frozen-mainzik-1p.ogg",)),
    sa.Track("frozen-bubble-intro", "fb-music-high", (FB / "introzik.ogg",)),
)
# the benchmark's tracks stay out of training (checked by tests/test_models_music.py)

SPEAKERS = (1, 2)  # loudspeakers per room, all playing the same programme


@dataclass(frozen=True, slots=True)
class MusicPlan:
    """Which training rooms have music, and how (models.train's ``music*`` settings)."""

    share: float = 0.0  # of the rooms
    lead_in: float = 0.5  # of the music rooms, a share where the music plays alone before anybody speaks...
    lead_in_s: tuple[float, float] = (5.0, 20.0)  # ... for this long (an empty counter: music is nobody)
    db_below: tuple[float, float] = (10.0, 30.0)  # the music's mean power at the mics under the talkers' speech
    # the room's own noise this many dB under the music (so the music sets the floor, as on an empty
    # counter); None: its SNR is drawn as in a room without music
    noise_under_db: tuple[float, float] | None = None

    def folder_suffix(self) -> str:
        """What the simulation cache's folder name adds for this plan ("" without music)."""
        if self.share <= 0:
            return ""
        rest = MusicPlan(share=self.share)
        extra = "" if self == rest else f"-{zlib.crc32(repr(self).encode()):08x}"
        return f"-music{self.share:g}{extra}"


def load_tracks(cache: Path) -> list[FloatArray]:
    """Every training track, mono 16 kHz, peak 1 (decoded once into ``cache/music``)."""
    return [sa.decoded(track, cache / "music" / f"{track.name}.wav") for track in TRAIN_TRACKS]


def programme(tracks: list[FloatArray], samples: int, rng: np.random.Generator) -> FloatArray:
    """``samples`` of a random track from a random point (looping)."""
    x = tracks[int(rng.integers(len(tracks)))]
    return sa.looped(x, samples, int(rng.integers(len(x))))


def through_ceiling(prog: FloatArray, room: Room, rng: np.random.Generator) -> FloatArray:
    """``prog`` from 1-2 loudspeakers under ``room``'s ceiling, as the array hears it (mics, samples)."""
    speakers = sa.ceiling_speakers(room, rng, int(rng.integers(SPEAKERS[0], SPEAKERS[1] + 1)))
    return sa.through_speakers([prog], room, speakers, rng, RESPEAKER_4MIC_M)[0]
