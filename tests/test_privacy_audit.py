"""Privacy by construction, proven on the whole device path: no audio and no word leaves the process.

One subprocess runs, with transcription on (the real Korean vosk model), the turn model (real
onnxruntime), gpiozero's MockFactory (``GPIOZERO_PIN_FACTORY=mock``) and logging at debug level
through the service's own journal formatter:

- ``analyze --json --plot figure.svg`` and ``analyze`` (the printed summary);
- ``run --input --fast`` while the broker is down, so that every message stays in the offline
  spool on disk (the folder is walked then, the spool decoded);
- then, with a real mosquitto up and a subscriber to ``#``, ``run --input --fast --led-trace``
  without transcription: it drains the spool (the first run's events and session summary with its
  content cues) and publishes its own (Home Assistant discovery, status, info, state, events,
  session summaries).

HOME, TMPDIR, the XDG folders, the working directory and both state folders lie in one folder the
test walks afterwards. The words searched for are the ones the real recogniser returned inside
that process (a spy hands them back through an inherited pipe, never a file). The Korean words
fire none of the English lexicon's cues, so the spy hands the stage an English line in their place,
at their times, which fires every kind of cue (a question, an echo, an acknowledgement, a plan, a
filler): its distinctive words and the detectors' stems of them are searched for too. The audio
searched for is windows of the recording in every form the pipeline holds it (the WAV's interleaved
int16, the recogniser's mono int16, float32 and float64 samples). Where ``strace`` is installed,
the run is traced too: every file the process (and every thread or library in it) opens for
writing, every address a socket connects or sends to, and any socket opened to callers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service.instance import LOCK_FILE
from tests import asr_audio
from tests.mqtt_broker import BASE, Mosquitto, Received, Recorder, validate
from tests.privacy_search import audio_needles, word_forms

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


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    wav, _ = asr_audio.session_dialogue(tmp_path_factory, 3, 12.0)  # a question, the answer, the rep again
    box = tmp_path_factory.mktemp("privacy")
    dirs, sandboxed = asr_audio.sandbox(box)
    # text in an SVG as <text>, not as glyph outlines, so that words in the figure can be searched for
    (dirs["work"] / "matplotlibrc").write_text("svg.fonttype: none\n")
    outside = tmp_path_factory.mktemp("privacy-outside")  # the broker's files, the trace, the output
    env = {
        **sandboxed,
        "GPIOZERO_PIN_FACTORY": "mock",
        "JOURNAL_STREAM": "8:12345",  # the service's journal format, as under systemd
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
    yield Session(box, wav, stdout, stderr, messages, json.loads(heard), spooled, _walk(box), trace)


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


# --- what to look for ------------------------------------------------------------------------


def searchable(words: set[str]) -> set[str]:
    """The real recogniser's words with a letter in them ("[20]", a number the Korean model prints, could
    be anything's), and the distinctive words and stems of the English put in their place."""
    korean = {w for w in words if any(c.isalpha() for c in w) and not w.isascii()}
    return korean | (DISTINCTIVE if DISTINCTIVE & words else set())


def outputs(s: Session) -> dict[str, bytes]:
    """Everything the process left behind or sent: its output, every file (during the outage and at the
    end), every MQTT message."""
    out = {"stdout": s.stdout, "stderr (the journal)": s.stderr}
    out |= {f"file {name} (broker down)": data for name, data in s.spooled.items()}
    out |= {f"file {name}": data for name, data in s.files.items()}
    out |= {f"mqtt #{i} {m.topic}": m.payload for i, m in enumerate(s.messages)}
    return out


# --- the proofs ----------------------------------------------------------------------------------


def test_the_run_really_heard_words_and_published(session: Session) -> None:
    """The checks below are not vacuous: words were in memory, logging was at debug, all topics went out."""
    assert len(searchable(set(session.heard))) >= 8, f"the recogniser returned too few words: {len(session.heard)}"
    assert b"<7>DEBUG listener.transcription" in session.stderr  # debug, in the journal's format
    report = json.loads(session.stdout.splitlines()[0])
    assert report["metrics"]["rep_words"] + report["metrics"]["customer_words"] >= 8
    # the cue detectors ran on words, and found every kind: their code paths are under test too
    kinds = ("rep_questions", "rep_echoes", "rep_acknowledgements", "rep_action_plans", "rep_fillers")
    assert all(report["metrics"][k] >= 1 for k in kinds), {k: report["metrics"][k] for k in kinds}
    assert DISTINCTIVE - {"happen", "charg"} <= set(session.heard)
    assert any(b'"led"' in line for line in session.stdout.splitlines())  # the LED trace (MockFactory)
    leaves = {m.topic.rsplit("/", 1)[-1] for m in session.messages if m.topic.startswith(BASE + "/")}
    assert leaves >= {"status", "info", "state", "event", "session"}
    assert any(m.topic == "homeassistant/device/counter-3/config" for m in session.messages)
    cues = [m.json()["cues"] for m in session.messages if m.topic == f"{BASE}/session"]
    assert any(isinstance(c, dict) and int(c["rep_words"]) + int(c["customer_words"]) > 0 for c in cues)


