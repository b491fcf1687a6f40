"""Shop rooms, placements and multichannel rendering for the benchmark.

Room impulse responses come from pyroomacoustics' image-source model with
the order capped (full order for an 0.8 s room costs seconds per source).
The missing late reverberation is put back as a synthetic diffuse tail:
exponentially decaying noise made of many plane waves from random
directions, so its inter-mic coherence is that of a diffuse field and the
room's decay matches the requested RT60.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyroomacoustics as pra
from scipy.signal import oaconvolve

FloatArray = npt.NDArray[np.float64]

RATE_HZ = 16000
SPEED_OF_SOUND_M_S = 343.0
# ReSpeaker 4-Mic Array for Raspberry Pi, array frame: x-y is the board plane,
# azimuth counter-clockwise from +x. Same as listener's "respeaker-4mic" preset.
RESPEAKER_4MIC_M = np.array([[0.0457, 0.0, 0.0], [0.0, 0.0457, 0.0], [-0.0457, 0.0, 0.0], [0.0, -0.0457, 0.0]])
ISM_MAX_ORDER = 24
WALL_MARGIN_M = 0.3
TAIL_PLANE_WAVES = 48


@dataclass(frozen=True, slots=True)
class Room:
    """A shoebox room with the array (axes aligned with the walls) inside."""

    size_m: tuple[float, float, float]
    rt60_s: float
    array_center_m: tuple[float, float, float]

    def to_json(self) -> dict[str, object]:
        return {
            "size_m": [round(v, 3) for v in self.size_m],
            "rt60_s": round(self.rt60_s, 3),
            "array_center_m": [round(v, 3) for v in self.array_center_m],
        }


@dataclass(frozen=True, slots=True)
class Placement:
    """A source relative to the array centre (azimuth and horizontal distance)."""

    azimuth_deg: float
    distance_m: float
    height_m: float  # above the floor

    def position_m(self, room: Room) -> FloatArray:
        cx, cy, _ = room.array_center_m
        a = math.radians(self.azimuth_deg)
        return np.array([cx + self.distance_m * math.cos(a), cy + self.distance_m * math.sin(a), self.height_m])

    def to_json(self, room: Room) -> dict[str, object]:
        dz = self.height_m - room.array_center_m[2]
        return {
            "azimuth_deg": round(self.azimuth_deg, 2),
            "elevation_deg": round(math.degrees(math.atan2(dz, self.distance_m)), 2),
            "distance_m": round(self.distance_m, 3),
            "height_m": round(self.height_m, 3),
        }


def random_room(rng: np.random.Generator) -> Room:
    """A shop room: 3x3 to 7x6 m, RT60 0.2-0.8 s, array at counter height near the middle."""
    size = (float(rng.uniform(3.0, 7.0)), float(rng.uniform(3.0, 6.0)), float(rng.uniform(2.5, 3.2)))
    center = (
        size[0] / 2 + float(rng.uniform(-0.3, 0.3)),
        size[1] / 2 + float(rng.uniform(-0.3, 0.3)),
        float(rng.uniform(0.95, 1.05)),
    )
    return Room(size_m=size, rt60_s=float(rng.uniform(0.2, 0.8)), array_center_m=center)


def max_distance_m(room: Room, azimuth_deg: float) -> float:
    """How far from the array a source can stand along ``azimuth_deg`` and keep off the walls."""
    a = math.radians(azimuth_deg)
    limits = []
    for axis, comp in ((0, math.cos(a)), (1, math.sin(a))):
        if abs(comp) < 1e-9:
            continue
        wall = room.size_m[axis] - WALL_MARGIN_M if comp > 0 else WALL_MARGIN_M
        limits.append((wall - room.array_center_m[axis]) / comp)
    return min(limits)


def place(room: Room, azimuth_deg: float, distance_m: float, height_m: float) -> Placement:
    """A placement, pulled in towards the array if the wall is closer than ``distance_m``."""
    return Placement(azimuth_deg, min(distance_m, max_distance_m(room, azimuth_deg)), height_m)


def far_point(room: Room, rng: np.random.Generator, min_distance_m: float = 1.5) -> FloatArray:
    """A random spot off the walls, preferably ``min_distance_m`` from the array (for noise)."""
    center = np.array(room.array_center_m)
    best, best_d = center, -1.0
    for _ in range(100):
        p = np.array([rng.uniform(WALL_MARGIN_M, s - WALL_MARGIN_M) for s in room.size_m])
        p[2] = rng.uniform(0.3, min(2.4, room.size_m[2] - WALL_MARGIN_M))
        d = float(np.hypot(*(p[:2] - center[:2])))
        if d >= min_distance_m:
            return p
        if d > best_d:
            best, best_d = p, d
    return best


def impulse_responses(
    room: Room,
    sources_m: list[FloatArray],
    rng: np.random.Generator,
    rate_hz: int = RATE_HZ,
    mics_m: FloatArray = RESPEAKER_4MIC_M,
) -> list[FloatArray]:
    """One (mics, taps) impulse response per source, time zero = emission; ``mics_m`` in the array frame."""
    e_absorption, sabine_order = pra.inverse_sabine(room.rt60_s, list(room.size_m))
    order = int(min(sabine_order, ISM_MAX_ORDER))
    shoebox = pra.ShoeBox(
        list(room.size_m), fs=rate_hz, materials=pra.Material(e_absorption), max_order=order, air_absorption=False
    )
    for pos in sources_m:
        shoebox.add_source(pos.tolist())
    mics = mics_m + np.array(room.array_center_m)
    shoebox.add_microphone_array(mics.T)
    shoebox.compute_rir()
    # pyroomacoustics centres a fractional-delay filter on each image: undo its latency.
    lag = pra.constants.get("frac_delay_length") // 2
    out = []
    for s in range(len(sources_m)):
        taps = max(len(shoebox.rir[m][s]) for m in range(len(mics)))
        h = np.zeros((len(mics), taps))
        for m in range(len(mics)):
            h[m, : len(shoebox.rir[m][s])] = shoebox.rir[m][s]
        h = h[:, lag:]
        if order < sabine_order:
            h = _with_diffuse_tail(h, room, order, rng, rate_hz, mics_m)
        out.append(h)
    return out


def _with_diffuse_tail(
    h: FloatArray, room: Room, order: int, rng: np.random.Generator, rate_hz: int, mics_m: FloatArray
) -> FloatArray:
    """Replace the truncated image-source decay after the mixing point by a diffuse tail."""
    # Every image of order <= `order` lies within order * min_dim / sqrt(3): up to then the ISM is complete.
    complete_s = order * min(room.size_m) / (math.sqrt(3.0) * SPEED_OF_SOUND_M_S)
    n_mix = min(int(complete_s * rate_hz), h.shape[1] - 1)
    win = int(0.02 * rate_hz)
    ref = h[:, max(0, n_mix - win) : n_mix]
    # Energy measured over the 20 ms before n_mix, carried forward 10 ms along the target decay.
    energy = float(np.mean(ref**2)) * 10.0 ** (-6.0 * 0.01 / room.rt60_s)
    taps = n_mix + win + int(room.rt60_s * rate_hz)
    decay = 10.0 ** (-3.0 * np.arange(taps - n_mix) / (room.rt60_s * rate_hz))
    tail = math.sqrt(energy) * _diffuse_noise(taps - n_mix, rng, rate_hz, mics_m) * decay
    out = np.zeros((h.shape[0], taps))
    keep = min(h.shape[1], n_mix + win)
    out[:, :keep] = h[:, :keep]
    fade = np.linspace(0.0, 1.0, win)
    out[:, n_mix : n_mix + win] *= 1.0 - fade
    out[:, n_mix:] += tail * np.concatenate((fade, np.ones(taps - n_mix - win)))
    return out


def _diffuse_noise(samples: int, rng: np.random.Generator, rate_hz: int, mics_m: FloatArray) -> FloatArray:
    """Unit-power noise at each mic with a diffuse field's inter-mic coherence."""
    directions = rng.normal(size=(TAIL_PLANE_WAVES, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    delays_s = -(directions @ mics_m.T) / SPEED_OF_SOUND_M_S  # (waves, mics)
    spectra = np.fft.rfft(rng.normal(size=(TAIL_PLANE_WAVES, samples)), axis=1)
    freqs = np.fft.rfftfreq(samples, 1.0 / rate_hz)
    phase = np.exp(-2j * np.pi * delays_s[:, :, None] * freqs[None, None, :])
    mics = np.fft.irfft(np.sum(spectra[:, None, :] * phase, axis=0), n=samples, axis=1)
    return mics / math.sqrt(TAIL_PLANE_WAVES)


def render(signal: FloatArray, h: FloatArray) -> FloatArray:
    """(mics, len(signal)) image of ``signal`` through impulse responses ``h``."""
    return oaconvolve(signal[None, :], h, axes=1)[:, : len(signal)]


def measured_rt60_s(h: FloatArray, rate_hz: int = RATE_HZ) -> float:
    """RT60 from the Schroeder decay of the first mic's response (T20-based, as pyroomacoustics)."""
    return float(pra.experimental.measure_rt60(h[0], fs=rate_hz, decay_db=20))
