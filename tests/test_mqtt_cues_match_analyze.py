"""The content cues a device publishes are the ones `listener analyze` reports for the same recording (issue #3).

Two visits of the Korean dialogue (tests/asr_audio.py, espeak-ng) recognised by the real Korean vosk model:
``listener run --input --fast`` publishing to a real mosquitto, in 50 ms blocks, and ``listener analyze --json``
in 1 s blocks, each in a process of its own (vosk's results also hang on the recognisers a process built
before). Each session's ``cues`` must be analyze's ``cue_sessions`` entry, figure for figure. Before the
speech gate cut its audio to the sample and the recogniser fed vosk 0.1 s pieces whatever the blocks, the
second visit's summary counted 9 rep and 19 customer words on MQTT, 7 and 15 in analyze.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import asr_audio, synth
from tests.asr_audio import DIALOGUE, Line
from tests.mqtt_broker import BASE, Mosquitto, Recorder, kill_process_group, run_listener, service_config, validate

VISIT_S = 25.0  # the dialogue ends at ~14 s: the rest is over the 5 s session gap of service_config
WHERE = ("session_id", "start", "end")  # cue_sessions' own keys: the rest are the summary's cues


@pytest.fixture(scope="module")
def two_visits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("visits")
    lines = [*DIALOGUE, *(Line(line.party, line.start_s + VISIT_S, line.text) for line in DIALOGUE)]
    samples, _ = asr_audio.render(lines, 2 * VISIT_S - 4.0, workdir)
    return synth.write_wav(workdir / "two_visits.wav", samples)


def _finish(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    finally:
        kill_process_group(proc)
    assert proc.returncode == 0, err.decode(errors="replace")
    return out.decode()


def test_each_sessions_cues_on_mqtt_are_analyzes(tmp_path: Path, ko_model: Path, two_visits: Path) -> None:
    with Mosquitto(tmp_path / "broker") as broker, Recorder(broker) as rec:
        config = service_config(tmp_path, broker)
        with config.open("a") as f:
            f.write(f'[asr]\nenabled = true\nmodel_path = "{ko_model}"\n')
        run = run_listener(config, two_visits, "--fast")
        analyze = subprocess.Popen(
            [sys.executable, "-m", "listener", "analyze", str(two_visits), "--config", str(config), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )  # beside it: the other core
        _finish(run, timeout_s=240)
        report: dict[str, Any] = json.loads(_finish(analyze, timeout_s=240))
        messages = rec.wait_for(lambda ms: any(m.topic == f"{BASE}/status" and b"offline" in m.payload for m in ms))
    published = [validate(m.topic, m.payload) for m in messages if m.topic == f"{BASE}/session"]
    analyzed = report["metrics"]["cue_sessions"]
    assert len(published) == len(analyzed) == len(report["sessions"]) == 2
    for summary, cues in zip(published, analyzed, strict=True):
        assert summary["cues"] == {k: v for k, v in cues.items() if k not in WHERE}
        assert summary["duration_s"] == pytest.approx(cues["end"] - cues["start"], abs=1e-3)
    assert all(c["customer_words"] >= 5 and c["rep_words"] >= 3 for c in analyzed), analyzed  # it heard both
