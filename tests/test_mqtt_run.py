"""``listener run`` publishing to a real mosquitto: Last Will, a hung device, a broker outage mid-run, anonymity.

The recording is real CMU ARCTIC speech rendered onto the 4-mic array
(tests/synth.py): three customer visits in 42 s with an interruption by the
rep and backchannels by both parties. With ``session_gap_s = 5`` the
analytics find a session per visit; the short one publishes no summary.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from listener.outputs.mqtt import payloads
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.stage import SPOOL_FILE
from tests import synth
from tests.mqtt_broker import (
    BASE,
    DEVICE_ID,
    Mosquitto,
    Received,
    Recorder,
    free_port,
    kill_process_group,
    run_listener,
    service_config,
    validate,
)
from tests.mqtt_feed import spool_depth
from tests.run_once import made_once
from tests.synth import Utterance

SPOOLED = ("event", "metrics", "session")
REFERENCE = "listener/reference"  # a second device replaying what another hears
REP, CUSTOMER = 0.0, 180.0
A1, A2, A3 = "cmu_arctic_us_aew_a0001.wav", "cmu_arctic_us_aew_a0002.wav", "cmu_arctic_us_aew_a0003.wav"
B4, B5, B6 = "cmu_arctic_us_axb_a0004.wav", "cmu_arctic_us_axb_a0005.wav", "cmu_arctic_us_axb_a0006.wav"
VISITS = [
    Utterance("customer", 0.5, A1, CUSTOMER),
    Utterance("rep", 3.6, B4, REP),  # starts over the customer: an interruption
    Utterance("customer", 5.0, B5, CUSTOMER, max_s=0.5),  # a backchannel
    Utterance("customer", 7.5, A2, CUSTOMER),
    Utterance("rep", 12.2, B6, REP),
    Utterance("rep", 16.0, B4, REP),
    Utterance("customer", 19.2, A3, CUSTOMER),  # a short second visit
    Utterance("customer", 30.0, A1, CUSTOMER),
    Utterance("rep", 34.3, B5, REP),
    Utterance("customer", 36.5, A2, CUSTOMER),
    Utterance("rep", 38.0, B5, REP, max_s=0.5),  # a backchannel
]
DURATION_S = 42.0


@pytest.fixture(scope="module")
def visits_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, _ = synth.render(VISITS, DURATION_S)
    return synth.write_wav(tmp_path_factory.mktemp("audio") / "visits.wav", samples)


def _finish(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    try:
        _, err = proc.communicate(timeout=timeout_s)
    finally:
        kill_process_group(proc)
    text = err.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


def _spooled(messages: list[Received], base: str = BASE) -> list[Received]:
    """Spooled topics of the device under ``base`` in arrival order, QoS 1 duplicates (same seq) removed after
    checking they are identical."""
    first: dict[int, Received] = {}
    out = []
    for m in messages:
        if not m.topic.startswith(f"{base}/") or m.topic.rsplit("/", 1)[-1] not in SPOOLED:
            continue
        seq = int(json.loads(m.payload)["seq"])
        if seq in first:
            assert first[seq].payload == m.payload, "a duplicate must be byte-identical"
            continue
        first[seq] = m
        out.append(m)
    return out


def _shape(messages: list[Received]) -> list[tuple[str, dict[str, object]]]:
    """What was measured, without wall times, seq and the random session ids (numbered instead)."""
    ids: dict[object, int] = {}
    out = []
    for m in messages:
        data = json.loads(m.payload)
        for key in ("ts", "seq", "onset_ms", "start_ms", "end_ms", "spool_dropped"):
            data.pop(key, None)
        if data.get("session_id") is not None:
            data["session_id"] = ids.setdefault(data["session_id"], len(ids))
        out.append((m.topic.rsplit("/", 1)[-1], data))
    return out


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory: pytest.TempPathFactory, visits_wav: Path) -> list[Received]:
    """Everything one ``listener run --fast`` publishes (broker up all along), in whichever worker
    (tests/run_once.py)."""
    return made_once(tmp_path_factory, "fast_run", lambda: _fast_run(tmp_path_factory, visits_wav))


def _fast_run(tmp_path_factory: pytest.TempPathFactory, visits_wav: Path) -> list[Received]:
    folder = tmp_path_factory.mktemp("fast")
    with Mosquitto(folder / "broker") as broker, Recorder(broker) as rec:
        proc = run_listener(service_config(folder, broker), visits_wav, "--fast")
        _finish(proc, timeout_s=120)
        return rec.wait_for(lambda ms: any(m.topic == f"{BASE}/status" and b"offline" in m.payload for m in ms))


def test_every_payload_is_valid_and_anonymous(fast_run: list[Received]) -> None:
    topics = {m.topic.rsplit("/", 1)[-1] for m in fast_run if m.topic.startswith(BASE)}
    assert topics == {"status", "info", "state", "metrics", "event", "session"}
    for m in fast_run:
        if m.topic.startswith(BASE):
            validate(m.topic, m.payload)  # JSON Schema + no free text, no transcript word
        leaf = m.topic.rsplit("/", 1)[-1]
        if m.topic.startswith(BASE) and leaf != "event":  # an event's keys depend on its type; the rest are all sent
            assert set(m.json()) == set(payloads.json_schema(leaf)["required"]), leaf
    kinds = [json.loads(m.payload)["type"] for m in fast_run if m.topic == f"{BASE}/event"]
    assert kinds.count("session_start") == kinds.count("session_end") >= 2  # visits 0-17 s, 19-28 s, 30-42 s
    assert "interruption" in kinds
    assert len([m for m in fast_run if m.topic == f"{BASE}/session"]) >= 1


def _is_status(state: str, base: str = BASE) -> Callable[[Received], bool]:
    return lambda m: m.topic == f"{base}/status" and f'"{state}"'.encode() in m.payload


def _stopped(times: int, base: str = BASE) -> Callable[[list[Received]], bool]:
    """The device under ``base`` has said "offline" ``times`` times (itself, or its Last Will)."""
    return lambda ms: sum(map(_is_status("offline", base), ms)) >= times


def _offline_after_reconnecting(messages: list[Received]) -> bool:
    """The last status says "offline", after the device came "online" a second time."""
    status = [m for m in messages if m.topic == f"{BASE}/status"]
    return sum(map(_is_status("online"), status)) >= 2 and bool(status) and _is_status("offline")(status[-1])


def test_last_will_says_offline_when_the_process_dies(tmp_path: Path, visits_wav: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        proc = run_listener(service_config(tmp_path, broker), visits_wav)  # real time: still running when killed
        try:
            rec.wait_for(lambda ms: any(map(_is_status("online"), ms)), 30)
            time.sleep(1.0)
            stopped_ms = time.time_ns() // 1_000_000
            broker.stop()  # the device reconnects, with a new Will, once it is back
            broker.start()
            rec.wait_for(lambda ms: sum(map(_is_status("online"), ms)) >= 2, 30)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            # the broker sends the Will once 1.5 keep-alives pass without a packet; an "offline" before the
            # second "online" is the first connection's Will, which mosquitto may send as it stops
            got = rec.wait_for(_offline_after_reconnecting, 20)
        finally:
            kill_process_group(proc)
    status = [validate(m.topic, m.payload) for m in got if m.topic == f"{BASE}/status"]
    states = [s["state"] for s in status]  # mosquitto also sends the first connection's Will as it stops
    assert states.count("online") >= 2 and states[-2:] == ["online", "offline"]
    online, will = status[-2], status[-1]
    # the Will is made before each connection, after that connection's "online": never older than it
    assert will["ts"] > stopped_ms  # type: ignore[operator]
    assert will["seq"] > online["seq"] and will["ts"] >= online["ts"]  # type: ignore[operator]
    assert [m.qos for m in got if m.topic == f"{BASE}/status"][-1] == 1  # docs/integrations/mqtt.md: "QoS 1, retained"


KEEPALIVE_S = 5  # the least [mqtt] keepalive_s allows
# mosquitto 2.0 counts whole seconds and checks them on a timer: its Wills came 9.2-10.7 s after a keepalive_s = 5
# client's last packet (1.5 x 5 = 7.5), and a busy machine delays the recorder (a slower CI machine: room to spare)
WILL_LATE_S = 6.5


@dataclass
class Hang:
    """What the broker's subscribers saw of a run hung by SIGSTOP and woken by SIGCONT once its Will came."""

    will: Received
    stopped: float  # time.monotonic(), as Received.at
    stopped_ms: int  # the wall clock, as ts
    woken: float
    woken_ms: int
    journal: str
    messages: list[Received]


