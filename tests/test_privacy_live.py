"""Privacy on the live path, as the service runs: `listener run --wait-for-array` capturing the Korean dialogue from an
ALSA test array with one dead mic (PortAudio's callback thread, the ring, the live source, the channel watch's
warning), the real recogniser, debug logging in the journal's format, the broker down (so the session summary waits
in the spool on disk), stopped with SIGTERM. Every file it wrote, everything it printed and every sd_notify datagram
it sent is searched for the words its recogniser returned in the process, behind its speech gate (a spy reports them
through an inherited pipe), and those vosk hears in the whole recording, and for the audio itself, as bytes and as
text. Where strace is installed the run is traced, as the audit's is (tests/privacy_strace.py): a file written and
deleted before the folders are walked, or one written outside them (/dev/shm, /var/tmp), and any address reached are
seen there.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
import soundfile as sf

from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service.instance import LOCK_FILE
from tests import asr_audio
from tests.alsa_device import AlsaConfig, add_paced
from tests.mqtt_broker import free_port
from tests.privacy_search import (
    HEARD_SPY,
    assert_no_audio,
    heard_words,
    spool_messages,
    word_forms,
)
from tests.privacy_session import Notifications
from tests.privacy_strace import find_strace, read_trace, under_strace
from tests.run_once import made_once

PLAYS_S = 8.0  # the dialogue's two lines
# the debug line of each recogniser result (a count and times, no word)
HEARD = re.compile(rb"recogniser result: \d+ words, [\d.]+-([\d.]+) s")
# the models load first, and the test PCM's capture thread spins a core (tests/alsa_device.py): with the other
# test worker busy too, two full-suite runs here reached a 120 s limit before the recogniser had the 16 s
# dialogue (the service had taken in about 135 s of audio by then). A wait, not a timing: alone it takes 10 s
START_UP_LIMIT_S = 300.0
LEAD_IN_S = 3.0  # silence the device plays before the dialogue
HEARD_EARLY_S = 1.0  # the recogniser has had the dialogue once a result ends this close to its last word
DEAD_CHANNEL = 3  # the array's last mic; the recogniser hears the first
# `python -m listener`, with the spy on the words the recogniser returns
SERVICE = HEARD_SPY + "import sys\nfrom listener.entry import main\nsys.exit(main())\n"


class _Stderr:
    """Reads the service's stderr as it comes, so the test stops it once the recogniser has reached ``until_s``
    of audio: every word of the dialogue has then passed through the service, not only the first result's."""

    def __init__(self, stream: BinaryIO, until_s: float) -> None:
        self.until_s = until_s
        self.data = bytearray()
        self.heard = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: BinaryIO) -> None:
        with stream:
            self._lines(stream)

    def _lines(self, stream: BinaryIO) -> None:
        for line in stream:
            self.data += line
            found = HEARD.search(line)
            if found and float(found.group(1)) >= self.until_s:
                self.heard.set()

    def all(self) -> bytes:
        self._thread.join(timeout=60)
        return bytes(self.data)


def _said(stderr: bytes) -> str:
    """The service's log for a failure message, without alsa-lib's debug lines: the test PCM, run far past its
    file's end, repeats one of them thousands of times, and they filled the tail where the cause was."""
    lines = [line for line in stderr.decode(errors="replace").splitlines() if "alsa-lib" not in line]
    return "\n".join(lines)[-3000:]


def _stopped_or_fail(proc: subprocess.Popen[bytes], pid: int, log: _Stderr) -> None:
    """Wait for the stop. A wait, not a timing: the stop drains the ring (20 s of audio here) into a recogniser
    the config has wait for it, then waits up to asr.finish_wait_s (30 s) for its last words; on a loaded machine
    that passed 60 s once (fresh-clone CI, 2026-12-05). Should it hang, its threads' stacks say where:
    faulthandler prints them on SIGABRT. The service prints next to nothing on stdout: its pipe cannot fill."""
    try:
        proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGABRT)
        proc.wait(timeout=30)
        pytest.fail(f"still running 180 s after SIGTERM:\n{_said(log.all())}")


