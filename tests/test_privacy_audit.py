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
the run is traced too (test_privacy_trace.py): every file the process (and every thread or library
in it) opens for writing, every address a socket connects or sends to, and any socket opened to
callers. The run itself is in tests/privacy_session.py.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np

from listener.outputs.mqtt.stage import SPOOL_FILE
from tests.mqtt_broker import BASE, validate
from tests.privacy_search import audio_needles, word_forms
from tests.privacy_session import (
    DISTINCTIVE,
    Session,
)

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


def test_the_run_really_heard_words_and_published(privacy_run: Session) -> None:
    """The checks below are not vacuous: words were in memory, logging was at debug, all topics went out."""
    heard = len(privacy_run.heard)
    assert len(searchable(set(privacy_run.heard))) >= 8, f"the recogniser returned too few words: {heard}"
    assert b"<7>DEBUG listener.transcription" in privacy_run.stderr  # debug, in the journal's format
    report = json.loads(privacy_run.stdout.splitlines()[0])
    assert report["metrics"]["rep_words"] + report["metrics"]["customer_words"] >= 8
    # the cue detectors ran on words, and found every kind: their code paths are under test too
    kinds = ("rep_questions", "rep_echoes", "rep_acknowledgements", "rep_action_plans", "rep_fillers")
    assert all(report["metrics"][k] >= 1 for k in kinds), {k: report["metrics"][k] for k in kinds}
    assert DISTINCTIVE - {"happen", "charg"} <= set(privacy_run.heard)
    assert any(b'"led"' in line for line in privacy_run.stdout.splitlines())  # the LED trace (MockFactory)
    leaves = {m.topic.rsplit("/", 1)[-1] for m in privacy_run.messages if m.topic.startswith(BASE + "/")}
    assert leaves >= {"status", "info", "state", "event", "session"}
    assert any(m.topic == "homeassistant/device/counter-3/config" for m in privacy_run.messages)
    cues = [m.json()["cues"] for m in privacy_run.messages if m.topic == f"{BASE}/session"]
    assert any(isinstance(c, dict) and int(c["rep_words"]) + int(c["customer_words"]) > 0 for c in cues)


def test_no_recognised_word_is_written_logged_printed_or_published(privacy_run: Session) -> None:
    words = searchable(set(privacy_run.heard))
    for where, data in outputs(privacy_run).items():
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


def test_no_audio_is_written_logged_printed_or_published(privacy_run: Session) -> None:
    needles = audio_needles(privacy_run.wav)
    for where, data in outputs(privacy_run).items():
        found = [kind for kind, ns in needles.items() if any(n in data for n in ns)]
        assert not found, f"audio ({', '.join(found)}) found in {where}"
    for where, data in outputs(privacy_run).items():
        run = SAMPLES_AS_TEXT.search(data)
        assert run is None, f"a long run of numbers (samples as text?) in {where}: {run.group(0)[:200]!r}"
    assert len(privacy_run.stderr) <= STDERR_MAX_BYTES, f"the journal got {len(privacy_run.stderr)} bytes"
    longest = max(privacy_run.stderr.splitlines(), key=len, default=b"")
    assert len(longest) <= STDERR_LINE_MAX_BYTES, f"a journal line of {len(longest)} bytes: {longest[:200]!r}"


def test_the_figure_holds_drawn_text_but_no_word(privacy_run: Session) -> None:
    svg = privacy_run.files[str(privacy_run.box / "work" / "figure.svg")].decode("utf-8")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "rep speech" in " ".join(texts)  # the text of the figure is searchable
    words = searchable(set(privacy_run.heard))
    assert not [t for t in texts if any(w in t for w in words)]


def test_every_message_and_the_offline_spool_hold_numbers_and_enums_only(privacy_run: Session) -> None:
    for m in privacy_run.messages:
        if m.topic.startswith(BASE + "/"):
            validate(m.topic, m.payload)  # JSON Schema, and no free text at all
    snapshot = privacy_run.box.parent / (privacy_run.box.name + "-spool-copy")  # the spool as it was during the outage
    snapshot.mkdir(exist_ok=True)
    for name, data in privacy_run.spooled.items():
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