def _hang(folder: Path, wav: Path) -> Hang:
    """``listener run`` on ``wav`` in real time, hung once it has published its first event; and beside it,
    while it hangs, the same audio flat out as another device (REFERENCE): what the hung one must deliver."""
    procs: list[subprocess.Popen[bytes]] = []
    with Mosquitto(folder / "broker") as broker, Recorder(broker) as rec:
        # metrics every second: a packet a second until it hangs, so the keep-alive counts from the stop;
        # False: sessions end after the default 30 s of silence, here at the end of the file
        config = service_config(folder / "hung", broker, False, metrics_interval_s=1.0, keepalive_s=KEEPALIVE_S)
        procs.append(run_listener(config, wav))
        try:
            rec.wait_for(lambda ms: any(m.topic == f"{BASE}/event" for m in ms), 30)
            time.sleep(0.5)
            os.killpg(procs[0].pid, signal.SIGSTOP)
            stopped, stopped_ms = time.monotonic(), time.time_ns() // 1_000_000
            again = service_config(folder / "again", broker, False, metrics_interval_s=1.0, device_id="reference")
            procs.append(run_listener(again, wav, "--fast"))
            wills = list(filter(_is_status("offline"), rec.wait_for(_stopped(1), 1.5 * KEEPALIVE_S + WILL_LATE_S + 3)))
            assert wills, "no Last Will while the device hangs"
            with Recorder(broker, topics=(f"{BASE}/status",), client_id="late") as late:  # what a new dashboard gets
                assert [(m.payload, m.retain) for m in late.wait_for(bool)] == [(wills[0].payload, True)]
            os.killpg(procs[0].pid, signal.SIGCONT)
            woken, woken_ms = time.monotonic(), time.time_ns() // 1_000_000
            journal = _finish(procs[0], timeout_s=60)
            _finish(procs[1], timeout_s=60)
            got = rec.wait_for(lambda ms: _stopped(2)(ms) and _stopped(1, REFERENCE)(ms), 10)
        finally:
            for proc in procs:
                kill_process_group(proc)
    return Hang(wills[0], stopped, stopped_ms, woken, woken_ms, journal, got)