def _service_pid(proc: subprocess.Popen[bytes], traced: bool) -> int:
    """The service's pid: under strace, strace's one child (strace itself blocks SIGTERM)."""
    if not traced:
        return proc.pid
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _config(path: Path, state: Path, port: int) -> Path:
    lines = [
        # the device plays on the wall clock (tests/alsa_device.add_paced); a ring of 20 s rides out a busy machine
        "[array]", 'preset = "respeaker-4mic"', 'device = "listener_test_array"', "buffer_s = 20.0",
        # "wait": every word reaches the recogniser on a loaded test machine ("auto" skips when it lags, as live)
        "[asr]", "enabled = true", f'model_path = "{asr_audio.korean_model()}"', 'overflow = "wait"',
        "[service]", f'state_dir = "{state}"', 'log_level = "debug"',
        "[analytics]", "session_gap_s = 30.0", "session_min_speech_s = 0.0",
        "[leds]", "enabled = true",
        "[mqtt]", "enabled = true", 'host = "127.0.0.1"', f"port = {port}", 'device_id = "counter-9"',
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


# libjack's metadata database (Berkeley DB: its environment's region files and the table), which PortAudio's JACK
# host API opens when it initialises, JACK server or none: JACK clients' properties, which listener never sets.
# The first process since boot creates the table through __db.metadata.db, renamed to metadata.db (seen on a
# fresh machine: the folder is in /dev/shm)
JACK_DB = re.compile(rf"/dev/shm/jack_db-{os.getuid()}(/__db\.\d{{3}}|/(__db\.)?metadata\.db)?")


# the spool's own file and sqlite's beside it (the WAL, its index, a rollback journal)
STATE_ENDS = ("", "-wal", "-shm", "-journal")


@dataclass
class LiveRun:
    box: Path  # HOME, TMPDIR, the XDG folders, the working directory and the state folder
    state: Path
    wav: Path
    played: Path  # what the test array played: the recording with its dead mic, the audio searched for
    truth: list[dict[str, object]]
    stdout: bytes
    stderr: bytes
    notified: list[bytes]  # every sd_notify datagram
    notify_socket: str
    recognised: set[str]  # the words the service's recogniser returned, live (the spy's)
    broker_port: int  # where the config points MQTT: nothing listens there
    trace: Path | None  # strace -ff output prefix, when strace is installed


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    """One live run for both tests below (half a minute), in whichever worker (tests/run_once.py)."""
    return made_once(tmp_path_factory, "live_run", lambda: _live_run(tmp_path_factory))


def _live_run(tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    alsa_config = AlsaConfig(tmp_path_factory.mktemp("alsa"))  # the subprocess reads it (ALSA_CONFIG_PATH)
    wav, truth = asr_audio.session_dialogue(tmp_path_factory, 2, PLAYS_S)
    pcm = np.asarray(sf.read(wav, dtype="int16")[0])
    # a dead mic, so that the channel watch's warning (and the fault it shows) runs under the same searches and
    # trace; the words are the first mic's, and the audio searched for is what the array played: cut from the
    # recording with every channel alive, no interleaved block as captured would match
    pcm[:, DEAD_CHANNEL] = 0
    played = tmp_path_factory.mktemp("played") / "played.wav"
    sf.write(played, pcm, 16000, subtype="PCM_16")
    # On the wall clock, as an array plays: the unpaced test PCM ran 1000x ahead, the ring overflowed at once,
    # and on a loaded machine (two fresh-clone CI runs, 2026-12-05) the dialogue's end was not recognised in 300 s
    # after a lead-in: the service's first reads of a device (listing it, opening it) take its first moments
    lead_in = np.zeros((round(LEAD_IN_S * 16000), pcm.shape[1]), dtype=np.int16)
    feeders = add_paced(alsa_config, "listener_test_array", np.concatenate([lead_in, pcm]), 16000)
    box = tmp_path_factory.mktemp("privacy-live")
    outside = tmp_path_factory.mktemp("privacy-live-outside")  # the notify socket, the trace
    dirs, env = asr_audio.sandbox(box)
    env |= {"ALSA_CONFIG_PATH": str(alsa_config.path), "GPIOZERO_PIN_FACTORY": "mock"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    port = free_port()
    config = _config(box / "listener.toml", dirs["state"], port)
    notify = Notifications(outside / "notify")  # systemd's end of sd_notify (Type=notify)
    env["NOTIFY_SOCKET"] = notify.path
    cmd = [sys.executable, "-c", SERVICE, "run", "--wait-for-array", "--config", str(config)]
    strace = find_strace()
    trace = outside / "trace" if strace else None
    if strace and trace:
        cmd = under_strace(strace, trace, cmd)
    with notify, contextlib.ExitStack() as fed:
        for feeder in feeders:
            fed.enter_context(feeder)
        stdout, stderr, recognised = _run_until_heard(cmd, env, dirs["work"], wav, trace is not None)
    return LiveRun(
        box, dirs["state"], wav, played, truth, stdout, stderr, notify.received, notify.path, recognised, port, trace
    )


def _last_word_s(wav: Path) -> float:
    """When the dialogue's last word ends, as vosk hears the recording.

    Live times come early by up to a few tenths: the device's first chunks go to its listing, and vosk's ends move
    by frames (a fresh-clone CI run, 2026-12-06: the last result ended at 10.04 s, the last word at 10.38 s; a limit
    0.3 s under it waited its 300 s). HEARD_EARLY_S is safe while the dialogue's last stretch is all speech: vosk
    ends a result at a pause, so only the last line's can end there."""
    words = asr_audio.direct_words(wav)
    last_s = max(float(w["end"]) for w in words)
    tail = sorted((float(w["start"]), float(w["end"])) for w in words if float(w["end"]) > last_s - HEARD_EARLY_S)
    pauses = [b[0] - a[1] for a, b in itertools.pairwise(tail)]
    assert tail[0][0] <= last_s - HEARD_EARLY_S and max(pauses, default=0.0) < 0.2, tail
    return last_s


def _run_until_heard(
    cmd: list[str], env: dict[str, str], cwd: Path, wav: Path, traced: bool
) -> tuple[bytes, bytes, set[str]]:
    """Run the service until its recogniser has had the whole dialogue, stop it with SIGTERM: (its stdout, its
    stderr, the words its recogniser returned)."""
    last_word_s = _last_word_s(wav)
    reader, writer = os.pipe()
    spied, spy = os.pipe()
    stat = os.fstat(writer)
    env["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"  # its stderr is the journal's, as under systemd
    env["LISTENER_TEST_HEARD_FD"] = str(spy)
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=writer, pass_fds=(spy,))
    finally:
        os.close(writer)
        os.close(spy)
    pid = proc.pid
    try:
        log = _Stderr(os.fdopen(reader, "rb"), until_s=LEAD_IN_S + last_word_s - HEARD_EARLY_S)
        heard = log.heard.wait(START_UP_LIMIT_S)
        # a result can end early in a line if the pipeline stalls: the device plays the dialogue's last second
        # before the stop, which hands the recogniser all it captured
        time.sleep(HEARD_EARLY_S)
        pid = _service_pid(proc, traced)
        os.kill(pid, signal.SIGTERM)
        _stopped_or_fail(proc, pid, log)
    finally:
        if proc.poll() is None:  # the test failed on its way; strace killed would leave its child running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=30)
    assert proc.stdout is not None
    stdout = proc.stdout.read()  # not communicate(): it would read stderr too, against _Stderr's thread
    stderr = log.all()
    with os.fdopen(spied, encoding="utf-8") as spy_out:
        recognised = {w for w in heard_words(spy_out.read()) if any(ch.isalpha() for ch in w)}
    assert heard, _said(stderr)  # the whole dialogue recognised before the stop, live
    assert proc.returncode == 0, _said(stderr)
    return stdout, stderr, recognised


def test_a_live_run_stopped_by_sigterm_leaves_no_word_and_no_audio(live_run: LiveRun) -> None:
    assert b"<7>DEBUG" in live_run.stderr  # at debug, in the journal's format
    assert f"captured channel(s) [{DEAD_CHANNEL}] carry no sound".encode() in live_run.stderr  # the watch fired
    wav = live_run.wav
    # only the spool and the instance lock are kept, whatever their contents: a file of anything else is not
    kept = sorted(p.name for p in live_run.state.iterdir())
    assert set(kept) <= {LOCK_FILE, *(SPOOL_FILE + end for end in STATE_ENDS)}, kept
    rows = spool_messages(live_run.state / SPOOL_FILE)  # the shipped tables, and messages the schema allows
    cues = [json.loads(payload)["cues"] for leaf, payload in rows if leaf == "session"]
    counted = sum(c["rep_words"] + c["customer_words"] for c in cues if c)
    # A session starts with the customer's first words: the rep's greeting before them is in none, as at a
    # counter (the unpaced device delivered it at once, and its words came back with the session open)
    session_start_s = min(float(str(line["start"])) for line in live_run.truth if line["party"] == "customer")
    spoken = sum(float(w["start"]) >= session_start_s - 0.1 for w in asr_audio.direct_words(wav))
    assert spoken >= 8 and counted >= 0.8 * spoken, (counted, spoken, cues)  # it heard the session's words, live

    direct = {str(w["word"]) for w in asr_audio.direct_words(wav) if any(ch.isalpha() for ch in str(w["word"]))}
    assert len(live_run.recognised) >= 5, live_run.recognised  # what the service itself recognised, live
    words = live_run.recognised | direct
    notified = b"\n".join(live_run.notified)
    assert b"READY=1" in notified and b"WATCHDOG=1" in notified and b"STOPPING=1" in notified, notified[:500]
    outputs = {"stdout": live_run.stdout, "stderr": live_run.stderr, "sd_notify": notified}
    outputs |= {str(p): p.read_bytes() for p in sorted(live_run.box.rglob("*")) if p.is_file()}
    for where, data in outputs.items():
        leaked = sorted(w for w in words if any(f in data for f in word_forms(w)))  # JSON-escaped too
        assert not leaked, f"{len(leaked)} recognised words found in {where}"
    assert_no_audio(outputs, live_run.played)  # as captured, in every form the pipeline holds it, or printed
    assert not list((live_run.box / "tmp").iterdir()), "a temporary file was left"


def test_a_live_run_writes_only_its_state_and_reaches_only_the_broker(live_run: LiveRun) -> None:
    """Under strace, by every thread (PortAudio's callback, the recogniser's, paho's): a file of audio deleted
    before the folders were walked ($TMPDIR, O_TMPFILE), one outside them (/dev/shm, /var/tmp, /tmp), a
    connection or a datagram to anything but the broker and systemd's notify socket."""
    seen = read_trace(live_run.trace, live_run.box / "work")
    state = str(live_run.state)
    assert str(live_run.state / SPOOL_FILE) in seen.written  # the trace sees the service's writes
    # the spool (and its -wal, -shm), the instance lock; /dev/null is the test PCM's output file (its "file")
    outside = sorted(p for p in seen.written if p != state and not p.startswith(state + os.sep) and p != "/dev/null")
    outside = [p for p in outside if not JACK_DB.fullmatch(p)]
    assert not outside, f"written outside the state directory ({len(outside)} files): {outside[:10]}"
    # libjack's, the one folder outside written to: its files as the run left them hold no audio either
    jack = sorted(p for p in seen.written if JACK_DB.fullmatch(p) and Path(p).is_file())
    assert_no_audio({path: Path(path).read_bytes() for path in jack}, live_run.played)
    # in it, as in the audit's run, the spool and the lock alone: even a file deleted before the walk above
    allowed = {str(live_run.state / LOCK_FILE), *(str(live_run.state / SPOOL_FILE) + end for end in STATE_ENDS)}
    unexpected = sorted(p for p in seen.written if p.startswith(state + os.sep) and p not in allowed)
    assert not unexpected, f"unexpected files written in the state directory: {unexpected}"
    assert (live_run.state / LOCK_FILE).read_text() == ""
    # the broker's port (nothing listens: an attempt), and paho's wake-up pair: a loopback socket of its own
    loopback = {("127.0.0.1", live_run.broker_port)} | {(a, p) for a, p in seen.listening if a == "127.0.0.1"}
    assert ("127.0.0.1", live_run.broker_port) in seen.connected, "the trace saw no attempt at the broker"
    foreign = sorted(seen.connected - loopback)
    assert not foreign, f"connections or datagrams beyond the broker: {foreign}"
    assert {a for a, _ in seen.listening} <= {"127.0.0.1"}, f"sockets opened to callers: {sorted(seen.listening)}"
    assert seen.local == {live_run.notify_socket}, f"local sockets reached: {sorted(seen.local)}"
