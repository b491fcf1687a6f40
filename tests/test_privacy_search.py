"""The privacy tests' search for a few samples printed as numbers (tests/privacy_search.printed_samples), on text
made here from a recording of four mics: eight consecutive samples are found however the pipeline could print
them, and what the runs legitimately print, or numbers that are not the recording's, are not."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from listener.transcription.recognizer import pcm16
from tests.privacy_search import RUN_MIN, PlayedSamples, audio_as_text, played_samples, printed_samples
from tests.synth import RATE_HZ, SPEECH

QUIET_S = 0.25  # hiss alone before the speech, as a room before anyone talks


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, PlayedSamples]:
    """A voice on four mics (each a sample later and a little quieter than the last) after a quarter second
    of -65 dBFS hiss, the last mic dead, as in the live test: (the samples as soundfile reads them, the index)."""
    voice, rate_hz = sf.read(SPEECH / "cmu_arctic_us_aew_a0001.wav", dtype="float64")
    assert rate_hz == RATE_HZ
    voice = np.concatenate([np.zeros(round(QUIET_S * RATE_HZ)), 0.3 * voice / np.abs(voice).max()])
    mics = np.stack([0.9**c * np.roll(voice, c) for c in range(4)], axis=1)
    mics += np.random.default_rng(2).normal(0.0, 10 ** (-65 / 20), mics.shape)
    mics[:, 3] = 0.0
    wav = tmp_path_factory.mktemp("search") / "four.wav"
    sf.write(wav, mics, RATE_HZ, subtype="PCM_16")
    return np.asarray(sf.read(wav, dtype="float32")[0]), played_samples(wav)


def _loud(samples: np.ndarray) -> int:
    """Where 12 loud samples start (around the first mic's peak)."""
    return int(np.argmax(np.abs(samples[:, 0]))) - 6


def _forms(x: np.ndarray) -> dict[str, tuple[str, str]]:
    """12 frames of ``x`` (four mics) printed as the pipeline could: (the text, the form the search should name)."""
    return {**_listed_forms(x), **_joined_forms(x)}


def _listed_forms(x: np.ndarray) -> dict[str, tuple[str, str]]:
    """As numpy, Python or JSON print them, or as int16 and int32 values."""
    wav16 = np.round(x * 32768).astype(int)  # the WAV's values
    return {
        "an AudioBlock's column, .tolist()": (str(x[:, 0].tolist()), "float samples of channel 0"),
        "np.round(x, 4) of float32": (str(np.round(x[:, 1], 4).tolist()), "float samples of channel 1"),
        "np.round(x, 2)": (str(np.round(x[:, 1].astype(np.float64), 2).tolist()), "float samples of channel 1"),
        "%.3e": (" ".join(f"{v:.3e}" for v in x[:, 2]), "float samples of channel 2"),
        "float32's repr": (", ".join(str(v) for v in x[:, 0]), "float samples of channel 0"),
        "the mics' mean in JSON": (json.dumps(x.mean(axis=1).tolist()), "float samples of the channels' mean"),
        "the WAV's int16": (str(wav16[:, 2].tolist()), "int16 values of channel 2"),
        "the recogniser's pcm16": (str(np.frombuffer(pcm16(x[:, 0]), "<i2").tolist()), "int16 values of channel 0"),
        "pcm16 of the mean (channel-map mode)": (
            str(np.frombuffer(pcm16(x.mean(axis=1)), "<i2").tolist()),
            "int16 values of the channels' mean",
        ),
        "an S32_LE board's int32": (str((wav16[:, 1] << 16).tolist()), "int32 values (int16 << 16) of channel 1"),
        # the dead mic's "0.0" is zero exactly among the others' samples to 15 decimals
        "two frames of a block, nested lists": (str(x[:2].tolist()), "float samples of all channels interleaved"),
        # channel-map mode's blocks are [rep_channel, customer_channel]: with rep_channel = 1, the columns swapped
        "a block of two mics, swapped": (str(x[:, [1, 0]].tolist()), "float samples of channel 1, one number in 2"),
        "numpy's own text": (str(x[:, 0]), "float samples of channel 0"),
    }


def _joined_forms(x: np.ndarray) -> dict[str, tuple[str, str]]:
    """Joined by other punctuation, or given names."""
    wav16 = np.round(x * 32768).astype(int)  # the WAV's values
    return {
        "joined by '|'": ("|".join(f"{v:.4f}" for v in x[:, 0]), "float samples of channel 0"),
        "joined by '/'": ("/".join(f"{v:.5f}" for v in x[:, 1]), "float samples of channel 1"),
        "joined by '%'": ("%".join(f"{v:.4f}" for v in x[:, 2]), "float samples of channel 2"),
        "joined by '; '": ("; ".join(str(v) for v in x[:, 0]), "float samples of channel 0"),
        "the WAV's int16 apart by tabs": ("\t".join(str(v) for v in wav16[:, 2]), "int16 values of channel 2"),
        "s0=... s11=...": (" ".join(f"s{i}={v:.4f}" for i, v in enumerate(x[:, 0])), "float samples of channel 0"),
        "a dict's repr": (
            str({f"s{i}": round(float(v), 4) for i, v in enumerate(x[:, 1])}),
            "float samples of channel 1",
        ),
        "a block frame by frame, 'ch0: '": (
            " ".join(f"ch{c}: {v:.4f}" for frame in x[:3] for c, v in enumerate(frame)),
            "float samples of all channels interleaved",
        ),
        "mixed: x[0] = ... | x[1] = ...": (
            " | ".join(f"x[{i}] = {v:.4f}" for i, v in enumerate(x[:, 1])),
            "float samples of channel 1",
        ),
        # one run of two prints: the samples are no finer than their own 4 decimals
        "after a time to 6 decimals": (
            f"{12.345678:.6f} {np.round(x[:, 0].astype(np.float64), 4).tolist()}",
            "float samples of channel 0",
        ),
    }


@pytest.mark.parametrize("how", list(_forms(np.zeros((12, 4), dtype=np.float32))))
def test_samples_printed_are_found_however_printed(recording: tuple[np.ndarray, PlayedSamples], how: str) -> None:
    samples, played = recording
    start = _loud(samples)
    text, form = _forms(samples[start : start + 12])[how]
    found = printed_samples(f"<6>INFO listener.audio.live: block {text}".encode(), played)
    assert found is not None, text
    assert f"{form} of the played audio" in found[0], found
    # and from RUN_MIN of them on: the first RUN_MIN frames of one mic
    if how == "an AudioBlock's column, .tolist()":
        assert printed_samples(str(samples[start : start + RUN_MIN, 0].tolist()).encode(), played)


def test_eight_samples_by_name_are_found(recording: tuple[np.ndarray, PlayedSamples]) -> None:
    """The first name's digits ("0" of "x[0]=") may start the run: the RUN_MIN samples after it are still found."""
    samples, played = recording
    eight = samples[_loud(samples) :][:RUN_MIN, 0]
    for text in (" ".join(f"x[{i}]={v:.4f}" for i, v in enumerate(eight)), "|".join(f"{v:.4f}" for v in eight)):
        found = printed_samples(text.encode(), played)
        assert found is not None and "float samples of channel 0 of the played audio" in found[0], (text, found)


def test_the_patterns_alone_miss_a_few_samples_the_played_audio_finds(
    recording: tuple[np.ndarray, PlayedSamples],
) -> None:
    """The weakness this search closes: 12 samples as a list pass every pattern (none is numpy's text, and
    12 numbers are far from a long run); with the played audio given, audio_as_text names them."""
    samples, played = recording
    text = f"pcm {samples[_loud(samples) :][:12, 0].tolist()}".encode()
    assert audio_as_text(text) is None
    found = audio_as_text(text, played)
    assert found is not None and found[0].startswith("12 numbers in a row, float samples of channel 0"), found


# numbers joined by other punctuation or names: dates and times are numbers joined by '-', '/' and ':'
JOINED_NUMBERS = {
    "dates": " ".join(f"2026-12-{d:02d}" for d in range(1, 13)) + " " + "/".join(f"2026/12/{d}" for d in range(6, 9)),
    "times": " ".join(f"12:{m:02d}:{s:02d}" for m, s in zip(range(27, 39), range(54, 6, -4), strict=False))
    + " "
    + "|".join(f"2026-12-06T12:27:{s:06.3f}" for s in (54.12, 54.14, 54.161, 55.2)),
    "IP addresses and versions": "|".join(("192.168.1.10", "10.0.0.2", "127.0.0.1", "0.1.0", "2.1.3", "1.26.4") * 2),
    "paths with numbers": "/srv/rec/2026/12/06/0001/0042/3096/17/120/8000/44100.wav /proc/4321/task/4322/fd/3",
    "a progress log": "\n".join(
        f"[{p:5.1f}%] {p * 12:.0f}/1200, {i}/10, {3.2 - 0.1 * i:.1f}" for i, p in enumerate(range(10, 100, 10))
    ),
    "percentages": "% ".join(f"{v:.2f}" for v in (12.5, 33.33, 4.17, 50.0, 0.83, 71.2, 9.99, 18.75, 2.5, 40.0)) + "%",
    "a config dump, a=1 b=2": " ".join(f"{chr(97 + i)}={i + 1}" for i in range(12))
    + " rate_hz=16000 channels=4 block_ms=20 hop=160 fft=512 port=1883 buffer=4096 gain_db=-3 threshold=0.35",
    "shares by name": " ".join(
        f"share{i}: {v:.2f}" for i, v in enumerate((0.43, 0.57, 0.12, 0.88, 0.3, 0.7, 0.61, 0.39, 0.5, 0.5))
    ),
    "a dict of metrics": str(
        {
            "rep_s": 16.42,
            "customer_s": 7.28,
            "share": 0.6928,
            "p90": 1.304,
            "n": 61,
            "gap_s": 0.41,
            "db": -31.2,
            "overlap": 0.05,
        }
    ),
}


def test_what_is_not_the_played_samples_is_not_found(recording: tuple[np.ndarray, PlayedSamples]) -> None:
    samples, played = recording
    start = _loud(samples)
    eight = samples[start : start + RUN_MIN, 0]
    quiet = samples[100 : 100 + 40, 0]  # the hiss before the speech: real samples, but no signal
    assert np.abs(quiet).max() < 0.003
    metrics = {
        "schema": "listener.report/1",
        "metrics": {"rep_talk_share": 0.43, "rep_words": 61, "customer_words": 40, "pauses_s": [1.2, 0.8, 2.5]},
        "segments": [{"party": "rep", "start_s": 0.5 * i, "end_s": 0.5 * i + 0.3} for i in range(40)],
        "levels_db": [-31.2, -30.8, -29.9, -31.5, -33.1, -30.2, -28.7, -31.9, -32.4, -30.0, -29.5, -31.1],
        "started": "2026-12-06T10:02:42+00:00",
    }
    not_audio = {
        "the same 8 samples shuffled": str(eight[[3, 0, 6, 1, 7, 2, 5, 4]].tolist()),
        "the same 8 reversed": str(eight[::-1].tolist()),
        f"{RUN_MIN - 1} samples": str(samples[start : start + RUN_MIN - 1, 0].tolist()),
        "a JSON report": json.dumps(metrics),
        "zeros": str([0.0] * 40) + " " + str([0] * 40),
        "the dead mic": str(samples[start : start + 40, 3].tolist()),
        "the hiss before the speech": str(quiet.tolist()) + str(np.round(quiet * 32768).astype(int).tolist()),
        "doctor's levels line": "ok    levels     RMS dBFS ch0 -31, ch1 -30, ch2 -31, ch3 -32",
        "the figure's path data": '<path d="M 0 3 C 0.795609 3 1.55874 2.683901 2.12132 2.12132 C 2.683901 1.55874'
        ' 3 0.795609 3 0 C 3 -0.795609 2.683901 -1.55874 2.12132 -2.12132 z"/>',
        "a journal line": "<7>DEBUG listener.transcription: recogniser result: 12 words, 3.20-5.84 s",
        # speech is near a line over a few samples, and a coarse value pins a sample only to 1 %
        "bin edges, evenly spaced": str([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]),
        "a share falling step by step": str([-0.05, -0.04, -0.03, -0.02, -0.01, 0.0, 0.01, 0.02]),
        "small shares moving about": str([0.01, 0.04, 0.02, 0.04, 0.05, 0.05, 0.04, 0.02, 0.03, 0.03]),
    }
    for what, text in not_audio.items():
        assert printed_samples(text.encode(), played) is None, what


@pytest.mark.parametrize("what", list(JOINED_NUMBERS))
def test_numbers_joined_by_punctuation_or_names_are_not_samples(
    recording: tuple[np.ndarray, PlayedSamples], what: str
) -> None:
    assert printed_samples(JOINED_NUMBERS[what].encode(), recording[1]) is None, JOINED_NUMBERS[what]
