"""The sounds of a shop's ceiling loudspeakers for bench.store_sounds: music and PA announcements.

Nothing here is shipped or committed: every sound is made at run time into
``bench/.cache/store`` from Debian packages (install them with
``apt-get install fretsonfire-songs-muldjord fretsonfire-songs-sectoid fb-music-high espeak-ng ffmpeg``):

- ``armygeddon``: Muldjord's "Armygeddon" (CC BY-SA 3.0), a real band recording,
  the Frets on Fire backing track (``song.ogg``) mixed with its lead guitar
  (``guitar.ogg``). Muldjord is a metal band; whether this track is sung
  was not checked by ear.
- ``feelings``: Sectoid's "Feelings" (GPL), a real guitar-band recording, mixed likewise.
- ``frozen-bubble``: Frozen-Bubble's two-player theme (GPL), a tracker module
  (sampled instruments sequenced), decoded by ffmpeg.
- the announcement: espeak-ng reading a store announcement after a two-tone
  chime, band-limited to 300-4000 Hz like a PA horn.

The loudspeakers hang under the ceiling a few metres from the counter and
all play the same mono programme (a shop's distributed system), rendered
through the same room model as the cases (bench.room).
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.room import RATE_HZ, Placement, Room, impulse_responses, place, render
from bench.signals import ROOT, FloatArray, load_mono, write_wav

STORE_CACHE = ROOT / "bench" / ".cache" / "store"
FOF = Path("/usr/share/games/fretsonfire/data/songs")
ANNOUNCEMENT_TEXT = (
    "Attention shoppers. Our store will close in fifteen minutes. "
    "Please bring your purchases to the checkout. Thank you for shopping with us."
)
PA_BAND_HZ = (300, 4000)
CHIME_HZ = (784.0, 622.0)  # a falling major third, as many PA chimes
SPEAKER_BELOW_CEILING_M = 0.2
SPEAKER_DISTANCE_M = (1.5, 4.0)  # horizontal, pulled in where a wall is nearer (bench.room.place)


class StoreSoundError(RuntimeError):
    """A sound cannot be made; the message says what to install."""


@dataclass(frozen=True, slots=True)
class Track:
    """A music recording from a Debian package: its files are mixed to one mono programme."""

    name: str
    package: str
    files: tuple[Path, ...]


TRACKS = {
    t.name: t
    for t in (
        Track(
            "armygeddon",
            "fretsonfire-songs-muldjord",
            (FOF / "muldjord/armygeddon/song.ogg", FOF / "muldjord/armygeddon/guitar.ogg"),
        ),
        Track(
            "feelings",
            "fretsonfire-songs-sectoid",
            (FOF / "sectoid/Feelings/song.ogg", FOF / "sectoid/Feelings/guitar.ogg"),
        ),
        Track("frozen-bubble", "fb-music-high", (Path("/usr/share/games/frozen-bubble/snd/frozen-mainzik-2p.xm"),)),
    )
}


def _need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise StoreSoundError(f"{tool} is missing: apt-get install {package}")
    return found


def _decode(inputs: list[Path], out: Path, filters: str = "") -> None:
    """``inputs`` mixed (not normalised) to mono 16 kHz float WAV ``out``, through ffmpeg ``filters``."""
    ffmpeg = _need("ffmpeg", "ffmpeg")
    mix = f"amix=inputs={len(inputs)}:normalize=0," if len(inputs) > 1 else ""
    graph = f"{mix}aformat=channel_layouts=mono,aresample={RATE_HZ}" + (f",{filters}" if filters else "")
    cmd = [ffmpeg, "-v", "error", "-y"] + [a for p in inputs for a in ("-i", str(p))]
    cmd += ["-filter_complex", graph, "-c:a", "pcm_f32le", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)


@functools.cache
def music(name: str) -> FloatArray:
    """The track's whole recording, mono 16 kHz, peak 1 (decoded once into the cache, read once; read-only)."""
    return _frozen(decoded(TRACKS[name], STORE_CACHE / f"music-{name}.wav"))


def decoded(track: Track, wav: Path) -> FloatArray:
    """``track``'s files mixed to mono 16 kHz, peak 1 (decoded once into ``wav``; models.music's tracks too)."""
    if not wav.exists():
        missing = [p for p in track.files if not p.exists()]
        if missing:
            raise StoreSoundError(f"{missing[0]} is missing: apt-get install {track.package}")
        wav.parent.mkdir(parents=True, exist_ok=True)
        tmp = wav.with_suffix(".tmp.wav")
        _decode(list(track.files), tmp)
        tmp.rename(wav)  # whole or not at all
    x = load_mono(wav, RATE_HZ)
    return x / max(float(np.max(np.abs(x))), 1e-9)


