"""Rehearse a device install: firmware/provision.sh for real into a Debian 12 arm64 root, run under
qemu-user emulation, then the installed listener inside that root.

    sudo .venv/bin/python -m bench.pi_rehearsal [--keep DIR] [--release trixie] [--arch amd64]

``--release trixie``: a Debian 13 root, what Raspberry Pi OS has been since October 2025 (Python 3.13).
``--arch amd64``: this machine's architecture, no emulation (minutes, not tens of them); the arm64
wheels' availability is then not what is tried.

What a Raspberry Pi OS Lite card gets is what an installer's run does here: apt inside the root, the
venv, pip with firmware/constraints.txt, the service user, the config and the unit. Then, inside the
root, as the service user where the service would be: check-config, the bundled sample through
``analyze`` (compared with this machine's report), capture from an ALSA device through apt's pyaudio
(``devices``, ``calibrate``), and the service pipeline with transcription (the Korean vosk model of
the tests), LEDs on gpiozero's MockFactory and MQTT to a mosquitto on this machine. Prints figures;
asserts nothing. Emulation makes every time here several times a Pi's, so no speed is measured.

The emulated CPU is a Pi 4's Cortex-A72 (``QEMU_CPU`` in the environment picks another, cortex-a76 a
Pi 5's): qemu's default, "max", has what no Pi has (SVE, pointer authentication), and Debian 13's
binaries, built to use pointer authentication, ran 3 to 15 times slower under it.

Needs root (chroot and mounts) and Debian's debootstrap, qemu-user-static and binfmt-support. The
base root (debootstrap minbase, ~230 MB) is cached in bench/.cache/pi-ARCH-RELEASE.tar.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import rehearsal_root
from bench.rehearsal_root import (
    KO_MODEL,
    LISTENER,
    PYTHON,
    SERVICE_USER,
    PiRoot,
    add_release_argument,
    copy_test_model,
    fresh_root,
    installed_sample,
    provision,
    topic_counts,
)
from bench.signals import ROOT as REPO
from listener.config import PROCESSING_RATE_HZ

CACHES = REPO / "bench" / ".cache"
SAMPLE = REPO / "listener" / "data" / "sample" / "conversation.wav"
# a Pi 4's core; qemu's "max" does pointer authentication (Debian 13's binaries use it) in software
QEMU_CPU = "cortex-a72"


def host_problem(arch: str) -> str | None:
    """Why this machine cannot run the rehearsal for ``arch``, with the fix; None when it can."""
    if (problem := rehearsal_root.host_problem({})) is not None:
        return problem
    if arch == "arm64" and not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        return (
            "arm64 programs cannot run here: sudo apt-get install qemu-user-static binfmt-support "
            "(and, in a container, mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable)"
        )
    return None


VERSIONS = """
import json, sys
from importlib import metadata
pins = dict(line.split("==") for line in sys.stdin.read().splitlines() if line and not line.startswith("#"))
got = {}
for name in pins:
    try:
        dist = metadata.distribution(name)
        got[name] = [dist.version, str(dist.locate_file(""))]
    except metadata.PackageNotFoundError:
        got[name] = [None, None]
print(json.dumps(got))
"""


def versions(root: PiRoot) -> dict[str, object]:
    """Each pinned package as the venv's Python finds it: its version and where it lives (venv or apt)."""
    pins_text = (REPO / "firmware" / "constraints.txt").read_text()
    found = json.loads(root.run(PYTHON, "-c", VERSIONS, stdin=pins_text).stdout)
    pins = dict(ln.split("==", 1) for ln in pins_text.splitlines() if ln and not ln.startswith("#"))
    wrong = {name: (pins[name], got[0]) for name, got in found.items() if got[0] != pins[name]}
    from_apt = sorted(name for name, got in found.items() if got[1] and "dist-packages" in got[1])
    du = subprocess.run(["du", "-sm", str(root.path / "opt" / "listener" / "venv")], capture_output=True, text=True)
    return {"pinned": len(pins), "at_pin": len(pins) - len(wrong), "wrong": wrong, "from_apt": from_apt,
            "venv_mb": int(du.stdout.split()[0])}  # fmt: skip


def analyze_matches(root: PiRoot, release: str) -> dict[str, object]:
    """The bundled sample through the installed listener, against this machine's own report."""
    t0 = time.perf_counter()
    arm = root.run(LISTENER, "analyze", installed_sample(release), "--json", user=SERVICE_USER)
    emulated_s = time.perf_counter() - t0
    here = subprocess.run(
        [sys.executable, "-m", "listener", "analyze", str(SAMPLE), "--json"], capture_output=True, text=True
    )
    if arm.returncode != 0:
        return {"analyze": f"failed: {arm.stderr.strip()[-500:]}"}
    a, b = (_without_ids(json.loads(out)) for out in (arm.stdout, here.stdout))
    return {
        "analyze_same_report": a == b,
        "segments": len(a["segments"]),
        "events": len(a["events"]),
        "rep_share": a["metrics"]["rep_share"],
        "emulated_s": round(emulated_s, 1),
    }