def test_no_recognised_word_is_written_logged_printed_or_published(session: Session) -> None:
    words = searchable(set(session.heard))
    for where, data in outputs(session).items():
        leaked = sorted(w for w in words if any(f in data for f in word_forms(w)))
        assert not leaked, f"{len(leaked)} recognised words found in {where}"


# Audio as text: samples a log line or a message printed as numbers (``x.tolist()``, ``np.round(x, 5)``,
# int16 values, nested lists for several channels). What the run legitimately writes (JSON reports and
# metrics, the figure's path data, the journal) never has more than a handful of numbers in a row.
NUMBER = rb"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
SAMPLES_AS_TEXT = re.compile(rb"(?:" + NUMBER + rb"[,;\s\[\]()]+){100}")
STDERR_MAX_BYTES = 512 * 1024  # about 40 kB at debug level for the three runs
STDERR_LINE_MAX_BYTES = 4096  # about 300 at most


def test_the_text_search_for_samples_finds_them() -> None:
    samples = np.random.default_rng(0).uniform(-0.1, 0.1, (400, 2))
    for text in (
        f"pcm {np.round(samples[:, 0], 5).tolist()}",
        f"pcm {samples.round(4).tolist()}",
        f"pcm {(samples[:, 0] * 32767).astype(int).tolist()}",
        " ".join(f"{v:.3e}" for v in samples[:, 1]),
        json.dumps({"samples": samples[:, 0].astype(np.float32).tolist()}),
    ):
        assert SAMPLES_AS_TEXT.search(text.encode()), text[:60]
    legit = json.dumps({"segments": [{"party": "rep", "start_s": 0.5 * i, "end_s": 0.5 * i + 0.3} for i in range(300)]})
    assert not SAMPLES_AS_TEXT.search(legit.encode())


def test_no_audio_is_written_logged_printed_or_published(session: Session) -> None:
    needles = audio_needles(session.wav)
    for where, data in outputs(session).items():
        found = [kind for kind, ns in needles.items() if any(n in data for n in ns)]
        assert not found, f"audio ({', '.join(found)}) found in {where}"
    for where, data in outputs(session).items():
        run = SAMPLES_AS_TEXT.search(data)
        assert run is None, f"a long run of numbers (samples as text?) in {where}: {run.group(0)[:200]!r}"
    assert len(session.stderr) <= STDERR_MAX_BYTES, f"the journal got {len(session.stderr)} bytes"
    longest = max(session.stderr.splitlines(), key=len, default=b"")
    assert len(longest) <= STDERR_LINE_MAX_BYTES, f"a journal line of {len(longest)} bytes: {longest[:200]!r}"


def test_the_figure_holds_drawn_text_but_no_word(session: Session) -> None:
    svg = session.files[str(session.box / "work" / "figure.svg")].decode("utf-8")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "rep speech" in " ".join(texts)  # the text of the figure is searchable
    words = searchable(set(session.heard))
    assert not [t for t in texts if any(w in t for w in words)]


def test_every_message_and_the_offline_spool_hold_numbers_and_enums_only(session: Session) -> None:
    for m in session.messages:
        if m.topic.startswith(BASE + "/"):
            validate(m.topic, m.payload)  # JSON Schema, and no free text at all
    snapshot = session.box.parent / (session.box.name + "-spool-copy")  # the spool as it was during the outage
    snapshot.mkdir(exist_ok=True)
    for name, data in session.spooled.items():
        if Path(name).name.startswith(SPOOL_FILE):
            (snapshot / Path(name).name).write_bytes(data)
    with sqlite3.connect(snapshot / SPOOL_FILE) as db:  # the WAL copied beside it is read too
        rows = db.execute("SELECT leaf, payload FROM outbox").fetchall()
    leaves = [str(leaf) for leaf, _ in rows]
    assert "event" in leaves and "session" in leaves  # the broker was down: all of it waited on disk
    for leaf, payload in rows:
        validate(f"{BASE}/{leaf}", bytes(payload))
    sessions = [json.loads(payload) for leaf, payload in rows if leaf == "session"]
    assert any(s["cues"] and s["cues"]["customer_words"] + s["cues"]["rep_words"] > 0 for s in sessions)


# --- what the process touched: strace -------------------------------------------------------------

WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
NET_CALLS = "connect,sendto,sendmsg,sendmmsg"  # every call that reaches an address (a datagram needs no connect)
PATH_ARG = re.compile(r'(?:(?:\d+|AT_FDCWD)<([^>]*)>, )?"([^"]*)"')


@dataclass
class Traced:
    written: set[str]
    connected: set[tuple[str, int]]
    listening: set[tuple[str, int]]  # where sockets awaited callers (a client's own end is bound, not listening)


