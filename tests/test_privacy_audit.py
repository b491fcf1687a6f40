"""Privacy by construction, proven on the whole device path: no audio and no word leaves the process.

One subprocess runs, with transcription on (the real Korean vosk model), the turn model (real
onnxruntime), gpiozero's MockFactory (``GPIOZERO_PIN_FACTORY=mock``) and logging at debug level
through the service's own journal formatter:

- ``analyze --json --plot figure.svg`` and ``analyze`` (the printed summary);
- ``run --input --fast`` while the broker is down, so that every message stays in the offline
  spool on disk (the folder is walked then, the spool decoded);
- then, with a real mosquitto up and a subscriber to ``#``, ``run --input --fast --led-trace``
  with transcription, connected from its start: it drains the spool (the first run's events and
  session summary with its content cues) and publishes its own (Home Assistant discovery, status,
  info, state, events, session summaries) while words are in memory, the retained topics built at
  send time among them; a second subscriber joins once it has ended, and gets what the broker
  retained.

The commands run as installed (``listener.entry``, so the journal's excepthooks are in place), and
in ``run --input`` the real recogniser fails once mid-line: the error and its traceback go to the
journal with everything else. systemd's notify socket is one the test holds (NOTIFY_SOCKET): the
sd_notify datagrams are searched too.

HOME, TMPDIR, the XDG folders, the working directory and both state folders lie in one folder the
test walks afterwards. The words searched for are the ones the real recogniser returned inside
that process (a spy hands them back through an inherited pipe, never a file). The Korean words
fire none of the English lexicon's cues, so the spy hands the stage an English line in their place,
at their times, which fires every kind of cue (a question, an echo, an acknowledgement, a plan, a
filler): its distinctive words and the detectors' stems of them are searched for too, and so is
every phrase the detectors matched in the run (another spy reports them) and every filler. The
audio searched for is windows of the recording in every form the pipeline holds it (the WAV's
interleaved int16, the recogniser's mono int16 either way round, float32 and float64 samples; the
recogniser's bytes as ``%r``, hex and base64), and audio as text wherever it was taken (long runs
of numbers, numpy's text of an array, escaped bytes, long hex or base64; and any 8 numbers in a row that
are consecutive samples of the recording as printed: floats at their printed precision, int16 or int32, of
a mic, the mics' mean or a block's columns, tests/privacy_search.printed_samples). Where ``strace`` is
installed, the run is traced too (test_privacy_trace.py): every file the process (and every thread
or library in it) opens for writing, every address a socket connects or sends to (a local socket's
path too), and any socket opened to callers. The run itself is in tests/privacy_session.py.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from listener.outputs.mqtt.stage import SPOOL_FILE
from listener.service.runner import PAUSED_STATUS, STOPPING_STATUS
from listener.transcription.lexicon import load_lexicon
from listener.transcription.recognizer import pcm16
from tests.mqtt_broker import BASE, validate
from tests.privacy_search import (
    assert_no_audio,
    audio_as_text,
    audio_needles,
    phrase_pattern,
    spool_messages,
    word_forms,
)
from tests.privacy_session import COMMON, FAIL_AT_S, SCRIPT, Session, script_words

# --- what to look for ------------------------------------------------------------------------


def searchable(words: set[str]) -> set[str]:
    """The real recogniser's words with a letter in them ("[20]", a number the Korean model prints, could
    be anything's), and every word of the English put in their place but the common ones, with its stems."""
    korean = {w for w in words if any(c.isalpha() for c in w) and not w.isascii()}
    english = script_words()
    return korean | (set(english) if english & words else set())


def holds(data: bytes, word: str) -> bool:
    """Whether ``data`` holds ``word``: an English one as a word ("leak", not the "leak" of "leakage"), in
    UTF-8 or a str's UTF-16; another language's in any of its forms."""
    if word.isascii():  # "Kettle" at a line's start is the word too
        return bool(re.compile(phrase_pattern(word).pattern, re.IGNORECASE).search(data)) or any(
            form.encode("utf-16-le") in data for form in (word, word.capitalize(), word.upper())
        )
    return any(f in data for f in word_forms(word))


def cue_phrases(s: Session) -> set[str]:
    """Every phrase the cue detectors matched in the run (as the driver saw them match), and the fillers it
    heard (the lexicon's): a debug line that names what a detector found holds these, not the distinctive
    words."""
    fillers = load_lexicon("en").fillers
    return {words for _, words in s.matched} | {w for w in s.heard if w in fillers}


