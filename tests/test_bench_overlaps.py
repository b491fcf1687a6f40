"""The benchmark's two overlap renderings (bench.overlaps) on synthetic and real excerpts."""

from __future__ import annotations

import numpy as np
import pytest

from bench.overlaps import overlapped, solo_material, speaker_source
from bench.signals import DATA_DIR, load_mono
from bench.truth import SpeakerTurn, read_rttm

RATE_HZ = 16000
needs_data = pytest.mark.skipif(not (DATA_DIR / "ami-train").is_dir(), reason="../shared/data not present")


def _tone(freq_hz: float, seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    return 0.1 * np.sin(2 * np.pi * freq_hz * t)


def _scene() -> tuple[np.ndarray, list[SpeakerTurn]]:
    """A speaks 0-4 s (a 200 Hz tone), B 3-6 s (a 700 Hz tone): they overlap 3-4 s, the mix holds both."""
    mix = np.zeros(6 * RATE_HZ)
    mix[: 4 * RATE_HZ] += _tone(200, 4)
    mix[3 * RATE_HZ :] += _tone(700, 3)
    turns = [SpeakerTurn("A", 0.0, 4.0), SpeakerTurn("B", 3.0, 6.0)]
    return mix, turns


def _power_at(x: np.ndarray, freq_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(spectrum[round(freq_hz * len(x) / RATE_HZ)])


def test_overlapped_is_where_someone_else_speaks_too() -> None:
    _, turns = _scene()
    assert overlapped(turns, "A") == [(3.0, 4.0)]
    assert overlapped(turns, "B") == [(3.0, 4.0)]


def test_coherent_sources_carry_the_whole_mix_in_the_overlap() -> None:
    mix, turns = _scene()
    a = speaker_source(mix, turns, "A", RATE_HZ, "coherent", lambda: np.zeros(0))
    piece = slice(int(3.2 * RATE_HZ), int(3.8 * RATE_HZ))
    assert np.allclose(a[piece], mix[piece])


def test_separate_sources_carry_only_their_own_voice_in_the_overlap() -> None:
    mix, turns = _scene()
    donor_called = []

    def donor() -> np.ndarray:
        donor_called.append(True)
        return _tone(1500, 2)

    a = speaker_source(mix, turns, "A", RATE_HZ, "separate", donor)
    b = speaker_source(mix, turns, "B", RATE_HZ, "separate", donor)
    piece = slice(int(3.2 * RATE_HZ), int(3.8 * RATE_HZ))
    # A's overlap is A's own solo tone, with none of B's: each direction carries one voice.
    assert _power_at(a[piece], 200) > 100 * _power_at(a[piece], 700)
    assert _power_at(b[piece], 700) > 100 * _power_at(b[piece], 200)
    # Outside the overlap each source is the mix under its own mask, as before.
    solo = slice(int(1.0 * RATE_HZ), int(2.0 * RATE_HZ))
    assert np.allclose(a[solo], mix[solo]) and not np.any(b[solo])
    # Played at the mix's level there, and nobody needed a borrowed voice.
    assert np.sqrt(np.mean(a[piece] ** 2)) == pytest.approx(np.sqrt(np.mean(mix[piece] ** 2)), rel=0.05)
    assert not donor_called


def test_a_speaker_without_solo_speech_borrows_a_voice() -> None:
    mix = _tone(300, 4)
    turns = [SpeakerTurn("A", 0.0, 4.0), SpeakerTurn("B", 1.0, 3.0)]  # B only ever overlaps A
    b = speaker_source(mix, turns, "B", RATE_HZ, "separate", lambda: _tone(1500, 2))
    piece = b[int(1.5 * RATE_HZ) : int(2.5 * RATE_HZ)]
    assert _power_at(piece, 1500) > 100 * _power_at(piece, 300)


def test_unknown_mode_is_refused() -> None:
    mix, turns = _scene()
    with pytest.raises(ValueError, match="separate, coherent"):
        speaker_source(mix, turns, "A", RATE_HZ, "mono", lambda: np.zeros(0))


@needs_data
def test_solo_material_of_a_real_speaker_leaves_out_pauses_and_others() -> None:
    turns = read_rttm(DATA_DIR / "ami-train" / "train.rttm")["trn03"]
    mix = load_mono(DATA_DIR / "ami-train" / "trn03.wav", RATE_HZ)
    material = solo_material(mix, turns, "MÉO069", RATE_HZ)
    own_s = sum(t.end_s - t.start_s for t in turns if t.speaker == "MÉO069")
    assert 10 * RATE_HZ < len(material) < own_s * RATE_HZ
    frames = material[: len(material) // 160 * 160].reshape(-1, 160)
    level_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    assert np.percentile(level_db, 5) > np.percentile(level_db, 95) - 40


@needs_data
def test_separate_case_keeps_room_and_truth_timing_of_the_coherent_one() -> None:
    from bench.simulate import simulate_case

    turns = read_rttm(DATA_DIR / "ami-train" / "train.rttm")["trn06"]
    coherent = simulate_case("trn06", 0, turns, overlaps="coherent")
    separate = simulate_case("trn06", 0, turns, overlaps="separate")
    assert separate.truth["overlaps"] == "separate"
    for key in ("room", "speakers", "noise", "speech_level_dbfs", "segments_rttm"):
        assert separate.truth[key] == coherent.truth[key]
    assert any(s.party == "customer" for s in separate.segments)
    assert separate.audio.shape == coherent.audio.shape
    assert not np.allclose(separate.audio, coherent.audio)
