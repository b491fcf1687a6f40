"""How often `listener calibrate` stores the right directions, in rendered shop rooms.

    python -m bench.calibrate [--rooms 60] [--seed N] [--array PRESET]

Each room (bench.room: 3x3 to 7x6 m, RT60 0.2-0.8 s, the shop's background
from three far points, 15-25 dB under the speech) is recorded on the 4-mic
board (or ``--array``'s, bench.arrays) six times, five as an installer would
calibrate in it:

- ``rep alone``: the rep (near 0 deg, 0.5-1 m, standing) talks for about 10 s
  in pieces of 1.5-3 s with pauses of 0.5-1.5 s between, starting 0.3-3 s in;
- ``customer answers``: the rep talks, the customer (near 180 deg) answers
  once for 2.5 s, the rep goes on;
- ``noise from the start``: the rep alone, and a noise from one spot at the
  side (45-135 deg from the rep, 1.5-3 m: a sink's dishes or an exercise
  bike) running from the first frame, 3-15 dB under the speech;
- ``noise switches on``: the same noise starting 0.1 s into one of the rep's
  pauses;
- ``noise before the rep``: the same noise starting anywhere from 40 ms in to
  0.3 s before the rep's first word, which comes 1.5-3 s in (the noise floor
  is still learning the room for the first two seconds);
- ``customer beside the rep``: as ``customer answers``, the customer standing
  40-55 deg from the rep (an L-shaped desk, the corner of the counter), nearer
  than the listener tells the parties apart (60 deg): the one scenario whose
  right answer is *refused*, saying so; stored, the customer goes opposite
  the rep and their words count as the rep's (*stored wrong*).

Voices (VOICES) are the AMI excerpts' solo speech and the tests' read
sentences, each pair of different voices in turn. Every recording goes through
``listener calibrate --input`` with the placeholders of a new install (rep 0,
customer 180), and its printed result is scored:

On the 2-mic board, a line, calibrate stores the line's two ends, the rep
at the end nearer them; the bench's rep stands within 15 deg of the end
along +x, so the same tolerances score it.

- *stored right*: it would be written without ``--force``, the rep within
  REP_TOLERANCE_DEG of where they stood, the customer within
  CUSTOMER_TOLERANCE_DEG of where they stood (alone: of opposite the rep);
  when the customer answered, only if calibrate placed them where it heard
  them: put opposite the rep, they are near where they stood by the room's
  layout, not by calibrate's doing (that is *stored rough*);
- *stored rough*: written, both within the config's default
  ``sector_half_width_deg`` (60 deg) of where they stood but not as close: the
  device attributes speech, with less margin;
- *refused*: it would not be written (low confidence, or a doubt) and says
  why: safe, but the installer repeats it;
- *stored wrong*: written without ``--force``, and a party outside that
  sector. This is the one that costs: the device then attributes that
  party's speech wrongly until someone notices.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.arrays import ARRAYS, DEFAULT_ARRAY, captured, mics_of
from bench.overlaps import solo_material
from bench.room import RATE_HZ, Placement, Room, far_point, impulse_responses, place, random_room, render
from bench.signals import DATA_DIR, NOISE_FILES, FloatArray, load_mono, noise_sources, wrap_deg
from bench.simulate import place_speakers
from bench.truth import read_rttm
from listener.cli import main as listener_main
from listener.config.schema import PartiesConfig

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
REP_TOLERANCE_DEG = 20.0
CUSTOMER_TOLERANCE_DEG = 30.0
# the config's default (60 deg): beyond it, a party's speech is taken for elsewhere
SECTOR_HALF_WIDTH_DEG = PartiesConfig().sector_half_width_deg
VERDICTS = ("stored right", "stored rough", "refused", "stored wrong")
BACKGROUND_SNR_DB = (15.0, 25.0)  # speech over the far background
NOISE_SNR_DB = (3.0, 15.0)  # speech over the one-spot noise
NOISE_BANDS_DB = ((3.0, 7.0), (7.0, 11.0), (11.0, 15.0))
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
CONFIG = """[array]
preset = "{array}"

[parties]
rep_azimuth_deg = 0.0
customer_azimuth_deg = 180.0
"""


def config_text(array: str = DEFAULT_ARRAY) -> str:
    """A new install's config on ``array``: its preset, and the placeholders for the parties."""
    return CONFIG.format(array=array)


@dataclass(frozen=True, slots=True)
class Layout:
    """When each voice speaks, in samples of a recording ``samples`` long."""

    rep: list[tuple[int, FloatArray]]  # (start, piece)
    customer: list[tuple[int, FloatArray]]
    noise_onsets: list[int]  # where a noise may switch on: in each pause of the rep's but the last
    samples: int


@dataclass(frozen=True, slots=True)
class Result:
    scenario: str
    room: int
    verdict: str  # one of VERDICTS
    rep_error_deg: float
    customer_error_deg: float
    customer_from: str
    refusal: str
    noise_snr_db: float  # speech over the one-spot noise (NaN: none)


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


