"""The privacy audit's one run of the whole device path, as test_privacy_audit.py describes it: searched there,
traced in test_privacy_trace.py (conftest's `session` fixture runs it once for both)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import asr_audio
from tests.mqtt_broker import BASE, Mosquitto, Received, Recorder

DRIVER = """
import json, os, sys
from listener.cli import main
from listener.transcription import recognizer

heard = []
emit = recognizer.RecognizerWorker._emit
SCRIPT = json.loads(os.environ["LISTENER_TEST_SCRIPT"])

def spy(self, result_json):
    # remembers what the real recogniser said, and hands on the English line said at that audio time in
    # its place, at the same times: the Korean words fire no cue of the English lexicon, these fire each
    items = json.loads(result_json).get("result", [])
    heard.extend(str(item["word"]) for item in items)
    if items:
        start, end = float(items[0]["start"]), float(items[-1]["end"])
        line = [text for at_s, text in SCRIPT if at_s <= self._map.audio_time(start)][-1].split()
        step = (end - start) / len(line)
        items = [{"word": w, "start": start + k * step, "end": start + (k + 1) * step} for k, w in enumerate(line)]
        heard.extend(line)
    emit(self, json.dumps({"result": items}))

recognizer.RecognizerWorker._emit = spy
wav, config, drain, plot, to_test, from_test = sys.argv[1:7]
code = main(["analyze", wav, "--json", "--plot", plot, "--config", config])
code = code or main(["run", "--input", wav, "--fast", "--config", config])  # the broker is down
with os.fdopen(int(to_test), "w") as out, os.fdopen(int(from_test)) as go:  # pipes, never files
    out.write("spooled\\n")
    out.flush()
    if go.readline() == "go\\n":  # the broker is up: a second run (no transcription) drains the spool
        code = code or main(["run", "--input", wav, "--fast", "--led-trace", "--config", drain])
    json.dump(heard, out)
