"""A session cut at ``session_max_s`` on the service path: ``listener run --fast`` publishing to a real mosquitto.

The recording is 22 min of a rep talking on over a customer side that never falls silent for the
session gap (30 s): a 23.96 s loop of real CMU ARCTIC speech rendered onto the 4-mic array, the
customer speaking at least every 7 s, the rep holding ~70 % of the talk (dominance: amber). With
``session_max_s = 600`` the analytics cut it into sessions of 10, 10 and 2 min. The loop's length
puts the cuts 1 s and 2 s into the customer's long utterance that opens a loop: the customer is
speaking at each cut, so the next session begins there. `listener analyze` on the same file gives the
recording's own totals, which the sessions' summaries must add up to. No transcription: vosk costs
0.17 CPU s per audio second here, 220 s for this recording.
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from listener.outputs import gpio
from tests import synth
from tests.led_script import lit_at
from tests.mqtt_broker import BASE, Mosquitto, Received, Recorder, kill_process_group, run_listener, validate
from tests.mqtt_feed import spool_depth
from tests.run_once import made_once
from tests.synth import Utterance

MAX_S = 600.0
REP, CUSTOMER = 0.0, 180.0
A1, A2, A3 = "cmu_arctic_us_aew_a0001.wav", "cmu_arctic_us_aew_a0002.wav", "cmu_arctic_us_aew_a0003.wav"
B4, B5, B6 = "cmu_arctic_us_axb_a0004.wav", "cmu_arctic_us_axb_a0005.wav", "cmu_arctic_us_axb_a0006.wav"
LOOP = [
    Utterance("customer", 0.0, A2, CUSTOMER),  # speech 0.18-3.81 s: the cuts fall in it
    Utterance("rep", 4.0, B4, REP),
    Utterance("rep", 6.8, B6, REP),
    Utterance("customer", 10.3, A3, CUSTOMER, max_s=1.4),
    Utterance("rep", 11.6, B4, REP),
    Utterance("rep", 14.4, B6, REP),
    Utterance("customer", 17.3, A1, CUSTOMER, max_s=1.0),  # over the rep's last words
    Utterance("rep", 18.5, B4, REP),
    Utterance("rep", 21.2, B5, REP),
]
# 25 loops are 599 s: each cut falls 1 s later in the loop than the session it ends began
LOOP_S, LOOPS = 23.96, 55
CUTS = 2  # at 600 s and 1200 s after the first customer onset; the last session, 117 s, ends with the file


def write_loop(path: Path) -> Path:
    """The loop rendered once and written LOOPS times over (22 min, 170 MB): rendering it whole would take minutes."""
    loop, _ = synth.render(LOOP, LOOP_S)
    with sf.SoundFile(path, "w", synth.RATE_HZ, loop.shape[1], "PCM_16") as out:
        for _ in range(LOOPS):
            out.write(loop)
    return path


def config_text(folder: Path, broker: Mosquitto) -> Path:
    """The service's defaults (30 s session gap) but for session_max_s, mock LEDs traced, no privacy button."""
    # 200 ms blocks, not the 50 ms default: the run takes half the time (17 s, not 35 s), and the analytics
    # cut at a frame, whatever the block
    lines = ["[array]", "block_ms = 200", "[leds]", "self_test_s = 0.0", 'button_pin = ""']
    lines += ["[analytics]", f"session_max_s = {MAX_S}"]
    lines += ["[service]", f'state_dir = "{folder / "state"}"', "[mqtt]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in broker.mqtt_config().items()]
    path = folder / "listener.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class CappedRun:
    messages: list[Received]  # everything the broker delivered, in order
    retained_state: dict[str, object]  # what a subscriber connecting after the run is given
    stderr: str
    leds: list[dict[str, object]]  # the --led-trace lines
    analysis: dict[str, Any]  # `listener analyze --json` of the same recording
    spool_depth: int


def _analyze(wav: Path, config: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "listener", "analyze", str(wav), "--config", str(config), "--json"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _finish(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    finally:
        kill_process_group(proc)
    assert proc.returncode == 0, err.decode(errors="replace")
    return out.decode(), err.decode(errors="replace")


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> CappedRun:
    """One capped run for the module's tests, in whichever worker (tests/run_once.py): half a minute."""
    return made_once(tmp_path_factory, "capped", lambda: _capped_run(tmp_path_factory))


def _capped_run(tmp_path_factory: pytest.TempPathFactory) -> CappedRun:
    folder = tmp_path_factory.mktemp("cap")
    wav = write_loop(folder / "never_silent.wav")
    try:
        with Mosquitto(folder / "broker") as broker, Recorder(broker) as rec:
            config = config_text(folder, broker)
            with pytest.MonkeyPatch.context() as env:
                env.setenv(gpio.ENV, "mock")  # the child's LEDs: gpiozero's mock pins
                proc = run_listener(config, wav, "--fast", "--led-trace")
            analyze = _analyze(wav, config)  # beside it: the other core
            out, err = _finish(proc, timeout_s=180)
            analysis = json.loads(_finish(analyze, timeout_s=180)[0])
            offline = f"{BASE}/status"
            messages = rec.wait_for(lambda ms: any(m.topic == offline and b"offline" in m.payload for m in ms))
            with Recorder(broker, topics=(f"{BASE}/state",), client_id="late") as late:
                retained = late.wait_for(lambda ms: bool(ms))
    finally:
        wav.unlink()  # 170 MB: pytest keeps its last runs' folders
    assert len(retained) == 1 and retained[0].retain
    leds = [json.loads(line) for line in out.splitlines()]
    return CappedRun(messages, retained[0].json(), err, leds, analysis, spool_depth(folder / "state"))


def _events(run: CappedRun, kind: str) -> list[dict[str, Any]]:
    return [m.json() for m in run.messages if m.topic == f"{BASE}/event" and m.json()["type"] == kind]


def _on(run: CappedRun, leaf: str) -> list[dict[str, Any]]:
    return [m.json() for m in run.messages if m.topic == f"{BASE}/{leaf}"]


def test_every_payload_is_valid_and_nothing_is_left_in_the_spool(capped: CappedRun) -> None:
    for m in capped.messages:
        if m.topic.startswith(BASE):
            validate(m.topic, m.payload)
    assert capped.spool_depth == 0


def test_each_session_is_started_ended_and_summarized_once_and_they_tile_the_time(capped: CappedRun) -> None:
    starts, ends, summaries = _events(capped, "session_start"), _events(capped, "session_end"), _on(capped, "session")
    ids = [s["session_id"] for s in starts]
    assert len(ids) == len(set(ids)) == CUTS + 1
    assert [e["session_id"] for e in ends] == ids  # each ended once, in order
    assert [s["session_id"] for s in summaries] == ids  # each had its summary: 10 min of speech and more
    for start, end, summary in zip(starts, ends, summaries, strict=True):
        assert end["onset_ms"] == start["onset_ms"] == summary["start_ms"]
        assert summary["end_ms"] == summary["start_ms"] + round(1000 * summary["duration_s"])
    for before, after in itertools.pairwise(summaries):
        assert after["start_ms"] == before["end_ms"]  # the customer was speaking at the cut: no time in none
    assert [s["duration_s"] for s in summaries[:CUTS]] == pytest.approx([MAX_S] * CUTS)
    assert 100.0 < summaries[-1]["duration_s"] < 120.0  # the rest of the recording
    # the final metrics of a session say the same (dashboards keep them)
    final = {m["session_id"]: m["session_s"] for m in _on(capped, "metrics")}
    assert [final[i] for i in ids[:CUTS]] == pytest.approx([MAX_S] * CUTS)


def test_the_sessions_talk_adds_up_to_the_recordings(capped: CappedRun) -> None:
    summaries = _on(capped, "session")
    whole = capped.analysis["metrics"]
    # the rep says nothing before the customer's first words: all of the recording's talk is in some session
    for party in ("rep", "customer"):
        key = f"{party}_talk_s"
        assert sum(s[key] for s in summaries) == pytest.approx(whole[key], abs=0.02), key
    assert whole["customer_talk_s"] > 300 and whole["rep_talk_s"] > 800


def test_dominance_ends_at_each_cut_and_the_device_is_back_to_listening(capped: CappedRun) -> None:
    events = [m.json() for m in capped.messages if m.topic == f"{BASE}/event"]
    kinds = [e["type"] for e in events]
    # the rep dominates each session; the cut ends that, and the new session counts afresh
    assert kinds.count("dominance_on") == kinds.count("dominance_off") == CUTS + 1
    for k, kind in enumerate(kinds):
        if kind == "session_end":
            assert events[k - 1]["type"] == "dominance_off" and events[k - 1]["reason"] == "session_end"
    states = _on(capped, "state")
    for session_id in [s["session_id"] for s in _events(capped, "session_start")]:
        first = next(s for s in states if s["session_id"] == session_id)
        assert first["dominating"] is False  # the session before's amber is not carried over
    assert {k: capped.retained_state[k] for k in ("mode", "dominating", "session_id")} == {
        "mode": "listening",
        "dominating": False,
        "session_id": None,
    }


def test_the_amber_light_goes_out_at_each_cut(capped: CappedRun) -> None:
    """Amber (or red, the rep talking on) up to each cut, calm green after it until the new session's own
    dominance: its share counts from its start, and needs dominance_min_speech_s (30 s) of speech."""
    events = capped.analysis["events"]
    cuts = [e["end_s"] for e in events if e["type"] == "session_end"][:CUTS]
    dominance_on = [e["decided_s"] for e in events if e["type"] == "dominance" and e["dominating"]]
    trace = io.StringIO("".join(json.dumps(d) + "\n" for d in capped.leds))
    for cut_s in cuts:
        assert lit_at(trace, cut_s - 0.05) in ("a", "r", "ar")
        back_s = min(t for t in dominance_on if t > cut_s)
        assert back_s > cut_s + 20.0
        assert lit_at(trace, cut_s + 2.0) == "g"  # fade_s (0.8 s) after the dominance_off
        amber = [d["value"] for d in capped.leds if d["led"] == "amber" and cut_s + 2.0 <= d["t"] < back_s]
        assert not any(amber)  # not lit again before the new session dominates
        # and lit again then: the trace is no dead one (dominance by share goes on as the rep talks, here as the rep
        # cuts in, so the interruption's red pulse may show over the amber a second later)
        assert lit_at(trace, back_s + 1.0) in ("a", "ga", "ar")


def test_the_journal_has_one_warning_per_cut_naming_session_max_s(capped: CappedRun) -> None:
    warnings = [line for line in capped.stderr.splitlines() if "WARNING" in line]
    capped_ids = [s["session_id"] for s in _events(capped, "session_start")[:CUTS]]
    cut = [line for line in warnings if "session_max_s" in line]
    assert len(cut) == CUTS
    for session_id, line in zip(capped_ids, cut, strict=True):
        assert f"session {session_id} reached [analytics] session_max_s (10 min)" in line
    assert warnings == cut
