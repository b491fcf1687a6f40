"""What the privacy tests search a process's outputs for: the words it heard, the audio it was given."""

from __future__ import annotations

import base64
import bisect
import contextlib
import functools
import json
import re
import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
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
    # tried only where a number starts: from inside one, every run of 50-99 numbers was tried again digit by digit
    "a long run of numbers (samples as text?)": re.compile(rb"(?<![-+\d.eE])(?:" + NUMBER + rb"[,;\s\[\]()]+){100}"),
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


def audio_as_text(data: bytes, played: PlayedSamples | None = None) -> tuple[str, bytes] | None:
    """What in ``data`` looks like audio printed as text, and the text; None when nothing does. With ``played``
    (:func:`played_samples` of the recording the process was given) a few samples printed are found too
    (:func:`printed_samples`): as a list, numpy's text, or joined by other punctuation or by names."""
    for kind, pattern in AUDIO_AS_TEXT.items():
        if found := pattern.search(data):
            return kind, found.group(0)
    return printed_samples(data, played) if played is not None else None


# Short prints of samples, matched against the recording itself: ``log.info("%s", block.samples[:12].tolist())``
# is 12 numbers apart by ", " (48 for four mics), which neither a pattern above nor a byte window sees. Each run of
# RUN_MIN numbers or more in a row (however joined: _RUN_GAP) is compared with the played samples at the
# precision it was printed. Eight samples (half a millisecond) are fewer than any print of audio worth making.
# The runs' own outputs hold longer runs (a JSON report's numbers joined by its keys, 41; sd_notify's
# "WATCHDOG=1" lines, 296), which the comparison and the guards below turn down. With fewer than 8, a chance
# match of coarse numbers grows likely: printed to 2 decimals a value pins a sample only to 1 %, and speech
# moves little over a few samples at 16 kHz.
RUN_MIN = 8
# How a printed number may be a sample, in the WAV's int16 units: a float sample (the WAV's as soundfile reads
# it, AudioBlock's, an S32_LE board's: k / 32768), an int16 value (the WAV's; the recogniser's pcm16, which
# scales by 32767 and truncates), an int32 value (an S32_LE board's: k << 16).
PRINTED_SCALES = {"float samples": 32768.0, "int16 values": 1.0, "int32 values (int16 << 16)": 1.0 / 65536.0}
# int16 units a printed value may be off beyond its own rounding: pcm16 of a channel is 1 off the WAV's value,
# of the channels' mean (a quarter-integer) up to 1.75 off; float32's rounding of the mean is far less
SLACK = 1.5
LOUD = 0.01 * 32768  # -40 dBFS: a matched window holds MIN_LOUD samples above this, and MIN_DISTINCT values
MIN_LOUD = 3  # silence, a quiet room's hiss or a dead mic matches nothing, as audio_needles' len(set(n)) > 4
MIN_DISTINCT = 4
MIN_SPAN_WIDTHS = 20  # a window's range in its widest value's rounding: 0.1 at 2 decimals, 0.01 at 3
MIN_BENDS = 2  # of a window's second differences, beyond what its values' rounding could make of a line
COARSEST = 0.0051 * 32768  # a value printed to fewer than 2 decimals says too little of a sample to match
CANDIDATES = 1 << 18  # places compared at once (RUN_MIN values each)
_NUMBER_TOKEN = rb"(?<![\w.<])" + NUMBER + rb"(?![\w.])"  # not "0" of "ch0", nor the journal's "<7>"
# a name a number is given by ("s0=", "x[1] = ", "'ch-2': ", "k:"): its digits are no number of the run (but
# the "0" of the first "x[0]=" may start one, a number more that no window of samples holds)
_KEY = rb"[A-Za-z_][\w.\[\]-]*[\"']?\s*[=:]"
# what numbers of one print are joined by: a list's ", ", an array's rows, numpy's text across journal lines
# ("<7>"), any other punctuation or whitespace ("|", "/", "; ", "%", tabs) and names; not '-', '+' or '.',
# a number's sign and point: "2026-12-06" is no run, "12:27:54" is one of 12, 27, 54 (too small for samples)
_RUN_GAP = rb"(?:<\d>|" + _KEY + rb"|[^\w.+-])+"
_NUMBER_RUN = re.compile(_NUMBER_TOKEN + rb"(?:" + _RUN_GAP + _NUMBER_TOKEN + rb"){%d,}" % (RUN_MIN - 1))
_TOKEN = re.compile(_KEY + rb"|(" + _NUMBER_TOKEN + rb")")  # a run's numbers, a name's digits skipped


@dataclass(frozen=True)
class PlayedSamples:
    """A recording's samples as the sequences a print of them follows (each channel, the channels' mean, all
    of them interleaved), in int16 units, one after another with NaN between (no window spans two), and
    sorted once, to look up where a printed value could be."""

    values: npt.NDArray[np.float32]
    order: npt.NDArray[np.intp]  # the positions of the values (NaN's left out), in ascending value
    ordered: npt.NDArray[np.float64]  # values[order], as wide as the values looked up (else searchsorted copies it)
    starts: list[int]  # where each sequence starts in values
    names: list[str]
    channels: int


