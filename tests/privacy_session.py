"""The privacy audit's one run of the whole device path, as test_privacy_audit.py describes it: searched there,
traced in test_privacy_trace.py (conftest's `session` fixture runs it once for both)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from listener.transcription.lexicon import load_lexicon
from tests import asr_audio
from tests.asr_audio import Line
from tests.mqtt_broker import BASE, Mosquitto, Received, Recorder
from tests.privacy_strace import find_strace, under_strace

DRIVER = """
import json, os, sys
import vosk
from listener import entry
from listener.transcription import lexicon, recognizer

heard, matched = [], []
emit = recognizer.RecognizerWorker._emit
longest_at = lexicon.PhraseSet.longest_at
accept = vosk.KaldiRecognizer.AcceptWaveform
SCRIPT = json.loads(os.environ["LISTENER_TEST_SCRIPT"])
FAIL_AT_S = float(os.environ["LISTENER_TEST_FAIL_AT_S"])
fed = {"at_s": 0.0, "armed": False, "failed_at_s": 0.0}
feeding = recognizer.RecognizerWorker._feeding

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

def matching(self, words, i, *family):
    # every phrase a cue detector matched (a question's start, a tag, a lead-in, an acknowledgement, a plan,
    # and the phrase of its family a summary runs on through)
    found = longest_at(self, words, i, *family)
    if found is not None and found.end > found.start:
        matched.append((found.family, " ".join(words[found.start : found.end])))
    return found

def noting(self, audio_s):
    fed["at_s"] = audio_s  # the audio time of the piece the recogniser is fed next
    feeding(self, audio_s)

def failing(self, data):
    # the real engine failing once, in the rep's last line: the journal gets the error and its traceback
    if fed["armed"] and fed["at_s"] >= FAIL_AT_S:
        fed["armed"], fed["failed_at_s"] = False, fed["at_s"]
        raise RuntimeError("injected fault: the recogniser broke")
    return accept(self, data)

def main(*args):
    # as the installed command and the service start (listener.entry): the journal's excepthooks too
    sys.argv = ["listener", *args]
    return entry.main()

recognizer.RecognizerWorker._emit = spy
lexicon.PhraseSet.longest_at = matching
recognizer.RecognizerWorker._feeding = noting
vosk.KaldiRecognizer.AcceptWaveform = failing
wav, config, drain, plot, to_test, from_test = sys.argv[1:7]
code = main("analyze", wav, "--json", "--plot", plot, "--config", config)
code = code or main("analyze", wav, "--config", config)  # the summary a person reads, its cue lines too
fed["armed"] = True  # in the next run; its one visit has no later session end to restart the recogniser at
code = code or main("run", "--input", wav, "--fast", "--config", config)  # the broker is down
offline = len(heard)
with os.fdopen(int(to_test), "w") as out, os.fdopen(int(from_test)) as go:  # pipes, never files
    out.write("spooled\\n")
    out.flush()
    if go.readline() == "go\\n":  # the broker is up: a second run drains the spool, transcribing connected
        code = code or main("run", "--input", wav, "--fast", "--led-trace", "--config", drain)
    told = {"heard": heard, "heard_online": heard[offline:], "matched": matched, "failed_at_s": fed["failed_at_s"]}
    json.dump(told, out)