def outputs(s: Session) -> dict[str, bytes]:
    """Everything the process left behind or sent: its output, every file (during the outage and at the
    end), every MQTT message, every sd_notify datagram."""
    out = {"stdout": s.stdout, "stderr (the journal)": s.stderr}
    out |= {f"sd_notify datagram #{i}": data for i, data in enumerate(s.notified)}
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
    # the plain summary was printed too, with its lines of what was said (searched with the rest of stdout)
    assert b"customer (counted, not kept)" in privacy_run.stdout and b"acknowledgements" in privacy_run.stdout
    # the cue detectors ran on words, and found every kind: their code paths are under test too
    kinds = ("rep_questions", "rep_echoes", "rep_acknowledgements", "rep_action_plans", "rep_fillers")
    assert all(report["metrics"][k] >= 1 for k in kinds), {k: report["metrics"][k] for k in kinds}
    said = script_words()
    assert {"kettle", "kettl", "leaked", "leak", "limescale", "limescal", "yesterday", "gasket"} <= said
    assert {w for _, line in SCRIPT for w in line.split()} - COMMON <= set(privacy_run.heard)
    # words were in memory while the broker was connected: what it was sent then is searched below
    assert {w for _, line in SCRIPT for w in line.split()} - COMMON <= set(privacy_run.heard_online)
    # the phrases that decided those cues were matched in the run, and are searched for below
    families = {family for family, _ in privacy_run.matched}
    assert {"open", "acknowledgement", "action"} <= families, privacy_run.matched
    assert load_lexicon("en").fillers & set(privacy_run.heard)
    # an error path ran too: the recogniser failed in `run` (its traceback in the journal, at error), as the
    # commands ran as installed (listener.entry: the journal's excepthooks)
    assert privacy_run.failed_at_s >= FAIL_AT_S
    assert b"<3>ERROR listener.transcription.recognizer: the recogniser failed" in privacy_run.stderr
    assert b"<3>Traceback" in privacy_run.stderr and b"RuntimeError: injected fault" in privacy_run.stderr
    assert any(b'"led"' in line for line in privacy_run.stdout.splitlines())  # the LED trace (MockFactory)
    leaves = {m.topic.rsplit("/", 1)[-1] for m in privacy_run.messages if m.topic.startswith(BASE + "/")}
    assert leaves >= {"status", "info", "state", "event", "session"}
    assert any(m.topic == "homeassistant/device/counter-3/config" for m in privacy_run.messages)
    # the retained topics as the broker kept them (the last state was made at the session's end, words heard)
    kept = {m.topic for m in privacy_run.messages if m.retain}
    assert kept >= {f"{BASE}/status", f"{BASE}/info", f"{BASE}/state", "homeassistant/device/counter-3/config"}
    cues = [m.json()["cues"] for m in privacy_run.messages if m.topic == f"{BASE}/session"]
    assert any(isinstance(c, dict) and int(c["rep_words"]) + int(c["customer_words"]) > 0 for c in cues)


def test_no_recognised_word_is_written_logged_printed_or_published(privacy_run: Session) -> None:
    words = searchable(set(privacy_run.heard))
    for where, data in outputs(privacy_run).items():
        leaked = sorted(w for w in words if holds(data, w))
        assert not leaked, f"{len(leaked)} recognised words found in {where}"


def test_systemd_is_told_only_that_the_service_is_ready_alive_and_stopping(privacy_run: Session) -> None:
    """sd_notify's datagrams (the test's socket was NOTIFY_SOCKET) are searched with every output above; a
    STATUS= line is the one that could carry details: none but the fixed ones came."""
    told = set(privacy_run.notified)
    assert {b"READY=1", b"WATCHDOG=1", b"STOPPING=1"} <= told, told
    fixed = {f"STATUS={status}".encode() for status in ("capturing", PAUSED_STATUS, STOPPING_STATUS)}
    assert told <= {b"READY=1", b"WATCHDOG=1", b"STOPPING=1", *fixed}, told


def test_no_phrase_a_cue_detector_matched_is_written_logged_printed_or_published(privacy_run: Session) -> None:
    """The English lexicon's phrases ("i am sorry to hear that", a filler) are words of the conversation too,
    and most hold no distinctive word: each is searched for as itself, however its words are joined."""
    phrases = cue_phrases(privacy_run)
    assert len(phrases) >= 4, phrases
    for where, data in outputs(privacy_run).items():
        leaked = sorted(p for p in phrases if phrase_pattern(p).search(data))
        assert not leaked, f"phrases a cue detector matched found in {where}: {leaked}"


def test_the_phrase_search_finds_them_however_printed() -> None:
    for text in (
        "cue phrases: [('acknowledgement', 'i am sorry to hear that')]",
        "tokens ['i', 'am', 'sorry', 'to', 'hear', 'that']",
        json.dumps({"norms": ["i", "am", "sorry", "to", "hear", "that"]}),
        json.dumps(json.dumps(["i", "am", "sorry", "to", "hear", "that"])),
    ):
        assert phrase_pattern("i am sorry to hear that").search(text.encode()), text
    assert phrase_pattern("umm").search(b"fillers: ['umm']")
    assert not phrase_pattern("umm").search(b"the dummmy summary")
    assert not phrase_pattern("i will").search(b"wifi will reconnect")
    # a word of the script, or a stem the cue detectors made of it, as a debug line would name it
    assert holds(b"<7>DEBUG listener.transcription.cues: echo decided: the rep repeated kettl", "kettl")
    assert holds(json.dumps("kettl").encode("utf-16-le"), "kettl")
    assert not holds(b"no leakage", "leak")
    assert holds(b"Kettle: descaled", "kettle") and holds(b"LIMESCALE", "limescale")


