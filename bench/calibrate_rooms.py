"""The recordings of bench.calibrate: its rooms, who stands where, the voices and noises, and when each speaks.

bench.calibrate's docstring describes the six scenarios; bench/README.md ("Calibration") what they measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from bench.arrays import DEFAULT_ARRAY, captured, mics_of
from bench.overlaps import solo_material
from bench.room import RATE_HZ, Placement, Room, far_point, impulse_responses, place, random_room, render
from bench.signals import DATA_DIR, NOISE_FILES, FloatArray, load_mono, noise_sources, wrap_deg
from bench.simulate import place_speakers
from bench.truth import read_rttm

SCENARIOS = (
    "rep alone",
    "customer answers",
    "noise from the start",
    "noise switches on",
    "noise before the rep",
    "customer beside the rep",
)
ANSWERED = ("customer answers", "customer beside the rep")  # a customer answers the rep once
BESIDE_DEG = (40.0, 55.0)  # "customer beside the rep": this far from the rep, nearer than the config allows
DEFAULT_SEED = 20261204
BACKGROUND_SNR_DB = (15.0, 25.0)  # speech over the far background
NOISE_SNR_DB = (3.0, 15.0)  # speech over the one-spot noise
SPEECH_DBFS = (-34.0, -26.0)
REP_SPEECH_S = 10.0
LEAD_IN_S = (0.3, 3.0)  # before the rep's first word
LATE_LEAD_IN_S = (1.5, 3.0)  # ... when a noise switches on before it
PAUSE_S = (0.5, 1.5)  # between the rep's pieces
# The voices with enough speech of their own to talk for REP_SPEECH_S without repeating much: the AMI
# excerpts' speakers with 6 s or more of solo speech (trn09's is trn06's FEE083 again), and the two
# voices of the tests' recordings (3 sentences each). (source, speaker)
VOICES = (
    ("trn03", "M\u00c9O069"),
    ("trn04", "MEE075"),
    ("trn05", "FEE078"),
    ("trn06", "FEE083"),
    ("speech", "axb"),
    ("speech", "aew"),
)


@dataclass(frozen=True, slots=True)
class Layout:
    """When each voice speaks, in samples of a recording ``samples`` long."""

    rep: list[tuple[int, FloatArray]]  # (start, piece)
    customer: list[tuple[int, FloatArray]]
    noise_onsets: list[int]  # where a noise may switch on: in each pause of the rep's but the last
    samples: int


def _pieces(voice: FloatArray, total_s: float, rng: np.random.Generator) -> list[FloatArray]:
    """``voice`` cut into pieces of 1.5-3 s, ``total_s`` of them in all (from a random point, wrapping)."""
    at, out, left = int(rng.integers(len(voice))), [], total_s
    while left > 0.5:
        n = int(min(left, rng.uniform(1.5, 3.0)) * RATE_HZ)
        out.append(np.resize(np.roll(voice, -at), n))
        at, left = (at + n) % len(voice), left - n / RATE_HZ
    return out


@dataclass(frozen=True, slots=True)
class Tweak:
    """What a test sets instead of the bench's random draws (drawn all the same, so the rest stays as it was)."""

    lead_in_s: float | None = None  # before the rep's first word
    noise_on_s: float | None = None  # "noise switches on": when
    noise_snr_db: float | None = None  # the speech over the one-spot noise
    noise_file: str | None = None  # one of NOISE_FILES


def _layout(
    rep_voice: FloatArray, customer_voice: FloatArray, scenario: str, rng: np.random.Generator, tweak: Tweak
) -> Layout:
    rep_pieces = _pieces(rep_voice, REP_SPEECH_S, rng)
    answer_after = len(rep_pieces) // 2 if scenario in ANSWERED else -1
    lead_s = float(rng.uniform(*(LATE_LEAD_IN_S if scenario == "noise before the rep" else LEAD_IN_S)))
    t = int((lead_s if tweak.lead_in_s is None else tweak.lead_in_s) * RATE_HZ)
    rep, customer, pauses = [], [], []
    for i, piece in enumerate(rep_pieces):
        rep.append((t, piece))
        t += len(piece)
        pauses.append(t + int(0.1 * RATE_HZ))  # a noise may switch on 0.1 s into a pause of the rep's
        t += int(rng.uniform(*PAUSE_S) * RATE_HZ)
        if i == answer_after:
            answer = np.resize(np.roll(customer_voice, -int(rng.integers(len(customer_voice)))), int(2.5 * RATE_HZ))
            customer.append((t, answer))
            t += len(answer) + int(rng.uniform(0.4, 0.8) * RATE_HZ)
    return Layout(rep, customer, pauses[:-1], t + RATE_HZ)


def _place_all(pieces: list[tuple[int, FloatArray]], samples: int) -> FloatArray:
    out = np.zeros(samples)
    for start, piece in pieces:
        out[start : start + len(piece)] += piece
    return out


@dataclass(frozen=True, slots=True)
class BenchRoom:
    room: Room
    rep: Placement
    customer: Placement
    irs: list[FloatArray]  # rep, customer, the side noise, three background points, the customer beside the rep
    array: str  # the board recording (bench.arrays)
    rep_voice: FloatArray
    customer_voice: FloatArray
    beside: Placement  # where the customer stands in "customer beside the rep"