def played_samples(wav: Path) -> PlayedSamples:
    """The recording ``wav`` indexed for :func:`printed_samples`."""
    pcm = np.asarray(sf.read(wav, dtype="int16", always_2d=True)[0]).astype(np.float32)
    # a dead mic's zeros are no trace of anything
    sequences = {f"channel {c}": pcm[:, c] for c in range(pcm.shape[1]) if np.any(pcm[:, c])}
    if pcm.shape[1] > 1:
        sequences["the channels' mean"] = pcm.mean(axis=1)  # the recogniser's input in channel-map mode
        sequences["all channels interleaved"] = pcm.ravel()  # a block printed whole, frame by frame
    gap = np.full(RUN_MIN, np.nan, dtype=np.float32)
    parts, starts = [gap], []
    for sequence in sequences.values():
        starts.append(sum(p.size for p in parts))
        parts += [sequence, gap]
    values = np.concatenate(parts)
    order = np.argsort(values, kind="stable")[: sum(s.size for s in sequences.values())]  # NaN sort last
    return PlayedSamples(values, order, values[order].astype(np.float64), starts, list(sequences), pcm.shape[1])


def printed_samples(data: bytes, played: PlayedSamples) -> tuple[str, bytes] | None:
    """The first run of numbers in ``data`` that holds RUN_MIN consecutive samples of ``played`` as printed (a
    channel, a block's columns one number in every few, the channels' mean; floats, int16 or int32), with what
    they are; None when no run does. Its numbers may be joined by any punctuation or whitespace (", ", "|",
    "/", "%", "; ", tabs, brackets, numpy's rows across journal lines) and by names ("s0=", "x[1] = ",
    "'ch0': "). Not found: numbers joined by a bare word ("s0 0.0123 s1 ...") or by '-' alone, each with a
    unit stuck to it ("0.0123V"); samples not as played: in dB, resampled, gain-changed (a percent's 100x
    too), filtered or summed over a window; fewer than RUN_MIN in a row, or coarser than 2 decimals."""
    for found in _NUMBER_RUN.finditer(data):
        values, halves, fixed = _printed(found.group(0))
        if form := _printed_form(values, halves, fixed, played):
            return f"{values.size} numbers in a row, {form} of the played audio (samples printed?)", found.group(0)
    return None


def _printed(run: bytes) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """A run's numbers, how far each may be from what was printed (half a unit of its last digit, as printed,
    "0.0123": 0.00005, "1.5e-03": 0.00005, or as float32 holds it: ``np.round(x, 2).tolist()`` of float32
    samples prints "0.10000000149011612", float32's 0.1: 0.05), and which are printed without an exponent."""
    tokens = [token for token in _TOKEN.findall(run) if token]
    values = np.array([float(token) for token in tokens])
    as_float32 = [str(np.float32(v)).encode() if abs(v) < 1e38 else t for t, v in zip(tokens, values, strict=True)]
    halves = np.array([max(_half_unit(t), _half_unit(f)) for t, f in zip(tokens, as_float32, strict=True)])
    fixed = np.array([b"e" not in token.lower() for token in tokens])
    return values, halves, fixed


def _half_unit(number: bytes) -> float:
    """Half a unit of the last digit of ``number`` (a NUMBER)."""
    mantissa, _, exponent = number.lower().partition(b"e")
    # a few digits of exponent are enough: beyond them the value is 0 or inf, which matches no sample
    places = (int(exponent or 0) if len(exponent) < 6 else 0) - len(mantissa.partition(b".")[2])
    return 0.5 * 10.0 ** min(max(places, -300), 300)


def _printed_form(
    values: npt.NDArray[np.float64],
    halves: npt.NDArray[np.float64],
    fixed: npt.NDArray[np.bool_],
    played: PlayedSamples,
) -> str:
    """What the run's numbers are of ``played`` ("float samples of channel 1, one number in 2"); '' if nothing."""
    for stride in range(1, played.channels + 1):  # one number in ``stride``: a block's column, its columns in any order
        for first in range(min(stride, values.size)):
            picked = slice(first, None, stride)
            widths = _window_halves(halves[picked], fixed[picked])
            for kind, scale in PRINTED_SCALES.items():
                at = _match(values[picked] * scale, widths * scale + SLACK, played)
                if at is not None:
                    name = played.names[bisect.bisect_right(played.starts, at) - 1]
                    return f"{kind} of {name}" + (f", one number in {stride}" if stride > 1 else "")
    return ""