STDERR_MAX_BYTES = 512 * 1024  # about 40 kB at debug level for the three runs
STDERR_LINE_MAX_BYTES = 4096  # about 300 at most


def test_the_text_search_for_samples_finds_them() -> None:
    samples = np.random.default_rng(0).uniform(-0.1, 0.1, (400, 2))
    pcm = pcm16(samples[:120, 0])  # the recogniser's bytes: 120 samples, 7.5 ms
    for text in (
        f"pcm {np.round(samples[:, 0], 5).tolist()}",
        f"pcm {samples.round(4).tolist()}",
        f"pcm {(samples[:, 0] * 32767).astype(int).tolist()}",
        " ".join(f"{v:.3e}" for v in samples[:, 1]),
        json.dumps({"samples": samples[:, 0].astype(np.float32).tolist()}),
        f"pcm {pcm!r}",  # %r of bytes
        json.dumps({"pcm": repr(pcm)}),
        f"pcm {pcm.hex()}",
        f"pcm {base64.b64encode(pcm).decode()}",
        f"block {samples[:6].astype(np.float32)}",  # numpy's text of a few samples, several channels
        f"block {samples[:3, 0]}",
        f"samples {samples[:, 0]}",  # numpy's summary of many: "[a b c ... x y z]"
        f"samples {samples[:2, 0]!r}",  # array([...])
        "<7>DEBUG x: block [[ 4.0588379e-03 -5.1269531e-03]\n<7> [ 8.2397461e-04 -1.1596680e-03]]",
    ):
        assert audio_as_text(text.encode()), text[:60]
    legit = [
        json.dumps({"segments": [{"party": "rep", "start_s": 0.5 * i, "end_s": 0.5 * i + 0.3} for i in range(300)]}),
        json.dumps({"talk_share": [0.41, 0.59], "bins": [1, 2, 3, 4], "path": "C:\\x00\\tmp"}),
        '<path d="M 72 388.8 L 72 43.2 L 518.4 43.2 z" style="stroke-dasharray: 3.7 1.6"/>',
        "INFO listener.service.runner: stopped after 36.0 s of audio time [0.5 s not heard]",
    ]
    for text in legit:
        assert audio_as_text(text.encode()) is None, text[:60]


def test_the_byte_search_for_audio_finds_every_form_the_pipeline_or_a_board_holds(tmp_path: Path) -> None:
    """Not only the first mic and the WAV's layout: the recogniser's input in channel-map mode (the mics'
    mean), any one mic (a party's own), int32 as the S32_LE boards deliver, float16."""
    rng = np.random.default_rng(1)
    samples = (0.3 * rng.standard_normal((16000, 4))).clip(-0.9, 0.9).astype(np.float32)
    wav = tmp_path / "four.wav"
    sf.write(wav, samples, 16000, subtype="PCM_16")
    x = np.asarray(sf.read(wav, dtype="float32")[0])
    needles = [n for ns in audio_needles(wav).values() for n in ns]
    for form in (
        pcm16(x.mean(axis=1)),
        pcm16(x[:, 2]),
        (x.astype(np.float64) * 2**31).astype("<i4").tobytes(),
        x[:, 0].astype("<f2").tobytes(),
        x[:, 3].astype("<f4").tobytes(),
    ):
        assert any(n in form for n in needles)


def test_no_audio_is_written_logged_printed_or_published(privacy_run: Session) -> None:
    assert_no_audio(outputs(privacy_run), privacy_run.wav)
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
    # the spool as it was during the outage, and at the end: the WAL copied beside it is read too
    rows = spool_messages(_spool_copy(privacy_run, privacy_run.spooled, "outage"))
    spool_messages(_spool_copy(privacy_run, privacy_run.files, "end"))  # drained: its tables are checked still
    leaves = [leaf for leaf, _ in rows]
    assert "event" in leaves and "session" in leaves  # the broker was down: all of it waited on disk
    sessions = [json.loads(payload) for leaf, payload in rows if leaf == "session"]
    assert any(s["cues"] and s["cues"]["customer_words"] + s["cues"]["rep_words"] > 0 for s in sessions)


def _spool_copy(run: Session, files: dict[str, bytes], name: str) -> Path:
    """The spool's files as walked, copied aside: opening the walked folder's would checkpoint its WAL."""
    copy = run.box.parent / f"{run.box.name}-spool-{name}"
    copy.mkdir(exist_ok=True)
    for path, data in files.items():
        if Path(path).parent == run.box / "state" and Path(path).name.startswith(SPOOL_FILE):
            (copy / Path(path).name).write_bytes(data)
    return copy / SPOOL_FILE
