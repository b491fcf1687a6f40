"""Faults, provoked for real: a full spool disk, a corrupt vosk model, SIGTERM mid-session.

The broker outage is tests/test_mqtt_run.py's (``test_broker_outage_mid_run_loses_nothing``,
``test_last_will_says_offline_when_the_process_dies``); the corrupt turn model is
tests/test_turns_errors.py's; device loss at the source is tests/test_live_capture.py's. What is
here is what those do not cover.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from listener.audio.live import LiveSource
from listener.config import parse_config
from listener.events import AudioBlock, AudioDropped, DeviceMode, DeviceState, Event, SessionEnded, SessionStarted
from listener.outputs.led_patterns import Channel
from listener.outputs.leds import LedStage
from listener.outputs.mqtt import MqttStage
from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.spool_warnings import WARN_EVERY
from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.pipeline import Pipeline, Stage
from tests import alsa_device, asr_audio, synth
from tests.alsa_device import AlsaConfig, FifoFeeder, TestDevice, tones
from tests.mqtt_broker import (
    BASE,
    DEVICE_ID,
    Mosquitto,
    Recorder,
    free_port,
    kill_process_group,
    run_listener,
    service_config,
    validate,
)

RATE_HZ = 16000

# --- the spool's disk is full ------------------------------------------------------------


def _visit(stage: MqttStage, k: int) -> None:
    t = 10.0 * k
    list(stage.process(SessionStarted(session_id=f"{k:08x}", onset_s=t, decided_s=t + 1.0)))
    list(stage.process(SessionEnded(session_id=f"{k:08x}", onset_s=t, decided_s=t + 8.0, end_s=t + 7.0)))


def test_full_spool_disk_keeps_every_message_in_memory_and_stores_them_once_there_is_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No broker listens: everything stays in the spool, whose file may not grow (sqlite's
    # max_page_count stands in for a full state_dir without root mounts; sqlite reports SQLITE_FULL
    # either way; tests/test_mqtt_full_card.py fills a real one).
    caplog.set_level(logging.WARNING, logger="listener.outputs.mqtt.spool")
    mqtt = {"enabled": True, "port": free_port(), "device_id": DEVICE_ID, "reconnect_min_s": 1.0}
    config = parse_config({"mqtt": mqtt, "service": {"state_dir": str(tmp_path / "state")}})
    with MqttStage(config) as stage:
        db = stage.spool.db
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        for k in range(200):
            _visit(stage, k)
        # each visit: session_start, its metrics at 0, session_end, and (at the next start: no summary)
        # its final metrics; the last session_end still waits for a summary, to be stored with it
        sent = 4 * 200 - 2
        held = stage.spool.held
        assert 0 < held <= sent and stage.spool.depth == sent  # those the file did not take wait in memory
        assert stage.spool.dropped == 0  # they were dropped, every one after the card filled
        # the first message kept in memory is told, then every WARN_EVERY-th: a full disk must not fill the journal
        said = [r.getMessage() for r in caplog.records if "cannot be written" in r.getMessage()]
        told = [line for line in said if "wait in memory" in line]
        assert len(told) == 1 + held // WARN_EVERY and len(said) - len(told) <= 1, said  # and a counter's, once
        assert "): 2 messages wait in memory" in told[0], told  # a session's ending, stored together or not at all
        assert "): 100 messages wait in memory" in told[1], told
        db.execute("PRAGMA max_page_count = 1073741823")  # space again
        _visit(stage, 200)  # the session_end before it and its final metrics, its start and metrics at 0
        assert stage.spool.held == 0 and stage.spool.depth == sent + 4  # all of them in the file now
        seqs = [row.seq for row in stage.spool.after(0, 1000)]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == sent + 4


def test_a_session_end_waiting_for_its_summary_is_stored_when_the_stage_closes(tmp_path: Path) -> None:
    # a session_end waits in memory for the summary that may follow it, to be stored with it: a stop
    # right then (no EndOfStream: a stage that failed before it) must still store it
    mqtt = {"enabled": True, "port": free_port(), "device_id": DEVICE_ID}
    config = parse_config({"mqtt": mqtt, "service": {"state_dir": str(tmp_path / "state")}})
    with MqttStage(config) as stage:
        _visit(stage, 0)
        stored = [json.loads(row.payload) for row in stage.spool.after(0, 100)]
        assert [m.get("type", "metrics") for m in stored] == ["session_start", "metrics"]
    with Spool(tmp_path / "state" / SPOOL_FILE, 100) as spool:
        stored = [json.loads(row.payload) for row in spool.after(0, 100)]
    assert [m.get("type", "metrics") for m in stored] == ["session_start", "metrics", "session_end", "metrics"]
    assert stored[-1]["session_s"] == 7.0  # the session's final metrics, with its session_end


def test_a_session_end_without_a_summary_is_stored_with_its_final_metrics_whatever_comes_next(
    tmp_path: Path,
) -> None:
    # a summary comes right after its session_end or never: an event of another kind (here a source's state)
    # stored the end alone and left its final metrics to the next audio block, so a crash between lost them
    mqtt = {"enabled": True, "port": free_port(), "device_id": DEVICE_ID}
    config = parse_config({"mqtt": mqtt, "service": {"state_dir": str(tmp_path / "state")}})
    with MqttStage(config) as stage:
        _visit(stage, 0)
        list(stage.process(DeviceState(t_s=8.5, mode=DeviceMode.FAULT, detail="the array is gone")))
        stored = [json.loads(row.payload) for row in stage.spool.after(0, 100)]
        kinds = [m.get("type", "metrics") for m in stored if m.get("type") != "state"]
        assert kinds == ["session_start", "metrics", "session_end", "metrics"]
        assert stored[-1]["session_s"] == 7.0 and stored[-1]["session_id"] == f"{0:08x}"


# --- a corrupt vosk model ------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated", *asr_audio.RECOGNISER_DAMAGES])
def test_corrupt_vosk_model_stops_start_up_with_a_clear_error(tmp_path: Path, damage: str) -> None:
    # the last two vosk.Model loads: only a recogniser fails, which used to be built on the first audio, so
    # the run printed a traceback, went to fault, reported all audio skipped and exited 0
    good = asr_audio.korean_model()
    bad = tmp_path / "model"
    if damage in asr_audio.RECOGNISER_DAMAGES:
        asr_audio.damaged_model(bad, damage)
    else:
        shutil.copytree(good / "conf", bad / "conf")
        (bad / "am").mkdir()
        final = (good / "am" / "final.mdl").read_bytes()
        (bad / "am" / "final.mdl").write_bytes(os.urandom(4096) if damage == "garbage" else final[: len(final) // 3])
    cfg = tmp_path / "asr.toml"
    cfg.write_text(f'[asr]\nenabled = true\nmodel_path = "{bad}"\n')
    samples, _ = synth.render(synth.DIALOGUE[:1], 2.0)
    wav = synth.write_wav(tmp_path / "short.wav", samples)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "listener", "analyze", str(wav), "--config", str(cfg)],
        capture_output=True, text=True, errors="replace", timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("listener: vosk could not load the model in") and str(bad) in last
    assert "fetch it again or point [asr] model_path elsewhere" in last
    assert "Traceback" not in proc.stderr
    # ours is the one line (before it come only Kaldi's own, which vosk prints whatever its log level)
    assert proc.stderr.count("listener:") == 1, proc.stderr
    assert time.monotonic() - started < 30


# --- SIGTERM in the middle of a session ----------------------------------------------------


def test_sigterm_mid_session_publishes_the_summary_and_offline_within_2_s(tmp_path: Path) -> None:
    samples, _ = synth.render(VISIT, 40.0)
    wav = synth.write_wav(tmp_path / "visit.wav", samples)
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        proc = run_listener(service_config(tmp_path, broker, shutdown_drain_s=5.0), wav)  # real time
        try:
            got = rec.wait_for(
                lambda ms: any(m.topic == f"{BASE}/event" and b"session_start" in m.payload for m in ms), 30
            )
            assert any(b"session_start" in m.payload for m in got), "no session started"
            time.sleep(6.0)  # well inside the visit, with more than session_min_speech_s of speech
            sent = time.monotonic()
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
            exited_s = time.monotonic() - sent
            got = rec.wait_for(
                lambda ms: any(b'"offline"' in m.payload for m in ms if m.topic == f"{BASE}/status"), 5
            )  # discovery payloads also contain "offline": wait for the status topic itself
        finally:
            kill_process_group(proc)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert proc.returncode == 0, err
    print(f"SIGTERM to exit: {exited_s:.2f} s")  # the figure quoted in docs/reliability.md (pytest -s)
    assert exited_s < 2.0, f"exit took {exited_s:.2f} s"
    start = next(
        validate(m.topic, m.payload) for m in got if m.topic == f"{BASE}/event" and b"session_start" in m.payload
    )
    sessions = [validate(m.topic, m.payload) for m in got if m.topic == f"{BASE}/session"]
    assert [s["session_id"] for s in sessions] == [start["session_id"]]
    assert 5.0 < float(sessions[0]["duration_s"]) < 30.0  # type: ignore[arg-type]
    status = [json.loads(m.payload)["state"] for m in got if m.topic == f"{BASE}/status"]
    assert status[-1] == "offline"


A1, A2 = "cmu_arctic_us_aew_a0001.wav", "cmu_arctic_us_aew_a0002.wav"
B4, B5 = "cmu_arctic_us_axb_a0004.wav", "cmu_arctic_us_axb_a0005.wav"
VISIT = [  # one long visit: talk all along, so SIGTERM always lands mid-session
    synth.Utterance("customer", 0.5, A1, 180.0),
    synth.Utterance("rep", 4.0, B4, 0.0),
    synth.Utterance("customer", 8.0, A2, 180.0),
    synth.Utterance("rep", 12.0, B5, 0.0),
    synth.Utterance("customer", 16.0, A1, 180.0),
    synth.Utterance("rep", 20.0, B4, 0.0),
    synth.Utterance("customer", 24.0, A2, 180.0),
    synth.Utterance("rep", 28.0, B5, 0.0),
    synth.Utterance("customer", 32.0, A1, 180.0),
]


# --- the microphone disappears and comes back ------------------------------------------------

alsa_config = alsa_device.alsa_config  # fixture


class PacedFeeder(FifoFeeder):
    """Writes the FIFO channel at the real sample rate, so the whole device runs in real time."""

    def _write_until_reader_goes(self, fd: int) -> None:
        step = 2 * RATE_HZ // 10  # 100 ms of int16: one capture period, written at once (atomic in a pipe)
        offset, due = 0, time.monotonic()
        while not self._quit.is_set():
            if self._paused.is_set():
                self._quit.wait(0.02)
                due = time.monotonic()
                continue
            try:
                chunk = self._data[offset : offset + step] or self._data[:step]
                os.write(fd, chunk)
            except OSError:  # the reader went away (stream closed)
                return
            offset = (offset + len(chunk)) % len(self._data)
            due += len(chunk) / (2 * RATE_HZ)
            self._quit.wait(max(0.0, due - time.monotonic()))


def _live_service(tmp_path: Path, broker: Mosquitto) -> tuple[LiveSource, list[Stage]]:
    config = parse_config({
        "array": {"preset": "respeaker-4mic", "device": "listener_test_array", "reopen_interval_s": 0.5},
        "leds": {"enabled": True, "button_pin": ""},
        "mqtt": broker.mqtt_config(),
        "service": {"state_dir": str(tmp_path / "state")},
    })  # fmt: skip
    leds = LedStage(config, factory=MockFactory(pin_class=MockPWMPin), live=True)
    return LiveSource(config), [MqttStage(config), leds]


def _until(predicate: Callable[[], bool], timeout_s: float, why: Callable[[], str] = lambda: "") -> float:
    """Seconds until ``predicate`` holds (polled every 10 ms); fails after ``timeout_s``."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout_s, f"timed out after {timeout_s} s {why()}"
        time.sleep(0.01)
    return time.monotonic() - start


