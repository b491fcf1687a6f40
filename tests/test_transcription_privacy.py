"""No word leaves the process: not in logs (even at debug level), reports, or files written.

A session with transcription on runs in a subprocess whose home, temp and state folders are
inside the test's folder; everything it wrote there, and everything it printed, is searched
for the words vosk recognises in the same audio. (MQTT payloads and the spool are checked by
the MQTT tests: here MQTT is off.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import asr_audio

SESSION = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
from listener.cli import main
wav, config = sys.argv[1], sys.argv[2]
code = main(["analyze", wav, "--json", "--config", config])
code = code or main(["run", "--input", wav, "--fast", "--config", config])
sys.exit(code)
"""


def forms(word: str) -> list[bytes]:
    """How a word would look in a file: UTF-8, or escaped as json.dumps writes it."""
    return [word.encode("utf-8"), json.dumps(word)[1:-1].encode("ascii")]


def test_no_recognised_word_is_written_or_printed(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    wav, _ = asr_audio.session_dialogue(tmp_path_factory, 2, 8.0)  # a greeting and the customer's answer
    words = {str(w["word"]) for w in asr_audio.direct_words(wav)}
    assert len(words) >= 8
    box, env = asr_audio.sandbox(tmp_path)
    config = tmp_path / "listener.toml"
    config.write_text(
        f'[asr]\nenabled = true\nmodel_path = "{asr_audio.korean_model()}"\n'
        f'[service]\nstate_dir = "{box["state"]}"\nlog_level = "debug"\n'
        '[leds]\nenabled = false\nbutton_pin = ""\n[mqtt]\nenabled = false\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", SESSION, str(wav), str(config)],
        cwd=box["work"],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    report = json.loads(done.stdout.splitlines()[0])
    assert report["metrics"]["rep_words"] + report["metrics"]["customer_words"] >= 8  # words were in memory
    assert b"DEBUG listener.transcription" in done.stderr  # debug logging was on for the stage
    outputs = {"stdout": done.stdout, "stderr": done.stderr}
    outputs |= {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != config}
    for where, data in outputs.items():
        leaked = sorted(w for w in words if any(f in data for f in forms(w)))
        assert not leaked, f"{len(leaked)} recognised words found in {where}"
