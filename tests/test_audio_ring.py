"""FrameRing: the bounded buffer between PortAudio's callback and the pipeline."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from listener.audio.ring import FrameRing, Gap


def test_ring_keeps_order_across_wraparound_and_gaps() -> None:
    ring = FrameRing(capacity_frames=10, channels=2)
    frames = np.arange(40, dtype=np.int16).reshape(20, 2)
    assert ring.write(frames[:6]) == 0
    first = ring.read(4, timeout_s=0.0)
    assert isinstance(first, np.ndarray)
    np.testing.assert_array_equal(first, frames[:4])
    assert ring.write(frames[6:14]) == 0  # wraps around the end of the buffer
    assert ring.write(frames[14:20]) == 6  # full: all six dropped as one overflow
    assert ring.write(frames[:3]) == 3  # still full: merged into the same gap
    assert ring.overflow_count == 1 and ring.dropped_frames == 9
    rest = ring.read(100, timeout_s=0.0)
    assert isinstance(rest, np.ndarray)
    np.testing.assert_array_equal(rest, frames[4:14])
    assert ring.read(100, timeout_s=0.0) == Gap(start_frame=14, frames=9, reason="overflow", cause="ring_full")
    assert ring.read(100, timeout_s=0.0) is None


def test_ring_reports_portaudio_losses_in_stream_order() -> None:
    ring = FrameRing(capacity_frames=8, channels=1)
    ring.write(np.ones((3, 1), dtype=np.int16))
    ring.lose(5, "overflow")
    ring.write(np.full((2, 1), 7, dtype=np.int16))
    a, gap, b = (ring.read(100, timeout_s=0.0) for _ in range(3))
    assert isinstance(a, np.ndarray) and a.shape == (3, 1)
    assert gap == Gap(start_frame=3, frames=5, reason="overflow", cause="driver")
    assert isinstance(b, np.ndarray) and b[:, 0].tolist() == [7, 7]
    assert ring.overflow_count == 1


def test_ring_read_returns_when_woken() -> None:
    ring = FrameRing(capacity_frames=4, channels=1)
    threading.Timer(0.1, ring.wake).start()
    started = time.monotonic()
    assert ring.read(4, timeout_s=5.0) is None
    assert time.monotonic() - started < 2.0


def test_an_overrun_portaudio_could_not_measure_still_counts_and_is_met_in_its_place() -> None:
    """Without capture timestamps PortAudio's overrun flag says audio was lost but not how much: the
    incident must still count, and reach the reader as a gap of no frames between the audio before and
    after it, or falling behind goes unreported (it was only counted, and the journal never said it)."""
    ring = FrameRing(capacity_frames=8, channels=1)
    ring.write(np.ones((2, 1), dtype=np.int16))
    ring.lose(0, "overflow")
    ring.write(np.ones((3, 1), dtype=np.int16))
    assert ring.overflow_count == 1 and ring.dropped_frames == 0
    got = [ring.read(100, timeout_s=0.0) for _ in range(3)]
    assert isinstance(got[0], np.ndarray) and got[0].shape == (2, 1)
    assert got[1] == Gap(start_frame=2, frames=0, reason="overflow", cause="driver")
    assert isinstance(got[2], np.ndarray) and got[2].shape == (3, 1)
    ring.lose(0, "device_lost")  # nothing lost, nothing to say
    assert ring.overflow_count == 1 and ring.read(100, timeout_s=0.0) is None


def test_audio_stored_between_two_overflows_stays_between_them() -> None:
    """Two overflows of the same kind are one gap only when nothing was stored between them: otherwise
    that audio would be handed on after both losses, and the stream clock would place it too late."""
    ring = FrameRing(capacity_frames=4, channels=1)
    frames = np.arange(20, dtype=np.int16).reshape(20, 1)
    ring.write(frames[:4])
    assert ring.write(frames[4:6]) == 2  # full: lost
    first = ring.read(2, timeout_s=0.0)
    assert isinstance(first, np.ndarray) and first[:, 0].tolist() == [0, 1]
    assert ring.write(frames[6:8]) == 0  # room again for two
    assert ring.write(frames[8:11]) == 3  # full again: a second loss, after those two
    got = [ring.read(100, timeout_s=0.0) for _ in range(4)]
    assert isinstance(got[0], np.ndarray) and got[0][:, 0].tolist() == [2, 3]
    assert got[1] == Gap(start_frame=4, frames=2, reason="overflow", cause="ring_full")
    assert isinstance(got[2], np.ndarray) and got[2][:, 0].tolist() == [6, 7]
    assert got[3] == Gap(start_frame=8, frames=3, reason="overflow", cause="ring_full")
    assert ring.overflow_count == 2 and ring.dropped_frames == 5


def test_back_to_back_losses_of_different_causes_stay_apart() -> None:
    """A summary counts overflow as unheard time the device could not keep up with, a lost device as an
    outage: merged, one would be reported as the other."""
    ring = FrameRing(capacity_frames=8, channels=1)
    ring.lose(4, "overflow")
    ring.lose(6, "device_lost")
    ring.lose(2, "device_lost")  # the same cause goes on: one gap
    gaps = [ring.read(100, timeout_s=0.0) for _ in range(2)]
    assert gaps == [
        Gap(start_frame=0, frames=4, reason="overflow", cause="driver"),
        Gap(start_frame=4, frames=8, reason="device_lost", cause="driver"),
    ]
    assert ring.overflow_count == 1


def test_a_driver_overrun_next_to_a_full_ring_stays_its_own_gap() -> None:
    """Both are overflows, but the log's advice differs (a late capture thread, a slow pipeline): a driver
    loss met while the ring is full must not be merged into the ring's gap, nor the ring's into it."""
    ring = FrameRing(capacity_frames=2, channels=1)
    ring.write(np.ones((2, 1), dtype=np.int16))
    assert ring.write(np.ones((3, 1), dtype=np.int16)) == 3  # full: the ring's loss
    ring.lose(5, "overflow")  # PortAudio's overrun flag, measured
    assert ring.write(np.ones((1, 1), dtype=np.int16)) == 1  # still full: the ring's again
    got = [ring.read(100, timeout_s=0.0) for _ in range(4)]
    assert isinstance(got[0], np.ndarray)
    assert got[1:] == [
        Gap(start_frame=2, frames=3, reason="overflow", cause="ring_full"),
        Gap(start_frame=5, frames=5, reason="overflow", cause="driver"),
        Gap(start_frame=10, frames=1, reason="overflow", cause="ring_full"),
    ]
    assert ring.overflow_count == 3


def test_the_last_frame_that_fits_is_kept() -> None:
    """A write with room for one frame more stores that frame and drops only the rest: PortAudio's period
    rarely divides the ring, so the ring usually fills with a last write that half fits."""
    ring = FrameRing(capacity_frames=3, channels=1)
    frames = np.arange(4, dtype=np.int16).reshape(4, 1)
    assert ring.write(frames[:2]) == 0
    assert ring.write(frames[2:4]) == 1  # room for one: it is kept, the other is lost
    assert ring.written_frames == 4
    got = ring.read(100, timeout_s=0.0)
    assert isinstance(got, np.ndarray) and got[:, 0].tolist() == [0, 1, 2]
    assert ring.read(100, timeout_s=0.0) == Gap(start_frame=3, frames=1, reason="overflow", cause="ring_full")


def test_a_ring_without_room_for_a_frame_is_refused() -> None:
    """A ring of no frames would drop every frame as an overflow; it is a mistake said at once."""
    for capacity, channels in ((0, 2), (4, 0)):
        with pytest.raises(ValueError, match="at least one frame of at least one channel"):
            FrameRing(capacity_frames=capacity, channels=channels)