def _modes(rec: Recorder) -> list[str]:
    return [str(json.loads(m.payload)["mode"]) for m in rec.on("/state")]


@contextlib.contextmanager
def _running(source: LiveSource, pipeline: Pipeline) -> Iterator[threading.Thread]:
    """``pipeline`` running ``source`` in a thread, the source stopped and the thread joined on the way out."""
    runner = threading.Thread(target=pipeline.run, args=(source,), daemon=True)
    runner.start()
    try:
        yield runner
    finally:
        source.stop()
        runner.join(10)


def _until_calm(leds: LedStage, rec: Recorder, runner: threading.Thread) -> None:
    started = lambda: leds.values().get(Channel.GREEN, 0.0) > 0 and "listening" in _modes(rec)  # noqa: E731
    _until(started, 30, lambda: f"LEDs {leds.values()}, states {_modes(rec)}, {runner.is_alive()=}")
    time.sleep(1.0)
    assert leds.values()[Channel.AMBER] == 0.0, leds.values()  # calm: amber is the fault's alone


def _pull_the_array(leds: LedStage, rec: Recorder, feeder: FifoFeeder) -> tuple[float, float]:
    """No more audio: the capture thread blocks, as with a pulled USB array. Seconds until the LEDs, and until
    MQTT's state, show the fault."""
    feeder.pause()
    # shown: the fault's amber blink begins, lit at once (green then fades out over fade_s,
    # moved on by the dropped-audio ticks; timing that fade would time the fade)
    paused_at = time.monotonic()
    led_s = _until(lambda: leds.values()[Channel.AMBER] > 0.0, 5)
    _until(lambda: _modes(rec)[-1] == "fault", 5)
    mqtt_s = time.monotonic() - paused_at
    _until(lambda: leds.values()[Channel.GREEN] == 0.0, 5)  # amber alone
    return led_s, mqtt_s