@cache
def voice(index: int) -> FloatArray:
    """VOICES[index]'s speech, at unit power: the meeting's headsets, not the voices, set the excerpts' levels."""
    source, who = VOICES[index]
    if source == "speech":
        files = sorted((DATA_DIR / "speech").glob(f"cmu_arctic_us_{who}_*.wav"))
        speech = np.concatenate([load_mono(f, RATE_HZ) for f in files])
    else:
        turns = read_rttm(DATA_DIR / "ami-train" / "train.rttm")[source]
        speech = solo_material(load_mono(DATA_DIR / "ami-train" / f"{source}.wav", RATE_HZ), turns, who, RATE_HZ)
    return speech / np.sqrt(_power(speech))


def make_room(index: int, seed: int = DEFAULT_SEED, array: str = DEFAULT_ARRAY) -> BenchRoom:
    """Room ``index`` of the bench: its shape, who stands where, the impulse responses and the voices."""
    rng = np.random.default_rng([seed, index])
    room = random_room(rng)
    stand = place_speakers(room, ["rep", "customer"], "rep", rng)
    rep, customer = stand["rep"], stand["customer"]
    noise_deg = wrap_deg(rep.azimuth_deg + rng.choice([-1.0, 1.0]) * rng.uniform(45, 135))
    noise = place(room, noise_deg, rng.uniform(1.5, 3.0), rng.uniform(0.9, 1.2))
    spots = [rep.position_m(room), customer.position_m(room), noise.position_m(room)]
    spots += [far_point(room, rng) for _ in range(3)]
    # drawn apart, and its response computed last: every other scenario's room stays as it was
    side = np.random.default_rng([seed, index, len(SCENARIOS)])
    beside_deg = wrap_deg(rep.azimuth_deg + side.choice([-1.0, 1.0]) * side.uniform(*BESIDE_DEG))
    beside = place(room, beside_deg, side.uniform(0.6, 1.5), side.uniform(1.5, 1.8))
    spots.append(beside.position_m(room))
    # every pair of different voices in turn, each voice the rep as often as the customer
    rep_voice = index % len(VOICES)
    customer_voice = (rep_voice + 1 + (index // len(VOICES)) % (len(VOICES) - 1)) % len(VOICES)
    return BenchRoom(
        room,
        rep,
        customer,
        impulse_responses(room, spots, rng, mics_m=mics_of(array)),
        array,
        voice(rep_voice),
        voice(customer_voice),
        beside,
    )


def _power(x: FloatArray) -> float:
    return float(np.mean(x**2)) or 1.0


def _recording(r: BenchRoom, scenario: str, rng: np.random.Generator, tweak: Tweak) -> tuple[FloatArray, float]:
    """(mics, samples) of ``scenario`` in room ``r`` at a random speech level and noise levels, and the speech
    over the one-spot noise in dB (NaN without it)."""
    layout = _layout(r.rep_voice, r.customer_voice, scenario, rng, tweak)
    n = layout.samples
    customer_ir = r.irs[6] if scenario == "customer beside the rep" else r.irs[1]
    speech = render(_place_all(layout.rep, n), r.irs[0]) + render(_place_all(layout.customer, n), customer_ir)
    level = _power(speech[:, np.any(speech != 0, axis=0)])
    _, far = noise_sources(rng, 3, n, RATE_HZ)
    background = np.sum([render(x, h) for x, h in zip(far, r.irs[3:6], strict=True)], axis=0)
    out = speech + np.sqrt(level / _power(background) * 10 ** (-rng.uniform(*BACKGROUND_SNR_DB) / 10)) * background
    snr_db = float("nan")
    if scenario.startswith("noise"):
        noise, snr_db = _side_noise(scenario, layout, rng, tweak), float(rng.uniform(*NOISE_SNR_DB))
        snr_db = snr_db if tweak.noise_snr_db is None else tweak.noise_snr_db
        side = render(noise, r.irs[2])
        out += np.sqrt(level / _power(side[:, noise != 0]) * 10 ** (-snr_db / 10)) * side
    gain = 10 ** (rng.uniform(*SPEECH_DBFS) / 20) / np.sqrt(level)
    return captured(np.clip(out * gain, -0.98, 0.98), r.array), snr_db


def _side_noise(scenario: str, layout: Layout, rng: np.random.Generator, tweak: Tweak) -> FloatArray:
    """The one-spot noise: from the first sample, or switching on (20 ms fade-in) at one of the layout's onsets."""
    name = NOISE_FILES[int(rng.integers(len(NOISE_FILES)))]
    name = name if tweak.noise_file is None else tweak.noise_file
    source = load_mono(DATA_DIR / "noise" / name, RATE_HZ)
    source = np.resize(np.roll(source, -int(rng.integers(len(source)))), layout.samples)
    if scenario == "noise from the start":
        return source
    if scenario == "noise switches on":
        on = layout.noise_onsets[int(rng.integers(len(layout.noise_onsets)))]
    else:  # before the rep's first word, from 40 ms in
        on = int(rng.uniform(0.04, layout.rep[0][0] / RATE_HZ - 0.3) * RATE_HZ)
    on = on if tweak.noise_on_s is None else int(tweak.noise_on_s * RATE_HZ)
    return source * np.clip((np.arange(layout.samples) - on) / (0.02 * RATE_HZ), 0.0, 1.0)


def recording(
    room: BenchRoom, index: int, scenario: str, seed: int = DEFAULT_SEED, tweak: Tweak = Tweak()
) -> tuple[FloatArray, float]:
    """Room ``index``'s recording of ``scenario`` as the bench makes it (but for ``tweak``): (mics, samples),
    and the speech over the one-spot noise in dB (NaN without it)."""
    return _recording(room, scenario, np.random.default_rng([seed, index, SCENARIOS.index(scenario)]), tweak)