def test_a_hung_device_is_taken_offline_by_its_will_and_loses_nothing(tmp_path: Path) -> None:
    """SIGSTOP: the process hangs with its socket open, so only the keep-alive tells the broker. On SIGCONT
    paho finds the connection closed, the journal says this device stood still (not the broker), it reconnects,
    and what was measured on either side of the hang arrives."""
    # one visit from 0.5 s, whose session (30 s gaps) the end of the file ends: its state does not change meanwhile
    hang = _hang(tmp_path, synth.write_wav(tmp_path / "visit.wav", synth.render(VISITS[:3], 17.0)[0]))
    got, will = hang.messages, hang.will
    # by the keep-alive, 1.5 x 5 s after the last packet (the last metrics, within a second of the stop)
    assert 5.0 <= will.at - hang.stopped <= 1.5 * KEEPALIVE_S + WILL_LATE_S, will.at - hang.stopped
    status = [validate(m.topic, m.payload) for m in got if m.topic == f"{BASE}/status"]
    assert [s["state"] for s in status] == ["online", "offline", "online", "offline"]  # the Will, then its own
    assert status[2]["seq"] > status[1]["seq"] and status[2]["ts"] > status[1]["ts"]  # type: ignore[operator]
    # each connect publishes every retained topic again: the Will replaced status, and the broker may be new
    before, after = got[: got.index(will)], got[got.index(will) + 1 :]
    assert {f"{BASE}/status", f"{BASE}/info", f"homeassistant/device/{DEVICE_ID}/config"} <= {m.topic for m in after}
    state = [[m.payload for m in ms if m.topic == f"{BASE}/state"] for ms in (before, after)]
    assert state[1][0] == state[0][-1]  # unchanged, so sent for the connect: the session it names goes on
    spooled = _spooled(got)
    assert _shape(spooled) == _shape(_spooled(got, REFERENCE))  # all measured, in order
    seqs = [int(json.loads(m.payload)["seq"]) for m in spooled]
    assert all(a < b for a, b in itertools.pairwise(seqs))  # delivered in seq order
    made = [int(json.loads(m.payload)["ts"]) for m in spooled]
    assert min(made) < hang.stopped_ms and max(made) > hang.woken_ms  # messages from both sides of the hang
    # the journal names the stall, not the broker: it said only "lost (Unspecified error)"
    (lost,) = [line for line in hang.journal.splitlines() if " lost" in line and "MQTT connection" in line]
    stall = re.search(r"lost: this device did not run for (\d+) s \(stopped or starved of CPU\)", lost)
    assert stall, lost
    # from its loop's last round before the stop (up to 1 s before it) to its first after the wake; said in whole s
    assert hang.woken - hang.stopped - 1 <= int(stall[1]) <= hang.woken - hang.stopped + 3, (lost, hang)
    assert f"longer than the broker waits (1.5 × keepalive_s = {1.5 * KEEPALIVE_S:g} s)" in lost
    assert "Last Will (status offline)" in lost
    assert "client id" not in hang.journal  # a stall is no short-lived connection of a clash
    assert spool_depth(tmp_path / "hung" / "state") == 0


