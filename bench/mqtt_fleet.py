"""A fleet of simulated devices publishing live metrics to one local mosquitto.

    python -m bench.mqtt_fleet [--devices 500] [--seconds 30] [--interval 1.0] [--per-process 100] [--json]

Each simulated device is the real MQTT output: an ``MqttStage`` with its own
SQLite spool, drain thread and paho loop thread, fed a session and one
audio block per ``--interval`` seconds (so it publishes one ``metrics``
message per interval; the product default is 10 s, 1 s is a stress test).
Devices run in worker processes of ``--per-process`` each: paho waits on
``select()``, which cannot watch file descriptors above 1024, and each
device holds about six (socket, wake-up pair, SQLite and its WAL). A
subscriber process counts what arrives and its latency (arrival minus
``ts``); mosquitto runs on a free port on 127.0.0.1. Printed: messages per
second, client CPU per device (the workers' CPU over the measured window,
divided by the devices), broker CPU, latency percentiles. Only loopback
traffic; everything stops by itself after ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime + stime


def _start_broker(folder: Path, port: int) -> subprocess.Popen[bytes]:
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return broker
        except OSError:
            time.sleep(0.05)
    broker.kill()
    raise SystemExit("mosquitto did not start")


def _say(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# --- child processes ----------------------------------------------------------


def subscriber(port: int, seconds: float) -> None:
    """Count metrics messages for ``seconds`` after "go" on stdin."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    latencies: list[float] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="fleet-counter")

    def on_message(c: paho.Client, u: object, msg: paho.MQTTMessage) -> None:
        latencies.append(time.time() * 1000 - json.loads(msg.payload)["ts"])

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("fleet/+/metrics", qos=1)
    client.loop_start()
    _say("ready")
    sys.stdin.readline()
    latencies.clear()
    time.sleep(seconds)
    client.loop_stop()
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    _say({"received": len(latencies), "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))})


def worker(port: int, first: int, n: int, folder: Path, interval_s: float, seconds: float) -> None:
    """Run devices ``first`` .. ``first + n - 1``; after "go", feed them for ``seconds``."""
    from listener.config import parse_config
    from listener.events import AudioBlock, SessionStarted
    from listener.outputs.mqtt import MqttStage

    logging.basicConfig(level=logging.ERROR)  # 500 devices that each say "lagging" once drown the figures
    t0 = time.monotonic()
    stages = []
    for i in range(first, first + n):
        mqtt = {"enabled": True, "port": port, "topic_prefix": "fleet", "device_id": f"bench-{i:04d}"}
        mqtt.update({"metrics_interval_s": interval_s, "reconnect_max_s": 2.0})
        config = parse_config({"mqtt": mqtt, "service": {"state_dir": str(folder / f"dev{i:04d}")}})
        stage = MqttStage(config)
        stage.open()
        stage.process(SessionStarted(session_id=f"{i:016x}", onset_s=0.0, decided_s=0.0))
        stages.append(stage)
    deadline = time.monotonic() + 60
    while not all(s._link is not None and s._link.connected for s in stages) and time.monotonic() < deadline:
        time.sleep(0.02)
    _say({"setup_s": time.monotonic() - t0, "connected": sum(bool(s._link and s._link.connected) for s in stages)})
    sys.stdin.readline()
    block = np.zeros((160, 4), np.float32)
    cpu0, wall0, tick = time.process_time(), time.monotonic(), 0
    while time.monotonic() - wall0 < seconds:
        tick += 1
        for stage in stages:
            stage.process(AudioBlock(start_s=tick * interval_s - 0.01, sample_rate_hz=16000, samples=block))
        time.sleep(max(0.0, wall0 + tick * interval_s - time.monotonic()))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    left = sum(s.spool.depth for s in stages)
    for stage in stages:
        stage.close()
    _say({"cpu_s": cpu, "wall_s": wall, "sent": tick * n, "left_in_spools": left})


# --- the conductor --------------------------------------------------------------


def _child(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bench.mqtt_fleet", *args]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _line(proc: subprocess.Popen[str]) -> object:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"a fleet process ended early (exit {proc.wait()})")
    return json.loads(line)


def _start_workers(
    port: int,
    n: int,
    per_process: int,
    folder: Path,
    interval_s: float,
    seconds: float,
    procs: list[subprocess.Popen[str]],
) -> list[subprocess.Popen[str]]:
    """Worker processes for ``n`` devices, each added to ``procs`` (to be killed) as soon as it starts."""
    workers = []
    for first in range(0, n, per_process):  # one at a time: a burst of connects overflows the listen backlog
        args = [str(port), str(first), str(min(per_process, n - first)), str(folder), str(interval_s)]
        workers.append(_child("--worker", *args, "--seconds", str(seconds)))
        procs.append(workers[-1])
        ready = _line(workers[-1])
        assert isinstance(ready, dict)
        if ready["connected"] != min(per_process, n - first):
            raise SystemExit(f"only {ready['connected']} devices of a worker connected")
    return workers


def run(n: int, seconds: float, interval_s: float, per_process: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="mqtt-fleet-"))
    port = _free_port()
    broker = _start_broker(folder, port)
    procs: list[subprocess.Popen[str]] = []
    try:
        counter = _child("--subscriber", str(port), "--seconds", str(seconds))
        procs.append(counter)
        _line(counter)
        t0 = time.monotonic()
        workers = _start_workers(port, n, per_process, folder, interval_s, seconds, procs)
        setup_s = time.monotonic() - t0
        broker0, wall0 = _proc_cpu_s(broker.pid), time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        done = [_line(w) for w in workers]
        broker_cpu, wall = _proc_cpu_s(broker.pid) - broker0, time.monotonic() - wall0
        counted = _line(counter)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
        broker.terminate()
        broker.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    assert isinstance(counted, dict) and all(isinstance(d, dict) for d in done)
    return _figures(n, interval_s, seconds, setup_s, done, counted, (broker_cpu, wall))  # type: ignore[arg-type]


def _figures(
    n: int,
    interval_s: float,
    seconds: float,
    setup_s: float,
    done: list[dict[str, float]],
    counted: dict[str, float],
    broker_cpu_wall_s: tuple[float, float],
) -> dict[str, float]:
    """What the run measured, from the workers' and the counter's last lines."""
    cpu = sum(d["cpu_s"] for d in done)
    broker_cpu, wall = broker_cpu_wall_s
    sent = sum(d["sent"] for d in done)
    return {
        "devices": n,
        "processes": len(done),
        "interval_s": interval_s,
        "seconds": round(seconds, 1),
        "setup_all_s": round(setup_s, 1),
        "sent_per_s": round(sent / seconds, 1),
        "received_per_s": round(counted["received"] / seconds, 1),
        "left_in_spools": sum(d["left_in_spools"] for d in done),
        "client_cpu_per_device_pct": round(100 * cpu / seconds / n, 4),
        "client_cpu_total_pct": round(100 * cpu / seconds, 1),
        "broker_cpu_pct": round(100 * broker_cpu / wall, 1),
        "latency_p50_ms": round(counted["p50_ms"], 1),
        "latency_p99_ms": round(counted["p99_ms"], 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between metrics of one device")
    parser.add_argument("--per-process", type=int, default=100, help="devices per worker process (<= 150)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--subscriber", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.subscriber:
        subscriber(args.subscriber, args.seconds)
        return 0
    if args.worker:
        port, first, n, folder, interval = args.worker
        worker(int(port), int(first), int(n), Path(folder), float(interval), args.seconds)
        return 0
    result = run(args.devices, args.seconds, args.interval, args.per_process)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