def _plug_in_again(alsa_config: AlsaConfig, device: TestDevice, feeder: FifoFeeder, rec: Recorder) -> None:
    """Gone from the device list a while (every reopen fails, still a fault), then plugged in again."""
    alsa_config.remove(device.name)
    feeder.resume()  # lets the wedged stream close
    time.sleep(1.5)
    assert _modes(rec)[-1] == "fault"
    alsa_config.restore(device)


def _until_back(leds: LedStage, rec: Recorder) -> float:
    """Seconds until listening again, and calm green lit; green waits while the fault's amber fades out (the
    looks are never lit together), so it may still be dark the moment the mode turns."""
    return _until(
        lambda: (
            _modes(rec)[-1] == "listening" and leds.values()[Channel.RED] == 0.0 and leds.values()[Channel.GREEN] > 0
        ),
        10,
        lambda: f"{leds.values()}, states {_modes(rec)}",
    )


def test_microphone_lost_and_back_shows_on_leds_and_mqtt(alsa_config: AlsaConfig, tmp_path: Path) -> None:
    device = alsa_config.add("listener_test_array", tones(RATE_HZ, 2.0, 4), RATE_HZ, fifo_channel=0)
    with (
        Mosquitto(tmp_path / "broker") as broker,
        Recorder(broker, topics=(f"{BASE}/state",)) as rec,
        PacedFeeder(device.infiles[0], device.signal[:, :1]) as feeder,
    ):
        source, stages = _live_service(tmp_path, broker)
        leds = stages[1]
        assert isinstance(leds, LedStage)
        with source, Pipeline(stages) as pipeline, _running(source, pipeline) as runner:
            _until_calm(leds, rec, runner)
            led_s, mqtt_s = _pull_the_array(leds, rec, feeder)
            _plug_in_again(alsa_config, device, feeder, rec)
            back_s = _until_back(leds, rec)
        assert not runner.is_alive()
    print(f"mic lost: LEDs {led_s:.2f} s, MQTT state {mqtt_s:.2f} s; mic back: recovered in {back_s:.2f} s")
    assert led_s < 2.0 and mqtt_s < 2.0
    assert back_s < 5.0