def _window_halves(halves: npt.NDArray[np.float64], fixed: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Each window of RUN_MIN numbers' halves (a row each). A window is one print in one format: its numbers
    without an exponent are as precise as the finest of them (a dead mic's "0.0" among samples to 15 decimals,
    numpy's "0." are zero exactly; "0.1" among np.round(x, 4)'s is 0.1000). Not the whole run's finest: a run
    may join a few prints (a time to 6 decimals, then samples to 4), and a sample is no finer than printed."""
    if halves.size < RUN_MIN:
        return np.empty((0, RUN_MIN))
    own = np.lib.stride_tricks.sliding_window_view(halves, RUN_MIN)
    is_fixed = np.lib.stride_tricks.sliding_window_view(fixed, RUN_MIN)
    finest = np.where(is_fixed, own, np.inf).min(axis=1, keepdims=True)
    return np.where(is_fixed, finest, own)


def _match(wanted: npt.NDArray[np.float64], widths: npt.NDArray[np.float64], played: PlayedSamples) -> int | None:
    """Where in ``played.values`` RUN_MIN consecutive values of ``wanted`` are, each within its ``widths`` (a row
    per window), in a window loud and varied enough to be signal; None where none are. Each window is looked up
    by its loudest value (the rarest in speech: the fewest places to compare the rest at), all at once,
    CANDIDATES at a time."""
    if wanted.size < RUN_MIN:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(wanted, RUN_MIN)
    keep = _signal(windows, widths)
    if not keep.any():
        return None
    windows, widths = windows[keep], widths[keep]
    loudest = np.argmax(np.abs(windows), axis=1)
    rows = np.arange(len(windows))
    anchor, width = windows[rows, loudest], widths[rows, loudest]
    low = np.searchsorted(played.ordered, anchor - width, side="left")
    counts = np.searchsorted(played.ordered, anchor + width, side="right") - low
    group = np.cumsum(counts) // CANDIDATES  # windows a group apart are compared apart: memory stays bounded
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        n = counts[rows]
        of = np.repeat(rows, n)  # each candidate's window
        starts = played.order[low[of] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)] - loudest[of]
        at = _compared(starts, of, windows, widths, played)  # the NaN before the first sequence: starts >= 0
        if at is not None:
            return at
    return None


def _compared(
    starts: npt.NDArray[np.intp],
    of: npt.NDArray[np.intp],
    windows: npt.NDArray[np.float64],
    widths: npt.NDArray[np.float64],
    played: PlayedSamples,
) -> int | None:
    """The first of ``starts`` where the window ``of`` it is, each value within its width; None. One value
    far from the one looked up (less alike in speech than its neighbour) first: it rules out most places."""
    far = np.where(np.argmax(np.abs(windows[of]), axis=1) < RUN_MIN // 2, RUN_MIN - 1, 0)
    alike = np.abs(played.values[starts + far] - windows[of, far]) <= widths[of, far]
    starts, of = starts[alike], of[alike]
    near = np.abs(played.values[starts[:, None] + np.arange(RUN_MIN)] - windows[of]) <= widths[of]
    hits = np.flatnonzero(np.all(near, axis=1))
    return int(starts[hits[0]]) if hits.size else None


def _signal(windows: npt.NDArray[np.float64], widths: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which windows (int16 units) could be samples worth matching: loud, varied, fine enough, in range."""
    signal = np.count_nonzero(np.abs(windows) >= LOUD, axis=1) >= MIN_LOUD
    signal &= np.count_nonzero(np.diff(np.sort(windows, axis=1), axis=1) > 0, axis=1) + 1 >= MIN_DISTINCT
    signal &= widths.max(axis=1) <= COARSEST + SLACK
    # a window no straighter than its rounding allows: speech is near a line over a few samples, so a ramp
    # (bin edges, thresholds, a slowly moving share) printed coarsely matches it somewhere by chance
    bend = np.abs(np.diff(windows, n=2, axis=1))
    allowed = widths[:, :-2] + 2.0 * widths[:, 1:-1] + widths[:, 2:]
    signal &= np.count_nonzero(bend > allowed, axis=1) >= MIN_BENDS
    # and spanning many of its rounding steps: small numbers printed coarsely (0.01-0.08) pin next to nothing
    signal &= np.ptp(windows, axis=1) >= MIN_SPAN_WIDTHS * widths.max(axis=1)
    signal &= np.all(np.abs(windows) <= 32768.0 + widths, axis=1)  # a sample's range, not a timestamp's
    return signal


@functools.lru_cache(maxsize=2)  # a test searches its outputs, then its trace's data, for one recording
def _audio_index(wav: Path) -> tuple[dict[str, list[bytes]], PlayedSamples]:
    return audio_needles(wav), played_samples(wav)


def assert_no_audio(outputs: Mapping[str, bytes], played: Path) -> None:
    """No output holds the recording ``played``: its loud parts as bytes, in every form the pipeline holds them
    (:func:`audio_needles`), nor any of it printed as text (:func:`audio_as_text` with its samples)."""
    needles, samples = _audio_index(played)
    for where, data in outputs.items():
        found = [kind for kind, ns in needles.items() if any(n in data for n in ns)]
        assert not found, f"audio ({', '.join(found)}) found in {where}"
        as_text = audio_as_text(data, samples)
        assert as_text is None, f"{as_text[0]} in {where}: {as_text[1][:200]!r}"


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
