"""What a trained model was made from, for its sidecar: the checkout, the libraries, the file's own digest.

A model's figures are only comparable with another's if one knows which code,
which onnx/onnxruntime and which espeak-ng voices made each; and the
listener refuses a model whose bytes are no longer those its training wrote
(``sha256``, checked by listener.turns.spec.load_spec).
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

import onnx
import onnxruntime

CHECKOUT = Path(__file__).resolve().parents[1]
# where models.train writes by default: a checkout that has trained once is not thereby "dirty"
SHIPPED_MODELS = "listener/data/models"


@functools.cache  # once a run: a float export and its int8 twin must record the same training
def provenance() -> dict[str, object]:
    """Recorded in the sidecar's ``training``: None where something is not known (no git checkout, no espeak-ng)."""
    commit = _run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"])
    status = _run(["git", "-C", str(CHECKOUT), "status", "--porcelain", "--", ".", f":!{SHIPPED_MODELS}"])
    espeak = _run(["espeak-ng", "--version"])
    return {
        "git_commit": commit,
        "git_dirty": None if commit is None or status is None else bool(status),
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "espeak_ng": espeak.split(":", 1)[-1].split()[0] if espeak else None,  # "eSpeak NG text-to-speech: 1.51 ..."
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