def chime(rng_hz: tuple[float, float] = CHIME_HZ, note_s: float = 0.6) -> FloatArray:
    """Two decaying bell-like notes, the PA's attention chime."""
    t = np.arange(int(note_s * RATE_HZ)) / RATE_HZ
    notes = [np.sin(2 * math.pi * f * t) * np.exp(-t / 0.25) for f in rng_hz]
    return np.concatenate(notes)


@functools.cache
def announcement() -> FloatArray:
    """The chime, then espeak-ng reading :data:`ANNOUNCEMENT_TEXT`, band-limited like a PA horn; peak 1 (read-only)."""
    cached = STORE_CACHE / "announcement.wav"
    if not cached.exists():
        espeak = _need("espeak-ng", "espeak-ng")
        STORE_CACHE.mkdir(parents=True, exist_ok=True)
        raw = STORE_CACHE / "announcement-raw.wav"
        subprocess.run([espeak, "-v", "en-gb", "-s", "150", "-w", str(raw), ANNOUNCEMENT_TEXT], check=True)
        _decode([raw], cached, f"highpass=f={PA_BAND_HZ[0]}:poles=2,lowpass=f={PA_BAND_HZ[1]}:poles=2")
    voice = load_mono(cached, RATE_HZ)
    voice /= max(float(np.max(np.abs(voice))), 1e-9)
    x = np.concatenate([0.7 * chime(), np.zeros(RATE_HZ // 2), voice])
    return _frozen(x / float(np.max(np.abs(x))))


def _frozen(x: FloatArray) -> FloatArray:
    """``x``, made read-only: one cached array serves every caller, so none may change it."""
    x.setflags(write=False)
    return x


def looped(x: FloatArray, samples: int, start: int) -> FloatArray:
    """``samples`` of ``x`` from ``start``, wrapping round to its beginning."""
    idx = (start + np.arange(samples)) % len(x)
    return x[idx]


def announcements_at(samples: int, every_s: float, first_s: float) -> list[tuple[float, float]]:
    """Where announcements play in a recording of ``samples``: (start, end) seconds, whole ones only."""
    length_s = len(announcement()) / RATE_HZ
    out, t = [], first_s
    while every_s > 0 and t + length_s <= samples / RATE_HZ:
        out.append((t, t + length_s))
        t += every_s
    return out


def announcement_track(samples: int, spans: list[tuple[float, float]]) -> FloatArray:
    """A programme of silence with the announcement at each of ``spans``."""
    voice, out = announcement(), np.zeros(samples)
    for start_s, _ in spans:
        a = round(start_s * RATE_HZ)
        n = min(len(voice), samples - a)
        out[a : a + n] += voice[:n]
    return out


def ceiling_speakers(room: Room, rng: np.random.Generator, count: int) -> list[Placement]:
    """``count`` loudspeakers under the ceiling, at random azimuths, 1.5-4 m from the array (walls allowing)."""
    height = room.size_m[2] - SPEAKER_BELOW_CEILING_M
    azimuths = rng.uniform(-180.0, 180.0, size=count)
    return [place(room, float(a), float(rng.uniform(*SPEAKER_DISTANCE_M)), height) for a in azimuths]


def through_speakers(
    programmes: list[FloatArray], room: Room, speakers: list[Placement], rng: np.random.Generator, mics_m: FloatArray
) -> list[FloatArray]:
    """Each programme played by every loudspeaker at once, as the array hears it: (mics, samples) each."""
    hs = impulse_responses(room, [s.position_m(room) for s in speakers], rng, mics_m=mics_m)
    return [sum((render(p, h) for h in hs), np.zeros((hs[0].shape[0], len(p)))) for p in programmes]


def level_dbfs(x: FloatArray, mask: np.ndarray | None = None) -> float:
    """RMS level of multichannel ``x`` (mics, samples) over ``mask``'s samples (all when None), in dBFS."""
    sel = x if mask is None else x[:, mask]
    return 10.0 * math.log10(max(float(np.mean(sel**2)), 1e-20))


def at_level(x: FloatArray, target_dbfs: float, mask: np.ndarray | None = None) -> FloatArray:
    """``x`` scaled so its level over ``mask`` is ``target_dbfs``."""
    return x * 10.0 ** ((target_dbfs - level_dbfs(x, mask)) / 20.0)


def save(path: Path, audio: FloatArray) -> Path:
    """Write a 4-channel case-like WAV (peak kept below full scale)."""
    peak = float(np.max(np.abs(audio)))
    write_wav(path, audio * (0.98 / peak) if peak > 0.98 else audio, RATE_HZ)
    return path