def test_broker_outage_mid_run_loses_nothing(tmp_path: Path, visits_wav: Path, fast_run: list[Received]) -> None:
    expected = _shape(_spooled(fast_run))
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    broker.start()
    try:
        with Recorder(broker, persistent=True) as rec:
            proc = run_listener(service_config(tmp_path, broker), visits_wav)  # real time
            try:
                rec.wait_for(lambda ms: any(m.topic == f"{BASE}/event" for m in ms), 30)
                time.sleep(3.0)
                down_ms = time.time_ns() // 1_000_000
                broker.stop()  # mid-run: the first visit is still going on
                time.sleep(14.0)
                up_ms = time.time_ns() // 1_000_000
                broker.start()
                err = _finish(proc, timeout_s=90)
            finally:
                kill_process_group(proc)
            got = rec.wait_for(lambda ms: len(_spooled(ms)) >= len(expected), 20)
    finally:
        broker.stop()
    spooled = _spooled(got)
    assert _shape(spooled) == expected  # everything measured, in order
    seqs = [json.loads(m.payload)["seq"] for m in spooled]
    assert all(a < b for a, b in itertools.pairwise(seqs))  # duplicates dropped: strictly increasing
    # and yet seq has gaps with nothing lost: each message takes the clock in ms where that is above the last
    # seq, so a message made during the outage carries about its own ts (not one more than the last one sent),
    # and a backlog's seqs tell the time it was made, not how many were made. It orders; it does not count losses.
    off_ms = [int(json.loads(m.payload)["seq"]) - int(json.loads(m.payload)["ts"]) for m in spooled]
    assert all(abs(off) < 1000 for off in off_ms), off_ms
    for m in spooled:
        validate(m.topic, m.payload)
    during = [m for m in spooled if down_ms < json.loads(m.payload)["ts"] < up_ms]
    assert during, "some messages must have been measured while the broker was down"
    assert "unreachable" in err or "lost" in err
    assert spool_depth(tmp_path / "state") == 0