sys.exit(code)
"""


@dataclass
class Session:
    box: Path
    wav: Path
    stdout: bytes
    stderr: bytes
    messages: list[Received]  # everything a subscriber to '#' received
    heard: list[str]  # the words the real recogniser returned in the process
    spooled: dict[str, bytes]  # every file, while the broker was down and the spool held the messages
    files: dict[str, bytes] = field(default_factory=dict)  # every file, at the end
    trace: Path | None = None  # strace -ff output prefix, when strace is installed


# What the rewritten recogniser says over each line of the dialogue (from the audio time the line starts):
# an open question, the customer's answer, then a filler, an echo of it, an acknowledgement and a plan
SCRIPT = [
    (0.0, "what happened to your phone"),
    (3.8, "my phone stopped charging yesterday"),
    (7.8, "um so your phone stopped charging i am sorry to hear that i will check the charger"),
]
# its words that no output of the listener holds for reasons of its own ("to", "stopped after 12.0 s"), and
# the stems the cue detectors compare ("charging" -> "charg")
DISTINCTIVE = {"happened", "happen", "yesterday", "charging", "charger", "charg"}


def _config(path: Path, state: Path, mqtt: dict[str, object], asr: bool = True) -> Path:
    lines = [
        "[asr]", f"enabled = {json.dumps(asr)}", f'model_path = "{asr_audio.korean_model()}"',
        "[service]", f'state_dir = "{state}"', 'log_level = "debug"',
        "[analytics]", "session_gap_s = 5.0", "session_min_speech_s = 0.0",
        "[leds]", "enabled = true",  # gpiozero's MockFactory, from GPIOZERO_PIN_FACTORY=mock
        "[mqtt]", *(f"{k} = {json.dumps(v)}" for k, v in mqtt.items()),
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def _strace() -> str | None:
    """strace, if it is installed and may trace here (containers may forbid ptrace)."""
    tool = shutil.which("strace")
    if tool is None:
        return None
    probe = subprocess.run([tool, "-f", "-qq", "-o", os.devnull, "true"], capture_output=True, timeout=30, check=False)
    return tool if probe.returncode == 0 else None


def _walk(box: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(box.rglob("*")) if p.is_file()}


def run_audit(tmp_path_factory: pytest.TempPathFactory) -> Session:
    wav, _ = asr_audio.session_dialogue(tmp_path_factory, 3, 12.0)  # a question, the answer, the rep again
    box = tmp_path_factory.mktemp("privacy")
    dirs, sandboxed = asr_audio.sandbox(box)
    # text in an SVG as <text>, not as glyph outlines, so that words in the figure can be searched for
    (dirs["work"] / "matplotlibrc").write_text("svg.fonttype: none\n")
    outside = tmp_path_factory.mktemp("privacy-outside")  # the broker's files, the trace, the output
    env = {
        **sandboxed,
        "GPIOZERO_PIN_FACTORY": "mock",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "LISTENER_TEST_SCRIPT": json.dumps(SCRIPT),
    }
    broker = Mosquitto(outside / "broker")  # started once the first run has spooled everything
    config = _config(box / "listener.toml", dirs["state"], broker.mqtt_config(shutdown_drain_s=0.0))
    drain = _config(box / "drain.toml", dirs["state"], broker.mqtt_config(), asr=False)
    strace = _strace()
    trace = outside / "trace" if strace else None
    from_driver, to_test = os.pipe()
    from_test, to_driver = os.pipe()
    cmd = [sys.executable, "-c", DRIVER, str(wav), str(config), str(drain), str(dirs["work"] / "figure.svg")]
    cmd += [str(to_test), str(from_test)]
    if strace and trace:
        calls = "openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,truncate"
        calls += f",{NET_CALLS},bind,listen"
        cmd = [strace, "-ff", "-qq", "-y", "--seccomp-bpf", "-o", str(trace), "-e", f"trace={calls}", *cmd]
    with (outside / "stdout").open("wb") as out, (outside / "stderr").open("wb") as err:
        stat = os.fstat(err.fileno())
        env["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"  # the service's journal format, as under systemd
        try:
            proc = subprocess.Popen(
                cmd, cwd=dirs["work"], env=env, stdout=out, stderr=err, pass_fds=(to_test, from_test)
            )
        finally:
            os.close(to_test)
            os.close(from_test)
    said, heard, messages, spooled = _drive(proc, (from_driver, to_driver), box, broker)
    stdout, stderr = (outside / "stdout").read_bytes(), (outside / "stderr").read_bytes()
    assert proc.returncode == 0 and said == "spooled\n", stderr.decode(errors="replace")[-3000:]
    return Session(box, wav, stdout, stderr, messages, json.loads(heard), spooled, _walk(box), trace)


def _drive(
    proc: subprocess.Popen[bytes], pipes: tuple[int, int], box: Path, broker: Mosquitto
) -> tuple[str, str, list[Received], dict[str, bytes]]:
    """Walk the driver through its two runs: (what it said, the words it heard, the messages, the files spooled).

    The files are taken once the offline run has ended, while the spool holds
    everything; then the broker starts and the second run drains the spool.
    """
    said, heard, messages, spooled = "", "[]", [], {}
    try:
        with os.fdopen(pipes[0]) as driver, os.fdopen(pipes[1], "w") as go:
            said = driver.readline()  # blocks until the offline run ended (or the driver died: "")
            spooled = _walk(box)
            if said == "spooled\n":
                broker.start()
                with Recorder(broker) as rec:
                    go.write("go\n")
                    go.flush()
                    heard = driver.read()
                    proc.wait(timeout=120)
                    rec.wait_for(lambda ms: any(m.topic == f"{BASE}/status" and b'"offline"' in m.payload for m in ms))
                    messages = list(rec.messages)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
    return said, heard, messages, spooled


NET_CALLS = "connect,sendto,sendmsg,sendmmsg"  # every call that reaches an address (a datagram needs no connect)
