"""What the device writes to its SD card, and says in its journal, per hour: ``listener run`` for real.

    .venv/bin/python -m bench.card_writes [--minutes 60] [--cases conversation,away,visits,silence,no-array]
                                          [--no-array-s 120] [--strace]

Each case is ``python -m listener run --fast --input WAV`` with a fresh ``service.state_dir`` in a temporary
folder, publishing to a mosquitto on a free port (the tests' broker) or, for ``away``, to a port nothing
listens on; ``no-array`` is ``listener run --wait-for-array`` for ``--no-array-s`` seconds of wall time,
no array attached. The WAVs are made in the temporary folder from the bundled sample (removed at the end):

- ``conversation``: the 28 s sample looped for ``--minutes`` (one long session, a metrics message every
  ``metrics_interval_s``), broker connected; ``away``: the same, the broker unreachable (the spool grows);
- ``visits``: a visit every 5 minutes (the sample 3 times, then 217 s of a quiet room), broker connected;
- ``silence``: the quiet room alone (nobody at the counter), broker connected.

Printed per case, per hour of audio (of wall time for ``no-array``): ``write_bytes`` (the bytes the kernel
counts the process as sending toward the card, read from /proc/PID/io once it has exited, before it is
reaped); with ``--strace``, runs again to count the syncs (fsync, fdatasync); the journal's lines and bytes
(stderr: what journald would store); each a run less one a quarter as long, so a start's and a stop's cost
drops out (``no-array``: its run from a quarter of it to just before its stop). And the long run's spool
file size. A start's writes vary by some 0.05 MB from run to run: under an hour of audio that shows (even
below 0). Asserts nothing. Figures in docs/reliability.md, "What the device writes to its card".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from listener.service.runner import sample_conversation
from tests.mqtt_broker import DEVICE_ID, Mosquitto, free_port
from tests.privacy_strace import find_strace

CASES = ("conversation", "away", "visits", "silence", "no-array")
VISIT_EVERY_S = 300.0
QUIET_DBFS = -65.0  # the quiet room: noise well under speech, over a dead channel's level


@dataclass
class Run:
    write_bytes: int
    syncs: int | None
    journal_lines: int
    journal_bytes: int
    spool_bytes: int


def quiet(seconds: float, channels: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    level = 32768.0 * 10.0 ** (QUIET_DBFS / 20.0)
    return rng.normal(0.0, level, size=(round(seconds * rate_hz), channels)).astype(np.int16)


def make_wav(path: Path, kind: str, seconds: float) -> float:
    """The case's audio, ``seconds`` long or a little more (whole loops); its length in seconds."""
    talk, rate_hz = sf.read(str(sample_conversation()), dtype="int16")
    rng = np.random.default_rng(1)
    written = 0
    with sf.SoundFile(str(path), "w", rate_hz, talk.shape[1], "PCM_16") as out:
        while written < seconds * rate_hz:
            if kind == "visits":
                parts = [talk, talk, talk, quiet(VISIT_EVERY_S - 3 * len(talk) / rate_hz, talk.shape[1], rate_hz, rng)]
            elif kind == "silence":
                parts = [quiet(min(60.0, seconds - written / rate_hz), talk.shape[1], rate_hz, rng)]
            else:
                parts = [talk]
            for part in parts:
                out.write(part)
                written += len(part)
    return written / rate_hz


def write_config(folder: Path, port: int) -> Path:
    mqtt = {"enabled": True, "host": "127.0.0.1", "port": port, "device_id": DEVICE_ID}
    lines = ["[service]", f"state_dir = {json.dumps(str(folder / 'state'))}", "[mqtt]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in mqtt.items()]
    path = folder / "listener.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_listener(
    folder: Path, args: list[str], stop_after_s: float | None, strace: str | None, mark_at_s: float | None = None
) -> Run:
    """``listener run ARGS`` to its end (or SIGTERM after ``stop_after_s``), measured; from ``mark_at_s`` on
    only, when given (bytes and journal: its start's cost left out)."""
    cmd = [sys.executable, "-m", "listener", "run", *args]
    trace = folder / "syncs"
    if strace is not None:
        cmd = [strace, "-f", "-qq", "-c", "-o", str(trace), "-e", "trace=fsync,fdatasync", *cmd]
    # mock pins, as a Pi's real ones: no "no GPIO on this machine" line in the journal
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    began_s = time.monotonic()
    with (folder / "stderr").open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
        marks: list[tuple[int, int, int]] = []  # (write_bytes, journal lines, journal bytes) at mark_at_s, at the stop
        # wait without reaping: the exited process's /proc/PID/io still holds every thread's totals
        while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
            if mark_at_s is not None and not marks and time.monotonic() - began_s > mark_at_s:
                marks.append(_measured(folder, proc.pid, strace))
            if stop_after_s is not None and time.monotonic() - began_s > stop_after_s:
                marks.append(_measured(folder, proc.pid, strace))
                os.killpg(proc.pid, signal.SIGTERM)  # strace passes it on to the listener, its one child
                stop_after_s = None
            time.sleep(0.2)
        end = _measured(folder, proc.pid, strace)
        proc.wait()
    # marked: from the mark to just before the stop; else the whole run
    (written, lines, said), before = (marks[-1], marks[0]) if mark_at_s is not None else (end, (0, 0, 0))
    spool = folder / "state" / "mqtt-spool.sqlite3"
    return Run(
        write_bytes=written - before[0],
        syncs=read_syncs(trace) if strace is not None else None,
        journal_lines=lines - before[1],
        journal_bytes=said - before[2],
        spool_bytes=spool.stat().st_size if spool.exists() else 0,
    )