# --- the pipeline falls behind the audio callback -----------------------------------------------


def test_falling_behind_counts_overflows_and_audio_time_stays_on_the_wall_clock(
    alsa_config: AlsaConfig, caplog: pytest.LogCaptureFixture
) -> None:
    device = alsa_config.add("listener_test_array", tones(RATE_HZ, 2.0, 4), RATE_HZ, fifo_channel=0)
    array = {"preset": "respeaker-4mic", "device": "listener_test_array", "buffer_s": 0.5}
    config = parse_config({"array": array})
    arrivals: list[tuple[float, float]] = []  # (wall s, audio s at the end of the event)
    events: list[Event] = []
    with PacedFeeder(device.infiles[0], device.signal[:, :1]), LiveSource(config) as source:
        for event in source.events():
            end_s = event.end_s if isinstance(event, AudioBlock | AudioDropped) else getattr(event, "start_s", 0.0)
            arrivals.append((time.monotonic(), end_s))
            events.append(event)
            if isinstance(event, AudioBlock) and 1.0 <= end_s < 3.0:
                time.sleep(3 * event.duration_s)  # the pipeline stalls: three times slower than real time
            if end_s >= 6.0:
                break
        overflows = source.overflow_count
    dropped = [e for e in events if isinstance(e, AudioDropped)]
    assert overflows > 0 and dropped and {e.reason for e in dropped} == {"overflow"}
    lost_s = sum(e.duration_s for e in dropped)
    wall0 = arrivals[0][0] - arrivals[0][1]  # wall time of audio time 0, from the first block
    drift_s = (arrivals[-1][0] - wall0) - arrivals[-1][1]
    print(f"overflows {overflows}, {lost_s:.2f} s dropped, drift after 6 s: {drift_s * 1000:.0f} ms")
    assert lost_s > 1.0  # the stall outlasted the 0.5 s ring by seconds
    assert abs(drift_s) < 0.3
    assert any("overflow" in r.getMessage() for r in caplog.records)