sys.exit(code)
"""


@dataclass
class Session:
    box: Path
    wav: Path
    stdout: bytes
    stderr: bytes
    messages: list[Received]  # everything a subscriber to '#' received, then what one joining at the end did
    heard: list[str]  # the words the real recogniser returned in the process
    matched: list[tuple[str, str]]  # (family, words) of every phrase the cue detectors matched in the process
    notified: list[bytes]  # every datagram sent to NOTIFY_SOCKET (sd_notify: READY=1, WATCHDOG=1, STATUS=...)
    notify_socket: str
    failed_at_s: float  # the audio time the recogniser failed at, in the run after analyze (0: it did not)
    spooled: dict[str, bytes]  # every file, while the broker was down and the spool held the messages
    files: dict[str, bytes] = field(default_factory=dict)  # every file, at the end
    trace: Path | None = None  # strace -ff output prefix, when strace is installed
    heard_online: list[str] = field(default_factory=list)  # what the recogniser returned with the broker connected
    broker_port: int = 0  # the broker's, on 127.0.0.1 (down in the first run: the attempts go there too)


# What the rewritten recogniser says over each line of the dialogue (from the audio time the line starts):
# an open question, the customer's answer, then a filler, an echo of it, an acknowledgement and a plan.
# Every phrase the cue detectors match in it is searched for as itself (test_privacy_audit.py), so each is
# one no output holds for reasons of its own: several words ("can you tell me", not a bare "what", which
# English log text may hold), no lead-in ("so"), and a filler of three letters (two are likelier to turn
# up in a binary file by chance). The customer's words, which the rep echoes, are ones no message of the
# listener's holds ("kettle", not "phone" or "stopped": "stopped after 12.0 s"), so that every one of them,
# and every stem and form the cue detectors make of them, is searched for as a word.
SCRIPT = [
    (0.0, "can you tell me what happened to your kettle"),
    (3.8, "my kettle leaked limescale yesterday"),
    (8.8, "umm your kettle leaked limescale i am sorry to hear that i will check the gasket"),
]
# The dialogue's first three lines, the rep's last one a second later: the silence before it is longer than the
# speech gate's two pads, so the customer's words are a result of their own before the recogniser fails in that line,
# whatever vosk's own endpointing (which follows the recognisers the process built before, two analyses here: at
# 8.0 s, it heard the customer and the rep as one utterance in one such order, and the failure took both)
LINES = [*asr_audio.DIALOGUE[:2], Line("rep", 9.0, asr_audio.DIALOGUE[2].text)]
DURATION_S = 13.0
# the script's words that the listener's own output may hold for reasons of its own ("check the path",
# "you", "the"): searched for only within the phrases a cue detector matched
COMMON = frozenset(
    {"can", "you", "tell", "me", "what", "to", "your", "my", "i", "am", "hear", "that", "will", "check", "the"}
)


def script_words() -> frozenset[str]:
    """Every other word of SCRIPT, with the stems and inflected forms the cue detectors compare."""
    stem = load_lexicon("en").stem
    said = {w for _, line in SCRIPT for w in line.split()} - COMMON
    return frozenset(said | {stem(w) for w in said} | {stem.inflected(w) for w in said})


# In `run --input` (after `analyze`, which hears it all), the real recogniser fails once this far into the
# rep's last line: an error path of the service, its traceback searched with the rest of the journal
FAIL_AT_S = 10.0


def _config(path: Path, state: Path, mqtt: dict[str, object]) -> Path:
    lines = [
        "[asr]", "enabled = true", f'model_path = "{asr_audio.korean_model()}"',
        "[service]", f'state_dir = "{state}"', 'log_level = "debug"',
        "[analytics]", "session_gap_s = 5.0", "session_min_speech_s = 0.0",
        "[leds]", "enabled = true",  # gpiozero's MockFactory, from GPIOZERO_PIN_FACTORY=mock
        "[mqtt]", *(f"{k} = {json.dumps(v)}" for k, v in mqtt.items()),
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def _walk(box: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(box.rglob("*")) if p.is_file()}


def run_audit(tmp_path_factory: pytest.TempPathFactory) -> Session:
    audio = tmp_path_factory.mktemp("privacy-audio")  # a question, the answer, the rep again
    wav = asr_audio.synth.write_wav(audio / "dialogue.wav", asr_audio.render(LINES, DURATION_S, audio)[0])
    box = tmp_path_factory.mktemp("privacy")
    dirs, sandboxed = asr_audio.sandbox(box)
    # text in an SVG as <text>, not as glyph outlines, so that words in the figure can be searched for
    (dirs["work"] / "matplotlibrc").write_text("svg.fonttype: none\n")
    outside = tmp_path_factory.mktemp("privacy-outside")  # the broker's files, the trace, the output
    broker = Mosquitto(outside / "broker")  # started once the first run has spooled everything
    config = _config(box / "listener.toml", dirs["state"], broker.mqtt_config(shutdown_drain_s=0.0))
    drain = _config(box / "drain.toml", dirs["state"], broker.mqtt_config())
    strace = find_strace()
    trace = outside / "trace" if strace else None
    notify = Notifications(outside / "notify")  # systemd's end of sd_notify, as under the unit (Type=notify)
    args = [str(wav), str(config), str(drain), str(dirs["work"] / "figure.svg")]
    env = _driver_env(sandboxed, notify.path)
    proc, pipes = _start_driver(args, dirs["work"], env, outside, strace=strace, trace=trace)
    with notify:
        said, told, messages, spooled = _drive(proc, pipes, box, broker)
    stdout, stderr = (outside / "stdout").read_bytes(), (outside / "stderr").read_bytes()
    assert proc.returncode == 0 and said == "spooled\n", stderr.decode(errors="replace")[-3000:]
    heard, matched, failed_at_s = told["heard"], [(f, w) for f, w in told["matched"]], told["failed_at_s"]
    return Session(
        box, wav, stdout, stderr, messages, heard, matched, notify.received, notify.path, failed_at_s, spooled,
        _walk(box), trace, told["heard_online"], broker.port
    )  # fmt: skip


def _driver_env(sandboxed: dict[str, str], notify_socket: str) -> dict[str, str]:
    return {
        **sandboxed,
        "GPIOZERO_PIN_FACTORY": "mock",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "LISTENER_TEST_SCRIPT": json.dumps(SCRIPT),
        "LISTENER_TEST_FAIL_AT_S": str(FAIL_AT_S),
        "NOTIFY_SOCKET": notify_socket,
    }


def _start_driver(
    args: list[str], cwd: Path, env: dict[str, str], outside: Path, *, strace: str | None, trace: Path | None
) -> tuple[subprocess.Popen[bytes], tuple[int, int]]:
    """DRIVER started on ``args`` (under ``strace``, to ``trace``, where it is installed), its stdout and
    stderr to files in ``outside``: the process, and the pipe ends to read from it and write to it."""
    from_driver, to_test = os.pipe()
    from_test, to_driver = os.pipe()
    cmd = [sys.executable, "-c", DRIVER, *args, str(to_test), str(from_test)]
    if strace and trace:
        cmd = under_strace(strace, trace, cmd)
    with (outside / "stdout").open("wb") as out, (outside / "stderr").open("wb") as err:
        stat = os.fstat(err.fileno())
        # the service's journal format, as under systemd
        env = {**env, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, pass_fds=(to_test, from_test))
        finally:
            os.close(to_test)
            os.close(from_test)
    return proc, (from_driver, to_driver)


class Notifications:
    """A datagram socket the process's sd_notify messages go to, read while it runs: the queue of an unread
    one holds a few datagrams only (net.unix.max_dgram_qlen), and the watchdog is fed every second."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.received: list[bytes] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.2)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Notifications:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)
        self._sock.close()

    def _read(self) -> None:
        while True:
            try:
                self.received.append(self._sock.recv(65536))
            except TimeoutError:  # nothing queued: done once the process is
                if self._done.is_set():
                    return


def _drive(
    proc: subprocess.Popen[bytes], pipes: tuple[int, int], box: Path, broker: Mosquitto
) -> tuple[str, dict[str, Any], list[Received], dict[str, bytes]]:
    """Walk the driver through its runs: (what it said, what it told at the end (the words it heard, the phrases
    matched, where the recogniser failed), the messages, the files spooled).

    The files are taken once the offline run has ended, while the spool holds
    everything; then the broker starts and the second run drains the spool while
    it transcribes, connected from its start: the retained topics it builds at send
    time (status, info, state, discovery) go out with words in memory. A subscriber
    joining once it has ended gets what the broker retained, as Home Assistant would.
    """
    said, heard, messages, spooled = "", '{"heard": [], "heard_online": [], "matched": [], "failed_at_s": 0.0}', [], {}
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
                with Recorder(broker, client_id="late") as late:
                    messages += late.wait_for(lambda ms: {m.topic for m in ms} >= RETAINED)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
    return said, json.loads(heard), messages, spooled


RETAINED = {f"{BASE}/status", f"{BASE}/info", f"{BASE}/state", "homeassistant/device/counter-3/config"}