def _measured(folder: Path, pid: int, strace: str | None) -> tuple[int, int, int]:
    """(bytes written, journal lines, journal bytes) so far; bytes 0 under strace (its pid is strace's)."""
    said = (folder / "stderr").read_bytes()
    return (_io(pid)["write_bytes"] if strace is None else 0), said.count(b"\n"), len(said)


def _io(pid: int) -> dict[str, int]:
    return {
        key: int(value)
        for key, value in (line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    }


def read_syncs(trace: Path) -> int:
    """The calls counted in strace's -c table."""
    rows = re.findall(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$", trace.read_text(), re.M)
    return sum(int(calls) for calls, _ in rows)


def measure(
    case: str, top: Path, seconds: float, strace: str | None, mark_at_s: float | None = None
) -> tuple[float, Run]:
    """(hours of audio, or of wall time for no-array; the run) for ``case`` ``seconds`` long, in a fresh folder."""
    folder = top / f"{case}-{seconds:.0f}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    broker = Mosquitto(folder / "broker") if case != "away" else None
    try:
        if broker is not None:
            broker.start()
        config = write_config(folder, broker.port if broker is not None else free_port())
        if case == "no-array":
            args = ["--config", str(config), "--wait-for-array"]
            return seconds / 3600.0, run_listener(folder, args, seconds, strace, mark_at_s)
        kind = "conversation" if case == "away" else case
        wav = top / f"{kind}-{seconds:.0f}.wav"
        if not wav.exists():
            wav.with_suffix(".s").write_text(str(make_wav(wav, kind, seconds)))
        args = ["--config", str(config), "--input", str(wav), "--fast"]
        return float(wav.with_suffix(".s").read_text()) / 3600.0, run_listener(folder, args, None, strace)
    finally:
        if broker is not None:
            broker.stop()


def per_hour(case: str, top: Path, seconds: float, strace: str | None) -> tuple[float, list[float]]:
    """(hours, [MB, syncs (or nan), journal lines, journal bytes per hour, spool MB]): a run of ``seconds``
    less one a quarter as long, which ran the same start and stop; no-array: one run, from a quarter of it on
    (bytes, journal), and its syncs less a run that long's."""
    short_s = max(30.0 if case == "no-array" else 10.0, seconds / 4.0)
    if case == "no-array":
        hours, long = measure(case, top, seconds, None, mark_at_s=short_s)
        hours_short, short = short_s / 3600.0, Run(0, None, 0, 0, 0)
    else:
        (hours, long), (hours_short, short) = measure(case, top, seconds, None), measure(case, top, short_s, None)
    syncs = float("nan")
    if strace is not None:
        syncs = float(
            (measure(case, top, seconds, strace)[1].syncs or 0) - (measure(case, top, short_s, strace)[1].syncs or 0)
        )
    figures = [
        (long.write_bytes - short.write_bytes) / 1e6,
        syncs,
        long.journal_lines - short.journal_lines,
        long.journal_bytes - short.journal_bytes,
    ]
    return hours, [figure / (hours - hours_short) for figure in figures] + [long.spool_bytes / 1e6]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.card_writes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="minutes of audio per case")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--no-array-s", type=float, default=120.0, help="wall seconds the no-array case waits")
    parser.add_argument("--strace", action="store_true", help="a second run of each case counts its syncs")
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}: choose from {', '.join(CASES)}")
    strace = find_strace() if args.strace else None
    if args.strace and strace is None:
        print("strace is not installed (or may not trace here): syncs not counted", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="card-writes-") as tmp:
        print(
            f"{'case':14s} {'hours':>6s} {'MB/h':>7s} {'syncs/h':>8s} {'lines/h':>8s} {'bytes/h':>8s} {'spool MB':>8s}"
        )
        for case in cases:
            seconds = args.no_array_s if case == "no-array" else args.minutes * 60.0
            hours, (mb, syncs, lines, said, spool_mb) = per_hour(case, Path(tmp), seconds, strace)
            counted = "-" if math.isnan(syncs) else f"{syncs:.0f}"
            print(f"{case:14s} {hours:6.2f} {mb:7.2f} {counted:>8s} {lines:8.1f} {said:8.0f} {spool_mb:8.3f}")
    print("per hour: a run less one of a quarter its length (the same start and stop); spool MB: the long run's file")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
