"""The speech gate: which audio blocks reach the recogniser, and when."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from listener.events import ActivityFrames, AudioBlock
from listener.transcription.gate import SpeechGate

RATE_HZ = 16000
BLOCK_S = 0.1
HOP_S = 0.01


def block(start_s: float) -> AudioBlock:
    n = round(BLOCK_S * RATE_HZ)
    return AudioBlock(start_s=start_s, sample_rate_hz=RATE_HZ, samples=np.zeros((n, 4), np.float32))


def frames(start_s: float, active: list[bool], party: str = "rep") -> ActivityFrames:
    on = np.array(active, dtype=bool)
    off = np.zeros_like(on)
    prob = on.astype(np.float32)
    rep, cust = (on, off) if party == "rep" else (off, on)
    return ActivityFrames(start_s=start_s, hop_s=HOP_S, rep_active=rep, customer_active=cust,
                          rep_prob=prob, customer_prob=prob, doa_deg=np.full(on.shape, np.nan))  # fmt: skip


def hop_times(t: float) -> list[float]:
    """The 10 ms activity hops of the block starting at ``t``, as ``run`` feeds them."""
    return [t + i * HOP_S for i in range(round(BLOCK_S / HOP_S))]


def run(gate: SpeechGate, speech: list[tuple[float, float]], seconds: float, party: str = "rep") -> list[float]:
    """Feeds ``seconds`` of blocks, each followed by its activity; returns the start of every block passed."""
    passed = []
    for k in range(round(seconds / BLOCK_S)):
        t = k * BLOCK_S
        passed += [b.start_s for b in gate.audio(block(t))]
        active = [any(a <= h < b for a, b in speech) for h in hop_times(t)]
        passed += [b.start_s for b in gate.activity(frames(t, active, party))]
    passed += [b.start_s for b in gate.flush()]
    return passed


def run_parts(
    gate: SpeechGate, speech: list[tuple[float, float]], seconds: float, party: str = "rep", block_s: float = BLOCK_S
) -> list[tuple[int, int]]:
    """Feeds ``seconds`` of ``block_s`` blocks, each followed by its activity; returns every part passed, as its
    first and end sample in the stream."""
    n, hops = round(block_s * RATE_HZ), round(block_s / HOP_S)
    passed: list[AudioBlock] = []
    for k in range(round(seconds / block_s)):
        t = k * block_s
        passed += gate.audio(AudioBlock(start_s=t, sample_rate_hz=RATE_HZ, samples=np.zeros((n, 4), np.float32)))
        active = [any(a <= t + i * HOP_S < b for a, b in speech) for i in range(hops)]
        passed += gate.activity(frames(t, active, party))
    passed += gate.flush()
    parts: list[tuple[int, int]] = []  # contiguous blocks are one stretch to the recogniser: one part here
    for b in passed:
        first = round(b.start_s * RATE_HZ)
        if parts and parts[-1][1] == first:
            first = parts.pop()[0]
        parts.append((first, round(b.start_s * RATE_HZ) + b.samples.shape[0]))
    return parts


def test_speech_passes_with_its_pads_and_the_quiet_does_not() -> None:
    gate = SpeechGate(pad_s=0.5)
    passed = run(gate, [(2.0, 3.0)], 6.0, party="customer")
    assert passed == pytest.approx([1.5 + 0.1 * k for k in range(20)])  # 1.5 s to 3.5 s
    assert gate.passed_s == pytest.approx(2.0)
    assert gate.dropped_s == pytest.approx(4.0)


def test_speech_that_starts_inside_a_second_of_activity_passes_its_pad_and_no_more() -> None:
    """analyze decides a second of activity at a time: speech from 2.5 s is told with the frames of 2-3 s."""
    gate = SpeechGate(pad_s=0.5)
    passed = []
    for second in range(6):
        for k in range(10):
            passed += [b.start_s for b in gate.audio(block(second + k * BLOCK_S))]
        active = [2.5 <= second + i * HOP_S < 3.5 for i in range(100)]
        passed += [b.start_s for b in gate.activity(frames(float(second), active))]
    passed += [b.start_s for b in gate.flush()]
    assert passed == pytest.approx([2.0 + 0.1 * k for k in range(20)])  # 2.0 s to 4.0 s


def test_a_block_waits_until_the_activity_covers_its_pad() -> None:
    gate = SpeechGate(pad_s=0.5)
    assert gate.audio(block(0.0)) == []
    assert gate.activity(frames(0.0, [True] * 10)) == []  # activity known to 0.1 s, the pad not yet
    assert gate.activity(frames(0.1, [False] * 40)) == []
    released = gate.activity(frames(0.5, [False] * 10))
    assert [b.start_s for b in released] == [0.0]


def test_without_any_activity_the_gate_fails_open() -> None:
    gate = SpeechGate(pad_s=0.5, max_hold_s=1.0)
    passed = []
    for k in range(30):
        passed += [b.start_s for b in gate.audio(block(k * BLOCK_S))]
    assert passed == pytest.approx([0.1 * k for k in range(len(passed))])
    assert 3.0 - 1.0 - BLOCK_S <= len(passed) * BLOCK_S <= 3.0 - 1.0 + BLOCK_S
    assert gate.dropped_s == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 9.0), st.floats(0.05, 2.0)), max_size=6), st.floats(0.1, 1.5))
@example(spans=[(1.1, 0.1)], pad_s=1.0)  # speech ends a rounding error past a hop: that hop is quiet
@example(spans=[(0.75, 1.0)], pad_s=0.5)  # its pads begin and end inside a block
def test_the_audio_near_speech_passes_in_order_to_the_sample_and_nothing_is_passed_twice(
    spans: list[tuple[float, float]], pad_s: float
) -> None:
    speech = [(a, a + d) for a, d in spans]
    gate = SpeechGate(pad_s=pad_s)
    parts = run_parts(gate, speech, 10.0)
    assert all(a < b for a, b in parts)
    assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(parts))  # in order, apart (touching: one part)
    # the hops exactly as fed: np.arange rounds differently, and a span ending on a hop boundary
    # would count a hop active here that the gate was told is quiet
    hops = np.array([h for k in range(round(10.0 / BLOCK_S)) for h in hop_times(k * BLOCK_S)])
    want: list[tuple[int, int]] = []  # each run of speech hops with its pads, as samples of the 10 s
    for a, b in speech:
        on = hops[(hops >= a) & (hops < b)]
        if on.size:
            lo, hi = max(0, round((on[0] - pad_s) * RATE_HZ)), min(160000, round((on[-1] + HOP_S + pad_s) * RATE_HZ))
            want.append((lo, hi))
    covered = np.zeros(160000, bool)
    for lo, hi in want:
        covered[lo:hi] = True
    passed = np.zeros(160000, bool)
    for lo, hi in parts:
        passed[lo:hi] = True
    # to a sample or two: the hops of separate spans may meet where their pads do
    assert np.count_nonzero(passed != covered) <= 2 * len(want), (parts, want)
    assert gate.passed_s + gate.dropped_s == pytest.approx(10.0)
    assert gate.passed_s == pytest.approx(np.count_nonzero(passed) / RATE_HZ)


def test_the_recogniser_hears_the_same_audio_whatever_the_blocks() -> None:
    """The service's 50 ms blocks and analyze's 1 s ones: the same stretches, to the sample. Passing a whole
    block near speech gave vosk up to 0.95 s more silence from 1 s blocks, and it found other words."""
    speech = [(2.53, 4.1), (5.07, 5.5), (8.31, 9.02)]
    by_block = {block_s: run_parts(SpeechGate(pad_s=0.5), speech, 12.0, block_s=block_s) for block_s in (0.05, 1.0)}
    assert by_block[0.05] == by_block[1.0]
    seconds = [(2.03, 6.0), (7.81, 9.52)]  # 2.53-4.1 and 5.07-5.5 s padded meet: one stretch
    assert by_block[1.0] == [(round(a * RATE_HZ), round(b * RATE_HZ)) for a, b in seconds]


def test_recogniser_times_at_a_chunk_boundary_map_to_the_right_chunk() -> None:
    """vosk prints float32 times: 16.8 comes back as 16.799999, and must not fall into the chunk before."""
    from listener.transcription.timemap import audio_time_s

    stream, audio = [0.0, 16.8], [100.0, 130.0]  # the second chunk was fed after 13.2 s of skipped audio
    assert audio_time_s(stream, audio, 16.799999) == pytest.approx(130.0, abs=1e-5)  # a word starting there
    assert audio_time_s(stream, audio, 16.79) == pytest.approx(116.79)  # a frame earlier: the first chunk
    assert audio_time_s(stream, audio, 16.799999, end=True) == pytest.approx(116.8, abs=1e-5)  # ending there
    assert audio_time_s(stream, audio, 16.85, end=True) == pytest.approx(130.05)


def test_the_time_map_keeps_one_entry_per_unbroken_stretch_and_times_words_across_the_holes() -> None:
    """Chunks that follow on in both clocks map alike: the map must not grow by one entry per 50 ms block
    while the recogniser returns no words to prune it by (speech_only off on a quiet counter)."""
    from listener.transcription.timemap import TimeMap

    time_map = TimeMap()
    for k in range(400):  # 20 s of 50 ms blocks from audio time 100 s
        time_map.add(k * 0.05, 100.0 + k / 20)
    for k in range(40):  # 2 s more after 10 s of skipped audio
        time_map.add(20.0 + k * 0.05, 130.0 + k / 20)
    assert time_map.stream_s == pytest.approx([0.0, 20.0]) and time_map.audio_s == pytest.approx([100.0, 130.0])
    assert time_map.audio_time(12.34) == pytest.approx(112.34)
    assert time_map.audio_time(20.0, end=True) == pytest.approx(120.0)  # ending at the hole: before it
    assert time_map.audio_time(21.5) == pytest.approx(131.5)
