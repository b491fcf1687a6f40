"""The shipped turn model when a stream starts: a shop's background noise alone is nobody speaking.

Every service start (and every analysed file) begins with a zero model
state and fresh noise floors. The model used to hear its first few hundred
milliseconds as speech: a moment of talk on an empty counter and, when it
fell to the customer, a session opened for nobody. The feature floors now
start where they settle (``features.INITIAL_SPREAD_DB``) and the model trains
on dialogues from their first step too (``models.train.Settings.from_start``).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from bench.room import RATE_HZ, far_point, impulse_responses, random_room, render
from bench.signals import noise_sources, write_wav
from listener.cli import main

ROOMS = 12
SECONDS = 6.0
PRE_ROLL_S = 2.0  # the background was running before the service started: no reverberation build-up


def background(seed: int) -> np.ndarray:
    """(mics, samples): three stretches of a shared noise file from far spots of a random shop room."""
    rng = np.random.default_rng(seed)
    room = random_room(rng)
    spots = [far_point(room, rng) for _ in range(3)]
    n, skip = int((SECONDS + PRE_ROLL_S) * RATE_HZ), int(PRE_ROLL_S * RATE_HZ)
    _, sources = noise_sources(rng, len(spots), n, RATE_HZ)
    mix = sum(render(x, h)[:, skip:n] for x, h in zip(sources, impulse_responses(room, spots, rng), strict=True))
    level_dbfs = rng.uniform(-50.0, -35.0)
    return np.asarray(mix / np.sqrt(np.mean(mix**2)) * 10.0 ** (level_dbfs / 20.0))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    folder = tmp_path_factory.mktemp("rooms")
    out = []
    for seed in range(ROOMS):
        path = folder / f"room{seed}.wav"
        write_wav(path, background(seed), RATE_HZ)
        out.append(analyze(path))
    return out


def analyze(path: Path) -> dict[str, object]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["analyze", str(path), "--json"]) == 0
    return json.loads(buffer.getvalue())


def speech_s(report: dict[str, object]) -> float:
    segments = cast(list[dict[str, Any]], report["segments"])
    return sum(float(s["end"]) - float(s["start"]) for s in segments)


def test_background_noise_at_the_start_of_a_stream_is_not_speech(reports: list[dict[str, object]]) -> None:
    heard = [round(speech_s(r), 2) for r in reports]
    # the model before: speech in 3 of these 12 rooms, 1.8 s in all, and a session opened in one
    assert sum(1 for s in heard if s > 0) <= 2, heard
    assert sum(heard) <= 0.6, heard


def test_background_noise_at_the_start_opens_no_session(reports: list[dict[str, object]]) -> None:
    opened = [i for i, r in enumerate(reports) for e in r["events"] if e["type"] == "session_start"]  # type: ignore[attr-defined]
    assert opened == []
