"""What the privacy tests search a process's outputs for: the words it heard, the audio it was given."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from listener.outputs.mqtt.spool import Spool
from listener.outputs.mqtt.spool_schema import row_keys
from tests.mqtt_broker import BASE, validate


def word_forms(word: str) -> list[bytes]:
    """How a word could sit in a file or a message: UTF-8, JSON-escaped, or a str's UTF-16 in memory."""
    forms = [word.encode("utf-8"), json.dumps(word)[1:-1].encode("ascii")]
    if len(word) >= 2:
        forms.append(word.encode("utf-16-le"))
    return forms


def audio_needles(wav: Path, count: int = 40) -> dict[str, list[bytes]]:
    """Windows of the recording's loud parts in every form the pipeline holds audio in, or a board delivers it:
    interleaved and per channel, the channels' mean (the recogniser's input in channel-map mode), int16 (the
    WAV, the recogniser), int32 (the S32_LE boards), float16/32/64."""
    raw = wav.read_bytes()
    pcm_i16 = np.asarray(sf.read(wav, dtype="int16")[0])
    samples = np.asarray(sf.read(wav, dtype="float32")[0])
    loud = np.flatnonzero(np.abs(samples[:, 0]) > 0.05)
    picks = loud[:: max(1, loud.size // count)][:count]
    forms = _audio_forms(pcm_i16, samples)
    needles = {k: [data[i * width : i * width + 32] for i in picks] for k, (data, width) in forms.items()}
    # the detector works: the WAV's own bytes hold its windows
    assert all(n in raw for n in needles["int16 interleaved (the WAV)"])
    assert all(len(set(n)) > 4 for ns in needles.values() for n in ns)  # real signal, not runs of zeros
    # the recogniser's PCM as text: %r of the bytes (a window without a quote reads alike in either quote),
    # .hex(), and base64 (from each of the three offsets a window may have in the bytes encoded)
    pcm = needles["int16 mono (the recogniser)"]
    needles["repr() of the recogniser's PCM"] = [repr(n)[2:-1].encode() for n in pcm if b"'" not in n]
    needles["hex of the recogniser's PCM"] = [n.hex().encode() for n in pcm]
    needles["base64 of the recogniser's PCM"] = [base64.b64encode(n[k : k + 30]) for n in pcm for k in range(3)]
    return needles


def _audio_forms(pcm_i16: np.ndarray, samples: np.ndarray) -> dict[str, tuple[bytes, int]]:
    """Each form's bytes, and how many bytes one frame (all its channels) takes in it."""

    def pcm16(x: np.ndarray) -> np.ndarray:  # as listener.transcription.recognizer.pcm16 makes it
        return np.asarray(np.clip(x, -1.0, 1.0) * 32767.0, dtype="<i2")

    mean = samples.mean(axis=1)
    forms: dict[str, np.ndarray] = {
        "int16 interleaved (the WAV)": pcm_i16.astype("<i2"),
        "int16 mono (the recogniser)": pcm16(samples[:, 0]),
        "int16 mean of the channels (the recogniser, channel-map mode)": pcm16(mean),
        "int16 mono big-endian": pcm16(samples[:, 0]).astype(">i2"),
        "int32 interleaved (an S32_LE board)": pcm_i16.astype("<i4") << 16,
        "float32 interleaved (AudioBlock)": samples.astype("<f4"),
        "float32 mean of the channels": mean.astype("<f4"),
        "float16 one channel": samples[:, 0].astype("<f2"),
        "float64 one channel": samples[:, 0].astype("<f8"),
    }
    # a party's own mic in channel-map mode, any one mic of the array; a dead mic's zeros are no trace of anything
    for c in np.flatnonzero(np.any(pcm_i16 != 0, axis=0)):
        forms[f"int16 channel {c}"] = pcm_i16[:, c].astype("<i2")
        forms[f"int16 channel {c}, as the recogniser scales it"] = pcm16(samples[:, c])
        forms[f"int32 channel {c}"] = pcm_i16[:, c].astype("<i4") << 16
        forms[f"float32 channel {c}"] = samples[:, c].astype("<f4")
    return {k: (a.tobytes(), a.itemsize * (a.shape[1] if a.ndim == 2 else 1)) for k, a in forms.items()}


# Audio as text, wherever in the audio it was taken: samples a log line or a message printed as numbers
# (``x.tolist()``, ``np.round(x, 5)``, int16 values, nested lists for several channels); numpy's own text of
# an array (``str(block.samples[:6])``, ``repr(x)``, a summary with "..."): three numbers in brackets apart
# by spaces alone (or rows, a journal line's "<7>" before each), which no JSON has; bytes printed by ``%r``
# (escapes in a row); a long hex or base64 string. What the runs legitimately write (JSON reports and
# metrics, the figure's path data, the journal) has no more than a handful of numbers in a row, and none of
# the others.
NUMBER = rb"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
NUMPY_GAP = rb"(?:\s+|\]\s*(?:<\d>)?\s*\[\s*)"
AUDIO_AS_TEXT = {
    "a long run of numbers (samples as text?)": re.compile(rb"(?:" + NUMBER + rb"[,;\s\[\]()]+){100}"),
    "numpy's text of an array (samples printed?)": re.compile(
        b"|".join(
            (
                rb"array\(\[\s*" + NUMBER,
                rb"\[\s*" + NUMBER + rb"(?:" + NUMPY_GAP + NUMBER + rb"){2}",
                NUMBER + rb"\s+\.\.\.\s+" + NUMBER,
            )
        )
    ),
    "bytes printed with escapes (PCM by %r?)": re.compile(rb"(?:\\(?:x[0-9a-fA-F]{2}|[tnr\\'\"])[^\\\n]{0,8}){24}"),
    "a long hex or base64 string (PCM encoded?)": re.compile(rb"[A-Za-z0-9+/]{200}"),
}


def audio_as_text(data: bytes) -> tuple[str, bytes] | None:
    """What in ``data`` looks like audio printed as text, and the text; None when nothing does."""
    for kind, pattern in AUDIO_AS_TEXT.items():
        if found := pattern.search(data):
            return kind, found.group(0)
    return None


def phrase_pattern(phrase: str) -> re.Pattern[bytes]:
    """A phrase a cue detector matched ("i am sorry to hear that"), as a whole word sequence however printed:
    joined by spaces, or a list's items (``['i', 'am', ...]``, JSON's ``[\\"i\\", ...]``)."""
    words = [re.escape(w.encode()) for w in phrase.split()]
    return re.compile(rb"(?<![A-Za-z0-9])" + rb"[^A-Za-z0-9]{1,8}".join(words) + rb"(?![A-Za-z0-9])")


# Run first in the process under test (``python -c``): every word its recogniser returns, as the process
# heard it behind its speech gate (not what vosk hears in the whole recording), written to the inherited
# pipe LISTENER_TEST_HEARD_FD as it comes (never a file), one JSON list a line.
HEARD_SPY = """
import json as _json, os as _os
from listener.transcription import recognizer as _recognizer
_heard = _os.fdopen(int(_os.environ["LISTENER_TEST_HEARD_FD"]), "w", encoding="utf-8")
_emit = _recognizer.RecognizerWorker._emit
def _spy(self, result_json):
    words = [str(item["word"]) for item in _json.loads(result_json).get("result", [])]
    if words:
        _heard.write(_json.dumps(words) + "\\n")
        _heard.flush()
    _emit(self, result_json)
_recognizer.RecognizerWorker._emit = _spy
"""


def heard_words(lines: str) -> set[str]:
    """The words HEARD_SPY reported."""
    return {w for line in lines.splitlines() if line for w in json.loads(line)}


def _shape(db: sqlite3.Connection) -> set[tuple[str, str, str]]:
    return {(str(t), str(n), str(sql)) for t, n, sql in db.execute("SELECT type, name, sql FROM sqlite_master")}


def spool_messages(path: Path) -> list[tuple[str, bytes]]:
    """The (leaf, payload) of every message the spool at ``path`` holds (its -wal beside it read too), once the
    spool is shown to hold nothing else: its tables, columns and indexes are a new spool's, exactly (a table of
    compressed audio, a column of text would pass a search for raw samples and words), and every row is a
    message the shipped JSON Schema allows, anonymous, keyed by its own kind and session."""
    with tempfile.TemporaryDirectory() as fresh, Spool(Path(fresh) / path.name, max_messages=10) as spool:
        shipped = _shape(spool.db)
    with contextlib.closing(sqlite3.connect(path)) as db:
        found = _shape(db)
        rows = db.execute("SELECT leaf, payload, kind, session_id FROM outbox").fetchall()
    assert found == shipped, f"the spool holds more than the shipped schema: {sorted(found - shipped)}"
    for leaf, payload, kind, session_id in rows:
        message = validate(f"{BASE}/{leaf}", bytes(payload))
        assert (kind, session_id) == row_keys(str(leaf), message), (leaf, kind, session_id)
    return [(str(leaf), bytes(payload)) for leaf, payload, _, _ in rows]
