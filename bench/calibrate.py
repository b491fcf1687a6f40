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

Voices (bench.calibrate_rooms.VOICES) are the AMI excerpts' solo speech and the tests' read
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
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.arrays import ARRAYS, DEFAULT_ARRAY
from bench.calibrate_rooms import ANSWERED, BenchRoom, make_room, recording
from bench.calibrate_rooms import DEFAULT_SEED as DEFAULT_SEED  # the bench's own: its --seed, its scenarios
from bench.calibrate_rooms import SCENARIOS as SCENARIOS
from bench.room import RATE_HZ
from bench.signals import FloatArray, wrap_deg
from listener.cli import main as listener_main
from listener.config.schema import PartiesConfig

REP_TOLERANCE_DEG = 20.0
CUSTOMER_TOLERANCE_DEG = 30.0
# the config's default (60 deg): beyond it, a party's speech is taken for elsewhere
SECTOR_HALF_WIDTH_DEG = PartiesConfig().sector_half_width_deg
VERDICTS = ("stored right", "stored rough", "refused", "stored wrong")
NOISE_BANDS_DB = ((3.0, 7.0), (7.0, 11.0), (11.0, 15.0))
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
class Result:
    scenario: str
    room: int
    verdict: str  # one of VERDICTS
    rep_error_deg: float
    customer_error_deg: float
    customer_from: str
    refusal: str
    noise_snr_db: float  # speech over the one-spot noise (NaN: none)


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