def traced(session: Session) -> Traced:
    """Files opened for writing (or created, renamed, linked), addresses reached and sockets opened to callers,
    by any thread."""
    if session.trace is None:
        pytest.skip("strace is not installed (or may not trace here): add it to scripts/setup's DEV_APT")
    cwd = str(session.box / "work")
    seen = Traced(set(), set(), set())
    bound: dict[str, tuple[str, int]] = {}  # socket inode -> the address it was bound to
    for log in session.trace.parent.glob(session.trace.name + ".*"):
        for line in log.read_text(errors="replace").splitlines():
            call = line.split("(", 1)[0]
            # it failed: nothing was written or sent (a non-blocking connect in progress is an attempt all the same)
            if re.search(r"= -1 E(?!INPROGRESS)", line):
                continue
            socket = re.match(r"\w+\(\d+<socket:\[(\d+)\]>", line)
            if call in ("open", "openat", "creat"):
                result = re.search(r"= \d+<([^>]*)>$", line)
                if result and (call == "creat" or WRITE_FLAGS.search(line)):
                    seen.written.add(result.group(1))
            elif call == "bind" and socket and (address := _inet_address(line)):
                bound[socket.group(1)] = address
            elif call == "listen" and socket:
                seen.listening.add(bound.get(socket.group(1), ("?", 0)))
            elif call in NET_CALLS.split(",") and (address := _inet_address(line)):  # a datagram needs no connect
                seen.connected.add(address)
            elif call in ("mkdir", "mkdirat", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
                          "symlinkat", "truncate"):  # fmt: skip
                for base, path in PATH_ARG.findall(line):
                    seen.written.add(os.path.normpath(Path(base or cwd) / path))
    return seen


def _inet_address(line: str) -> tuple[str, int] | None:
    family = re.search(r"sa_family=(AF_\w+)", line)
    port = re.search(r"sin6?_port=htons\((\d+)\)", line)
    addr = re.search(r'inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"', line)
    if family and family.group(1) in ("AF_INET", "AF_INET6") and port and addr:
        return addr.group(1), int(port.group(1))
    return None


def test_every_file_written_lies_inside_the_watched_folders(session: Session) -> None:
    """Nothing goes to the real /tmp, /dev/shm, /var, the checkout: every write was walked above."""
    written = traced(session).written
    assert any(p.endswith("mqtt-spool.sqlite3") for p in written)  # the trace sees the product's writes
    box = str(session.box) + os.sep
    outside = sorted(p for p in written if not p.startswith(box) and p not in ("/dev/null", "/dev/tty"))
    assert not outside, f"written outside HOME/TMPDIR/cwd/state: {outside}"


def _onnxruntime_telemetry(box: Path) -> tuple[str, ...]:
    """Where onnxruntime's 1DS telemetry writes (on at import unless ORT_DISABLE_TELEMETRY=1)."""
    ort = Path("Microsoft") / "DeveloperTools" / ".onnxruntime"
    return str(box / "cache" / ort), str(box / "home" / ".cache" / ort), str(box / "tmp" / ".ses")


def test_only_the_spool_and_the_figure_are_written_and_only_the_broker_is_contacted(session: Session) -> None:
    """No scratch file, even one deleted before the folders were walked (a temp file of audio would be)."""
    seen = traced(session)
    box = session.box
    expected = (
        str(box / "state" / SPOOL_FILE),  # and its -wal, -shm, -journal
        str(box / "state" / LOCK_FILE),  # the instance lock: the running pid, emptied at the end (below)
        str(box / "work" / "figure.svg"),
        str(box / "home" / ".cache" / "matplotlib"),  # matplotlib's font cache (font names)
        str(box / "home" / ".config" / "matplotlib"),
        str(box / "cache" / "matplotlib"),
        str(box / "config" / "matplotlib"),
    )
    ancestors = {str(p) for e in expected for p in Path(e).parents}
    unexpected = sorted(p for p in seen.written if not p.startswith(expected) and p not in ancestors | {"/dev/null"})
    assert not unexpected, f"unexpected files written: {unexpected}"
    assert (box / "state" / LOCK_FILE).read_text() == ""
    # the broker (down, then up) and paho's loopback wake-up pair
    foreign = sorted((a, p) for a, p in seen.connected if a not in ("127.0.0.1", "::1"))
    assert not foreign, f"connections or datagrams beyond the broker: {foreign}"
    # paho's wake-up pair: a loopback socket that takes its one caller (its own) and closes
    outside = sorted((a, p) for a, p in seen.listening if a not in ("127.0.0.1", "::1"))
    assert not outside, f"sockets opened to callers beyond this machine: {outside}"
    assert seen.connected, "the trace saw no connection, not even the broker's: it proves nothing"


def test_no_third_party_telemetry_is_written_or_sent(session: Session) -> None:
    # onnxruntime's 1DS telemetry writes a device id and an event queue to ~/.cache/Microsoft/DeveloperTools
    # and $TMPDIR/.ses at import, and looks up mobile.events.data.microsoft.com, unless listener turns it off
    seen = traced(session)
    telemetry = sorted(p for p in seen.written if p.startswith(_onnxruntime_telemetry(session.box)))
    lookups = sorted((a, p) for a, p in seen.connected if p == 53)
    assert not telemetry and not lookups, f"telemetry files {telemetry}, DNS lookups {lookups}"
