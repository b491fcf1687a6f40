"""No word leaves the process: not in logs (even at debug level), reports, or files written, nor in the
traceback of a bug met while words are handled.

A session with transcription on runs in a subprocess whose home, temp and state folders are
inside the test's folder, its commands as installed (``listener.entry``: the journal's format and
excepthooks): ``analyze``, ``run --input --fast``, then ``run`` again over the first line with a bug planted where the
words are handled (a stemmer that looks each word up in an empty table: ``KeyError: 'word'``), which
ends the process with a traceback. Everything it wrote there, and everything it printed, is searched
for the words its recogniser returned in the process, behind its speech gate (a spy hands them back
through an inherited pipe), and for those vosk hears in the whole recording. (MQTT payloads and the
spool are checked by the MQTT tests and the privacy audit: here MQTT is off.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tests import asr_audio
from tests.privacy_search import HEARD_SPY, heard_words

SESSION = (
    HEARD_SPY
    + """
import sys
from listener import entry
from listener.transcription import lexicon

def main(*args):
    sys.argv = ["listener", *args]
    return entry.main()

wav, config, first_line = sys.argv[1:4]
code = main("analyze", wav, "--json", "--config", config)
code = code or main("run", "--input", wav, "--fast", "--config", config)
if code:
    sys.exit(code)

def stem(self, word):
    return {}[word]

lexicon.Stemmer.__call__ = stem
main("run", "--input", first_line, "--fast", "--config", config)  # raises: the journal's excepthook prints it
"""
)


FIRST_LINE_S = 4.0


def forms(word: str) -> list[bytes]:
    """How a word would look in a file: UTF-8, or escaped as json.dumps writes it."""
    return [word.encode("utf-8"), json.dumps(word)[1:-1].encode("ascii")]


def _config(tmp_path: Path, state: Path) -> Path:
    config = tmp_path / "listener.toml"
    config.write_text(
        f'[asr]\nenabled = true\nmodel_path = "{asr_audio.korean_model()}"\n'
        f'[service]\nstate_dir = "{state}"\nlog_level = "debug"\n'
        '[leds]\nenabled = false\nbutton_pin = ""\n[mqtt]\nenabled = false\n'
    )
    return config


def _first_line(wav: Path, outside: Path) -> Path:
    """The rep's greeting alone: enough for the planted bug, and quicker."""
    samples, rate_hz = sf.read(wav, dtype="int16")
    first_line = outside / "first-line.wav"
    sf.write(first_line, samples[: int(FIRST_LINE_S * rate_hz)], rate_hz, subtype="PCM_16")
    return first_line


def _run_session(args: list[str], cwd: Path, env: dict[str, str], outside: Path) -> tuple[int, set[str]]:
    """SESSION on ``args``, its stdout and stderr to files in ``outside``: its exit code, and the words its
    recogniser returned (the spy's, through an inherited pipe)."""
    reader, writer = os.pipe()
    env = {**env, "LISTENER_TEST_HEARD_FD": str(writer)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's listener, whatever is installed
    with (outside / "stdout").open("wb") as out, (outside / "stderr").open("wb") as err:
        stat = os.fstat(err.fileno())
        env["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"  # its stderr is the journal's, as under systemd
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", SESSION, *args], cwd=cwd, env=env, stdout=out, stderr=err, pass_fds=(writer,)
            )
        finally:
            os.close(writer)
        with os.fdopen(reader, encoding="utf-8") as spied:
            heard = heard_words(spied.read())  # until the process ends
        return proc.wait(timeout=600), heard


def test_no_recognised_word_is_written_or_printed(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    wav, _ = asr_audio.session_dialogue(tmp_path_factory, 2, 8.0)  # a greeting and the customer's answer
    box, env = asr_audio.sandbox(tmp_path)
    config = _config(tmp_path, box["state"])
    outside = tmp_path_factory.mktemp("transcription-privacy-out")  # the output, not walked with the folders
    first_line = _first_line(wav, outside)
    returncode, heard = _run_session([str(wav), str(config), str(first_line)], box["work"], env, outside)
    stdout, stderr = (outside / "stdout").read_bytes(), (outside / "stderr").read_bytes()
    # the planted bug ended the last run, through the journal's excepthook, in fixed text
    assert returncode == 1, stderr.decode(errors="replace")[-2000:]
    assert b"<3>Traceback" in stderr and b"WordHandlingError: KeyError raised in <string>" in stderr
    report = json.loads(stdout.splitlines()[0])
    assert report["metrics"]["rep_words"] + report["metrics"]["customer_words"] >= 8  # words were in memory
    assert b"<7>DEBUG listener.transcription" in stderr  # debug logging was on for the stage
    spoken = {str(w["word"]) for w in asr_audio.direct_words(wav)}
    assert len(heard) >= 8 and heard - spoken, (heard, spoken)  # words vosk does not hear in the whole recording
    outputs = {"stdout": stdout, "stderr": stderr}
    outputs |= {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != config}
    for where, data in outputs.items():
        leaked = sorted(w for w in heard | spoken if any(f in data for f in forms(w)))
        assert not leaked, f"{len(leaked)} recognised words found in {where}"