def write_case(audio: FloatArray, folder: Path, array: str = DEFAULT_ARRAY, name: str = "case") -> tuple[Path, Path]:
    """``audio`` as a recording and a new install's config on ``array``, in ``folder``: (recording, config)."""
    wav, config = folder / f"{name}.wav", folder / "listener.toml"
    sf.write(wav, audio.T.astype(np.float32), RATE_HZ, subtype="FLOAT")
    config.write_text(config_text(array))
    return wav, config


def _calibrate(audio: FloatArray, folder: Path, array: str) -> tuple[dict[str, str], str]:
    """``listener calibrate --input`` on ``audio``: its printed lines by first word, and its refusal ('' none)."""
    wav, config = write_case(audio, folder, array)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = listener_main(["calibrate", "--config", str(config), "--input", str(wav)])
    lines = out.getvalue().splitlines()
    if code == 2 and err.getvalue().startswith("listener: "):  # calibrate refused to place anyone, saying why
        return {}, err.getvalue().strip()
    if code != 0:
        raise RuntimeError(f"calibrate failed (exit {code}), not a refusal: {err.getvalue().strip()}")
    printed = {line.split()[0]: line for line in lines if line.split()}
    written = any(line.startswith("not written: run again with --write") for line in lines)
    return printed, "" if written else lines[-1]


def _angle(line: str) -> float:
    return float(line.split()[1])


def score(r: BenchRoom, index: int, scenario: str, snr_db: float, printed: dict[str, str], refusal: str) -> Result:
    if "rep" not in printed:
        return Result(scenario, index, "refused", float("nan"), float("nan"), "", refusal, snr_db)
    rep_deg, customer_deg = _angle(printed["rep"]), _angle(printed["customer"])
    rep_error = abs(wrap_deg(rep_deg - r.rep.azimuth_deg))
    truth = {"customer answers": r.customer.azimuth_deg, "customer beside the rep": r.beside.azimuth_deg}.get(
        scenario, r.rep.azimuth_deg + 180.0
    )
    customer_error = abs(wrap_deg(customer_deg - truth))
    customer_from = printed["customer"].split("(", 1)[1].rstrip(")")
    placed = scenario not in ANSWERED or customer_from == "second talker"
    if refusal:
        verdict = "refused"
    elif rep_error <= REP_TOLERANCE_DEG and customer_error <= CUSTOMER_TOLERANCE_DEG and placed:
        verdict = "stored right"
    else:
        verdict = "stored rough" if max(rep_error, customer_error) <= SECTOR_HALF_WIDTH_DEG else "stored wrong"
    return Result(scenario, index, verdict, rep_error, customer_error, customer_from, refusal, snr_db)


def recording(
    room: BenchRoom, index: int, scenario: str, seed: int = DEFAULT_SEED, tweak: Tweak = Tweak()
) -> tuple[FloatArray, float]:
    """Room ``index``'s recording of ``scenario`` as the bench makes it (but for ``tweak``): (mics, samples),
    and the speech over the one-spot noise in dB (NaN without it)."""
    return _recording(room, scenario, np.random.default_rng([seed, index, SCENARIOS.index(scenario)]), tweak)


def run(rooms: int, seed: int, log: bool = True, array: str = DEFAULT_ARRAY) -> list[Result]:
    results = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(rooms):
            r = make_room(index, seed, array)
            for scenario in SCENARIOS:
                audio, snr_db = recording(r, index, scenario, seed)
                results.append(score(r, index, scenario, snr_db, *_calibrate(audio, Path(scratch), array)))
            if log:
                print(f"  room {index}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return results


def report(results: Sequence[Result]) -> str:
    lines = [f"{'scenario':22} {'rooms':>5} " + " ".join(f"{v:>12}" for v in VERDICTS) + "  rep error med/max"]
    for scenario in SCENARIOS:
        mine = [r for r in results if r.scenario == scenario]
        counts = " ".join(f"{sum(r.verdict == v for r in mine):12d}" for v in VERDICTS)
        errors = [r.rep_error_deg for r in mine if r.verdict != "refused"]
        spread = f"{statistics.median(errors):.1f} / {max(errors):.1f} deg" if errors else "-"
        lines.append(f"{scenario:22} {len(mine):5d} {counts}  {spread}")
    lines += ["", "refused with the one-spot noise, by speech over it:"]
    for low, high in NOISE_BANDS_DB:
        mine = [r for r in results if low <= r.noise_snr_db < high]
        refused = sum(r.verdict == "refused" for r in mine)
        lines.append(f"  {low:2.0f}-{high:2.0f} dB: {refused} of {len(mine)}")
    lines.append("")
    for r in results:
        if r.verdict != "stored right":
            said = r.refusal[:110] if r.refusal else f"customer {r.customer_from}"
            noise = f"noise {r.noise_snr_db:4.1f} dB under" if r.noise_snr_db == r.noise_snr_db else " " * 20
            lines.append(
                f"  room {r.room:2d} {r.scenario:20} {noise} {r.verdict:12} rep off {r.rep_error_deg:5.1f}, "
                f"customer off {r.customer_error_deg:5.1f}: {said}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=60, help="rooms rendered (default 60)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--array", choices=ARRAYS, default=DEFAULT_ARRAY, help=f"the board (default {DEFAULT_ARRAY})")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results = run(args.rooms, args.seed, array=args.array)
    print(report(results))
    print(f"\n{args.rooms} rooms x {len(SCENARIOS)} recordings in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