def _without_ids(report: dict[str, Any]) -> dict[str, Any]:
    """Session ids are random per run; everything else must agree."""
    text = json.dumps(report)
    for event in report["events"]:
        if "session_id" in event:
            text = text.replace(event["session_id"], "ID")
    return json.loads(text)


def live_capture(root: PiRoot) -> dict[str, object]:
    """apt's pyaudio on arm64 capturing from an ALSA device that plays the sample (tests/alsa_device.py)."""
    import soundfile as sf

    from tests.alsa_device import AlsaConfig

    samples, _ = sf.read(SAMPLE, dtype="int16", always_2d=True)
    alsa = AlsaConfig(root.path / "tmp" / "alsa")
    alsa.add("rehearsal_array", samples, PROCESSING_RATE_HZ)
    alsa.path.write_text(alsa.path.read_text().replace(str(root.path), ""))  # the paths as the root sees them
    config = root.path / "tmp" / "live.toml"
    config.write_text('[array]\npreset = "respeaker-4mic"\ndevice = "rehearsal_array"\n')
    env = {"ALSA_CONFIG_PATH": root.inside(alsa.path)}
    devices = root.run(LISTENER, "devices", user=SERVICE_USER, env=env)
    calibrated = root.run(
        LISTENER, "calibrate", "--config", "/tmp/live.toml", "--seconds", "8", user=SERVICE_USER, env=env
    )
    listed = [ln.strip() for ln in devices.stdout.splitlines() if "rehearsal_array" in ln]
    return {
        "devices": listed or devices.stderr.strip()[-300:],
        "calibrate": (calibrated.stdout + calibrated.stderr).strip().splitlines()[:4],
    }


def service_run(root: PiRoot, work: Path) -> dict[str, object]:
    """listener run on a spoken dialogue, as the service user: vosk, mock LEDs, MQTT to this machine."""
    from tests import asr_audio, synth
    from tests.mqtt_broker import Mosquitto, Recorder

    samples, _ = asr_audio.render(asr_audio.DIALOGUE, asr_audio.DURATION_S, work)
    synth.write_wav(root.path / "tmp" / "dialogue.wav", samples)
    copy_test_model(root)
    with Mosquitto(work / "broker") as broker, Recorder(broker) as recorder:
        lines = ['[array]', 'preset = "respeaker-4mic"', "[analytics]", "session_gap_s = 5.0",
                 "session_min_speech_s = 3.0", "[service]", 'state_dir = "/tmp/listener-state"',
                 "[asr]", "enabled = true", f'model_path = "{KO_MODEL}"', "[mqtt]"]  # fmt: skip
        lines += [f"{k} = {json.dumps(v)}" for k, v in broker.mqtt_config().items()]
        (root.path / "tmp" / "service.toml").write_text("\n".join(lines) + "\n")
        done = root.run(
            LISTENER, "run", "--config", "/tmp/service.toml", "--input", "/tmp/dialogue.wav", "--fast",
            "--led-trace", user=SERVICE_USER, env={"GPIOZERO_PIN_FACTORY": "mock"},
        )  # fmt: skip
        sessions = recorder.wait_for(lambda got: any(m.topic.endswith("/session") for m in got), timeout_s=30.0)
    summary = next((m.json() for m in sessions if m.topic.endswith("/session")), {})
    return {
        "exit": done.returncode,
        "stderr": done.stderr.strip().splitlines()[-2:],
        "led_changes": sum(1 for ln in done.stdout.splitlines() if ln.startswith('{"t"')),
        "mqtt_messages": topic_counts(sessions),
        "session": {k: summary.get(k) for k in ("rep_talk_s", "customer_talk_s", "rep_share", "cues")},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="build the root in DIR/root and leave it there")
    add_release_argument(parser)
    parser.add_argument("--arch", choices=("arm64", "amd64"), default="arm64", help="amd64: no emulation")
    args = parser.parse_args(argv)
    if (problem := host_problem(args.arch)) is not None:
        print(f"pi_rehearsal: {problem}", file=sys.stderr)
        return 2
    os.environ.setdefault("QEMU_CPU", QEMU_CPU)  # every chroot (apt, pip, the listener) inherits it
    print(f"emulated CPU: {os.environ['QEMU_CPU']}" if args.arch == "arm64" else "no emulation")
    cache = CACHES / f"pi-{args.arch}-{args.release}.tar"
    with (
        fresh_root(cache, args.arch, keep=args.keep, release=args.release) as root,
        tempfile.TemporaryDirectory() as work,
    ):
        for name, step in (
            ("provision", lambda: provision(root, "--no-systemctl")),
            ("versions", lambda: versions(root)),
            ("check-config", lambda: {"out": root.run(LISTENER, "check-config", "/etc/listener/listener.toml").stdout}),
            ("analyze", lambda: analyze_matches(root, args.release)),
            ("live capture", lambda: live_capture(root)),
            ("service run", lambda: service_run(root, Path(work))),
        ):
            t0 = time.perf_counter()
            result = step()
            print(f"== {name} ({time.perf_counter() - t0:.0f} s)\n{json.dumps(result, indent=1, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