def test_seq_goes_on_increasing_when_the_spool_is_lost(tmp_path: Path, visits_wav: Path) -> None:
    """A fresh card image or a wiped state_dir loses the spool but not the device id. Consumers drop a
    seq they have seen per device (the Node-RED flow does): a second run counting from 1 again had its
    whole session (start, events, summary) dropped as duplicates of the first's."""
    runs: list[list[int]] = []
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        config = service_config(tmp_path, broker)
        for n in (1, 2):
            shutil.rmtree(tmp_path / "state", ignore_errors=True)  # the spool, lost
            _finish(run_listener(config, visits_wav, "--fast"), timeout_s=120)
            got = rec.wait_for(_stopped(n))
            seen = sum(map(len, runs))
            runs.append([int(json.loads(m.payload)["seq"]) for m in got if m.topic.startswith(BASE)][seen:])
    first, second = runs
    assert sum(m.topic == f"{BASE}/session" for m in got) >= 2  # both runs sent a summary
    assert len(first) > 10 and len(second) > 10 and min(second) > max(first)


# ``listener run`` that dies as in a power cut the moment the spool has stored its first session_end
KILLED_AT_SESSION_END = """
import os, signal
from listener.outputs.mqtt.spool import Spool

def killing(write):
    def written(self, *args, **kwargs):
        seqs = write(self, *args, **kwargs)
        if "'type': 'session_end'" in repr(args):
            os.kill(os.getpid(), signal.SIGKILL)
        return seqs
    return written

for name in ("put", "put_many"):
    if hasattr(Spool, name):
        setattr(Spool, name, killing(getattr(Spool, name)))
from listener.entry import main
raise SystemExit(main())
"""


def test_a_crash_once_a_session_end_is_stored_keeps_its_summary(tmp_path: Path, visits_wav: Path) -> None:
    """session_end, then the summary, then the final metrics were each their own transaction: a crash
    between them left a pair that looked complete, a short visit's, with the summary measured lost."""
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        away = service_config(tmp_path, broker, name="away.toml", port=free_port())  # all stays in the spool
        run = ["run", "--config", str(away), "--input", str(visits_wav), "--fast"]
        proc = subprocess.run([sys.executable, "-c", KILLED_AT_SESSION_END, *run], capture_output=True, timeout=120)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode(errors="replace")
        spool = Spool(tmp_path / "state" / SPOOL_FILE, 1000)
        with spool:
            stored = spool.after(0, 1000)
        ends = [k for k, row in enumerate(stored) if b'"type":"session_end"' in row.payload]
        assert len(ends) == 1, "the first session_end is the last thing stored"
        sid = json.loads(stored[ends[0]].payload)["session_id"]
        after = [(row.leaf, json.loads(row.payload)["session_id"]) for row in stored[ends[0] + 1 :]]
        assert after == [("session", sid), ("metrics", sid)]  # its summary, its final metrics: stored with it
        # the next start sends them, byte for byte, in their order
        quiet = synth.write_wav(tmp_path / "quiet.wav", synth.render([], 1.0)[0])
        # the backlog is sent once the link is up: under load (a CI run) connecting took longer than the default
        # 2 s the stop waits for the spool to drain, and the run ended with all of it still stored
        again = service_config(tmp_path, broker, shutdown_drain_s=30.0)
        _finish(run_listener(again, quiet, "--fast"), timeout_s=60)
        got = rec.wait_for(lambda ms: len(_spooled(ms)) >= len(stored))
    assert [m.payload for m in _spooled(got)][: len(stored)] == [row.payload for row in stored]
